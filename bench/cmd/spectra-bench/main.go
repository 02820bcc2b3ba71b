// Command spectra-bench measures Spectra relays under replayed traffic: the
// Go spectra-server of this module, the floor server (bench/floor, the
// least work a relay must do) and a Node socket.io 4.8 baseline
// (bench/baseline), side by side in one run, and writes
// <out>/<date>-<host>.{md,json,svg} (bench/out, untracked; bench/results
// with -update-results).
//
//	go run ./bench/cmd/spectra-bench -steps storm:10x2000,10x2000 -server-cpus 0 -harness-cpus 1
//
// Run it from the module root (make bench-quick, make bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"spectra-relay/bench"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is the command: parse the flags, plan the run, pin, build the
// servers, run the steps and capacity searches, write the report. Its
// result is the exit code.
func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package printed why
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "spectra-bench: "+format+"\n", args...)
		return 2
	}
	if o.redraw != "" {
		if err := bench.Redraw(o.redraw); err != nil {
			return fail("%v", err)
		}
		return 0
	}
	root, err := moduleRoot()
	if err != nil {
		return fail("%v (run it inside the module)", err)
	}
	if err := os.Chdir(root); err != nil {
		return fail("%v", err)
	}
	cfg := &o.cfg
	if err := plan(o, root); err != nil {
		return fail("%v", err)
	}
	if err := pin(o); err != nil {
		return fail("%v", err)
	}
	if err := findReplays(o); err != nil {
		return fail("%v", err)
	}
	raiseLimits(cfg)
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return fail("-cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail("-cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	logDir, err := os.MkdirTemp("", "spectra-bench-")
	if err != nil {
		return fail("%v", err)
	}
	cfg.LogDir = logDir
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := buildServers(ctx, cfg, logDir, o.serverBin, o.redisBin); err != nil {
		return fail("%v", err)
	}
	setProgress(cfg, o.quiet)
	printPlan(cfg, logDir)

	start := time.Now()
	results, err := bench.Run(ctx, cfg)
	var caps []bench.Capacity
	if err == nil {
		caps, err = bench.RunCapacity(ctx, cfg)
	}
	if cfg.TTY {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
	}
	base, werr := writeReport(newReport(o, start, results, caps), o.outDir, start)
	if werr != nil {
		return fail("writing the report: %v", werr)
	}
	abs := base
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(root, base)
	}
	fmt.Fprintf(os.Stderr, "wrote %s.{md,json,svg} in %s\nreport: %s.md\n", base, time.Since(start).Round(time.Second), abs)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return fail("%v", err)
	}
	return 0
}

// options are the command's flags: the bench.Config they fill directly,
// and the rest as given.
type options struct {
	cfg                                   bench.Config
	servers, steps, matches, overlays     string
	perMatch, replays, outDir, serverCPU  string
	benchCPU, baseState, serverBin        string
	redisBin, redraw, capacity, capRes    string
	cpuProf                               string
	cluster, capFrom, capMax              int
	maxRSSMB                              int64
	update, quiet, unpinned, explicitStep bool
	allCPUs                               []int // the CPUs the bench started with (set by pin)
}

