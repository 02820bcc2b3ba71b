package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/socketio/sioclient"
)

// Step is one load level: Overlays clients in total, spread evenly over
// Matches matches (probes included), connected as Kind says.
type Step struct {
	Kind     string `json:"kind,omitempty"` // StepRamp or StepStorm
	Matches  int    `json:"matches"`
	Overlays int    `json:"overlays"`
}

// Config is a whole bench run.
type Config struct {
	Steps          []Step
	Servers        []string
	Files          []string
	Speed          float64       // replay speed factor; 0: as fast as possible
	RampRate       float64       // overlay connections per second
	PollingShare   float64       // share of overlays on polling with upgrade
	Duration       time.Duration // measuring window per step
	Settle         time.Duration // pause between the last connect and the window
	Probes         int           // probe clients per match, at least
	SampleShare    float64       // share of each match's overlays that are probes, at least
	MinSamples     int           // latency samples per verdict the probe count aims at
	Runs           int           // runs of each step and capacity probe
	MarkerEvery    time.Duration // latency marker interval per match
	SlowSample     time.Duration // print latency samples over it to stderr (0: none)
	Readers        int           // epoll loops for the counting overlays
	Dialers        int           // concurrent connection attempts
	StormDialers   int           // concurrent connection attempts in a storm step
	Deflate        bool          // offer permessage-deflate
	MaxServerRSS   int64         // abort a step when the server's RSS exceeds this
	ConnectTimeout time.Duration
	StopAfterFail  bool // skip bigger steps (same match count) for a server that failed one

	// Capacity: match counts at which RunCapacity searches the largest
	// overlay count each of go and floor carries (CapacityOK).
	Capacity       []int
	CapacitySearch CapacitySearch
	// UnpinnedToo: after each pinned go step, run it again with neither
	// the server nor the bench pinned (server kind KindGoUnpinned).
	UnpinnedToo bool
	AllCPUs     []int // the CPUs the bench started with
	HarnessPin  []int // the bench's own pinning (-harness-cpus); nil: none

	WorkDir     string // the module root
	BaselineDir string // bench/baseline
	BaseState   string // golden checkpoints file for the Node baseline's state
	GoBinary    string // built spectra-server
	FloorBinary string // built bench/cmd/floor
	RedisBinary string // redis-server for cluster kinds; "" looks it up on PATH
	ServerCPUs  string // taskset -c list for the servers; "" leaves them alone
	ServerCPUN  int    // how many CPUs the servers may use
	HarnessCPUN int    // how many CPUs this process may use
	LogDir      string // server logs and recorded payloads

	Progress io.Writer
	TTY      bool
}

// sampleRule is how many probes each match gets.
func (c *Config) sampleRule() sampleRule {
	return sampleRule{Min: c.Probes, Share: c.SampleShare, Samples: c.MinSamples, Runs: max(c.Runs, 1),
		Window: c.Duration, Marker: c.MarkerEvery}
}

