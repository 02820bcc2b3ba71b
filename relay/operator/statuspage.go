package operator

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strings"

	"spectra-relay/relay/extras"
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
func (srv *handler) serveObservability(w http.ResponseWriter, r *http.Request, path, lower string) bool {
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
		b, err := json.Marshal(srv.src.Status())
		if err != nil {
			extras.WriteError(w, http.StatusInternalServerError, "status unavailable")
			return true
		}
		extras.WriteJSON(w, http.StatusOK, b)
	case lower == "/metrics":
		srv.metrics.ServeHTTP(w, r)
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

// StatusDoc is the JSON of /status/matches (the relay fills it in). It names no secret: no group
// secret, no key, nothing of toolsData.
type StatusDoc struct {
	Status        string        `json:"status"` // UP or DRAINING
	UptimeSeconds float64       `json:"uptimeSeconds"`
	Matches       []StatusMatch `json:"matches"`
	// Waiting lists at most a bounded number of group codes, most overlays
	// first; WaitingMore and WaitingMoreOverlays count the rest.
	Waiting             []StatusWaiting `json:"waiting"`
	WaitingMore         int             `json:"waitingMore"`
	WaitingMoreOverlays int             `json:"waitingMoreOverlays"`
	// Socket.IO clients connected now.
	IngestClients  int `json:"ingestClients"`
	OutputClients  int `json:"outputClients"`
	OverlaysInRoom int `json:"overlaysInRooms"`
}

type StatusMatch struct {
	GroupCode         string        `json:"groupCode"`
	MatchID           string        `json:"matchId"`
	Map               string        `json:"map"`
	RoundNumber       float64       `json:"roundNumber"`
	RoundPhase        string        `json:"roundPhase"`
	Running           bool          `json:"running"`
	Teams             [2]StatusTeam `json:"teams"`
	ObserverConnected bool          `json:"observerConnected"`
	AuxClients        []string      `json:"auxClients"`
	Overlays          int           `json:"overlays"`
	SinceLastEvent    float64       `json:"secondsSinceLastEvent"`
}

type StatusTeam struct {
	Name      string  `json:"name"`
	Tricode   string  `json:"tricode"`
	RoundsWon float64 `json:"roundsWon"`
}

// StatusWaiting is a group code overlays are logged on to while no match
// with that code is live: the most common "why is my overlay empty".
type StatusWaiting struct {
	GroupCode string `json:"groupCode"`
	Overlays  int    `json:"overlays"`
	// Finished: a match with this code ended within the team-info TTL.
	Finished bool `json:"finished"`
}
