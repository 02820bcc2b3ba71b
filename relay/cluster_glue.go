package relay

// Cluster mode (issue 9): the Redis broker (broker.go), the relay's side
// of relay/cluster. Everything the controller, the ingest and the extras
// do differently with Redis is here, in cluster_owner.go (owned matches:
// takeover, the fenced stream, loss and restore), cluster_remote.go
// (overlays and auxiliary clients of matches owned elsewhere) and
// cluster_sessions.go (ingest session bindings in Redis). The controller
// calls the broker unconditionally; a relay alone has localBroker, whose
// methods do nothing, and JoinCluster puts clusterGlue in its place.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/relay/cluster"
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
	c    *controller
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
	c.broker = g
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

// ---- the extras' view (relay/extras, wired in surfaces.go) ----

func (srv *Server) matchesRunning() int { return srv.ctrl.broker.liveCount() }

// teamInfo answers from this node, else from the broker (a match finished
// on another node).
func (srv *Server) teamInfo(code string) ([]byte, bool) {
	if info, ok := srv.ctrl.TeamInfo(code); ok {
		return info, true
	}
	return srv.ctrl.broker.teamInfo(code)
}

func (srv *Server) putPreview(code string, doc []byte) bool {
	return srv.ctrl.broker.putPreview(code, doc, srv.cfg.PreviewTTL)
}

func (srv *Server) preview(code string) ([]byte, bool) { return srv.ctrl.broker.preview(code) }
