package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// snapshot is the counters at one moment.
type snapshot struct {
	at         time.Time
	proc       procSample // summed over a cluster's processes
	redis      procSample
	self       time.Duration
	selfMajflt int64
	bytes      int64
	matchData  int64 // WebSocket overlays and probes
	allData    int64 // also polling overlays
	matchWire  int64
	perMatch   []int64 // match_data per match, all overlays
	probeMax   []int64 // the busiest probe's match_data per match
	slots      []int64 // observer send slots per match
	sent       int64
	disconnect int64
	overlays   []overlayCount // each overlay's match_data (window start and end only)
	// serverSends: each match's match_data sends as the server counts them
	// (window start and end only; nil: unknown, see owedSends).
	serverSends []int64
}

type stepState struct {
	cfg      *Config
	name     string // the log files' prefix
	label    string // the progress lines' prefix: name and step
	srv      *serverGroup
	obs      []*observer
	pool     *countPool
	counters *overlayCounters
	probes   [][]*probe
	pollMu   sync.Mutex
	polling  []*pollingOverlay
	firstErr atomic.Value
}

func (s *stepState) noteErr(err error) {
	if err != nil {
		s.firstErr.CompareAndSwap(nil, err.Error())
	}
}

func (s *stepState) snap() snapshot {
	sn := snapshot{at: time.Now()}
	sn.self, sn.selfMajflt = selfUsage()
	sn.proc, sn.redis = s.srv.sample()
	sn.bytes = s.counters.bytesRead.Load()
	sn.matchData = s.counters.matchData.Load()
	sn.matchWire = s.counters.matchWire.Load()
	sn.disconnect = s.counters.disconnects.Load()
	m := len(s.obs)
	sn.perMatch = make([]int64, m)
	sn.probeMax = make([]int64, m)
	sn.slots = make([]int64, m)
	for i := range m {
		sn.perMatch[i] = s.pool.perMatch[i].Load()
		sn.slots[i] = s.obs[i].slots.Load()
		sn.sent += s.obs[i].sent.Load()
		for _, p := range s.probes[i] {
			n := p.matchData.Load()
			sn.perMatch[i] += n
			sn.probeMax[i] = max(sn.probeMax[i], n)
			sn.bytes += p.bytesRead.Load()
			sn.matchData += n
			sn.matchWire += p.matchWire.Load()
			if p.failed.Load() {
				sn.disconnect++
			}
		}
	}
	s.pollMu.Lock()
	sn.allData = sn.matchData
	for _, o := range s.polling {
		n := o.matchData.Load()
		sn.perMatch[o.match] += n
		sn.allData += n
		sn.bytes += o.c.EIO().Stats().BytesRead
		select {
		case <-o.c.Done():
			sn.disconnect++
		default:
		}
	}
	s.pollMu.Unlock()
	return sn
}

func runStep(ctx context.Context, cfg *Config, srcs []*replaySource, kind string, st Step) Result {
	return runStepNamed(ctx, cfg, srcs, kind, kind, st)
}

// runStepNamed runs st with a server of the given kind; name is what the
// result, the progress line and the log files call it (go-unpinned,
// capacity-floor: a kind run another way). In order: start the server,
// start the observers, connect the overlays, measure the window, compute
// the figures; the first that fails ends the step with its status.
func runStepNamed(ctx context.Context, cfg *Config, srcs []*replaySource, kind, name string, st Step) (res Result) {
	res = newStepResult(cfg, kind, name, st)
	if res.Status != "ok" {
		return res
	}
	srv, err := startGroup(ctx, cfg, kind, stepLogBase(cfg, name, st))
	if err != nil {
		res.Status = "server: " + err.Error()
		return res
	}
	defer srv.stop()
	if IsCluster(kind) {
		res.Nodes = len(srv.nodes)
	}
	s := &stepState{cfg: cfg, name: name, label: fmt.Sprintf("%s %s", name, st), srv: srv, counters: &overlayCounters{}}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.closeObservers(cancel)
	if res.Status = s.startObservers(ctx, sctx, srcs, st); res.Status != "ok" {
		return res
	}
	time.Sleep(500 * time.Millisecond)
	before, _ := srv.sample()
	res.ServerRSSBeforeMB = float64(before.rss) / (1 << 20)

	defer s.closeOverlays()
	s.connectOverlays(ctx, sctx, st, &res)
	if !res.ok() && !strings.HasPrefix(res.Status, "only") {
		s.finish(&res, nil, nil)
		return res
	}

	if sleepUntil(ctx, time.Now().Add(cfg.Settle)) != nil {
		res.Status = "interrupted"
		return res
	}
	t0, t1, maxRSS := s.measureWindow(ctx, st, &res)
	res.ServerGoroutines = srv.goroutines(ctx)
	if t1.proc.rss == 0 {
		t1.proc.rss = maxRSS
	}
	s.finish(&res, &t0, &t1)
	res.ServerRSSMB = float64(max(maxRSS, t1.proc.rss)) / (1 << 20)
	if res.Connected > 0 {
		res.RSSPerConnKiB = float64(t1.proc.rss-before.rss) / 1024 / float64(res.Connected)
	}
	cancel()
	s.reference(&res)
	res.Status = windowStatus(res)
	return res
}

