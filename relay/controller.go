package relay

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"spectra-relay/relay/match"
	"spectra-relay/relay/replaylog"
	"spectra-relay/socketio"
)

const numShards = 64 // power of two: the shard is hash & (numShards-1)

// Timing defaults of the existing server.
const (
	DefaultSendInterval      = 100 * time.Millisecond
	DefaultInactivityTimeout = 30 * time.Minute
	DefaultTeamInfoTTL       = time.Hour
	DefaultPreviewTTL        = 10 * time.Minute
)

var (
	errNoMatch      = errors.New("no live match for this group code")
	errMatchRemoved = errors.New("match was removed")
)

type shard struct {
	mu sync.RWMutex
	m  map[string]*liveMatch
}

// idShard indexes live matches by in-game match id: auxiliary data names
// only the match id, and two groups may observe the same game.
type idShard struct {
	mu sync.RWMutex
	m  map[string][]*liveMatch
}

// broadcaster is where match_data goes: the output namespace in the server,
// a recorder in tests and benchmarks.
type broadcaster interface {
	BroadcastRaw(room string, packet []byte, coalesce bool) int
}

// controllerConfig tunes the controller; zero values take the defaults.
type controllerConfig struct {
	SendInterval      time.Duration
	InactivityTimeout time.Duration
	TeamInfoTTL       time.Duration
	// LogonBurst is the overlay logon rate (per second) from which sends
	// are slowed (logonburst.go): 0 = DefaultLogonBurst, < 0 = never.
	LogonBurst int
	// ReplayDir receives the replay files; "" writes none.
	ReplayDir string
	// ReplayMaxBytes caps one replay file; 0 = DefaultReplayMaxBytes, < 0 =
	// no cap.
	ReplayMaxBytes int64
	Logger         *slog.Logger
	// PreviewTTL keeps a preview of the local broker; 0 =
	// DefaultPreviewTTL.
	PreviewTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// AfterFunc makes a match's send timer, stopped by the caller before
	// first use (tests drive it with Now); default time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) sendTimer
}

// sendTimer is the part of *time.Timer a match's trailing send uses.
type sendTimer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

func realAfterFunc(d time.Duration, f func()) sendTimer { return time.AfterFunc(d, f) }

// framingBroadcaster is a broadcaster that also hands back the frame it
// sent (the output namespace does): overlays logging on later are sent
// that very frame, whose compressed form the broadcast may already have
// made.
type framingBroadcaster interface {
	BroadcastRawPrepared(room string, packet []byte, coalesce bool) (int, socketio.Prepared, bool)
	BroadcastRawPreparedSkip(room string, packet []byte, coalesce bool, mark uint64) (int, socketio.Prepared, bool)
}

// controller holds the live matches and decides when their state is sent.
type controller struct {
	cfg    controllerConfig
	log    *slog.Logger
	replay replaylog.Conf
	out    broadcaster
	outF   framingBroadcaster // out, when it is one; else nil
	now    func() time.Time
	shards [numShards]shard
	ids    [numShards]idShard
	count  atomic.Int64
	marks  atomic.Uint64 // the last snapshot mark handed out (snapshot.mark)

	finishedMu sync.Mutex
	finished   map[string]finishedInfo

	flushKick chan struct{}
	stop      chan struct{}
	stopOnce  sync.Once
	loops     sync.WaitGroup
	closers   sync.WaitGroup // replay files being closed

	m *ctrlMetrics

	logons   logonMeter // overlay logons, for the burst rate
	bursting bool       // the last noteBurst saw a burst; tick loop only

	// broker is the other nodes (broker.go): localBroker alone, the
	// Redis one after Server.JoinCluster.
	broker broker

	// sessMu guards sessions, the index of recoverable ingest sessions:
	// pid → its live match (sessions.go). A leaf, also taken under
	// liveMatch.mu.
	sessMu   sync.Mutex
	sessions map[string]*liveMatch
	// sidecarMu serialises the rewrites of secret sidecars (sessions.go);
	// taken before liveMatch.mu.
	sidecarMu sync.Mutex
}

type finishedInfo struct {
	json    []byte
	expires time.Time
}