// parseFlags parses args into options. Errors are the flag package's
// (it has printed them, or the usage for -h: flag.ErrHelp).
func parseFlags(args []string) (*options, error) {
	o := &options{}
	cfg := &o.cfg
	fs := flag.NewFlagSet("spectra-bench", flag.ContinueOnError)
	fs.StringVar(&o.servers, "servers", "go,floor", "servers to measure, comma-separated: go (spectra-server), go+NAME=value[+NAME=value...] (spectra-server with those extra environment variables, e.g. go+URING=false or go+SNDBUF=64KiB; go+INSECURE=false runs it with TLS on a self-signed pair the harness trusts), floor (bench/floor), floor+ (the floor with spectra-server's deltaflate and io_uring batches), node (bench/baseline), clusterN (N spectra-server nodes on one redis-server)")
	fs.IntVar(&o.cluster, "cluster", 0, "also measure N spectra-server nodes on one redis-server started for each step (kind clusterN; adds go, the one node it is compared with, when missing)")
	fs.StringVar(&o.redisBin, "redis-server", "redis-server", "redis-server binary for cluster steps (scripts/ensure-redis.sh installs it)")
	fs.StringVar(&o.steps, "steps", "", "load steps as [storm:]MATCHESxOVERLAYS (overlays in total), comma-separated, e.g. 1x200,storm:10x1000; a storm step connects every overlay at once (-storm-dialers) and times until each has its first match_data; overrides -matches/-overlays/-per-match")
	fs.StringVar(&o.matches, "matches", "10", "match counts, comma-separated (with -overlays or -per-match)")
	fs.StringVar(&o.overlays, "overlays", "1000", "total overlay counts, comma-separated")
	fs.StringVar(&o.perMatch, "per-match", "", "overlays per match instead of -overlays, comma-separated")
	fs.StringVar(&o.replays, "replays", "testdata/replays/*.replay", "replay files (glob, comma-separated, relative to the working directory: the repository root under make); match i plays file i mod n")
	fs.StringVar(&o.outDir, "out", "", "folder for the report (default bench/out, which git ignores)")
	fs.BoolVar(&o.update, "update-results", false, "write the report into bench/results (tracked) instead of -out")
	fs.StringVar(&o.serverCPU, "server-cpus", "", "CPU list the servers run on (taskset -c), e.g. 0")
	fs.StringVar(&o.benchCPU, "harness-cpus", "", "CPU list this bench runs on (sched_setaffinity; GOMAXPROCS follows), e.g. 1")
	fs.StringVar(&o.baseState, "base-state", "testdata/replays/golden/bomb_regular.checkpoints.json", "golden checkpoints file whose last state seeds the Node baseline's matches")
	fs.StringVar(&o.serverBin, "server-bin", "", "prebuilt spectra-server binary (default: go build ./cmd/spectra-server)")
	fs.Int64Var(&o.maxRSSMB, "max-server-rss", 4096, "abort a step when the server's RSS exceeds this many MB")
	fs.BoolVar(&o.quiet, "q", false, "no progress line")
	fs.StringVar(&o.redraw, "redraw", "", "only rewrite the .md and .svg of an earlier report from its .json, e.g. after a change to the chart")
	fs.StringVar(&o.capacity, "capacity", "", "match counts, comma-separated, at which to search go's and floor's capacity: the largest overlay count with ≥ 99.5% delivered and p99 ≤ 150 ms (one probe step per count tried); without -steps/-matches/-overlays/-per-match no other steps run")
	fs.IntVar(&o.capFrom, "capacity-from", 2000, "overlay count a capacity search starts at")
	fs.IntVar(&o.capMax, "capacity-max", 0, "largest overlay count a capacity search tries (0: what the ephemeral ports and RLIMIT_NOFILE allow, at most 40000)")
	fs.StringVar(&o.capRes, "capacity-resolution", "10%", "a capacity search stops when the failing and the ok count are this close (share of the ok count, never under 250 overlays)")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write this bench's own CPU profile to FILE (where the harness spends its CPUs)")
	fs.BoolVar(&o.unpinned, "unpinned-too", false, "after each pinned step of go, run it again with neither the server nor the bench pinned (server go-unpinned in the report)")
	fs.Float64Var(&cfg.CapacitySearch.Growth, "capacity-growth", 2, "factor between a capacity search's probes until one fails (then it bisects)")
	fs.IntVar(&cfg.CapacitySearch.MaxProbes, "capacity-probes", 6, "bound on the probe steps of one capacity search (one server, one match count)")
	fs.Float64Var(&cfg.Speed, "speed", 20, "replay speed factor (recorded gaps divided by it); 0: as fast as possible")
	fs.Float64Var(&cfg.RampRate, "ramp", 500, "overlay connections per second")
	fs.Float64Var(&cfg.PollingShare, "polling", 0, "share of overlays on HTTP long-polling with upgrade to WebSocket (0–1)")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measuring window per step")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Second, "pause between the last connection and the window")
	fs.IntVar(&cfg.Runs, "runs", 3, "runs of every step and every capacity probe, whatever the first showed (the servers of a step in turn, round after round); verdicts take each figure's median, the report gives its range")
	fs.IntVar(&cfg.Probes, "probes", 2, "probe clients per match at least (full decoding, latency)")
	fs.Float64Var(&cfg.SampleShare, "sample", bench.DefaultSampleShare, "share of each match's overlays that are probes, at random places among them (inflate and parse every frame; 0–1)")
	fs.IntVar(&cfg.MinSamples, "min-samples", bench.MinVerdictSamples, "latency samples per verdict (one server at one step, over its -runs): each match gets enough probes for this many at -marker and -duration")
	fs.DurationVar(&cfg.SlowSample, "slow-samples", 0, "print every latency sample over this (e.g. 300ms) with its wall-clock send and receive times to stderr, to line stalls up with other logs (0: none)")
	fs.DurationVar(&cfg.MarkerEvery, "marker", 200*time.Millisecond, "latency marker interval per match")
	fs.IntVar(&cfg.Readers, "readers", 1, "epoll loops reading the counting overlays")
	fs.IntVar(&cfg.Dialers, "dialers", 32, "concurrent connection attempts (ramp steps)")
	fs.IntVar(&cfg.StormDialers, "storm-dialers", 64, "concurrent connection attempts in a storm step")
	fs.BoolVar(&cfg.Deflate, "deflate", true, "offer permessage-deflate like Chromium")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 20*time.Second, "bound on one overlay's connect and logon")
	fs.BoolVar(&cfg.StopAfterFail, "stop-after-fail", true, "skip a server's bigger steps (same match count) after it failed one or delivered under 50%")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "steps", "matches", "overlays", "per-match":
			o.explicitStep = true
		}
	})
	return o, nil
}