// newStepResult is the result a step starts with: its server and step,
// the CPUs, status ok, or "bad step" for a step that cannot run.
func newStepResult(cfg *Config, kind, name string, st Step) Result {
	res := Result{Server: kind, Kind: st.Kind, Matches: st.Matches, Overlays: st.Overlays, Status: "ok",
		ServerCPUs: cfg.ServerCPUN, HarnessCPUs: cfg.HarnessCPUN}
	if name == KindGoUnpinned {
		res.Server = name
	}
	if st.Matches < 1 || st.Overlays < st.Matches {
		res.Status = "bad step"
	}
	return res
}

// stepLogBase is the path the step's log files start with.
func stepLogBase(cfg *Config, name string, st Step) string {
	return filepath.Join(cfg.LogDir, strings.ReplaceAll(fmt.Sprintf("%s-%s%dm-%do", name, st.Kind, st.Matches, st.Overlays), "/", "_"))
}

// windowStatus is the status after a measured window: under the delivery
// bar fails an ok step.
func windowStatus(res Result) string {
	if res.ok() && res.Measured() && res.DeliveredPct < MinDeliveredPct {
		return underStatus(res.DeliveredPct)
	}
	return res.Status
}

// overlaysPerMatch spreads a step's overlays over its matches, the first
// ones taking the remainder.
func overlaysPerMatch(overlays, matches int) []int {
	out := make([]int, matches)
	for m := range out {
		out[m] = overlays / matches
		if m < overlays%matches {
			out[m]++
		}
	}
	return out
}

// observersReadyWithin bounds the wait for a step's observers.
const observersReadyWithin = 120 * time.Second

// startObservers starts one observer per match on sctx and waits until
// each has logged on: "ok", or why not.
func (s *stepState) startObservers(ctx, sctx context.Context, srcs []*replaySource, st Step) string {
	ready := make(chan error, st.Matches)
	for m := range st.Matches {
		src := srcs[m%len(srcs)]
		gc := groupCode(m)
		o := &observer{src: src, groupCode: gc, matchID: src.matchID + "-" + gc, ingest: httpScheme(s.srv.tls()) + s.srv.ingest(), tls: s.srv.tls(),
			speed: s.cfg.Speed, markerEvery: s.cfg.MarkerEvery, markers: &markerLog{}, slowOver: s.cfg.SlowSample}
		s.obs = append(s.obs, o)
		go o.run(sctx, ready)
	}
	s.cfg.printf("%s: starting %d observers", s.label, st.Matches)
	deadline := time.NewTimer(observersReadyWithin)
	defer deadline.Stop()
	for range st.Matches {
		select {
		case err := <-ready:
			if err != nil {
				return "observer: " + err.Error()
			}
		case <-deadline.C:
			return fmt.Sprintf("observers not ready within %.0fs", observersReadyWithin.Seconds())
		case <-ctx.Done():
			return "interrupted"
		}
	}
	return "ok"
}

// closeObservers stops the observers (cancel ends their play loops).
func (s *stepState) closeObservers(cancel context.CancelFunc) {
	cancel()
	for _, o := range s.obs {
		o.close()
	}
}

