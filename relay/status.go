package relay

// The status page's rows (relay/operator serves the page and its JSON).

import (
	"slices"
	"strings"
	"time"

	"spectra-relay/relay/operator"
	"spectra-relay/socketio"
)

// statusDoc builds /status/matches.
func (srv *Server) statusDoc() operator.StatusDoc {
	now := srv.ctrl.now()
	doc := operator.StatusDoc{
		Status:        "UP",
		UptimeSeconds: roundTenth(time.Since(srv.started).Seconds()),
		Matches:       []operator.StatusMatch{},
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
	slices.SortFunc(doc.Matches, func(a, b operator.StatusMatch) int { return strings.Compare(a.GroupCode, b.GroupCode) })
	doc.Waiting, doc.WaitingMore, doc.WaitingMoreOverlays = srv.waitingIn(rooms, srv.cfg.waitingShown)
	return doc
}

// status is lm's row of the status page; false once the match is removed.
func (lm *liveMatch) status(now time.Time) (operator.StatusMatch, bool) {
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return operator.StatusMatch{}, false
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

	sm := operator.StatusMatch{
		GroupCode:   lm.code,
		MatchID:     sum.MatchID,
		Map:         sum.Map,
		RoundNumber: sum.RoundNumber,
		RoundPhase:  sum.RoundPhase,
		Running:     sum.Running,
		AuxClients:  []string{},
	}
	for i, t := range sum.Teams {
		sm.Teams[i] = operator.StatusTeam{Name: t.Name, Tricode: t.Tricode, RoundsWon: t.RoundsWon}
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
func (srv *Server) waitingIn(rooms []socketio.RoomSize, limit int) (shown []operator.StatusWaiting, more, moreOverlays int) {
	shown = []operator.StatusWaiting{}
	for _, r := range rooms {
		if r.Members == 0 || srv.ctrl.get(r.Name) != nil {
			continue
		}
		shown = append(shown, operator.StatusWaiting{GroupCode: r.Name, Overlays: r.Members})
	}
	slices.SortFunc(shown, func(a, b operator.StatusWaiting) int {
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