// plan turns the options into o.cfg's servers, capacity searches, steps,
// output folder and checked figures (no pinning, no files read).
func plan(o *options, root string) error {
	cfg := &o.cfg
	cfg.WorkDir = root
	cfg.BaselineDir = filepath.Join(root, "bench", "baseline")
	cfg.BaseState = o.baseState
	cfg.MaxServerRSS = o.maxRSSMB << 20
	var err error
	if cfg.Servers, err = bench.ParseServers(o.servers); err != nil {
		return fmt.Errorf("-servers: %v", err)
	}
	if cfg.Servers, err = bench.WithCluster(cfg.Servers, o.cluster); err != nil {
		return err
	}
	if o.capacity != "" {
		if err := planCapacity(o); err != nil {
			return err
		}
	}
	if len(cfg.Capacity) == 0 || o.explicitStep {
		if cfg.Steps, err = bench.ParseSteps(o.steps, o.matches, o.overlays, o.perMatch); err != nil {
			return err
		}
	}
	if o.outDir == "" {
		o.outDir = filepath.Join("bench", "out")
	}
	if o.update {
		o.outDir = filepath.Join("bench", "results")
	}
	switch {
	case cfg.PollingShare < 0 || cfg.PollingShare > 1:
		return errors.New("-polling must be between 0 and 1")
	case cfg.SampleShare < 0 || cfg.SampleShare > 1 || cfg.MinSamples < 0:
		return errors.New("-sample must be between 0 and 1, -min-samples not negative")
	case cfg.Runs < 1:
		return errors.New("-runs must be at least 1")
	case cfg.Duration <= 0 || cfg.RampRate <= 0 || cfg.Speed < 0:
		return errors.New("-duration and -ramp must be positive, -speed not negative")
	}
	return nil
}

// planCapacity reads -capacity and the search's flags into o.cfg.
func planCapacity(o *options) error {
	cfg := &o.cfg
	for _, f := range strings.Split(o.capacity, ",") {
		m, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || m < 1 {
			return fmt.Errorf("-capacity: bad match count %q", f)
		}
		cfg.Capacity = append(cfg.Capacity, m)
	}
	if len(bench.CapacityServers(cfg.Servers)) == 0 {
		return errors.New("-capacity searches go and floor; -servers has neither")
	}
	var err error
	if cfg.CapacitySearch.Resolution, err = parseShare(o.capRes); err != nil {
		return fmt.Errorf("-capacity-resolution: %v", err)
	}
	if cfg.CapacitySearch.Growth <= 1 || cfg.CapacitySearch.MaxProbes < 1 || o.capFrom < 1 {
		return errors.New("-capacity-growth must be over 1, -capacity-probes and -capacity-from at least 1")
	}
	cfg.CapacitySearch.From = o.capFrom
	cfg.CapacitySearch.Max = o.capMax
	return nil
}

