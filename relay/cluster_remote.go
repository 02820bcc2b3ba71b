package relay

import (
	"encoding/binary"
	"time"

	"spectra-relay/relay/cluster"
	"spectra-relay/relay/match"
)

// subscribeUnowned hands subscribe's path for a group code with no live
// match here over to remoteSubscribe, outside the shard lock.
func (g *clusterGlue) subscribeUnowned(sh *shard, code string, join func() error, emit func(*snapshot) error) error {
	sh.mu.RUnlock()
	return g.remoteSubscribe(code, join, emit)
}

// remoteSubscribe is subscribe's path for a group code with no live
// match here: the overlay joins the room, the node listens to the code's
// channel, and the latest state known in the cluster is the snapshot.
func (g *clusterGlue) remoteSubscribe(code string, join func() error, emit func(*snapshot) error) error {
	rr := g.room(code)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if err := join(); err != nil {
		return err
	}
	if !rr.has {
		g.fetchLatest(code, rr)
	}
	if rr.has {
		return emit(&rr.snap)
	}
	return nil
}

// room returns the code's remoteRoom, subscribing on first use.
func (g *clusterGlue) room(code string) *remoteRoom {
	g.roomsMu.Lock()
	rr := g.rooms[code]
	if rr == nil {
		rr = &remoteRoom{}
		g.rooms[code] = rr
		g.node.SubscribeOut(code)
	}
	g.roomsMu.Unlock()
	return rr
}

// fetchLatest loads the code's latest published state. rr.mu held.
func (g *clusterGlue) fetchLatest(code string, rr *remoteRoom) {
	ctx, cancel := rctx()
	defer cancel()
	s, pkt, ok, err := g.node.LatestState(ctx, code)
	if err != nil {
		g.c.log.Warn("cluster: latest state not read", "groupCode", code, "err", err)
		return
	}
	if ok && (!rr.has || rr.seq.Less(s)) {
		rr.setLocked(s, pkt)
	}
}

func (rr *remoteRoom) setLocked(s cluster.Seq, pkt []byte) {
	if len(pkt) < len(matchDataHead)+1 {
		return
	}
	rr.seq, rr.has = s, true
	rr.snap = snapshot{version: max(s.Version, 1), pkt: pkt}
}

// ensureRemote keeps a room this node stopped owning fed from Redis.
func (g *clusterGlue) ensureRemote(code string) {
	rr := g.room(code)
	rr.mu.Lock()
	g.fetchLatest(code, rr)
	rr.mu.Unlock()
}

// dropRemote ends listening to a code this node now owns: its own sends
// reach its overlays directly.
func (g *clusterGlue) dropRemote(code string) {
	g.roomsMu.Lock()
	if _, ok := g.rooms[code]; ok {
		delete(g.rooms, code)
		g.node.UnsubscribeOut(code)
	}
	g.roomsMu.Unlock()
}

// onOut broadcasts a packet of a match owned elsewhere to this node's
// overlays, once, if it is newer than what they have.
func (g *clusterGlue) onOut(code string, s cluster.Seq, pkt []byte) {
	if g.c.get(code) != nil {
		return // owned here: the owner's own send reached the room
	}
	g.roomsMu.Lock()
	rr := g.rooms[code]
	g.roomsMu.Unlock()
	if rr == nil {
		return
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.has && !rr.seq.Less(s) {
		return
	}
	rr.setLocked(s, pkt)
	// Framed once: the broadcast's frame is also the logon snapshot's.
	switch {
	case g.c.outF != nil:
		_, rr.snap.prep, rr.snap.framed = g.c.outF.BroadcastRawPrepared(code, pkt, true)
	case g.c.out != nil:
		g.c.out.BroadcastRaw(code, pkt, true)
	}
}

type roomSizer interface{ RoomSize(string) int }

// sweepLoop drops the subscriptions of codes without overlays here.
func (g *clusterGlue) sweepLoop() {
	defer g.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		rs, ok := g.c.out.(roomSizer)
		if !ok {
			continue
		}
		g.roomsMu.Lock()
		for code, rr := range g.rooms {
			// TryLock: a room an overlay is joining right now stays.
			if rr.mu.TryLock() {
				if rs.RoomSize(code) == 0 {
					delete(g.rooms, code)
					g.node.UnsubscribeOut(code)
				}
				rr.mu.Unlock()
			}
		}
		g.roomsMu.Unlock()
	}
}