// closeOverlays closes the polling overlays, then the counting pool.
func (s *stepState) closeOverlays() {
	s.pollMu.Lock()
	for _, o := range s.polling {
		o.c.Close()
	}
	s.pollMu.Unlock()
	if s.pool != nil {
		s.pool.close()
	}
}

// connectOverlays connects st's overlays, the probes among them
// (planOverlays): at the ramp's pace, or all at once in a storm. It waits
// until each has logged on (in a storm: has its first match_data) or
// failed, or the time is up, and sets res's connection figures, the
// storm's, and its status when not all made it.
func (s *stepState) connectOverlays(ctx, sctx context.Context, st Step, res *Result) {
	cfg := s.cfg
	storm := st.Kind == StepStorm
	var err error
	if s.pool, err = newCountPool(s.counters, st.Matches, s.srv.output(0), cfg.Readers); err != nil {
		res.Status = err.Error()
		return
	}
	s.pool.tls = s.srv.tls()
	rampStart := time.Now()
	tasks := s.planOverlays(st, overlaysPerMatch(st.Overlays, st.Matches))
	for _, ps := range s.probes {
		res.Probes += len(ps)
	}
	res.Polling = countPolling(tasks)
	nDialers := cfg.Dialers
	if storm {
		nDialers = cfg.StormDialers
	}
	stormStart := s.snap()
	if storm {
		rampStart = stormStart.at
	}
	work := make(chan task)
	dialers := s.startDialers(sctx, work, max(nDialers, 1))
	go feedTasks(sctx, tasks, work, storm, cfg.RampRate)
	total := int64(st.Overlays)
	s.waitConnected(ctx, storm, total, time.Now().Add(connectLimit(cfg, len(tasks), storm)), res)
	dialers.Wait()
	res.Connected = s.counters.loggedOn.Load()
	if last := s.counters.lastLogonNs.Load(); last > 0 {
		res.ConnectSeconds = time.Unix(0, last).Sub(rampStart).Seconds()
	}
	if storm {
		s.stormFigures(stormStart, total, res)
	}
	res.Status = connectStatus(res.Status, ctx.Err() != nil, s.srv.alive(), s.srv.deadLog, res.Connected, total)
}

// startDialers starts n goroutines connecting the tasks of work until it
// is closed.
func (s *stepState) startDialers(sctx context.Context, work <-chan task, n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if err := s.dial(sctx, t); err != nil {
					s.counters.connectFails.Add(1)
					s.noteErr(err)
				}
			}
		}()
	}
	return &wg
}

// dial connects one task: a probe, a polling overlay or a counting one.
func (s *stepState) dial(sctx context.Context, t task) error {
	cfg := s.cfg
	switch {
	case t.probe != nil:
		return s.connectProbe(sctx, t)
	case t.polling:
		o, err := dialPolling(sctx, httpScheme(s.srv.tls())+t.out, groupCode(t.m), t.m, cfg.Deflate, s.srv.tls(), cfg.ConnectTimeout, s.counters)
		if err == nil {
			s.pollMu.Lock()
			s.polling = append(s.polling, o)
			s.pollMu.Unlock()
		}
		return err
	default:
		return s.pool.dialAt(t.out, t.m, groupCode(t.m), cfg.Deflate, cfg.ConnectTimeout)
	}
}

// feedTasks hands the tasks to the dialers, rate per second (a storm: as
// fast as they take them), and closes work at the end or on sctx's end.
func feedTasks(sctx context.Context, tasks []task, work chan<- task, storm bool, rate float64) {
	defer close(work)
	every := time.Duration(float64(time.Second) / max(rate, 1))
	next := time.Now()
	for _, t := range tasks {
		if !storm {
			if sleepUntil(sctx, next) != nil {
				return
			}
			next = next.Add(every)
		}
		select {
		case work <- t:
		case <-sctx.Done():
			return
		}
	}
}

