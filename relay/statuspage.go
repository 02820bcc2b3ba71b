package relay

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"spectra-relay/socketio"
)

// statusPageHTML is the live status page: plain HTML and JS polling
// /status/matches, no external assets, so it works offline at a venue.
//
//go:embed statuspage.html
var statusPageHTML []byte

// serveObservability answers the admin listener's guarded endpoints: the
// status page and its JSON, /metrics and (when Config.Pprof)
// /debug/pprof/. It reports false for any other path. path is the request
// path without a trailing slash, lower its lower case.
func (srv *Server) serveObservability(w http.ResponseWriter, r *http.Request, path, lower string) bool {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case strings.HasPrefix(r.URL.Path, "/debug/pprof"):
		if !srv.cfg.Pprof || !get && r.URL.Path != "/debug/pprof/symbol" {
			return false
		}
		servePprof(w, r)
	case !get:
		return false
	case lower == "/":
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		// The page loads nothing from elsewhere, and no other site may
		// frame it; say so to the browser.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		_, _ = w.Write(statusPageHTML)
	case lower == "/status/matches":
		b, err := json.Marshal(srv.statusDoc())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "status unavailable")
			return true
		}
		writeJSON(w, http.StatusOK, b)
	case lower == "/metrics":
		srv.metricsH.ServeHTTP(w, r)
	default:
		return false
	}
	return true
}

// servePprof serves net/http/pprof without the global ServeMux.
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/debug/pprof":
		http.Redirect(w, r, "/debug/pprof/", http.StatusMovedPermanently)
	case "/debug/pprof/cmdline":
		pprof.Cmdline(w, r)
	case "/debug/pprof/profile":
		pprof.Profile(w, r)
	case "/debug/pprof/symbol":
		pprof.Symbol(w, r)
	case "/debug/pprof/trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}

// statusDoc is the JSON of /status/matches. It names no secret: no group
// secret, no key, nothing of toolsData.
type statusDoc struct {
	Status        string        `json:"status"` // UP or DRAINING
	UptimeSeconds float64       `json:"uptimeSeconds"`
	Matches       []statusMatch `json:"matches"`
	// Waiting lists at most maxWaitingShown group codes, most overlays
	// first; WaitingMore and WaitingMoreOverlays count the rest.
	Waiting             []statusWaiting `json:"waiting"`
	WaitingMore         int             `json:"waitingMore"`
	WaitingMoreOverlays int             `json:"waitingMoreOverlays"`
	// Socket.IO clients connected now.
	IngestClients  int `json:"ingestClients"`
	OutputClients  int `json:"outputClients"`
	OverlaysInRoom int `json:"overlaysInRooms"`
}

type statusMatch struct {
	GroupCode         string        `json:"groupCode"`
	MatchID           string        `json:"matchId"`
	Map               string        `json:"map"`
	RoundNumber       float64       `json:"roundNumber"`
	RoundPhase        string        `json:"roundPhase"`
	Running           bool          `json:"running"`
	Teams             [2]statusTeam `json:"teams"`
	ObserverConnected bool          `json:"observerConnected"`
	AuxClients        []string      `json:"auxClients"`
	Overlays          int           `json:"overlays"`
	SinceLastEvent    float64       `json:"secondsSinceLastEvent"`
}

type statusTeam struct {
	Name      string  `json:"name"`
	Tricode   string  `json:"tricode"`
	RoundsWon float64 `json:"roundsWon"`
}

// statusWaiting is a group code overlays are logged on to while no match
// with that code is live: the most common "why is my overlay empty".
type statusWaiting struct {
	GroupCode string `json:"groupCode"`
	Overlays  int    `json:"overlays"`
	// Finished: a match with this code ended within the team-info TTL.
	Finished bool `json:"finished"`
}

func (srv *Server) statusDoc() statusDoc {
	now := srv.ctrl.now()
	doc := statusDoc{
		Status:        "UP",
		UptimeSeconds: roundTenth(time.Since(srv.started).Seconds()),
		Matches:       []statusMatch{},
		IngestClients: srv.ingest.Of("/").Count(),
		OutputClients: srv.output.Of("/").Count(),
	}
	if srv.draining.Load() {
		doc.Status = "DRAINING"
	}
	rooms := srv.output.Of("/").AppendRooms(nil)
	sizes := make(map[string]int, len(rooms))
	for _, r := range rooms {
		sizes[r.Name] = r.Members
		doc.OverlaysInRoom += r.Members
	}
	for _, lm := range srv.ctrl.snapshot(nil) {
		sm, ok := lm.status(now)
		if !ok {
			continue
		}
		sm.Overlays = sizes[sm.GroupCode]
		doc.Matches = append(doc.Matches, sm)
	}
	slices.SortFunc(doc.Matches, func(a, b statusMatch) int { return strings.Compare(a.GroupCode, b.GroupCode) })
	doc.Waiting, doc.WaitingMore, doc.WaitingMoreOverlays = srv.waitingIn(rooms, srv.cfg.waitingShown)
	return doc
}