// liveMatch is one match of the registry with its send state.
type liveMatch struct {
	c      *controller
	code   string
	secret string

	mu           sync.Mutex
	m            *match.Match
	version      uint64 // bumped on every change the overlays should see
	matchID      string // as indexed in c.ids
	lastActivity time.Time
	removed      bool
	conns        map[*ingestConn]struct{}
	sessions     []sessionBinding // recoverable ingest sessions, oldest first (sessions.go)
	replay       *replaylog.Log   // nil when replay writing is off or failed
	lastEvent    time.Time        // status page: the last event applied

	sendMu     sync.Mutex
	kick       atomic.Bool   // a change waits to be scheduled: see schedule
	sent       atomic.Uint64 // version last broadcast, written under sendMu
	sends      atomic.Uint64 // broadcasts so far (metrics_matchsends.go)
	lastSend   time.Time
	armed      bool
	timer      sendTimer
	snap       snapshot  // the newest state encoded for overlays; version 0 until needed
	dirtySince time.Time // first change not sent yet (send lag metric); zero when none

	cm *clusterMatch // the Redis broker's ownership of the match; nil when alone
}

// newController starts the controller's loops (timers, inactivity, replay
// flushing, expiries). out may be nil: nothing is sent then.
func newController(cfg controllerConfig, out broadcaster) *controller {
	if cfg.SendInterval <= 0 {
		cfg.SendInterval = DefaultSendInterval
	}
	if cfg.InactivityTimeout <= 0 {
		cfg.InactivityTimeout = DefaultInactivityTimeout
	}
	if cfg.TeamInfoTTL <= 0 {
		cfg.TeamInfoTTL = DefaultTeamInfoTTL
	}
	if cfg.LogonBurst == 0 {
		cfg.LogonBurst = DefaultLogonBurst
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = realAfterFunc
	}
	if cfg.ReplayMaxBytes == 0 {
		cfg.ReplayMaxBytes = DefaultReplayMaxBytes
	}
	c := &controller{
		cfg:       cfg,
		log:       cfg.Logger,
		out:       out,
		now:       cfg.Now,
		finished:  make(map[string]finishedInfo),
		flushKick: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		m:         newCtrlMetrics(),
		sessions:  make(map[string]*liveMatch),
	}
	c.outF, _ = out.(framingBroadcaster)
	if cfg.PreviewTTL <= 0 {
		cfg.PreviewTTL = DefaultPreviewTTL
	}
	c.broker = newLocalBroker(c, cfg.PreviewTTL)
	c.replay = replaylog.Conf{Dir: cfg.ReplayDir, Limit: cfg.ReplayMaxBytes, Logger: cfg.Logger, Kick: c.kickFlush}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*liveMatch)
		c.ids[i].m = make(map[string][]*liveMatch)
	}
	c.loops.Add(2)
	go c.tickLoop()
	go c.flushLoop()
	return c
}

func (c *controller) shardOf(code string) *shard { return &c.shards[fnv1a(code)&(numShards-1)] }
func (c *controller) idShardOf(id string) *idShard {
	return &c.ids[fnv1a(id)&(numShards-1)]
}

// Count is the number of live matches.
func (c *controller) Count() int { return int(c.count.Load()) }

func (c *controller) get(code string) *liveMatch {
	sh := c.shardOf(code)
	sh.mu.RLock()
	lm := sh.m[code]
	sh.mu.RUnlock()
	return lm
}

// byMatchID appends the live matches with the in-game match id to dst.
func (c *controller) byMatchID(dst []*liveMatch, id string) []*liveMatch {
	if id == "" {
		return dst
	}
	is := c.idShardOf(id)
	is.mu.RLock()
	dst = append(dst, is.m[id]...)
	is.mu.RUnlock()
	return dst
}

// auxMatch is the live match an auxiliary logon's matchId names: the
// first whose id equals it as the existing server compares (JS ==), looked
// up by its string form key. raw is the member's JSON. A match without an
// id yet is never found (the existing server would match "" == 0).
func (c *controller) auxMatch(key string, raw []byte) *liveMatch {
	var buf [4]*liveMatch
	for _, lm := range c.byMatchID(buf[:0], key) {
		lm.mu.Lock()
		ok := !lm.removed && lm.m.MatchIDEquals(raw)
		lm.mu.Unlock()
		if ok {
			return lm
		}
	}
	return nil
}

// logonResult is the outcome of an observer logon's match step.
type logonResult struct {
	lm          *liveMatch
	reconnected bool
}

var errGroupTaken = errors.New("group code is live with another secret")

