package relay

// Recovered ingest sessions (issue 20). The real observer client logs on
// once and then emits its events whatever the connection's state; after a
// reconnect its new Socket.IO session has never logged on. The ingest
// namespace therefore recovers connection state (socketio/recovery.go):
// every logged-on connection's private session id (pid) is bound here to
// what the logon made of it (observer of match X, or auxiliary client of
// player P in match X), and a socket that comes back with that pid is
// bound again as if it had logged on: the events socket.io-client buffered
// while it was away flow into the match in order.
//
// A binding lives as long as its match. It is kept in the match's secret
// sidecar (mode 0600, beside the replay file), so that a relay rebuilt
// from its replay files after kill -9 recognises the client, and in
// cluster mode in Redis with the match, so that another node does. A pid
// is a credential like the group secret: it is never logged.

import (
	"encoding/json"

	"spectra-relay/relay/replaylog"
	"spectra-relay/socketio"
)

// maxMatchSessions bounds the bindings one match keeps: each logon of a
// connection adds one, and whoever holds the secret may log on again and
// again. The oldest goes first; a real match has one observer and up to
// ten auxiliary clients, each reconnecting now and then.
const maxMatchSessions = 64

// sessionBinding is what a pid stands for in its match.
type sessionBinding struct {
	PID      string `json:"pid"`
	SID      string `json:"sid"`
	Aux      bool   `json:"aux,omitempty"`
	PlayerID string `json:"playerId,omitempty"`
	// AuxOwner is the one player an auxiliary client may change (see
	// ingestConn.auxOwner); a restored connection keeps it.
	AuxOwner string `json:"auxOwner,omitempty"`
	// MatchID is an auxiliary client's game, for cluster mode: a node
	// without the match forwards the client's events by it.
	MatchID string `json:"matchId,omitempty"`
}

// rememberSession binds the logged-on connection's pid in lm and persists
// the match's bindings. A namespace without recovery gives no pid.
func (c *controller) rememberSession(lm *liveMatch, ic *ingestConn) {
	pid := ic.s.PID()
	if pid == "" {
		return
	}
	ic.mu.Lock()
	b := sessionBinding{PID: pid, SID: ic.s.ID(), Aux: ic.aux, PlayerID: ic.playerID, AuxOwner: ic.auxOwner}
	ic.mu.Unlock()
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return
	}
	if b.Aux {
		b.MatchID = lm.matchID
	}
	var evicted string
	if i := lm.sessionIndexLocked(pid); i >= 0 {
		lm.sessions[i] = b
	} else {
		if len(lm.sessions) >= maxMatchSessions {
			evicted = lm.sessions[0].PID
			lm.sessions = append(lm.sessions[:0], lm.sessions[1:]...)
		}
		lm.sessions = append(lm.sessions, b)
	}
	lm.mu.Unlock()

	c.sessMu.Lock()
	if evicted != "" && c.sessions[evicted] == lm {
		delete(c.sessions, evicted)
	}
	c.sessions[pid] = lm
	c.sessMu.Unlock()
	c.persistSessions(lm)
	c.broker.putSession(lm.code, b)
}

// persistSessions rewrites lm's secret sidecar with its bindings. Writes
// are serialised (two logons of one match must not interleave in the
// temporary file), and each writes the bindings as they are when it runs,
// so the last write has the newest.
func (c *controller) persistSessions(lm *liveMatch) {
	c.sidecarMu.Lock()
	defer c.sidecarMu.Unlock()
	lm.mu.Lock()
	all := append([]sessionBinding(nil), lm.sessions...)
	rl, removed := lm.replay, lm.removed
	lm.mu.Unlock()
	if rl == nil || removed {
		return
	}
	if err := writeSidecar(rl.SecretPath(), lm.secret, all); err != nil {
		c.log.Error("ingest sessions not persisted", "groupCode", lm.code, "err", err)
	}
}

// sessionIndexLocked is the position of pid in lm.sessions, -1 when
// absent. lm.mu held.
func (lm *liveMatch) sessionIndexLocked(pid string) int {
	for i := range lm.sessions {
		if lm.sessions[i].PID == pid {
			return i
		}
	}
	return -1
}

