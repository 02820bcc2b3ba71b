package relay

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"spectra-relay/relay/match"
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

// Broadcaster is where match_data goes: the output namespace in the server,
// a recorder in tests and benchmarks.
type Broadcaster interface {
	BroadcastRaw(room string, packet []byte, coalesce bool) int
}

// ControllerConfig tunes the controller; zero values take the defaults.
type ControllerConfig struct {
	SendInterval      time.Duration
	InactivityTimeout time.Duration
	TeamInfoTTL       time.Duration
	// ReplayDir receives the replay files; "" writes none.
	ReplayDir string
	// ReplayMaxBytes caps one replay file; 0 = DefaultReplayMaxBytes, < 0 =
	// no cap.
	ReplayMaxBytes int64
	Logger         *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// framingBroadcaster is a Broadcaster that also hands back the frame it
// sent (the output namespace does): overlays logging on later are sent
// that very frame, whose compressed form the broadcast may already have
// made.
type framingBroadcaster interface {
	BroadcastRawPrepared(room string, packet []byte, coalesce bool) (int, socketio.Prepared, bool)
}

// Controller holds the live matches and decides when their state is sent.
type Controller struct {
	cfg    ControllerConfig
	log    *slog.Logger
	replay replayConf
	out    Broadcaster
	outF   framingBroadcaster // out, when it is one; else nil
	now    func() time.Time
	shards [numShards]shard
	ids    [numShards]idShard
	count  atomic.Int64

	finishedMu sync.Mutex
	finished   map[string]finishedInfo

	flushKick chan struct{}
	stop      chan struct{}
	stopOnce  sync.Once
	loops     sync.WaitGroup
	closers   sync.WaitGroup // replay files being closed

	m *ctrlMetrics

	cl *clusterGlue // cluster hook: nil unless Server.JoinCluster
}

type finishedInfo struct {
	json    []byte
	expires time.Time
}

// liveMatch is one match of the registry with its send state.
type liveMatch struct {
	c      *Controller
	code   string
	secret string

	mu           sync.Mutex
	m            *match.Match
	version      uint64 // bumped on every change the overlays should see
	matchID      string // as indexed in c.ids
	lastActivity time.Time
	removed      bool
	conns        map[*ingestConn]struct{}
	replay       *replayLog // nil when replay writing is off or failed
	lastEvent    time.Time  // status page: the last event applied

	sendMu     sync.Mutex
	kick       atomic.Bool   // a change waits to be scheduled: see schedule
	sent       atomic.Uint64 // version last broadcast, written under sendMu
	lastSend   time.Time
	armed      bool
	timer      *time.Timer
	snap       snapshot  // the newest state encoded for overlays; version 0 until needed
	dirtySince time.Time // first change not sent yet (send lag metric); zero when none

	cm *clusterMatch // cluster hook: this node's ownership; nil when alone
}

// NewController starts the controller's loops (timers, inactivity, replay
// flushing, expiries). out may be nil: nothing is sent then.
func NewController(cfg ControllerConfig, out Broadcaster) *Controller {
	if cfg.SendInterval <= 0 {
		cfg.SendInterval = DefaultSendInterval
	}
	if cfg.InactivityTimeout <= 0 {
		cfg.InactivityTimeout = DefaultInactivityTimeout
	}
	if cfg.TeamInfoTTL <= 0 {
		cfg.TeamInfoTTL = DefaultTeamInfoTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplayMaxBytes == 0 {
		cfg.ReplayMaxBytes = DefaultReplayMaxBytes
	}
	c := &Controller{
		cfg:       cfg,
		log:       cfg.Logger,
		out:       out,
		now:       cfg.Now,
		finished:  make(map[string]finishedInfo),
		flushKick: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		m:         newCtrlMetrics(),
	}
	c.outF, _ = out.(framingBroadcaster)
	c.replay = replayConf{dir: cfg.ReplayDir, limit: cfg.ReplayMaxBytes, log: cfg.Logger, kick: c.kickFlush}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*liveMatch)
		c.ids[i].m = make(map[string][]*liveMatch)
	}
	c.loops.Add(2)
	go c.tickLoop()
	go c.flushLoop()
	return c
}

func (c *Controller) shardOf(code string) *shard { return &c.shards[fnv1a(code)&(numShards-1)] }
func (c *Controller) idShardOf(id string) *idShard {
	return &c.ids[fnv1a(id)&(numShards-1)]
}

// Count is the number of live matches.
func (c *Controller) Count() int { return int(c.count.Load()) }