// Result is one server at one step.
type Result struct {
	Server   string `json:"server"`
	Kind     string `json:"kind,omitempty"` // StepRamp or StepStorm
	Matches  int    `json:"matches"`
	Overlays int    `json:"overlays"`
	Polling  int    `json:"pollingOverlays"`
	Probes   int    `json:"probes"`
	Status   string `json:"status"` // "ok" (≥ 99.5 % delivered) or what went wrong
	// Run: 0 for a step's first run, k for its k+1-th (Config.Runs).
	Run int `json:"run,omitempty"`
	// Ranges: each reported figure's smallest and largest value over the
	// runs, on a result of Merged (and a capacity probe) only.
	Ranges map[string]Range `json:"ranges,omitempty"`
	// Runs and FirstRun are set only on a result of Merged that stands for
	// several runs: how many, and the first of them as measured.
	Runs     int     `json:"-"`
	FirstRun *Result `json:"-"`
	// Aborted: the window was cut short (interrupted, server gone, RSS
	// limit); its figures are not a measurement.
	Aborted     bool `json:"aborted,omitempty"`
	ServerCPUs  int  `json:"serverCPUs,omitempty"`  // CPUs the server could use
	HarnessCPUs int  `json:"harnessCPUs,omitempty"` // CPUs the bench could use

	// Storm steps: from the first dial until every overlay had its first
	// match_data (0: not all did), and the CPU both sides used meanwhile.
	StormSeconds      float64 `json:"stormSeconds,omitempty"`
	FirstData         int64   `json:"overlaysWithMatchData,omitempty"`
	StormServerCores  float64 `json:"stormServerCores,omitempty"`
	StormHarnessCores float64 `json:"stormHarnessCores,omitempty"`

	Connected      int64   `json:"connected"`
	ConnectSeconds float64 `json:"connectSeconds"`
	ConnectFails   int64   `json:"connectFailures"`
	Disconnects    int64   `json:"disconnects"`
	Errors         int64   `json:"errors"`
	InvalidJSON    int64   `json:"invalidJSON"`
	// DecodeFailures: frames a probe could not inflate (the probe ends
	// there: its deflate context is lost); RepeatedStates: match_data whose
	// state equalled the previous one at the same probe. Neither counts as
	// delivered.
	DecodeFailures int64 `json:"decodeFailures"`
	RepeatedStates int64 `json:"repeatedStates"`
	// FramesOverOwed: match_data overlays received beyond what their match
	// was owed in the window (cut off by the per-overlay cap).
	FramesOverOwed int64  `json:"framesOverOwed"`
	FirstError     string `json:"firstError,omitempty"`

	WindowSeconds       float64 `json:"windowSeconds"`
	IngestEventsPerSec  float64 `json:"ingestEventsPerSec"`
	SendsPerMatchPerSec float64 `json:"expectedSendsPerMatchPerSec"`
	// OwedFrom: where SendsPerMatchPerSec (what each overlay was owed) came
	// from: OwedFromServer (the server's own per-match send counts) or
	// OwedFromEstimate (the harness's, for a server without them: node).
	OwedFrom            string  `json:"owedFrom,omitempty"`
	SlotsPerMatchPerSec float64 `json:"observerSlotsPerMatchPerSec"`
	ProbePerMatchPerSec float64 `json:"probeMatchDataPerMatchPerSec"`
	DeliveredPerSec     float64 `json:"deliveredPerSec"`
	ExpectedPerSec      float64 `json:"expectedPerSec"`
	DeliveredPct        float64 `json:"deliveredPct"`
	WireMBps            float64 `json:"wireMBps"`
	BytesPerMatchData   float64 `json:"bytesPerMatchData"`
	RefMessages         int     `json:"refMessages"`
	RefRawBytes         float64 `json:"refRawBytesPerMatchData"`
	RefContextBytes     float64 `json:"refZlib3ContextBytesPerMatchData"`
	RefNoContextBytes   float64 `json:"refZlib3NoContextBytesPerMatchData"`
	LatencySamples      int     `json:"latencySamples"`
	LatencyP50ms        float64 `json:"latencyP50ms"`
	LatencyP99ms        float64 `json:"latencyP99ms"`
	LatencyMaxms        float64 `json:"latencyMaxms"`
	ServerCores         float64 `json:"serverCores"`
	ServerRSSMB         float64 `json:"serverRSSMB"`
	ServerRSSBeforeMB   float64 `json:"serverRSSBeforeOverlaysMB"`
	RSSPerConnKiB       float64 `json:"rssPerConnKiB"`
	HarnessCores        float64 `json:"harnessCores"`
	// Page faults that read from disk during the window: each one stalls
	// the faulting thread for a disk read, which on one pinned core is the
	// whole server (or the harness's reading of its overlays).
	ServerMajorFaults  int64 `json:"serverMajorFaults"`
	HarnessMajorFaults int64 `json:"harnessMajorFaults"`
	// ServerCPUPerMsgUs: server CPU time per match_data owed (expected), in
	// µs (before issue 22: per match_data received).
	ServerCPUPerMsgUs float64 `json:"serverCPUPerMatchDataUs,omitempty"`
	// ServerGoroutines: spectra-server's go_goroutines (its /metrics) at
	// the end of the window, summed over a cluster's nodes (the floors
	// publish theirs too); 0 for servers without /metrics (node).
	ServerGoroutines int `json:"serverGoroutines,omitempty"`

	// Cluster kinds: the server figures above sum every node and
	// redis-server; these are redis-server's own share, and the latency of
	// the probes on node 0 (the observer's, no Redis on the way) apart from
	// those on the other nodes (every match_data crossed Redis).
	Nodes            int     `json:"nodes,omitempty"`
	RedisCores       float64 `json:"redisCores,omitempty"`
	RedisCPUPerMsgUs float64 `json:"redisCPUPerMatchDataUs,omitempty"`
	LocalSamples     int     `json:"localLatencySamples,omitempty"`
	LocalP99ms       float64 `json:"localLatencyP99ms,omitempty"`
	RemoteSamples    int     `json:"remoteLatencySamples,omitempty"`
	RemoteP99ms      float64 `json:"remoteLatencyP99ms,omitempty"`
}