// adoptSessionsLocked installs bindings read back (a recovered or taken
// over match) and indexes them. lm.mu held; the controller's sessMu is a
// leaf taken under it.
func (c *controller) adoptSessionsLocked(lm *liveMatch, bs []sessionBinding) {
	if len(bs) > maxMatchSessions {
		bs = bs[len(bs)-maxMatchSessions:]
	}
	lm.sessions = append(lm.sessions[:0], bs...)
	c.sessMu.Lock()
	for _, b := range bs {
		c.sessions[b.PID] = lm
	}
	c.sessMu.Unlock()
}

// forgetSessions drops a removed match's bindings from the index.
func (c *controller) forgetSessions(lm *liveMatch, bs []sessionBinding) {
	c.sessMu.Lock()
	for _, b := range bs {
		if c.sessions[b.PID] == lm {
			delete(c.sessions, b.PID)
		}
	}
	c.sessMu.Unlock()
}

// session finds the binding of pid in a live match.
func (c *controller) session(pid string) (*liveMatch, sessionBinding, bool) {
	c.sessMu.Lock()
	lm := c.sessions[pid]
	c.sessMu.Unlock()
	if lm == nil {
		return nil, sessionBinding{}, false
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	i := lm.sessionIndexLocked(pid)
	if lm.removed || i < 0 {
		return nil, sessionBinding{}, false
	}
	return lm, lm.sessions[i], true
}

// lookupSession is the ingest namespace's recovery Lookup: a pid recovers
// while its match is live here (or, in cluster mode, in Redis).
func (srv *Server) lookupSession(pid, rememberedSID string, remembered bool) (string, bool) {
	if _, b, ok := srv.ctrl.session(pid); ok {
		return b.SID, true
	}
	if b, ok := srv.ctrl.broker.lookupSession(pid); ok { // held by another node
		return b.SID, true
	}
	return "", false
}

// restoreSession binds a recovered socket to what its pid stood for, as
// its logon did. It reports false when the binding is gone (the match
// ended between the lookup and now): the socket then stays as a new one.
func (srv *Server) restoreSession(ic *ingestConn) bool {
	pid := ic.s.PID()
	lm, b, ok := srv.ctrl.session(pid)
	if !ok { // owned elsewhere, or here after a takeover
		lm, b, ok = srv.ctrl.broker.restoreSession(ic, pid)
	}
	if !ok {
		srv.ctrl.m.recoveryOutcome(socketio.RecoveryRefused)
		return false
	}
	// claimed stays false: a client that logs on again after its reconnect
	// (one that does not rely on recovery) is answered as before.
	ic.mu.Lock()
	ic.lm, ic.aux, ic.playerID, ic.auxOwner = lm, b.Aux, b.PlayerID, b.AuxOwner
	ic.mu.Unlock()
	if lm != nil && !srv.ctrl.bind(lm, ic) {
		ic.mu.Lock()
		ic.lm = nil
		ic.mu.Unlock()
		srv.ctrl.m.recoveryOutcome(socketio.RecoveryRefused)
		return false
	}
	srv.acceptData(ic)
	code := ""
	if lm != nil {
		code = lm.code
	}
	kind := "observer"
	if b.Aux {
		kind = "auxiliary"
	}
	srv.log.Info("ingest session recovered", "kind", kind, "groupCode", code, "playerId", b.PlayerID,
		"remote", ic.s.Handshake().Address)
	return true
}

// writeSidecar writes the secret sidecar: the group secret, then one JSON
// binding per line (replaylog.WriteSidecar replaces the file whole).
func writeSidecar(path, secret string, bs []sessionBinding) error {
	lines := make([][]byte, 0, len(bs))
	for _, b := range bs {
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		lines = append(lines, j)
	}
	return replaylog.WriteSidecar(path, secret, lines)
}

// readSidecar reads a secret sidecar: the secret and the bindings after
// it. A damaged binding line is skipped (the client then logs on anew);
// a missing or empty secret fails.
func readSidecar(path string) (string, []sessionBinding, error) {
	secret, lines, err := replaylog.ReadSidecar(path)
	if err != nil {
		return "", nil, err
	}
	var bs []sessionBinding
	for _, line := range lines {
		var b sessionBinding
		if json.Unmarshal(line, &b) != nil || b.PID == "" || b.SID == "" {
			continue
		}
		bs = append(bs, b)
	}
	return secret, bs, nil
}
