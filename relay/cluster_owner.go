package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"spectra-relay/relay/cluster"
	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replaylog"
)

// takeover makes this node the owner of a match another node had, when
// the observer presents its secret. handled is false when Redis has no
// such match (the caller creates one).
func (g *clusterGlue) takeover(l match.Logon) (res logonResult, handled bool, err error) {
	c := g.c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	cm := &clusterMatch{}
	var lmRef struct {
		sync.Mutex
		lm *liveMatch
	}
	own, snap, err := g.node.Takeover(ctx, l.GroupCode, l.GroupSecret, func(err error) {
		lmRef.Lock()
		lm := lmRef.lm
		lmRef.Unlock()
		if lm != nil {
			g.lost(lm, err)
		}
	})
	switch {
	case errors.Is(err, cluster.ErrNoMatch):
		return logonResult{}, false, nil
	case errors.Is(err, cluster.ErrTaken):
		return logonResult{}, true, errGroupTaken
	case err != nil:
		return logonResult{}, true, err
	}
	cm.own, cm.logon = own, snap.Logon
	lm, rejected, auxPlayers, err := g.rebuild(l.GroupCode, snap, cm)
	if err != nil {
		own.Release(ctx, false, "")
		return logonResult{}, true, fmt.Errorf("rebuild from the stream: %w", err)
	}
	if lm.m.Ended() {
		own.Release(ctx, true, lm.matchID)
		return logonResult{}, false, nil
	}
	sh := c.shardOf(l.GroupCode)
	sh.mu.Lock()
	if other := sh.m[l.GroupCode]; other != nil {
		sh.mu.Unlock()
		own.Release(ctx, false, "")
		res, err := c.reconnect(other, l)
		return res, true, err
	}
	sh.m[l.GroupCode] = lm
	c.count.Add(1)
	sh.mu.Unlock()
	lmRef.Lock()
	lmRef.lm = lm
	lmRef.Unlock()
	g.dropRemote(l.GroupCode)

	lm.mu.Lock()
	if id := lm.m.MatchID(); id != "" {
		c.reindexLocked(lm, "", id)
		lm.matchID = id
		cm.indexedID = id
	}
	lm.mu.Unlock()
	if c.cfg.ReplayDir != "" {
		// A replay file of its own, complete from the logon on.
		rl, err := replaylog.Open(c.replay, ServerVersion, l.GroupCode, snap.Secret, time.UnixMilli(snap.Start), snap.Logon)
		if err != nil {
			c.log.Error("replay file not written", "groupCode", l.GroupCode, "err", err)
		} else {
			for _, e := range snap.Events {
				rl.Add(e.Raw, e.TS)
			}
			lm.mu.Lock()
			lm.replay = rl
			lm.mu.Unlock()
		}
	}
	if len(auxPlayers) > 0 {
		auxRejoinAfter(auxRejoinGrace, func() { c.auxRejoinExpired(lm, auxPlayers) })
	}
	lost := ""
	if snap.Full {
		lost = "the stream was at its cap: events after it are missing from the rebuilt state"
	}
	g.takeovers.Inc()
	c.log.Info("match taken over", "groupCode", l.GroupCode, "matchId", lm.matchID, "token", own.Token(),
		"events", len(snap.Events), "rejected", rejected, "took", time.Since(began).Round(time.Millisecond), "lost", lost)
	c.schedule(lm)
	return logonResult{lm: lm, reconnected: true}, true, nil
}

// rebuild applies a match's stream again, as recovery does a replay file.
func (g *clusterGlue) rebuild(code string, snap cluster.Snapshot, cm *clusterMatch) (*liveMatch, int, map[string]struct{}, error) {
	c := g.c
	l, err := match.ParseLogon(snap.Logon)
	if err != nil {
		return nil, 0, nil, err
	}
	m, err := match.New(l, snap.Secret, time.UnixMilli(snap.Start))
	if err != nil {
		return nil, 0, nil, err
	}
	rejected := 0
	aux := make(map[string]struct{})
	last := snap.Start
	for _, e := range snap.Events {
		ev, err := match.ParseEvent([]byte(e.Raw))
		if err != nil {
			continue // not accepted the first time either
		}
		if _, err := m.Apply(ev, time.UnixMilli(e.TS)); err != nil {
			rejected++
		}
		if !ev.HasGroupCode && ev.PlayerID != "" {
			aux[ev.PlayerID] = struct{}{}
		}
		last = max(last, e.TS)
		if m.Ended() {
			break
		}
	}
	lm := &liveMatch{
		c:            c,
		code:         code,
		secret:       snap.Secret,
		m:            m,
		version:      1,
		lastActivity: c.now(),
		lastEvent:    time.UnixMilli(last),
		conns:        make(map[*ingestConn]struct{}),
		cm:           cm,
	}
	lm.timer = c.cfg.AfterFunc(time.Hour, lm.onTimer)
	lm.timer.Stop()
	return lm, rejected, aux, nil
}