// connectLimit bounds the connection phase: twice the ramp's time plus
// 30 s and one connect timeout; a storm gets three connect timeouts, at
// least 180 s (a server that accepts 60 logons per second takes nearly
// three minutes for 10 000; give it that, not more).
func connectLimit(cfg *Config, tasks int, storm bool) time.Duration {
	if storm {
		return max(3*cfg.ConnectTimeout, 180*time.Second)
	}
	return time.Duration(float64(tasks)/max(cfg.RampRate, 1)*2*float64(time.Second)) + 30*time.Second + cfg.ConnectTimeout
}

// waitConnected waits until the overlays are connected (a ramp: every
// one logged on or failed; a storm: every one has its first match_data,
// failed or was dropped), the deadline passes, the server exits, ctx ends
// or the server's RSS goes over the limit (res's status then says so),
// printing a progress line about every second.
func (s *stepState) waitConnected(ctx context.Context, storm bool, total int64, deadline time.Time, res *Result) {
	prev := s.snap()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		done := s.counters.loggedOn.Load()+s.counters.connectFails.Load() >= total
		if storm {
			first, _ := s.firstData()
			done = first+s.counters.connectFails.Load()+s.counters.disconnects.Load() >= total
		}
		if done || time.Now().After(deadline) || !s.srv.alive() || ctx.Err() != nil {
			return
		}
		<-tick.C
		cur := s.snap()
		if cur.at.Sub(prev.at) < time.Second {
			continue
		}
		first, _ := s.firstData()
		s.cfg.printf("%s: connecting %d/%d, %d with match_data (failed %d) | %s", s.label, s.counters.loggedOn.Load(), total, first, s.counters.connectFails.Load(), rates(prev, cur))
		prev = cur
		if cur.proc.rss > s.cfg.MaxServerRSS {
			res.Status = fmt.Sprintf("aborted: server RSS %.0f MB over the limit", float64(cur.proc.rss)/(1<<20))
			return
		}
	}
}

// stormFigures sets a storm's figures: overlays with a match_data, the
// time until the last of them got it (all of them, else 0), and the CPU
// both sides used meanwhile.
func (s *stepState) stormFigures(start snapshot, total int64, res *Result) {
	end := s.snap()
	first, last := s.firstData()
	res.FirstData = first
	if first >= total && last > 0 {
		res.StormSeconds = time.Unix(0, last).Sub(start.at).Seconds()
	}
	if d := end.at.Sub(start.at).Seconds(); d > 0 {
		res.StormServerCores = cores(start.proc, end.proc)
		res.StormHarnessCores = (end.self - start.self).Seconds() / d
	}
}

// connectStatus is a step's status after its connection phase: status as
// it was unless interrupted, the server gone, or overlays missing.
func connectStatus(status string, interrupted, alive bool, deadLog func() string, connected, total int64) string {
	switch {
	case interrupted:
		return "interrupted"
	case !alive:
		return "server exited while clients connected (see " + deadLog() + ")"
	case status == "ok" && connected < total:
		return fmt.Sprintf("only %d of %d overlays logged on", connected, total)
	}
	return status
}

// edgeDrain is how long the window's end waits, after reading the
// server's send counts, before it counts what the overlays received: the
// last sends counted must have arrived (ten send intervals; a step whose
// p99 is over it fails on latency anyway).
const edgeDrain = time.Second