// createOrReconnect registers a new match for the logon, or returns the
// live one when the logon carries its group secret. raw is the logon
// payload, used for the replay header.
func (c *controller) createOrReconnect(l match.Logon, raw []byte) (logonResult, error) {
	if lm := c.get(l.GroupCode); lm != nil {
		return c.reconnect(lm, l)
	}
	if l.GroupSecret != "" { // the match may live on another node
		if res, handled, err := c.broker.takeover(l); handled {
			return res, err
		}
	}
	now := c.now()
	secret := newGroupSecret()
	m, err := match.New(l, secret, now)
	if err != nil {
		return logonResult{}, err
	}
	lm := &liveMatch{
		c:            c,
		code:         l.GroupCode,
		secret:       secret,
		m:            m,
		version:      1, // the initial state is a change: the first send shows it
		lastActivity: now,
		lastEvent:    now,
		conns:        make(map[*ingestConn]struct{}),
	}
	lm.timer = c.cfg.AfterFunc(time.Hour, lm.onTimer)
	lm.timer.Stop()
	if err := c.broker.claim(lm, raw, now); err != nil { // the code must be free on every node
		return logonResult{}, err
	}

	sh := c.shardOf(l.GroupCode)
	sh.mu.Lock()
	if other := sh.m[l.GroupCode]; other != nil {
		// Another logon for the same code won the race.
		sh.mu.Unlock()
		return c.reconnect(other, l)
	}
	sh.m[l.GroupCode] = lm
	c.count.Add(1)
	sh.mu.Unlock()

	if c.cfg.ReplayDir != "" {
		rl, err := replaylog.Open(c.replay, ServerVersion, l.GroupCode, secret, now, raw)
		if err != nil {
			c.log.Error("replay file not written", "groupCode", l.GroupCode, "err", err)
		} else {
			lm.mu.Lock()
			lm.replay = rl
			lm.mu.Unlock()
		}
	}
	c.log.Info("match registered", "groupCode", l.GroupCode, "matches", c.Count())
	c.schedule(lm)
	return logonResult{lm: lm}, nil
}

func (c *controller) reconnect(lm *liveMatch, l match.Logon) (logonResult, error) {
	if !secretEqual(l.GroupSecret, lm.secret) {
		return logonResult{}, errGroupTaken
	}
	lm.mu.Lock()
	removed := lm.removed
	if !removed {
		lm.lastActivity = c.now()
	}
	lm.mu.Unlock()
	if removed {
		return logonResult{}, errMatchRemoved
	}
	return logonResult{lm: lm, reconnected: true}, nil
}

// secretEqual compares in constant time; the secret guards a live match.
func secretEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

// ingest routes one validated event and counts its outcome.
func (c *controller) ingest(ev match.Event, raw string, from *ingestConn) error {
	err := c.route(ev, raw, from)
	c.m.countEvent(err)
	return err
}