// claim registers a new match in the cluster before it goes live here:
// errGroupTaken when another node has the code.
func (g *clusterGlue) claim(lm *liveMatch, raw []byte, start time.Time) error {
	ctx, cancel := rctx()
	defer cancel()
	cm := &clusterMatch{logon: raw}
	own, err := g.node.Create(ctx, lm.code, lm.secret, raw, start.UnixMilli(), func(err error) { g.lost(lm, err) })
	if errors.Is(err, cluster.ErrTaken) {
		return errGroupTaken
	}
	if err != nil {
		return err
	}
	cm.own = own
	lm.cm = cm
	g.dropRemote(lm.code)
	return nil
}

// beforeApply appends an event to the stream; the event is applied only
// when it returns no error. done must be called after the apply.
func (g *clusterGlue) beforeApply(lm *liveMatch, raw string, now time.Time) (done func(), err error) {
	cm := lm.cm
	if cm == nil { // not owned through the cluster (rebuilt from its file before joining)
		return func() {}, nil
	}
	cm.applyMu.Lock()
	ctx, cancel := rctx()
	defer cancel()
	if time.Now().UnixNano() < g.downUntil.Load() {
		err = errRedisBackoff
	} else {
		err = cm.own.Append(ctx, now.UnixMilli(), raw)
	}
	if errors.Is(err, cluster.ErrLost) {
		g.restoreLocked(lm)
		err = cm.own.Append(ctx, now.UnixMilli(), raw)
	}
	switch {
	case err == nil:
		if cm.gap > 0 {
			g.restoreLocked(lm)
		}
	case errors.Is(err, cluster.ErrFenced):
		cm.applyMu.Unlock()
		go g.lost(lm, err)
		return nil, errMatchRemoved
	case errors.Is(err, cluster.ErrStreamFull):
		if cm.gap == 0 {
			g.c.log.Warn("cluster: event stream cap reached; later events are applied but a takeover will not see them",
				"groupCode", lm.code)
		}
		cm.gap = -1 << 30 // no restore: the cap stays
	default:
		// Redis unreachable. No other node can take the match over
		// without Redis either, so applying keeps the overlays going;
		// the stream gets the events back from the replay file when
		// Redis answers again.
		if cm.gap == 0 {
			g.c.log.Error("cluster: Redis unreachable; events are applied but not in the stream until it answers again",
				"groupCode", lm.code, "err", err)
		}
		if cm.gap >= 0 {
			cm.gap++
		}
		if err != errRedisBackoff {
			g.redisErrors.Inc()
			g.downUntil.Store(time.Now().Add(redisBackoff).UnixNano())
		}
	}
	return func() {
		lm.mu.Lock()
		id := lm.matchID
		lm.mu.Unlock()
		if id != cm.indexedID {
			ctx, cancel := rctx()
			if err := cm.own.IndexMatchID(ctx, cm.indexedID, id); err != nil {
				g.c.log.Warn("cluster: match id not indexed; auxiliary clients on other nodes will not find the match", "groupCode", lm.code, "err", err)
			} else {
				cm.indexedID = id
			}
			cancel()
		}
		cm.applyMu.Unlock()
	}, nil
}

var errRedisBackoff = errors.New("cluster: Redis failed less than a second ago")