// measureWindow measures the window: the counters at its start and end,
// the largest server RSS seen, a progress line each second. The overlays'
// counts are taken so that their window holds the server's: at the start
// before the server's send counts, at the end edgeDrain after them. Every
// send the server counted is then in the overlays' window, and what else
// they got there (a send from just before or after) is cut by the cap at
// what was owed. A window cut short (interrupted, server gone, RSS over
// the limit) marks res aborted.
func (s *stepState) measureWindow(ctx context.Context, st Step, res *Result) (t0, t1 snapshot, maxRSS int64) {
	cfg := s.cfg
	t0 = s.snap()
	t0.overlays = s.overlayCounts()
	t0.serverSends = s.srv.matchSends(ctx, st.Matches)
	w := &window{start: t0.at, end: t0.at.Add(cfg.Duration)}
	for m, ps := range s.probes {
		for i, p := range ps {
			p.setWindow(w, m == 0 && i == 0)
		}
	}
	prev := t0
	maxRSS = t0.proc.rss
	for time.Now().Before(w.end) {
		next := time.Now().Add(time.Second)
		if next.After(w.end) {
			next = w.end
		}
		if sleepUntil(ctx, next) != nil {
			res.Status, res.Aborted = "interrupted", true
			break
		}
		if !s.srv.alive() {
			res.Status, res.Aborted = "server exited during the window (see "+s.srv.deadLog()+")", true
			break
		}
		cur := s.snap()
		maxRSS = max(maxRSS, cur.proc.rss)
		cfg.printf("%s: measuring %2.0f/%.0fs | %s", s.label, cur.at.Sub(t0.at).Seconds(), cfg.Duration.Seconds(), rates(prev, cur))
		prev = cur
		if cur.proc.rss > cfg.MaxServerRSS {
			res.Status = fmt.Sprintf("aborted: server RSS %.0f MB over the limit", float64(cur.proc.rss)/(1<<20))
			res.Aborted = true
			break
		}
	}
	t1 = s.snap()
	t1.serverSends = s.srv.matchSends(ctx, st.Matches)
	if t1.serverSends != nil && !res.Aborted {
		// The sends the server counted are still on their way: wait for
		// them before counting what the overlays got.
		sleepUntil(ctx, time.Now().Add(edgeDrain))
	}
	t1.overlays = s.overlayCounts()
	for _, ps := range s.probes {
		for _, p := range ps {
			p.setWindow(w, false)
		}
	}
	return t0, t1, maxRSS
}

// task is one overlay to connect.
type task struct {
	m       int
	polling bool
	out     string // the output port (a cluster spreads overlays over its nodes)
	probe   *probe // a probe, not a counting overlay
}

// planOverlays lays out a step's overlays: round-robin over the matches,
// each match's probes at random places among its overlays (sampleRule says
// how many), the polling share among the others. It fills s.probes, whose
// probes connect when the ramp reaches them.
func (s *stepState) planOverlays(st Step, perMatch []int) []task {
	cfg := s.cfg
	rule := cfg.sampleRule()
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	isProbe := make([]map[int]bool, st.Matches)
	for m := range isProbe {
		isProbe[m] = map[int]bool{}
		for _, j := range pickProbes(rng, perMatch[m], rule.probes(perMatch[m], st.Matches)) {
			isProbe[m][j] = true
		}
	}
	s.probes = make([][]*probe, st.Matches)
	var tasks []task
	next := make([]int, st.Matches)
	others, probes := 0, 0
	for more := true; more; {
		more = false
		for m := range next {
			if next[m] >= perMatch[m] {
				continue
			}
			t := task{m: m, out: s.srv.output(len(tasks))}
			if isProbe[m][next[m]] {
				// A cluster's probes go round-robin over its nodes among
				// themselves, not by their random place: the latency on node
				// 0 and on the others always has samples.
				t.out = s.srv.output(probes)
				t.probe = &probe{match: m, groupCode: groupCode(m), markers: s.obs[m].markers, deflate: cfg.Deflate,
					node: nodeFor(probes, len(s.srv.nodes)), slowOver: cfg.SlowSample, tls: s.srv.tls()}
				s.probes[m] = append(s.probes[m], t.probe)
				probes++
			} else {
				t.polling = math.Floor(float64(others+1)*cfg.PollingShare) > math.Floor(float64(others)*cfg.PollingShare)
				others++
			}
			next[m]++
			tasks = append(tasks, t)
			more = true
		}
	}
	return tasks
}

func countPolling(tasks []task) int {
	n := 0
	for _, t := range tasks {
		if t.polling {
			n++
		}
	}
	return n
}

// connectProbe connects a probe task and waits for its logon.
func (s *stepState) connectProbe(ctx context.Context, t task) error {
	up := make(chan error, 1)
	go t.probe.run(ctx, t.out, s.cfg.ConnectTimeout, up)
	if err := <-up; err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	s.counters.loggedOn.Add(1)
	s.counters.lastLogonNs.Store(time.Now().UnixNano())
	return nil
}