// route sends one event by group code to that match (which must be the
// connection's own when from is non-nil), else to every match with the
// event's match id. raw is the payload as received.
func (c *controller) route(ev match.Event, raw string, from *ingestConn) error {
	now := c.now()
	if ev.HasGroupCode {
		lm := c.get(ev.GroupCode)
		if lm == nil {
			return errNoMatch
		}
		if from != nil && !from.mayWrite(lm) {
			return errForeignMatch
		}
		return c.apply(lm, ev, raw, now)
	}
	var buf [4]*liveMatch
	targets := c.byMatchID(buf[:0], ev.MatchID)
	if from != nil {
		// By match id too, a connection writes only into its own match.
		own := from.match()
		for _, lm := range targets {
			if lm == own {
				return c.apply(lm, ev, raw, now)
			}
		}
		if len(targets) > 0 {
			return errForeignMatch
		}
		return nil
	}
	var first error
	for _, lm := range targets {
		if err := c.apply(lm, ev, raw, now); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var errForeignMatch = errors.New("event for another match than the connection's")

// apply runs one event on one match and schedules what follows from it.
func (c *controller) apply(lm *liveMatch, ev match.Event, raw string, now time.Time) error {
	done, err := c.broker.beforeApply(lm, raw, now) // the cluster: into the match's stream first, fenced
	if err != nil {
		return err
	}
	defer done()
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return errMatchRemoved
	}
	// An auxiliary client changes only its own player: what it sends for
	// another is dropped before the replay log, so recovery never sees it.
	if err := lm.m.CheckAux(&ev); err != nil {
		lm.mu.Unlock()
		return err
	}
	// The existing server logs every routed event before handling it,
	// including the ones its handlers then reject.
	rl := lm.replay
	if rl != nil {
		rl.Add(raw, now.UnixMilli())
	}
	before := lm.version
	changed, err := lm.m.Apply(ev, now)
	lm.lastActivity = now
	lm.lastEvent = now
	if changed {
		lm.version++
	}
	if id := lm.m.MatchID(); id != lm.matchID {
		c.reindexLocked(lm, lm.matchID, id)
		lm.matchID = id
	}
	var info []byte
	ended := lm.m.Ended()
	if ended {
		if ti := lm.m.FinishedTeamInfo(); ti != nil {
			info = ti.AppendJSON(nil)
		}
	}
	lm.mu.Unlock()
	if rl != nil && replayWriteThrough {
		c.writeThrough(rl)
	}

	if ended {
		// The existing server sends nothing for the game_end change itself;
		// a state from before it that has not gone out yet still does.
		final := before > lm.sent.Load()
		c.finish(lm, info, final)
		return err
	}
	if changed {
		c.schedule(lm)
	}
	return err
}

// reindexLocked moves lm in the match-id index. lm.mu held.
func (c *controller) reindexLocked(lm *liveMatch, old, id string) {
	if old != "" {
		is := c.idShardOf(old)
		is.mu.Lock()
		list := is.m[old]
		for i, x := range list {
			if x == lm {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(is.m, old)
		} else {
			is.m[old] = list
		}
		is.mu.Unlock()
	}
	if id != "" {
		is := c.idShardOf(id)
		is.mu.Lock()
		// A new slice each time: readers copy the old one without a lock.
		list := is.m[id]
		is.m[id] = append(list[:len(list):len(list)], lm)
		is.mu.Unlock()
	}
}

// finish handles game_end: the team info is kept, the match removed and
// its connections closed.
func (c *controller) finish(lm *liveMatch, info []byte, sendFinal bool) {
	if info != nil {
		c.finishedMu.Lock()
		c.finished[lm.code] = finishedInfo{json: info, expires: c.now().Add(c.cfg.TeamInfoTTL)}
		c.finishedMu.Unlock()
		c.broker.putTeamInfo(lm.code, info) // every node answers it
	}
	if sendFinal {
		lm.sendMu.Lock()
		c.sendLocked(lm)
		lm.unlockSend()
	}
	c.remove(lm, "game_end")
}

// TeamInfo returns the JSON kept for /getTeamInfoForCode.
func (c *controller) TeamInfo(code string) ([]byte, bool) {
	c.finishedMu.Lock()
	defer c.finishedMu.Unlock()
	fi, ok := c.finished[code]
	if !ok || c.now().After(fi.expires) {
		return nil, false
	}
	return fi.json, true
}

// remove takes lm out of the registry, stops its sends, closes its replay
// file and disconnects its observer and auxiliary connections.
func (c *controller) remove(lm *liveMatch, why string) {
	sh := c.shardOf(lm.code)
	sh.mu.Lock()
	if sh.m[lm.code] == lm {
		delete(sh.m, lm.code)
		c.count.Add(-1)
	}
	sh.mu.Unlock()

	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return
	}
	lm.removed = true
	if lm.matchID != "" {
		c.reindexLocked(lm, lm.matchID, "")
	}
	conns := make([]*ingestConn, 0, len(lm.conns))
	for ic := range lm.conns {
		conns = append(conns, ic)
	}
	lm.conns = nil
	rl := lm.replay
	lm.replay = nil
	sessions := lm.sessions
	lm.sessions = nil
	lm.mu.Unlock()
	c.forgetSessions(lm, sessions)

	lm.sendMu.Lock()
	lm.timer.Stop()
	lm.armed = false
	lm.snap = snapshot{}
	lm.sendMu.Unlock()
	c.broker.released(lm, why)

	if rl != nil {
		c.closers.Add(1)
		go func() {
			defer c.closers.Done()
			if err := c.closeReplay(rl); err != nil {
				c.log.Error("replay file close", "groupCode", lm.code, "err", err)
			}
			// Ended or expired: nothing can resume this match any more.
			if err := rl.DropSecret(); err != nil {
				c.log.Error("group secret sidecar", "groupCode", lm.code, "err", err)
			}
		}()
	}
	for _, ic := range conns {
		ic.kick()
	}
	c.log.Info("match removed", "groupCode", lm.code, "reason", why, "connections", len(conns), "matches", c.Count())
}

// bind attaches an ingest connection to lm so that it is disconnected when
// the match ends. It fails when the match is already gone.
func (c *controller) bind(lm *liveMatch, ic *ingestConn) bool {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.removed {
		return false
	}
	lm.conns[ic] = struct{}{}
	return true
}

func (c *controller) unbind(lm *liveMatch, ic *ingestConn) {
	lm.mu.Lock()
	delete(lm.conns, ic)
	lm.mu.Unlock()
}

// auxDisconnected resets a player's auxiliary flags after the player's
// auxiliary connection closed.
func (c *controller) auxDisconnected(lm *liveMatch, playerID string) {
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return
	}
	lm.m.AuxDisconnected(playerID)
	// The existing server shows this with the next change; the overlays
	// deserve it now.
	lm.version++
	lm.mu.Unlock()
	c.schedule(lm)
}