// MinDeliveredPct is the share of owed match_data a step must deliver to
// count as ok.
const MinDeliveredPct = 99.5

func (r *Result) ok() bool {
	return r.Status == "ok" || r.Runs > 1 && r.Status == fmt.Sprintf("median of %d runs: ok", r.Runs)
}

// underStatus is the status of a step that delivered pct, under
// MinDeliveredPct.
func underStatus(pct float64) string {
	return fmt.Sprintf("%.2f%% delivered, under %.1f%%", pct, MinDeliveredPct)
}

// statusSkipped starts the status of a step not run (-stop-after-fail).
const statusSkipped = "skipped: "

// Measured reports whether the window ran to its end, so that its figures
// mean something (the step may still have failed its goal).
func (r *Result) Measured() bool { return r.WindowSeconds > 0 && !r.Aborted }

// HarnessFull reports whether the bench itself used (nearly) all of its
// CPUs, in the window or in the storm: then the server was measured against
// the harness's limit, not its own.
func (r *Result) HarnessFull() bool {
	if r.HarnessCPUs <= 0 {
		return false
	}
	lim := 0.95 * float64(r.HarnessCPUs)
	return r.HarnessCores >= lim || r.StormHarnessCores >= lim
}

// Step is the step the result belongs to.
func (r *Result) Step() Step { return Step{Kind: r.Kind, Matches: r.Matches, Overlays: r.Overlays} }

func loadSources(cfg *Config) ([]*replaySource, error) {
	var srcs []*replaySource
	for _, f := range cfg.Files {
		s, err := loadReplay(f)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no replay files")
	}
	return srcs, nil
}

// Run measures every step Config.Runs times: every server (and, with
// UnpinnedToo, go once more unpinned right after its pinned run) in turn,
// round after round, so that a drift of the machine touches each server
// alike.
func Run(ctx context.Context, cfg *Config) ([]Result, error) {
	srcs, err := loadSources(cfg)
	if err != nil {
		return nil, err
	}
	measure := func(name string, st Step) (Result, error) {
		if name == KindGoUnpinned {
			return runUnpinned(ctx, cfg, srcs, st)
		}
		return runStep(ctx, cfg, srcs, name, st), nil
	}
	var results []Result
	failedAt := map[string]int{} // server/matches → overlays of the failed step
	start, done, total := time.Now(), 0, StepRuns(cfg)
	for _, st := range cfg.Steps {
		for round := range max(cfg.Runs, 1) {
			for _, name := range stepServers(cfg) {
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
				key := fmt.Sprintf("%s/%s/%d", name, st.Kind, st.Matches)
				if n, ok := failedAt[key]; ok && cfg.StopAfterFail && st.Overlays > n {
					done++
					if round == 0 {
						results = append(results, Result{Server: name, Kind: st.Kind, Matches: st.Matches, Overlays: st.Overlays,
							Status: fmt.Sprintf("%sfailed at %d overlays", statusSkipped, n)})
					}
					continue
				}
				r, err := measure(name, st)
				if err != nil {
					return results, err
				}
				r.Run = round
				done++
				cfg.printf("%s [run %d/%d; %s]\n", r.summary(), round+1, max(cfg.Runs, 1), progressNote(done, total, time.Since(start)))
				if !r.Measured() || r.DeliveredPct < 50 || r.Connected < int64(r.Overlays) {
					if _, ok := failedAt[key]; !ok {
						failedAt[key] = st.Overlays
					}
				}
				results = append(results, r)
			}
		}
	}
	return results, nil
}

// stepServers are the servers of each step, in the order they run.
func stepServers(cfg *Config) []string {
	var runs []string
	for _, kind := range cfg.Servers {
		runs = append(runs, kind)
		if kind == KindGo && cfg.UnpinnedToo {
			runs = append(runs, KindGoUnpinned)
		}
	}
	return runs
}

