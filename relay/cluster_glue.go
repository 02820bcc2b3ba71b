package relay

// Cluster mode (issue 9): the relay's side of relay/cluster. Everything the
// controller, the ingest and the extras do differently with Redis is here;
// the hooks in the other files are one call each, marked "cluster hook",
// and do nothing when the server runs alone (Controller.cl == nil).
//
// Who does what:
//   - The node holding the observer's connection owns the match
//     (cluster.Owner). It appends every event to the match's stream before
//     applying it (the append is fenced: a node that lost the match stops
//     at its next event), and publishes each send's packet once; it also
//     broadcasts to its own overlays directly.
//   - Any node with overlays of a group code it does not own subscribes to
//     the code's channel (remoteRoom), keeps the latest packet for logon
//     snapshots and broadcasts what arrives through its room. It drops the
//     subscription when a packet finds no overlay in the room.
//   - An observer reconnecting with its group secret to a node without the
//     match takes it over: the token moves, the stream is read and applied
//     again (the rebuild), a replay file is written anew.
//   - An auxiliary client on a node that does not own its game's match
//     forwards its events to the owners through the match's input channel.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/relay/cluster"
	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// ClusterConfig turns on cluster mode (Server.JoinCluster).
type ClusterConfig struct {
	// RedisURL: redis://[user:password@]host:port/db (or rediss://).
	RedisURL string
	// NodeID names the node in leases and logs; default host-pid.
	NodeID string
	// LeaseTTL: default cluster.DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// redisTimeout bounds one Redis call made for a client's request.
const redisTimeout = 2 * time.Second

// clusterGlue is the controller's cluster state.
type clusterGlue struct {
	c    *Controller
	node *cluster.Node

	roomsMu sync.Mutex
	rooms   map[string]*remoteRoom

	auxMu sync.Mutex
	aux   map[*ingestConn]*remoteAux

	// downUntil (unix ns): after a failed Redis call events skip the
	// stream until then, so a hanging Redis does not stall every event
	// for the client's timeout.
	downUntil atomic.Int64

	// Metrics (spectra_cluster_*), registered by JoinCluster.
	takeovers, fenced, restores, redisErrors prometheus.Counter

	stop chan struct{}
	wg   sync.WaitGroup
}

// redisBackoff is how long events skip the stream after Redis failed.
const redisBackoff = time.Second

// clusterMatch is a live match's ownership, set on liveMatch.cm.
type clusterMatch struct {
	own   *cluster.Owner
	logon []byte // the raw obs_logon payload, for a restore

	// applyMu orders append-then-apply: the stream holds the events in
	// the order this node applied them, which a rebuild repeats.
	applyMu   sync.Mutex
	indexedID string // match id last written to the Redis index
	gap       int    // events applied while Redis was unreachable; applyMu held

	// pending is the last packet whose publish failed or was skipped, for
	// the heal loop; lm.sendMu held.
	pending  []byte
	pendingV uint64

	// dropped: the renewal, an append and a publish may all learn of
	// the loss at once; one of them drops the match.
	dropped atomic.Bool
}

// remoteRoom is a group code this node has overlays of but does not own.
type remoteRoom struct {
	mu   sync.Mutex
	seq  cluster.Seq
	snap snapshot // the latest state, for logon snapshots; guarded by mu
	has  bool
}

// remoteAux is an auxiliary connection whose match lives on other nodes.
type remoteAux struct {
	matchID  string
	code     string // its match, as a local auxiliary connection has one
	playerID string
}

// JoinCluster connects the server to Redis and turns cluster mode on. Call
// it once, after NewServer and before the listeners open; Shutdown leaves
// the cluster.
func (srv *Server) JoinCluster(ctx context.Context, cc ClusterConfig) error {
	c := srv.ctrl
	g := &clusterGlue{c: c, rooms: make(map[string]*remoteRoom), aux: make(map[*ingestConn]*remoteAux), stop: make(chan struct{})}
	node, err := cluster.New(ctx, cluster.Config{
		URL: cc.RedisURL, NodeID: cc.NodeID, LeaseTTL: cc.LeaseTTL,
		KeyTTL: c.cfg.InactivityTimeout, Logger: c.log,
	}, cluster.Handlers{Out: g.onOut, In: g.onIn})
	if err != nil {
		return err
	}
	g.node = node
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "cluster_" + name, Help: help})
	}
	g.takeovers = counter("takeovers_total", "Matches this node took over from another node (observer reconnect with the group secret).")
	g.fenced = counter("matches_lost_total", "Matches this node dropped because another node owns them now (fenced).")
	g.restores = counter("restores_total", "Matches this node wrote back into Redis after Redis lost or missed their events.")
	g.redisErrors = counter("redis_errors_total", "Failed Redis calls on the event path (appends and publishes).")
	rooms := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPrefix + "cluster_remote_rooms",
		Help: "Group codes this node relays from another node's match (subscribed channels)."},
		func() float64 { return float64(g.roomCount()) })
	if err := srv.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPrefix + "cluster_owned_matches",
		Help: "Matches this node owns."}, func() float64 { return float64(c.Count()) })); err != nil {
		node.Close()
		return err
	}
	for _, m := range []prometheus.Collector{g.takeovers, g.fenced, g.restores, g.redisErrors, rooms} {
		if err := srv.reg.Register(m); err != nil {
			node.Close()
			return err
		}
	}
	c.cl = g
	g.wg.Add(2)
	go g.sweepLoop()
	go g.watchRedis()
	return nil
}