// pin pins the bench (sched_setaffinity) and notes the servers' CPUs
// (taskset at their start). A server inherits the bench's set, so when only
// the bench is pinned the servers get the set the bench started with.
func pin(o *options) error {
	cfg := &o.cfg
	all, err := bench.Affinity()
	if err != nil {
		return err
	}
	o.allCPUs = all
	cfg.ServerCPUN, cfg.HarnessCPUN = len(all), len(all)
	cfg.AllCPUs = all
	if o.benchCPU != "" {
		cpus, err := bench.ParseCPUList(o.benchCPU)
		if err != nil {
			return fmt.Errorf("-harness-cpus: %v", err)
		}
		if err := bench.PinSelf(cpus); err != nil {
			return fmt.Errorf("-harness-cpus: %v", err)
		}
		cfg.HarnessCPUN = len(cpus)
		cfg.HarnessPin = cpus
		o.benchCPU = bench.FormatCPUList(cpus)
		if o.serverCPU == "" {
			o.serverCPU = bench.FormatCPUList(all)
		}
	}
	if o.serverCPU != "" {
		cpus, err := bench.ParseCPUList(o.serverCPU)
		if err != nil {
			return fmt.Errorf("-server-cpus: %v", err)
		}
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("-server-cpus needs taskset (util-linux): %v", err)
		}
		cfg.ServerCPUs, cfg.ServerCPUN = bench.FormatCPUList(cpus), len(cpus)
	}
	if o.unpinned {
		if o.serverCPU == "" {
			return errors.New("-unpinned-too compares with the pinned run: give -server-cpus (and -harness-cpus)")
		}
		if !slices.Contains(cfg.Servers, bench.KindGo) {
			return errors.New("-unpinned-too runs go unpinned; -servers has no go")
		}
		cfg.UnpinnedToo = true
	}
	return nil
}

// findReplays expands -replays into o.cfg.Files.
func findReplays(o *options) error {
	for _, g := range strings.Split(o.replays, ",") {
		m, _ := filepath.Glob(strings.TrimSpace(g))
		o.cfg.Files = append(o.cfg.Files, m...)
	}
	if len(o.cfg.Files) == 0 {
		return fmt.Errorf("no replay files match %q", o.replays)
	}
	return nil
}

// raiseLimits raises RLIMIT_NOFILE (inherited by the servers), bounds the
// capacity searches by it and the ephemeral ports, and warns when the
// steps need more than they allow.
func raiseLimits(cfg *bench.Config) {
	maxOverlays := 0
	for _, s := range cfg.Steps {
		maxOverlays = max(maxOverlays, s.Overlays)
	}
	// Each overlay is one socket here and one in the server (a child, which
	// inherits the limit); leave room for the observers and the files.
	limit := bench.RaiseFileLimit(1 << 20)
	ports := bench.EphemeralPorts()
	if len(cfg.Capacity) > 0 {
		if cfg.CapacitySearch.Max <= 0 {
			cfg.CapacitySearch.Max = capacityMax(ports, limit)
		}
		cfg.CapacitySearch.From = min(cfg.CapacitySearch.From, cfg.CapacitySearch.Max)
		maxOverlays = max(maxOverlays, cfg.CapacitySearch.Max)
	}
	if need := uint64(maxOverlays + 4096); limit < need {
		fmt.Fprintf(os.Stderr, "warning: RLIMIT_NOFILE is %d, %d overlays need about %d\n", limit, maxOverlays, need)
	}
	if ports > 0 && ports < maxOverlays+2000 {
		fmt.Fprintf(os.Stderr, "warning: %d ephemeral ports for %d overlays to one address\n", ports, maxOverlays)
	}
}

// capacityMax is the most overlays a capacity search tries: as many as the
// ports to one address (0: unknown) and the file limit (0: unknown) allow,
// at most 40 000, at least 1 000.
func capacityMax(ports int, fileLimit uint64) int {
	n := 40000
	if ports > 0 {
		n = min(n, ports-2000)
	}
	if fileLimit > 0 {
		n = min(n, int(min(fileLimit, 1<<20))-4096)
	}
	return max(n, 1000)
}