// ---- auxiliary clients of matches owned elsewhere ----

// auxLogonRemote accepts an auxiliary client whose game is observed by
// matches on other nodes.
func (g *clusterGlue) auxLogonRemote(ic *ingestConn, matchID, playerID string) bool {
	ctx, cancel := rctx()
	defer cancel()
	codes, err := g.node.CodesOfMatchID(ctx, matchID)
	if err != nil {
		g.c.log.Warn("cluster: match id lookup failed", "matchId", matchID, "err", err)
		return false
	}
	if len(codes) == 0 {
		return false
	}
	g.auxMu.Lock()
	g.aux[ic] = &remoteAux{matchID: matchID, code: codes[0], playerID: playerID}
	g.auxMu.Unlock()
	return true
}

// forwardAux sends a remote auxiliary client's event to the owners; it
// reports whether ic is such a client.
func (g *clusterGlue) forwardAux(ic *ingestConn, ev *match.Event, payload string) bool {
	g.auxMu.Lock()
	ra := g.aux[ic]
	if ra != nil && ev.Type == "aux_scoreboard" && ra.playerID == "" && ev.PlayerID == ev.AuxPlayer {
		ra.playerID = ev.PlayerID
	}
	g.auxMu.Unlock()
	if ra == nil {
		return false
	}
	// Like a local connection, a remote one writes only into its own
	// match, by group code or by match id.
	if ev.HasGroupCode && ev.GroupCode != ra.code || !ev.HasGroupCode && ev.MatchID != ra.matchID {
		g.c.log.Debug("cluster: dropped auxiliary data for another match than the connection's", "type", ev.Type, "groupCode", ev.GroupCode, "matchId", ev.MatchID)
		return true
	}
	ctx, cancel := rctx()
	defer cancel()
	if ok, err := g.node.Forward(ctx, ra.code, cluster.InData, string(appendAuxForward(nil, ev.AuxPlayer, payload))); err != nil || !ok {
		// No owner listening: the match is between owners (failover) or
		// gone. Auxiliary data repeats, the next one heals it.
		g.c.log.Debug("cluster: auxiliary data not delivered to an owner", "groupCode", ra.code, "type", ev.Type, "err", err)
	}
	return true
}

// auxClosed tells the owners that a remote auxiliary client left.
func (g *clusterGlue) auxClosed(ic *ingestConn) {
	g.auxMu.Lock()
	ra := g.aux[ic]
	delete(g.aux, ic)
	g.auxMu.Unlock()
	if ra == nil || ra.playerID == "" {
		return
	}
	ctx, cancel := rctx()
	defer cancel()
	_, _ = g.node.Forward(ctx, ra.code, cluster.InAuxGone, ra.playerID)
}

// onIn applies what a remote auxiliary client sent to a match owned here.
func (g *clusterGlue) onIn(code string, kind byte, payload []byte) {
	c := g.c
	lm := c.get(code)
	if lm == nil || lm.cm == nil {
		return
	}
	switch kind {
	case cluster.InData:
		owner, data, ok := parseAuxForward(payload)
		if !ok {
			return
		}
		ev, err := match.ParseEvent(data)
		if err != nil {
			return
		}
		ev.Aux, ev.AuxPlayer = true, owner
		c.m.countEvent(c.apply(lm, ev, string(data), c.now()))
	case cluster.InAuxGone:
		c.auxDisconnected(lm, string(payload))
	}
}

// A forwarded aux_data carries the player its client may change: the
// player id's length as a uvarint, the id, then the payload as received.
func appendAuxForward(dst []byte, owner, payload string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(owner)))
	return append(append(dst, owner...), payload...)
}

// parseAuxForward splits what appendAuxForward wrote; ok is false for
// anything it could not have written.
func parseAuxForward(b []byte) (owner string, payload []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	end := k + int(n)
	return string(b[k:end]), b[end:], true
}
