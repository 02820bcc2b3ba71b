package relay

// Cluster side of recovered ingest sessions (sessions.go): the binding of
// every logged-on ingest connection is stored in Redis with its match, so
// that a client reconnecting to another node (the owner died, the load
// balancer moved it) is recovered there. A recovered observer takes its
// match over, as its logon with the secret would; a recovered auxiliary
// client is bound to the match when this node owns it, else forwards to
// the owner like an auxiliary client that logged on here.

import (
	"encoding/json"

	"spectra-relay/relay/match"
)

// putSession stores a binding with its match in Redis.
func (g *clusterGlue) putSession(code string, b sessionBinding) {
	j, err := json.Marshal(b)
	if err != nil {
		return
	}
	ctx, cancel := rctx()
	defer cancel()
	if err := g.node.PutSession(ctx, code, b.PID, j); err != nil {
		g.redisErrors.Inc()
		g.c.log.Warn("cluster: ingest session not stored (its client will have to log on again after a failover)", "groupCode", code, "err", err)
	}
}

// rememberRemoteAux stores the binding of an auxiliary client whose match
// another node owns.
func (g *clusterGlue) rememberRemoteAux(ic *ingestConn) {
	pid := ic.s.PID()
	if pid == "" {
		return
	}
	g.auxMu.Lock()
	ra := g.aux[ic]
	g.auxMu.Unlock()
	if ra == nil {
		return
	}
	ic.mu.Lock()
	owner := ic.auxOwner
	ic.mu.Unlock()
	g.putSession(ra.code, sessionBinding{PID: pid, SID: ic.s.ID(), Aux: true, PlayerID: ra.playerID, AuxOwner: owner, MatchID: ra.matchID})
}

// session reads a binding from Redis.
func (g *clusterGlue) session(pid string) (code, secret string, b sessionBinding, ok bool) {
	ctx, cancel := rctx()
	defer cancel()
	code, secret, raw, ok, err := g.node.Session(ctx, pid)
	if err != nil {
		g.redisErrors.Inc()
		g.c.log.Warn("cluster: ingest session lookup failed", "err", err)
		return "", "", b, false
	}
	if !ok || json.Unmarshal(raw, &b) != nil || b.PID != pid || b.SID == "" {
		return "", "", b, false
	}
	return code, secret, b, true
}

// lookupSession finds a binding another node stored.
func (g *clusterGlue) lookupSession(pid string) (sessionBinding, bool) {
	_, _, b, ok := g.session(pid)
	return b, ok
}

// restoreSession binds a recovered socket whose binding this node does not
// hold: to the match here, taken over for an observer, or forwarded for
// an auxiliary client of a match owned elsewhere (lm nil).
func (g *clusterGlue) restoreSession(ic *ingestConn, pid string) (*liveMatch, sessionBinding, bool) {
	code, secret, b, ok := g.session(pid)
	if !ok {
		return nil, b, false
	}
	if lm := g.c.get(code); lm != nil {
		return lm, b, true
	}
	if b.Aux {
		if b.MatchID == "" {
			return nil, b, false
		}
		g.auxMu.Lock()
		g.aux[ic] = &remoteAux{matchID: b.MatchID, code: code, playerID: b.PlayerID}
		g.auxMu.Unlock()
		return nil, b, true
	}
	res, handled, err := g.takeover(match.Logon{GroupCode: code, GroupSecret: secret})
	if !handled || err != nil || res.lm == nil {
		g.c.log.Info("cluster: recovered observer's match not taken over", "groupCode", code, "err", err)
		return nil, b, false
	}
	return res.lm, b, true
}