// setProgress sends the progress lines to stderr unless quiet, rewriting
// one line on a terminal.
func setProgress(cfg *bench.Config, quiet bool) {
	if quiet {
		return
	}
	cfg.Progress = os.Stderr
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		cfg.TTY = true
	}
}

// printPlan says what the run will do and how long it should take.
func printPlan(cfg *bench.Config, logDir string) {
	unpinnedNote := ""
	if cfg.UnpinnedToo {
		unpinnedNote = fmt.Sprintf(" + %d go steps unpinned", len(cfg.Steps))
	}
	fmt.Fprintf(os.Stderr, "spectra-bench: %d steps × %d servers%s, %s window each; server logs and payloads in %s\n",
		len(cfg.Steps), len(cfg.Servers), unpinnedNote, cfg.Duration, logDir)
	if n := bench.StepRuns(cfg); n > 0 {
		fmt.Fprintf(os.Stderr, "spectra-bench: %d step runs, estimated %s (fitted to make bench-quick's measured 2 min 57 s)\n",
			n, bench.EstimateSteps(cfg).Round(time.Second))
	}
	if capPlan := bench.CapacityPlanText(cfg); capPlan != "" {
		fmt.Fprintf(os.Stderr, "spectra-bench: %s\n", capPlan)
	}
}

// newReport is the report of a run started at start.
func newReport(o *options, start time.Time, results []bench.Result, caps []bench.Capacity) *bench.Report {
	host, _ := os.Hostname()
	nodeVersion, _ := exec.Command("node", "--version").Output()
	return &bench.Report{
		ServerCPUs:  o.serverCPU,
		HarnessCPUs: o.benchCPU,
		Date:        start.Format("2006-01-02 15:04"),
		Host:        host,
		CPUs:        runtime.NumCPU(),
		Go:          runtime.Version(),
		Node:        strings.TrimSpace(string(nodeVersion)),
		Command:     "spectra-bench " + strings.Join(os.Args[1:], " "),
		Settings:    reportSettings(o),
		Results:     results,
		Capacity:    caps,
	}
}

// pinnedText describes a CPU list for the report's settings.
func pinnedText(list string, n int) string {
	if list == "" {
		return fmt.Sprintf("not pinned (%d CPUs)", n)
	}
	return fmt.Sprintf("CPU %s (%d)", list, n)
}

// reportSettings are the report's settings lines.
func reportSettings(o *options) map[string]string {
	cfg := &o.cfg
	set := map[string]string{
		"replays":         strings.Join(cfg.Files, ", "),
		"speed":           fmt.Sprint(cfg.Speed),
		"ramp":            fmt.Sprintf("%.0f connections/s, %d dialers", cfg.RampRate, cfg.Dialers),
		"storm dialers":   strconv.Itoa(cfg.StormDialers),
		"server CPUs":     pinnedText(cfg.ServerCPUs, cfg.ServerCPUN),
		"harness CPUs":    pinnedText(o.benchCPU, cfg.HarnessCPUN),
		"floor server":    "bench/floor (one frame per match and send, deflate level 6 with one shared context per match, one write(2) per overlay)",
		"polling share":   fmt.Sprint(cfg.PollingShare),
		"window":          cfg.Duration.String(),
		"marker interval": cfg.MarkerEvery.String(),
		"deflate offered": fmt.Sprint(cfg.Deflate),
		"node baseline":   "bench/baseline/server.js (socket.io 4.8, perMessageDeflate threshold 1024, level 3, memLevel 7, 100 ms change-driven loop)",
		"runs": fmt.Sprintf("%d of every step and capacity probe (servers in turn, round after round); verdicts on each figure's median, ranges min–max",
			max(cfg.Runs, 1)),
		"sampled overlays": fmt.Sprintf("per match the most of %d, %.0f %% of its overlays and enough for %d latency samples per verdict, at random places; they inflate and parse every frame",
			cfg.Probes, 100*cfg.SampleShare, cfg.MinSamples),
	}
	if slices.ContainsFunc(cfg.Servers, bench.IsCluster) {
		set["cluster"] = "clusterN: N spectra-server nodes (REDIS_URL, NODE_ID) and one redis-server (--save \"\" --appendonly no), all on the server CPUs; observers and aux clients on node 0, overlays and probes round-robin over the nodes; server figures sum every node and redis-server"
	}
	if bench.CapacityPlanText(cfg) != "" {
		set["capacity"] = fmt.Sprintf("searched at %s matches from %d overlays, ×%g until a probe fails, then bisected to %s (never under %d overlays), at most %d probes per search, none over %d overlays",
			o.capacity, cfg.CapacitySearch.From, cfg.CapacitySearch.Growth, o.capRes, bench.CapacityMinStep, cfg.CapacitySearch.MaxProbes, cfg.CapacitySearch.Max)
	}
	if cfg.UnpinnedToo {
		set["unpinned"] = fmt.Sprintf("go-unpinned: each go step again with neither spectra-server nor the bench pinned (CPUs %s)", bench.FormatCPUList(o.allCPUs))
	}
	return set
}