// restoreLocked writes the match back into Redis from this node's replay
// file, after Redis lost it or missed events. cm.applyMu held.
func (g *clusterGlue) restoreLocked(lm *liveMatch) {
	c, cm := g.c, lm.cm
	lm.mu.Lock()
	rl, id := lm.replay, lm.matchID
	lm.mu.Unlock()
	var events []cluster.Entry
	var readErr error
	if rl != nil {
		events, readErr = g.replayEntries(rl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cm.own.Restore(ctx, lm.secret, cm.logon, events, id); err != nil {
		if errors.Is(err, cluster.ErrFenced) {
			go g.lost(lm, err)
		}
		c.log.Error("cluster: match not restored in Redis", "groupCode", lm.code, "err", err)
		return
	}
	g.restores.Inc()
	missed := cm.gap
	cm.gap = 0
	cm.indexedID = id
	switch {
	case rl == nil || readErr != nil:
		c.log.Error("cluster: match restored in Redis WITHOUT its event history (no readable replay file): a takeover would rebuild it from the logon only",
			"groupCode", lm.code, "err", readErr)
	default:
		c.log.Warn("cluster: match restored in Redis from the replay file", "groupCode", lm.code,
			"events", len(events), "eventsMissedWhileUnreachable", max(missed, 0), "token", cm.own.Token())
	}
}

// replayEntries reads back every event of the match's replay file.
func (g *clusterGlue) replayEntries(rl *replaylog.Log) ([]cluster.Entry, error) {
	if err := g.c.flushReplay(rl); err != nil {
		return nil, err
	}
	f, err := os.Open(rl.Path())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := replayfile.NewReader(f)
	if err != nil {
		return nil, err
	}
	ts := rd.Header().LogStartTime
	var out []cluster.Entry
	for {
		raw, _, err := rd.NextRaw()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if ev, err := match.ParseEvent(raw); err == nil && ev.Timestamp > 0 {
			ts = ev.Timestamp
		}
		out = append(out, cluster.Entry{TS: ts, Raw: string(raw)})
	}
}

// lost ends this node's part in a match another node took (or whose
// keys could not be restored): the match leaves the registry, and the
// node's overlays of it now follow the new owner through Redis.
func (g *clusterGlue) lost(lm *liveMatch, err error) {
	if errors.Is(err, cluster.ErrLost) {
		cm := lm.cm
		cm.applyMu.Lock()
		defer cm.applyMu.Unlock()
		// An event may have restored it meanwhile.
		ctx, cancel := rctx()
		err := cm.own.Renew(ctx)
		cancel()
		switch {
		case errors.Is(err, cluster.ErrLost):
			g.restoreLocked(lm)
		case errors.Is(err, cluster.ErrFenced):
			go g.lost(lm, err)
		}
		return
	}
	lm.mu.Lock()
	removed := lm.removed
	lm.mu.Unlock()
	if removed || lm.cm.dropped.Swap(true) {
		return
	}
	g.fenced.Inc()
	g.c.log.Warn("cluster: match owned by another node now; this node stops applying and publishing it",
		"groupCode", lm.code, "err", err)
	// Its clients belong on the new owner: a lost connection makes
	// socket.io-client reconnect (through the load balancer), where the
	// DISCONNECT that remove sends would make it give up.
	lm.mu.Lock()
	for ic := range lm.conns {
		ic.s.CloseTransport()
	}
	lm.mu.Unlock()
	g.c.remove(lm, reasonFenced)
	g.ensureRemote(lm.code)
}

const reasonFenced = "owned by another node"

// released is remove's hook: the match's keys go when it ended here.
func (g *clusterGlue) released(lm *liveMatch, why string) {
	if lm.cm == nil {
		return
	}
	ctx, cancel := rctx()
	defer cancel()
	lm.cm.own.Release(ctx, why != reasonFenced, lm.cm.indexedID)
}

// published is sendLocked's hook: one publish per send.
func (g *clusterGlue) published(lm *liveMatch, v uint64, pkt []byte) {
	cm := lm.cm
	if cm == nil {
		return
	}
	if time.Now().UnixNano() < g.downUntil.Load() {
		// Redis failed just now: the heal loop publishes the latest
		// state once it answers.
		cm.pending, cm.pendingV = pkt, v
		return
	}
	ctx, cancel := rctx()
	defer cancel()
	switch err := cm.own.Publish(ctx, v, pkt); {
	case err == nil:
		cm.pending = nil
	case errors.Is(err, cluster.ErrLost):
		// The renewal restores the match, the heal loop publishes.
		cm.pending, cm.pendingV = pkt, v
	case errors.Is(err, cluster.ErrFenced):
		go g.lost(lm, err)
	default:
		cm.pending, cm.pendingV = pkt, v
		g.redisErrors.Inc()
		g.downUntil.Store(time.Now().Add(redisBackoff).UnixNano())
		g.c.log.Debug("cluster: publish failed; overlays on other nodes miss this state", "groupCode", lm.code, "err", err)
	}
}