func (g *clusterGlue) close() {
	close(g.stop)
	g.wg.Wait()
	g.node.Close()
}

func rctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), redisTimeout)
}

// ---- ownership ----

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
		rl, err := openReplay(c.replay, l.GroupCode, snap.Secret, time.UnixMilli(snap.Start), snap.Logon)
		if err != nil {
			c.log.Error("replay file not written", "groupCode", l.GroupCode, "err", err)
		} else {
			for _, e := range snap.Events {
				rl.add(e.Raw, e.TS)
			}
			lm.mu.Lock()
			lm.replay = rl
			lm.mu.Unlock()
		}
	}
	if len(auxPlayers) > 0 {
		time.AfterFunc(auxRejoinGrace, func() { c.auxRejoinExpired(lm, auxPlayers) })
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
	lm.timer = time.AfterFunc(time.Hour, lm.onTimer)
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
func (g *clusterGlue) replayEntries(rl *replayLog) ([]cluster.Entry, error) {
	if err := g.c.flushReplay(rl); err != nil {
		return nil, err
	}
	f, err := os.Open(rl.path)
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
	ctx, cancel := rctx()
	defer cancel()
	lm.cm.own.Release(ctx, why != reasonFenced, lm.cm.indexedID)
}

// published is sendLocked's hook: one publish per send.
func (g *clusterGlue) published(lm *liveMatch, v uint64, pkt []byte) {
	cm := lm.cm
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

// ---- overlays of matches owned elsewhere ----

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
	if len(pkt) < len(matchDataPrefix)+1 {
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
	if ra != nil && ev.Type == "aux_scoreboard" && ra.playerID == "" {
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
	if ok, err := g.node.Forward(ctx, ra.code, cluster.InData, payload); err != nil || !ok {
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
		ev, err := match.ParseEvent(payload)
		if err != nil {
			return
		}
		c.m.countEvent(c.apply(lm, ev, string(payload), c.now()))
	case cluster.InAuxGone:
		c.auxDisconnected(lm, string(payload))
	}
}

// ---- shared stores and Redis health ----

func (g *clusterGlue) putTeamInfo(code string, info []byte) {
	ctx, cancel := rctx()
	defer cancel()
	if err := g.node.PutTeamInfo(ctx, code, info, g.c.cfg.TeamInfoTTL); err != nil {
		g.c.log.Warn("cluster: team info not stored in Redis; only this node answers it", "groupCode", code, "err", err)
	}
}

func (g *clusterGlue) teamInfo(code string) ([]byte, bool) {
	ctx, cancel := rctx()
	defer cancel()
	b, ok, err := g.node.TeamInfo(ctx, code)
	if err != nil {
		g.c.log.Warn("cluster: team info not read from Redis", "groupCode", code, "err", err)
	}
	return b, ok
}

// liveCount is /status's count: the cluster's, or this node's when Redis
// does not answer.
func (g *clusterGlue) liveCount() int {
	ctx, cancel := rctx()
	defer cancel()
	n, err := g.node.LiveCount(ctx)
	if err != nil {
		g.c.log.Warn("cluster: live match count not read from Redis; answering this node's", "err", err)
		return g.c.Count()
	}
	return n
}

func (g *clusterGlue) putPreview(code string, doc []byte, ttl time.Duration) bool {
	ctx, cancel := rctx()
	defer cancel()
	if err := g.node.PutPreview(ctx, code, doc, ttl); err != nil {
		g.c.log.Warn("cluster: preview not stored in Redis", "previewCode", code, "err", err)
		return false
	}
	return true
}

func (g *clusterGlue) preview(code string) ([]byte, bool) {
	ctx, cancel := rctx()
	defer cancel()
	b, ok, err := g.node.Preview(ctx, code)
	if err != nil {
		g.c.log.Warn("cluster: preview not read from Redis", "previewCode", code, "err", err)
	}
	return b, ok
}

// watchRedis says when Redis restarted (its run_id changed): whatever it
// did not persist is gone, and the log says what that means here.
func (g *clusterGlue) watchRedis() {
	defer g.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	ctx, cancel := rctx()
	last, _ := g.node.RunID(ctx) // at once: a restart within the first tick counts too
	cancel()
	down := false
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		ctx, cancel := rctx()
		id, err := g.node.RunID(ctx)
		cancel()
		if err != nil {
			if !down {
				g.c.log.Error("cluster: Redis unreachable", "err", err)
				down = true
			}
			continue
		}
		if down {
			g.c.log.Info("cluster: Redis reachable again")
			down = false
		}
		g.downUntil.Store(0)
		g.heal()
		if last != "" && id != last {
			g.c.log.Warn("cluster: Redis restarted (new run_id); keys it did not persist are lost: owned matches restore theirs from their replay files, finished-match team info and previews stored before are gone",
				"ownedMatches", g.c.Count(), "remoteRooms", g.roomCount())
		}
		last = id
	}
}

// heal catches up what an outage left behind, without waiting for the
// next event: the streams that missed events, the states not published.
func (g *clusterGlue) heal() {
	for _, lm := range g.c.snapshot(nil) {
		cm := lm.cm
		if cm == nil {
			continue
		}
		cm.applyMu.Lock()
		if cm.gap > 0 {
			g.restoreLocked(lm)
		}
		cm.applyMu.Unlock()
		lm.sendMu.Lock()
		if cm.pending != nil {
			g.published(lm, cm.pendingV, cm.pending)
		}
		lm.unlockSend()
	}
}

func (g *clusterGlue) roomCount() int {
	g.roomsMu.Lock()
	defer g.roomsMu.Unlock()
	return len(g.rooms)
}

// ---- the extras' view (hooks in extras.go) ----

func (srv *Server) matchesRunning() int {
	if g := srv.ctrl.cl; g != nil {
		return g.liveCount()
	}
	return srv.ctrl.Count()
}

// teamInfo looks in Redis for a match finished on another node.
func (srv *Server) teamInfo(code string) ([]byte, bool) {
	if info, ok := srv.ctrl.TeamInfo(code); ok {
		return info, true
	}
	if g := srv.ctrl.cl; g != nil {
		return g.teamInfo(code)
	}
	return nil, false
}

func (srv *Server) putPreview(code string, doc []byte) bool {
	if g := srv.ctrl.cl; g != nil {
		return g.putPreview(code, doc, srv.cfg.PreviewTTL)
	}
	return srv.previews.put(code, doc)
}

func (srv *Server) preview(code string) ([]byte, bool) {
	if g := srv.ctrl.cl; g != nil {
		return g.preview(code)
	}
	return srv.previews.get(code)
}
