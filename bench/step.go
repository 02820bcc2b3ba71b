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
// capacity-floor: a kind run another way).
func runStepNamed(ctx context.Context, cfg *Config, srcs []*replaySource, kind, name string, st Step) (res Result) {
	res = Result{Server: kind, Kind: st.Kind, Matches: st.Matches, Overlays: st.Overlays, Status: "ok",
		ServerCPUs: cfg.ServerCPUN, HarnessCPUs: cfg.HarnessCPUN}
	if name == KindGoUnpinned {
		res.Server = name
	}
	if st.Matches < 1 || st.Overlays < st.Matches {
		res.Status = "bad step"
		return res
	}
	storm := st.Kind == StepStorm
	label := fmt.Sprintf("%s %s", name, st)
	logBase := filepath.Join(cfg.LogDir, strings.ReplaceAll(fmt.Sprintf("%s-%s%dm-%do", name, st.Kind, st.Matches, st.Overlays), "/", "_"))
	srv, err := startGroup(ctx, cfg, kind, logBase)
	if err != nil {
		res.Status = "server: " + err.Error()
		return res
	}
	defer srv.stop()
	if IsCluster(kind) {
		res.Nodes = len(srv.nodes)
	}
	s := &stepState{cfg: cfg, name: name, srv: srv, counters: &overlayCounters{}}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Observers.
	ready := make(chan error, st.Matches)
	for m := range st.Matches {
		src := srcs[m%len(srcs)]
		gc := groupCode(m)
		o := &observer{src: src, groupCode: gc, matchID: src.matchID + "-" + gc, ingest: httpScheme(srv.tls()) + srv.ingest(), tls: srv.tls(),
			speed: cfg.Speed, markerEvery: cfg.MarkerEvery, markers: &markerLog{}, slowOver: cfg.SlowSample}
		s.obs = append(s.obs, o)
		go o.run(sctx, ready)
	}
	defer func() {
		cancel()
		for _, o := range s.obs {
			o.close()
		}
	}()
	cfg.printf("%s: starting %d observers", label, st.Matches)
	obsDeadline := time.NewTimer(120 * time.Second)
	defer obsDeadline.Stop()
	for range st.Matches {
		select {
		case err := <-ready:
			if err != nil {
				res.Status = "observer: " + err.Error()
				return res
			}
		case <-obsDeadline.C:
			res.Status = "observers not ready within 120s"
			return res
		case <-ctx.Done():
			res.Status = "interrupted"
			return res
		}
	}
	time.Sleep(500 * time.Millisecond)
	before, _ := srv.sample()
	res.ServerRSSBeforeMB = float64(before.rss) / (1 << 20)

	// Overlays, the probes among them (planOverlays), at the ramp's pace.
	s.pool, err = newCountPool(s.counters, st.Matches, srv.output(0), cfg.Readers)
	if err != nil {
		res.Status = err.Error()
		return res
	}
	s.pool.tls = srv.tls()
	defer s.pool.close()
	perMatch := make([]int, st.Matches)
	for m := range perMatch {
		perMatch[m] = st.Overlays / st.Matches
		if m < st.Overlays%st.Matches {
			perMatch[m]++
		}
	}
	rampStart := time.Now()
	tasks := s.planOverlays(st, perMatch)
	for _, ps := range s.probes {
		res.Probes += len(ps)
	}
	res.Polling = countPolling(tasks)
	work := make(chan task)
	var dialers sync.WaitGroup
	var attempted atomic.Int64
	nDialers := cfg.Dialers
	if storm {
		nDialers = cfg.StormDialers
	}
	stormStart := s.snap()
	if storm {
		rampStart = stormStart.at
	}
	for range max(nDialers, 1) {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for t := range work {
				var err error
				if t.probe != nil {
					err = s.connectProbe(sctx, t)
				} else if t.polling {
					var o *pollingOverlay
					if o, err = dialPolling(sctx, httpScheme(srv.tls())+t.out, groupCode(t.m), t.m, cfg.Deflate, srv.tls(), cfg.ConnectTimeout, s.counters); err == nil {
						s.pollMu.Lock()
						s.polling = append(s.polling, o)
						s.pollMu.Unlock()
					}
				} else {
					err = s.pool.dialAt(t.out, t.m, groupCode(t.m), cfg.Deflate, cfg.ConnectTimeout)
				}
				if err != nil {
					s.counters.connectFails.Add(1)
					s.noteErr(err)
				}
				attempted.Add(1)
			}
		}()
	}
	defer func() {
		s.pollMu.Lock()
		for _, o := range s.polling {
			o.c.Close()
		}
		s.pollMu.Unlock()
	}()
	go func() {
		defer close(work)
		every := time.Duration(float64(time.Second) / max(cfg.RampRate, 1))
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
	}()
	total := int64(st.Overlays)
	rampLimit := time.Duration(float64(len(tasks))/max(cfg.RampRate, 1)*2*float64(time.Second)) + 30*time.Second + cfg.ConnectTimeout
	if storm {
		// A server that accepts 60 logons per second takes nearly three
		// minutes for 10 000; give it that, not more.
		rampLimit = max(3*cfg.ConnectTimeout, 180*time.Second)
	}
	deadline := time.Now().Add(rampLimit)
	prev := s.snap()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// A storm ends when every overlay has its first match_data (or
		// failed); a ramp when every overlay logged on.
		done := s.counters.loggedOn.Load()+s.counters.connectFails.Load() >= total
		if storm {
			first, _ := s.firstData()
			// Overlays the server dropped will never get theirs.
			done = first+s.counters.connectFails.Load()+s.counters.disconnects.Load() >= total
		}
		if done || time.Now().After(deadline) || !srv.alive() || ctx.Err() != nil {
			break
		}
		<-tick.C
		cur := s.snap()
		if cur.at.Sub(prev.at) < time.Second {
			continue
		}
		first, _ := s.firstData()
		cfg.printf("%s: connecting %d/%d, %d with match_data (failed %d) | %s", label, s.counters.loggedOn.Load(), total, first, s.counters.connectFails.Load(), rates(prev, cur))
		prev = cur
		if cur.proc.rss > cfg.MaxServerRSS {
			res.Status = fmt.Sprintf("aborted: server RSS %.0f MB over the limit", float64(cur.proc.rss)/(1<<20))
			break
		}
	}
	dialers.Wait()
	res.Connected = s.counters.loggedOn.Load()
	if last := s.counters.lastLogonNs.Load(); last > 0 {
		res.ConnectSeconds = time.Unix(0, last).Sub(rampStart).Seconds()
	}
	if storm {
		stormEnd := s.snap()
		first, last := s.firstData()
		res.FirstData = first
		if first >= total && last > 0 {
			res.StormSeconds = time.Unix(0, last).Sub(stormStart.at).Seconds()
		}
		if d := stormEnd.at.Sub(stormStart.at).Seconds(); d > 0 {
			res.StormServerCores = cores(stormStart.proc, stormEnd.proc)
			res.StormHarnessCores = (stormEnd.self - stormStart.self).Seconds() / d
		}
	}
	switch {
	case ctx.Err() != nil:
		res.Status = "interrupted"
	case !srv.alive():
		res.Status = "server exited while clients connected (see " + srv.deadLog() + ")"
	case res.Status == "ok" && res.Connected < total:
		res.Status = fmt.Sprintf("only %d of %d overlays logged on", res.Connected, total)
	}
	if !res.ok() && !strings.HasPrefix(res.Status, "only") {
		s.finish(&res, nil, nil)
		return res
	}

	// Measuring window.
	if sleepUntil(ctx, time.Now().Add(cfg.Settle)) != nil {
		res.Status = "interrupted"
		return res
	}
	t0 := s.snap()
	t0.serverSends = srv.matchSends(ctx, st.Matches)
	t0.overlays = s.overlayCounts()
	w := &window{start: t0.at, end: t0.at.Add(cfg.Duration)}
	for m, ps := range s.probes {
		for i, p := range ps {
			p.setWindow(w, m == 0 && i == 0)
		}
	}
	prev = t0
	maxRSS := t0.proc.rss
	for time.Now().Before(w.end) {
		next := time.Now().Add(time.Second)
		if next.After(w.end) {
			next = w.end
		}
		if sleepUntil(ctx, next) != nil {
			res.Status, res.Aborted = "interrupted", true
			break
		}
		if !srv.alive() {
			res.Status, res.Aborted = "server exited during the window (see "+srv.deadLog()+")", true
			break
		}
		cur := s.snap()
		maxRSS = max(maxRSS, cur.proc.rss)
		cfg.printf("%s: measuring %2.0f/%.0fs | %s", label, cur.at.Sub(t0.at).Seconds(), cfg.Duration.Seconds(), rates(prev, cur))
		prev = cur
		if cur.proc.rss > cfg.MaxServerRSS {
			res.Status = fmt.Sprintf("aborted: server RSS %.0f MB over the limit", float64(cur.proc.rss)/(1<<20))
			res.Aborted = true
			break
		}
	}
	t1 := s.snap()
	t1.serverSends = srv.matchSends(ctx, st.Matches)
	t1.overlays = s.overlayCounts()
	res.ServerGoroutines = srv.goroutines(ctx)
	if t1.proc.rss == 0 {
		t1.proc.rss = maxRSS
	}
	for _, ps := range s.probes {
		for _, p := range ps {
			p.setWindow(w, false)
		}
	}
	s.finish(&res, &t0, &t1)
	res.ServerRSSMB = float64(max(maxRSS, t1.proc.rss)) / (1 << 20)
	if res.Connected > 0 {
		res.RSSPerConnKiB = float64(t1.proc.rss-before.rss) / 1024 / float64(res.Connected)
	}
	cancel()
	s.reference(&res)
	if res.ok() && res.Measured() && res.DeliveredPct < MinDeliveredPct {
		res.Status = underStatus(res.DeliveredPct)
	}
	return res
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
	others := 0
	for more := true; more; {
		more = false
		for m := range next {
			if next[m] >= perMatch[m] {
				continue
			}
			t := task{m: m, out: s.srv.output(len(tasks))}
			if isProbe[m][next[m]] {
				t.probe = &probe{match: m, groupCode: groupCode(m), markers: s.obs[m].markers, deflate: cfg.Deflate,
					node: nodeFor(len(tasks), len(s.srv.nodes)), slowOver: cfg.SlowSample, tls: s.srv.tls()}
				s.probes[m] = append(s.probes[m], t.probe)
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

// finish computes the window's figures (t0/t1 nil: none).
func (s *stepState) finish(res *Result, t0, t1 *snapshot) {
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
	if t0 == nil || t1 == nil {
		return
	}
	d := t1.at.Sub(t0.at).Seconds()
	res.WindowSeconds = d
	res.Disconnects = t1.disconnect - t0.disconnect
	res.IngestEventsPerSec = float64(t1.sent-t0.sent) / d
	perMatch := make([]int, len(s.obs))
	for m := range perMatch {
		perMatch[m] = res.Overlays / res.Matches
		if m < res.Overlays%res.Matches {
			perMatch[m]++
		}
	}
	var expected, sends, slots, probed float64
	dSlots := make([]int64, len(s.obs))
	dProbe := make([]int64, len(s.obs))
	for m := range s.obs {
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
	deliveredN, over := deliveredCapped(t0.overlays, t1.overlays, owed, perMatch)
	delivered := float64(deliveredN)
	res.FramesOverOwed = over
	res.SendsPerMatchPerSec = sends / float64(len(s.obs)) / d
	res.SlotsPerMatchPerSec = slots / float64(len(s.obs)) / d
	res.ProbePerMatchPerSec = probed / float64(len(s.obs)) / d
	res.DeliveredPerSec = delivered / d
	res.ExpectedPerSec = expected / d
	if expected > 0 {
		res.DeliveredPct = 100 * delivered / expected
	}
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
	if res.Nodes > 0 {
		res.RedisCores = cores(t0.redis, t1.redis)
		if res.DeliveredPerSec > 0 {
			res.RedisCPUPerMsgUs = res.RedisCores / res.DeliveredPerSec * 1e6
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