// firstData counts the overlays that have received a match_data, and when
// the latest of them got its first one (Unix ns).
func (s *stepState) firstData() (n, lastNs int64) {
	n, lastNs = s.counters.firstData.Load(), s.counters.lastFirstDataNs.Load()
	for _, ps := range s.probes {
		for _, p := range ps {
			if t := p.firstDataNs.Load(); t > 0 {
				n++
				lastNs = max(lastNs, t)
			}
		}
	}
	s.pollMu.Lock()
	for _, o := range s.polling {
		if t := o.firstDataNs.Load(); t > 0 {
			n++
			lastNs = max(lastNs, t)
		}
	}
	s.pollMu.Unlock()
	return n, lastNs
}

// rates is the progress line's middle part.
func rates(a, b snapshot) string {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return ""
	}
	line := fmt.Sprintf("match_data %.0f/s  %.1f MB/s | server %.2f cores %.0f MB | harness %.2f cores | disconnects %d",
		float64(b.allData-a.allData)/d, float64(b.bytes-a.bytes)/d/1e6,
		cores(a.proc, b.proc), float64(b.proc.rss)/(1<<20),
		(b.self-a.self).Seconds()/d, b.disconnect)
	if sf, hf := b.proc.majflt-a.proc.majflt, b.selfMajflt-a.selfMajflt; sf+hf > 0 {
		line += fmt.Sprintf(" | major faults server %d harness %d", sf, hf)
	}
	return line
}

// finish computes the step's figures: its errors, and with a window
// (t0/t1 not nil) the delivery, rate, CPU and latency figures.
func (s *stepState) finish(res *Result, t0, t1 *snapshot) {
	s.countErrors(res)
	if t0 == nil || t1 == nil {
		return
	}
	d := t1.at.Sub(t0.at).Seconds()
	res.WindowSeconds = d
	res.Disconnects = t1.disconnect - t0.disconnect
	res.IngestEventsPerSec = float64(t1.sent-t0.sent) / d
	deliveryFigures(res, t0, t1, overlaysPerMatch(res.Overlays, res.Matches))
	res.WireMBps = float64(t1.bytes-t0.bytes) / d / 1e6
	if n := t1.matchData - t0.matchData; n > 0 {
		res.BytesPerMatchData = float64(t1.matchWire-t0.matchWire) / float64(n)
	}
	res.ServerCores = cores(t0.proc, t1.proc)
	res.HarnessCores = (t1.self - t0.self).Seconds() / d
	res.ServerMajorFaults = t1.proc.majflt - t0.proc.majflt
	res.HarnessMajorFaults = t1.selfMajflt - t0.selfMajflt
	// Per state the server was asked to deliver, not per frame received: a
	// server that sends extra frames does not look cheaper, one that drops
	// states does not look dearer per state it managed (delivered says that).
	if res.ExpectedPerSec > 0 {
		res.ServerCPUPerMsgUs = res.ServerCores / res.ExpectedPerSec * 1e6
	}
	s.latencyFigures(res)
	if res.Nodes > 0 {
		res.RedisCores = cores(t0.redis, t1.redis)
		if res.DeliveredPerSec > 0 {
			res.RedisCPUPerMsgUs = res.RedisCores / res.DeliveredPerSec * 1e6
		}
	}
}

// countErrors sums the errors of the step's clients into res and keeps
// the first one's text.
func (s *stepState) countErrors(res *Result) {
	res.ConnectFails = s.counters.connectFails.Load()
	res.Errors = s.counters.errors.Load()
	for _, o := range s.obs {
		res.Errors += o.errors.Load()
		if err, _ := o.err.Load().(error); err != nil {
			res.Errors++
			s.noteErr(err)
		}
	}
	for _, ps := range s.probes {
		for _, p := range ps {
			res.InvalidJSON += p.invalidJSON.Load()
			res.DecodeFailures += p.decodeFails.Load()
			res.RepeatedStates += p.repeats.Load()
			if e := p.errString(); e != "" {
				s.noteErr(fmt.Errorf("probe: %s", e))
			}
		}
	}
	if e, _ := s.firstErr.Load().(string); e != "" {
		res.FirstError = e
	}
}