// status is lm's row of the status page; false once the match is removed.
func (lm *liveMatch) status(now time.Time) (statusMatch, bool) {
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return statusMatch{}, false
	}
	sum := lm.m.Summary()
	last := lm.lastEvent
	if last.IsZero() { // a match rebuilt from its replay file
		last = lm.lastActivity
	}
	since := now.Sub(last)
	conns := make([]*ingestConn, 0, len(lm.conns))
	for ic := range lm.conns {
		conns = append(conns, ic)
	}
	type auxID struct{ id, name string }
	var auxes []auxID
	// Connection flags are read outside lm.mu: ingest code takes ic.mu
	// and lm.mu one after the other, never nested, and so does this.
	lm.mu.Unlock()

	sm := statusMatch{
		GroupCode:   lm.code,
		MatchID:     sum.MatchID,
		Map:         sum.Map,
		RoundNumber: sum.RoundNumber,
		RoundPhase:  sum.RoundPhase,
		Running:     sum.Running,
		AuxClients:  []string{},
	}
	for i, t := range sum.Teams {
		sm.Teams[i] = statusTeam{Name: t.Name, Tricode: t.Tricode, RoundsWon: t.RoundsWon}
	}
	sm.SinceLastEvent = roundTenth(max(since, 0).Seconds())
	for _, ic := range conns {
		ic.mu.Lock()
		aux, pid := ic.aux, ic.playerID
		ic.mu.Unlock()
		if aux {
			auxes = append(auxes, auxID{id: pid})
		} else {
			sm.ObserverConnected = true
		}
	}
	if len(auxes) > 0 {
		lm.mu.Lock()
		for i := range auxes {
			if lm.removed {
				break
			}
			auxes[i].name, _ = lm.m.PlayerName(auxes[i].id)
		}
		lm.mu.Unlock()
		for _, a := range auxes {
			switch {
			case a.name != "":
				sm.AuxClients = append(sm.AuxClients, a.name)
			case a.id != "":
				sm.AuxClients = append(sm.AuxClients, a.id)
			default:
				sm.AuxClients = append(sm.AuxClients, "(no player yet)")
			}
		}
		slices.Sort(sm.AuxClients)
	}
	return sm, true
}

// maxWaitingShown caps the status page's list of waiting group codes:
// anyone can log overlays on to made-up codes, and the list is rebuilt
// every second the page is open.
const maxWaitingShown = 100

// waitingOverlays counts the overlays in rooms whose group code has no
// live match.
func (srv *Server) waitingOverlays() int {
	n := 0
	for _, r := range srv.output.Of("/").AppendRooms(nil) {
		if r.Members > 0 && srv.ctrl.get(r.Name) == nil {
			n += r.Members
		}
	}
	return n
}

// waitingIn lists the rooms whose group code has no live match, most
// overlays first, at most limit of them; more and moreOverlays count the
// group codes left out and their overlays.
func (srv *Server) waitingIn(rooms []socketio.RoomSize, limit int) (shown []statusWaiting, more, moreOverlays int) {
	shown = []statusWaiting{}
	for _, r := range rooms {
		if r.Members == 0 || srv.ctrl.get(r.Name) != nil {
			continue
		}
		shown = append(shown, statusWaiting{GroupCode: r.Name, Overlays: r.Members})
	}
	slices.SortFunc(shown, func(a, b statusWaiting) int {
		if a.Overlays != b.Overlays {
			return b.Overlays - a.Overlays
		}
		return strings.Compare(a.GroupCode, b.GroupCode)
	})
	if len(shown) > limit {
		for _, w := range shown[limit:] {
			moreOverlays += w.Overlays
		}
		more = len(shown) - limit
		shown = shown[:limit:limit]
	}
	for i := range shown {
		_, shown[i].Finished = srv.ctrl.TeamInfo(shown[i].GroupCode)
	}
	return shown, more, moreOverlays
}

func roundTenth(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