func (c *Controller) get(code string) *liveMatch {
	sh := c.shardOf(code)
	sh.mu.RLock()
	lm := sh.m[code]
	sh.mu.RUnlock()
	return lm
}

// byMatchID appends the live matches with the in-game match id to dst.
func (c *Controller) byMatchID(dst []*liveMatch, id string) []*liveMatch {
	if id == "" {
		return dst
	}
	is := c.idShardOf(id)
	is.mu.RLock()
	dst = append(dst, is.m[id]...)
	is.mu.RUnlock()
	return dst
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
func (c *Controller) createOrReconnect(l match.Logon, raw []byte) (logonResult, error) {
	if lm := c.get(l.GroupCode); lm != nil {
		return c.reconnect(lm, l)
	}
	if c.cl != nil && l.GroupSecret != "" { // cluster hook: the match may live on in Redis
		if res, handled, err := c.cl.takeover(l); handled {
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
	lm.timer = time.AfterFunc(time.Hour, lm.onTimer)
	lm.timer.Stop()
	if c.cl != nil { // cluster hook: the code must be free in the whole cluster
		if err := c.cl.claim(lm, raw, now); err != nil {
			return logonResult{}, err
		}
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
		rl, err := openReplay(c.replay, l.GroupCode, secret, now, raw)
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

func (c *Controller) reconnect(lm *liveMatch, l match.Logon) (logonResult, error) {
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
func (c *Controller) ingest(ev match.Event, raw string, from *ingestConn) error {
	err := c.route(ev, raw, from)
	c.m.countEvent(err)
	return err
}

// route sends one event by group code to that match (which must be the
// connection's own when from is non-nil), else to every match with the
// event's match id. raw is the payload as received.
func (c *Controller) route(ev match.Event, raw string, from *ingestConn) error {
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
func (c *Controller) apply(lm *liveMatch, ev match.Event, raw string, now time.Time) error {
	if lm.cm != nil { // cluster hook: into the match's stream first, fenced
		done, err := c.cl.beforeApply(lm, raw, now)
		if err != nil {
			return err
		}
		defer done()
	}
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return errMatchRemoved
	}
	// The existing server logs every routed event before handling it,
	// including the ones its handlers then reject.
	if lm.replay != nil {
		lm.replay.add(raw, now.UnixMilli())
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
func (c *Controller) reindexLocked(lm *liveMatch, old, id string) {
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
func (c *Controller) finish(lm *liveMatch, info []byte, sendFinal bool) {
	if info != nil {
		c.finishedMu.Lock()
		c.finished[lm.code] = finishedInfo{json: info, expires: c.now().Add(c.cfg.TeamInfoTTL)}
		c.finishedMu.Unlock()
		if c.cl != nil { // cluster hook: every node answers it
			c.cl.putTeamInfo(lm.code, info)
		}
	}
	if sendFinal {
		lm.sendMu.Lock()
		c.sendLocked(lm)
		lm.unlockSend()
	}
	c.remove(lm, "game_end")
}

// TeamInfo returns the JSON kept for /getTeamInfoForCode.
func (c *Controller) TeamInfo(code string) ([]byte, bool) {
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
func (c *Controller) remove(lm *liveMatch, why string) {
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
	lm.mu.Unlock()

	lm.sendMu.Lock()
	lm.timer.Stop()
	lm.armed = false
	lm.snap = snapshot{}
	lm.sendMu.Unlock()
	if lm.cm != nil { // cluster hook
		c.cl.released(lm, why)
	}

	if rl != nil {
		c.closers.Add(1)
		go func() {
			defer c.closers.Done()
			if err := c.closeReplay(rl); err != nil {
				c.log.Error("replay file close", "groupCode", lm.code, "err", err)
			}
			// Ended or expired: nothing can resume this match any more.
			if err := rl.dropSecret(); err != nil {
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
func (c *Controller) bind(lm *liveMatch, ic *ingestConn) bool {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.removed {
		return false
	}
	lm.conns[ic] = struct{}{}
	return true
}

func (c *Controller) unbind(lm *liveMatch, ic *ingestConn) {
	lm.mu.Lock()
	delete(lm.conns, ic)
	lm.mu.Unlock()
}

// auxDisconnected resets a player's auxiliary flags after the player's
// auxiliary connection closed.
func (c *Controller) auxDisconnected(lm *liveMatch, playerID string) {
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

// ---- sending ----

// schedule sends lm's state now if the last send is at least SendInterval
// old, else makes sure the trailing timer will send it.
//
// It never waits for sendMu: while another goroutine holds it (a broadcast
// fanning out, a logon's snapshot), the change is left in lm.kick and the
// holder schedules it when it unlocks (unlockSend). An observer's read
// path thus never queues behind a fan-out of its match; the holder's
// re-check after its unlock means no change is left unscheduled.
func (c *Controller) schedule(lm *liveMatch) {
	lm.kick.Store(true)
	c.trySchedule(lm)
}

// trySchedule schedules a pending kick unless sendMu is held, in which case
// its holder will.
func (c *Controller) trySchedule(lm *liveMatch) {
	for lm.kick.Load() && lm.sendMu.TryLock() {
		if lm.kick.Swap(false) {
			c.scheduleLocked(lm)
		}
		lm.sendMu.Unlock()
	}
}

// unlockSend releases sendMu and schedules a change that arrived meanwhile.
func (lm *liveMatch) unlockSend() {
	lm.sendMu.Unlock()
	lm.c.trySchedule(lm)
}

// scheduleLocked is schedule's work. lm.sendMu held.
func (c *Controller) scheduleLocked(lm *liveMatch) {
	if lm.armed {
		return // and dirtySince is set: the armed timer's send will clear it
	}
	now := c.now()
	if lm.dirtySince.IsZero() {
		lm.dirtySince = now
	}
	if wait := c.cfg.SendInterval - now.Sub(lm.lastSend); wait > 0 {
		lm.armed = true
		lm.timer.Reset(wait)
		return
	}
	c.sendLocked(lm)
}

func (lm *liveMatch) onTimer() {
	lm.sendMu.Lock()
	defer lm.unlockSend()
	if !lm.armed {
		return // stopped by remove
	}
	lm.armed = false
	lm.c.sendLocked(lm)
}

var jsonBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const matchDataPrefix = `2["match_data",`

// sendLocked broadcasts the newest state if it has not been sent yet.
// lm.sendMu held: broadcasts of one match leave in version order.
func (c *Controller) sendLocked(lm *liveMatch) {
	lm.mu.Lock()
	v := lm.version
	if v == lm.sent.Load() {
		lm.mu.Unlock()
		lm.dirtySince = time.Time{} // a send raced ahead of schedule
		return
	}
	bp := jsonBufPool.Get().(*[]byte)
	js := lm.m.AppendJSON((*bp)[:0])
	lm.mu.Unlock()

	pkt := appendMatchDataPacket(make([]byte, 0, len(js)+len(js)/8+32), js)
	*bp = js
	jsonBufPool.Put(bp)

	lm.snap = snapshot{version: v, pkt: pkt}
	lm.sent.Store(v)
	// The interval counts from the hand-over to the broadcast, not from the
	// decision to send: encoding a state takes longer under load, and the
	// overlays must see sends at least SendInterval apart.
	lm.lastSend = c.now()
	n := 0
	switch {
	case c.outF != nil:
		n, lm.snap.prep, lm.snap.framed = c.outF.BroadcastRawPrepared(lm.code, pkt, true)
	case c.out != nil:
		n = c.out.BroadcastRaw(lm.code, pkt, true)
	}
	if lm.cm != nil { // cluster hook: once to the other nodes
		c.cl.published(lm, v, pkt)
	}
	c.m.sent(lm, len(pkt), n, c.now())
}

// appendMatchDataPacket appends the Socket.IO packet
// 2["match_data","<js as a JSON string>"]: the overlays expect the state as
// JSON text inside a string argument.
func appendMatchDataPacket(dst, js []byte) []byte {
	dst = append(dst, matchDataPrefix...)
	dst = socketio.AppendJSONString(dst, js)
	return append(dst, ']')
}

// snapshot is one state version as overlays that join get it: the
// match_data packet, encoded once, and its frame (the broadcast's own, or
// made on the first logon), so that every wire form of it (the compressed
// one above all) is built once per version however many overlays log on.
// A liveMatch holds the newest one, guarded by its sendMu.
type snapshot struct {
	version uint64 // 0: none
	pkt     []byte // 2["match_data",<state as a JSON string>]; shared with a broadcast

	framed bool
	prep   socketio.Prepared
}

// prepared is the snapshot framed for namespace n, the overlays' one.
// lm.sendMu held.
func (sn *snapshot) prepared(n *socketio.Namespace) socketio.Prepared {
	if !sn.framed {
		sn.prep, sn.framed = n.PrepareRaw(sn.pkt), true
	}
	return sn.prep
}

// subscribe joins an overlay to a group's room and, when the match is live,
// emits the current state to that overlay alone; emit runs with lm.sendMu
// held and must not keep the snapshot. Holding the shard lock
// while joining means a match created meanwhile cannot broadcast before the
// overlay is in the room; holding sendMu orders the snapshot before every
// later broadcast of the match.
func (c *Controller) subscribe(code string, join func() error, emit func(*snapshot) error) error {
	sh := c.shardOf(code)
	sh.mu.RLock()
	lm := sh.m[code]
	if lm == nil && c.cl != nil { // cluster hook: the match may live on another node
		sh.mu.RUnlock()
		return c.cl.remoteSubscribe(code, join, emit)
	}
	if lm == nil {
		err := join()
		sh.mu.RUnlock()
		return err
	}
	lm.sendMu.Lock()
	sh.mu.RUnlock()
	defer lm.unlockSend()
	if err := join(); err != nil {
		return err
	}
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return nil
	}
	v := lm.version
	if lm.snap.version != v {
		bp := jsonBufPool.Get().(*[]byte)
		js := lm.m.AppendJSON((*bp)[:0])
		lm.mu.Unlock()
		pkt := appendMatchDataPacket(make([]byte, 0, len(js)+len(js)/8+32), js)
		*bp = js
		jsonBufPool.Put(bp)
		// Later logons at this version reuse it; the broadcast of this
		// version (if still due) will replace it with its own.
		lm.snap = snapshot{version: v, pkt: pkt}
	} else {
		lm.mu.Unlock()
	}
	return emit(&lm.snap)
}

// ---- loops ----

// kickFlush asks the flush loop for an early round.
func (c *Controller) kickFlush() {
	select {
	case c.flushKick <- struct{}{}:
	default:
	}
}

func (c *Controller) tickLoop() {
	defer c.loops.Done()
	t := time.NewTicker(c.cfg.SendInterval)
	defer t.Stop()
	var scratch []*liveMatch
	lastSweep := c.now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := c.now()
		scratch = c.snapshot(scratch[:0])
		for _, lm := range scratch {
			lm.mu.Lock()
			if lm.removed {
				lm.mu.Unlock()
				continue
			}
			changed := lm.m.Tick(now)
			if changed {
				lm.version++
				lm.lastActivity = now
			}
			idle := now.Sub(lm.lastActivity) > c.cfg.InactivityTimeout
			lm.mu.Unlock()
			switch {
			case idle:
				c.remove(lm, "inactive")
			case changed:
				c.schedule(lm)
			}
		}
		clear(scratch)
		if now.Sub(lastSweep) >= time.Minute {
			lastSweep = now
			c.expireTeamInfo(now)
		}
	}
}

// snapshot appends every live match to dst.
func (c *Controller) snapshot(dst []*liveMatch) []*liveMatch {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		for _, lm := range sh.m {
			dst = append(dst, lm)
		}
		sh.mu.RUnlock()
	}
	return dst
}

func (c *Controller) expireTeamInfo(now time.Time) {
	c.finishedMu.Lock()
	for code, fi := range c.finished {
		if now.After(fi.expires) {
			delete(c.finished, code)
		}
	}
	c.finishedMu.Unlock()
}

// flushLoop writes buffered replay events to disk, off the ingest path:
// every replayFlushInterval, which bounds what a killed process loses, or
// sooner when a buffer grows large.
func (c *Controller) flushLoop() {
	defer c.loops.Done()
	t := time.NewTicker(replayFlushInterval)
	defer t.Stop()
	var scratch []*liveMatch
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.flushKick:
		}
		scratch = c.snapshot(scratch[:0])
		for _, lm := range scratch {
			lm.mu.Lock()
			rl := lm.replay
			lm.mu.Unlock()
			if rl != nil {
				if err := c.flushReplay(rl); err != nil {
					c.log.Error("replay file write", "groupCode", lm.code, "err", err)
				}
			}
		}
		clear(scratch)
	}
}

// Close stops the loops and flushes and closes every replay file. The live
// matches stay in memory (their connections are closed by the servers).
func (c *Controller) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.loops.Wait()
	for _, lm := range c.snapshot(nil) {
		lm.sendMu.Lock()
		lm.timer.Stop()
		lm.armed = false
		lm.sendMu.Unlock()
		lm.mu.Lock()
		rl := lm.replay
		lm.replay = nil
		lm.mu.Unlock()
		if rl != nil {
			if err := c.closeReplay(rl); err != nil {
				c.log.Error("replay file close", "groupCode", lm.code, "err", err)
			}
		}
	}
	c.closers.Wait()
}