// runUnpinned runs st with spectra-server and the bench both on every CPU
// the bench started with, then pins the bench back.
func runUnpinned(ctx context.Context, cfg *Config, srcs []*replaySource, st Step) (Result, error) {
	u := *cfg
	u.ServerCPUs = ""
	u.ServerCPUN, u.HarnessCPUN = len(cfg.AllCPUs), len(cfg.AllCPUs)
	if cfg.HarnessPin != nil {
		// The server inherits the bench's set when it is started unpinned.
		if err := PinSelf(cfg.AllCPUs); err != nil {
			return Result{}, fmt.Errorf("unpinning the bench: %w", err)
		}
		defer func() {
			if err := PinSelf(cfg.HarnessPin); err != nil {
				cfg.printf("pinning the bench again: %v\n", err)
			}
		}()
	}
	return runStepNamed(ctx, &u, srcs, KindGo, KindGoUnpinned, st), nil
}

func (cfg *Config) printf(format string, args ...any) {
	if cfg.Progress == nil {
		return
	}
	switch {
	case cfg.TTY:
		format = "\r\x1b[K" + format
	case !strings.HasSuffix(format, "\n"):
		format += "\n"
	}
	fmt.Fprintf(cfg.Progress, format, args...)
}

func (r *Result) summary() string {
	head := fmt.Sprintf("%-11s %-16s", r.Server, r.Step())
	if !r.Measured() {
		return head + ": " + r.Status
	}
	storm := ""
	if r.Kind == StepStorm {
		storm = "storm —, "
		if r.StormSeconds > 0 {
			storm = fmt.Sprintf("storm %.1f s, ", r.StormSeconds)
		}
	}
	full := ""
	if r.HarnessFull() {
		full = " [harness CPU full]"
	}
	if r.Nodes > 0 {
		full += fmt.Sprintf(" [%d nodes: redis-server %.2f cores %.1f µs/match_data, p99 node 0 %.0f ms, other nodes %.0f ms]",
			r.Nodes, r.RedisCores, r.RedisCPUPerMsgUs, r.LocalP99ms, r.RemoteP99ms)
	}
	return fmt.Sprintf("%s: %sdelivered %.1f%% (%.0f/s of %.0f/s), p99 %.0f ms, %.0f B/match_data, server %.2f cores %.0f MB, %.1f µs CPU/match_data, %s%s",
		head, storm, r.DeliveredPct, r.DeliveredPerSec, r.ExpectedPerSec, r.LatencyP99ms,
		r.BytesPerMatchData, r.ServerCores, r.ServerRSSMB, r.ServerCPUPerMsgUs, r.Status, full)
}

// pollingOverlay is an overlay on eioclient: polling first, then the
// upgrade to WebSocket, as socket.io-client does by default.
type pollingOverlay struct {
	c           *sioclient.Client
	match       int
	matchData   atomic.Int64
	firstDataNs atomic.Int64
	loggedOn    atomic.Bool
}

func dialPolling(ctx context.Context, url, groupCode string, match int, deflate bool, tlsCfg *tls.Config, timeout time.Duration, pc *overlayCounters) (*pollingOverlay, error) {
	o := &pollingOverlay{match: match}
	c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Deflate: deflate, TLSConfig: tlsCfg}})
	c.On("match_data", func([]json.RawMessage) {
		if o.matchData.Add(1) == 1 {
			o.firstDataNs.Store(time.Now().UnixNano())
		}
	})
	logged := make(chan struct{})
	c.On("logon_success", func([]json.RawMessage) {
		if o.loggedOn.CompareAndSwap(false, true) {
			pc.loggedOn.Add(1)
			pc.lastLogonNs.Store(time.Now().UnixNano())
			close(logged)
		}
	})
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Connect(cctx, url); err != nil {
		return nil, err
	}
	o.c = c
	inner, _ := json.Marshal(map[string]string{"groupCode": groupCode})
	if err := c.Emit("logon", string(inner)); err != nil {
		c.Close()
		return nil, err
	}
	select {
	case <-logged:
		return o, nil
	case <-cctx.Done():
		c.Close()
		return nil, fmt.Errorf("polling overlay: no logon_success")
	case <-c.Done():
		return nil, fmt.Errorf("polling overlay: %v", c.Err())
	}
}

func groupCode(m int) string { return fmt.Sprintf("BN%04d", m) }