// deliveryFigures sets what the overlays were owed (owedSends: the
// server's own counts, or the estimate) and what they got (deliveredCapped)
// in the window t0–t1, perMatch overlays per match.
func deliveryFigures(res *Result, t0, t1 *snapshot, perMatch []int) {
	d := t1.at.Sub(t0.at).Seconds()
	matches := len(perMatch)
	var expected, sends, slots, probed float64
	dSlots := make([]int64, matches)
	dProbe := make([]int64, matches)
	for m := range matches {
		dSlots[m] = t1.slots[m] - t0.slots[m]
		dProbe[m] = t1.probeMax[m] - t0.probeMax[m]
		slots += float64(dSlots[m])
		probed += float64(dProbe[m])
	}
	owed, from := owedSends(t0.serverSends, t1.serverSends, dSlots, dProbe)
	res.OwedFrom = from
	for m := range owed {
		sends += float64(owed[m])
		expected += float64(owed[m]) * float64(perMatch[m])
	}
	edge := int64(1)
	if from == OwedFromServer {
		edge = 0
	}
	deliveredN, over := deliveredCapped(t0.overlays, t1.overlays, owed, perMatch, edge)
	delivered := float64(deliveredN)
	res.FramesOverOwed = over
	res.SendsPerMatchPerSec = sends / float64(matches) / d
	res.SlotsPerMatchPerSec = slots / float64(matches) / d
	res.ProbePerMatchPerSec = probed / float64(matches) / d
	res.DeliveredPerSec = delivered / d
	res.ExpectedPerSec = expected / d
	if expected > 0 {
		res.DeliveredPct = 100 * delivered / expected
	}
}

// latencyFigures sets the latency quantiles from every probe's samples,
// and for a cluster those of the probes on node 0 and on the others.
func (s *stepState) latencyFigures(res *Result) {
	var lat, local, remote []time.Duration
	for _, ps := range s.probes {
		for _, p := range ps {
			l, _, _ := p.results()
			lat = append(lat, l...)
			if p.node == 0 {
				local = append(local, l...)
			} else {
				remote = append(remote, l...)
			}
		}
	}
	slices.Sort(lat)
	res.LatencySamples = len(lat)
	if len(lat) > 0 {
		res.LatencyP50ms = quantileMs(lat, 0.50)
		res.LatencyP99ms = quantileMs(lat, 0.99)
		res.LatencyMaxms = float64(lat[len(lat)-1]) / 1e6
	}
	if res.Nodes == 0 {
		return
	}
	slices.Sort(local)
	slices.Sort(remote)
	res.LocalSamples, res.RemoteSamples = len(local), len(remote)
	if len(local) > 0 {
		res.LocalP99ms = quantileMs(local, 0.99)
	}
	if len(remote) > 0 {
		res.RemoteP99ms = quantileMs(remote, 0.99)
	}
}

// quantileMs is the q-quantile of sorted, in ms (nearest rank).
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)]) / 1e6
}

// reference computes the offline compression figures over the payloads the
// first probe of match 0 received in the window, with Node's zlib.
func (s *stepState) reference(res *Result) {
	if len(s.probes) == 0 || len(s.probes[0]) == 0 {
		return
	}
	_, rec, n := s.probes[0][0].results()
	if n == 0 {
		return
	}
	path := filepath.Join(s.cfg.LogDir, strings.ReplaceAll(fmt.Sprintf("%s-%s%dm-%do.payloads", s.name, res.Kind, res.Matches, res.Overlays), "/", "_"))
	if err := os.WriteFile(path, rec, 0o644); err != nil {
		return
	}
	ref, err := zlibReference(s.cfg.BaselineDir, path)
	if err != nil {
		s.cfg.printf("zlib reference: %v\n", err)
		return
	}
	res.RefMessages = ref.Messages
	res.RefRawBytes = ref.Raw
	res.RefContextBytes = ref.Context
	res.RefNoContextBytes = ref.NoContext
}

type zlibRef struct {
	Messages  int     `json:"messages"`
	Raw       float64 `json:"rawBytesPerMessage"`
	Context   float64 `json:"contextBytesPerMessage"`
	NoContext float64 `json:"noContextBytesPerMessage"`
}

func zlibReference(baselineDir, path string) (zlibRef, error) {
	var r zlibRef
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(baselineDir, "zlibref.js"), path).Output()
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(out, &r)
	return r, err
}