// writeReport writes rep to outDir/<date>-<host>.{md,json,svg} and returns
// that path without the extension.
func writeReport(rep *bench.Report, outDir string, start time.Time) (string, error) {
	base := reportBase(outDir, start, rep.Host, func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	})
	return base, rep.Write(base)
}

// reportBase is the report's path without extension. Two runs started in
// the same minute must not overwrite each other's report: the second gets
// -2, then -3, ...
func reportBase(outDir string, start time.Time, host string, exists func(string) bool) string {
	stamp := start.Format("2006-01-02-1504")
	base := filepath.Join(outDir, stamp+"-"+host)
	for n := 2; exists(base + ".json"); n++ {
		base = filepath.Join(outDir, fmt.Sprintf("%s-%s-%d", stamp, host, n))
	}
	return base
}

// parseShare parses "10%" or "0.1" into 0.1.
func parseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("bad share %q (want e.g. 10%% or 0.1)", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v >= 1 {
		return 0, fmt.Errorf("share %q not between 0 and 100%%", s)
	}
	return v, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// buildServers builds (or looks up) what the servers of cfg need: the
// spectra-server binary, the floor's, redis-server, the Node baseline's
// modules.
func buildServers(ctx context.Context, cfg *bench.Config, logDir, serverBin, redisBin string) error {
	var err error
	for _, k := range cfg.Servers {
		if bench.IsCluster(k) {
			if cfg.RedisBinary, err = exec.LookPath(redisBin); err != nil {
				return fmt.Errorf("%s needs redis-server (scripts/ensure-redis.sh installs it): %v", k, err)
			}
			k = bench.KindGo // the nodes are spectra-server
		}
		if bench.IsGoVariant(k) {
			k = bench.KindGo // spectra-server with extra settings
		}
		switch k {
		case bench.KindGo:
			if cfg.GoBinary != "" {
				break // built for go or another cluster kind already
			}
			cfg.GoBinary = serverBin
			if cfg.GoBinary == "" {
				cfg.GoBinary = filepath.Join(logDir, "spectra-server")
				fmt.Fprintln(os.Stderr, "building ./cmd/spectra-server")
				if out, err := exec.CommandContext(ctx, "go", "build", "-o", cfg.GoBinary, "./cmd/spectra-server").CombinedOutput(); err != nil {
					return fmt.Errorf("building the server: %v\n%s", err, out)
				}
			}
		case bench.KindFloor, bench.KindFloorPlus:
			if cfg.FloorBinary != "" {
				break // built for the other floor already
			}
			cfg.FloorBinary = filepath.Join(logDir, "floor")
			fmt.Fprintln(os.Stderr, "building ./bench/cmd/floor")
			if out, err := exec.CommandContext(ctx, "go", "build", "-o", cfg.FloorBinary, "./bench/cmd/floor").CombinedOutput(); err != nil {
				return fmt.Errorf("building the floor server: %v\n%s", err, out)
			}
		case bench.KindNode:
			if _, err := os.Stat(filepath.Join(cfg.BaselineDir, "node_modules", "socket.io", "package.json")); err != nil {
				fmt.Fprintln(os.Stderr, "npm ci in bench/baseline")
				cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
				cmd.Dir = cfg.BaselineDir
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("npm ci in bench/baseline: %v\n%s", err, out)
				}
			}
		}
	}
	return nil
}
