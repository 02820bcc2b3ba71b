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
	os.Exit(run())
}

func run() int {
	var (
		cfg       bench.Config
		servers   = flag.String("servers", "go,floor", "servers to measure, comma-separated: go (spectra-server), go+NAME=value[+NAME=value...] (spectra-server with those extra environment variables, e.g. go+URING=false or go+SNDBUF=64KiB; go+INSECURE=false runs it with TLS on a self-signed pair the harness trusts), floor (bench/floor), floor+ (the floor with spectra-server's deltaflate and io_uring batches), node (bench/baseline), clusterN (N spectra-server nodes on one redis-server)")
		cluster   = flag.Int("cluster", 0, "also measure N spectra-server nodes on one redis-server started for each step (kind clusterN; adds go, the one node it is compared with, when missing)")
		redisBin  = flag.String("redis-server", "redis-server", "redis-server binary for cluster steps (scripts/ensure-redis.sh installs it)")
		steps     = flag.String("steps", "", "load steps as [storm:]MATCHESxOVERLAYS (overlays in total), comma-separated, e.g. 1x200,storm:10x1000; a storm step connects every overlay at once (-storm-dialers) and times until each has its first match_data; overrides -matches/-overlays/-per-match")
		matches   = flag.String("matches", "10", "match counts, comma-separated (with -overlays or -per-match)")
		overlays  = flag.String("overlays", "1000", "total overlay counts, comma-separated")
		perMatch  = flag.String("per-match", "", "overlays per match instead of -overlays, comma-separated")
		replays   = flag.String("replays", "testdata/replays/*.replay", "replay files (glob, comma-separated, relative to the working directory: the repository root under make); match i plays file i mod n")
		outDir    = flag.String("out", "", "folder for the report (default bench/out, which git ignores)")
		update    = flag.Bool("update-results", false, "write the report into bench/results (tracked) instead of -out")
		serverCPU = flag.String("server-cpus", "", "CPU list the servers run on (taskset -c), e.g. 0")
		benchCPU  = flag.String("harness-cpus", "", "CPU list this bench runs on (sched_setaffinity; GOMAXPROCS follows), e.g. 1")
		baseState = flag.String("base-state", "testdata/replays/golden/bomb_regular.checkpoints.json", "golden checkpoints file whose last state seeds the Node baseline's matches")
		serverBin = flag.String("server-bin", "", "prebuilt spectra-server binary (default: go build ./cmd/spectra-server)")
		maxRSSMB  = flag.Int64("max-server-rss", 4096, "abort a step when the server's RSS exceeds this many MB")
		quiet     = flag.Bool("q", false, "no progress line")
		redraw    = flag.String("redraw", "", "only rewrite the .md and .svg of an earlier report from its .json, e.g. after a change to the chart")
		capacity  = flag.String("capacity", "", "match counts, comma-separated, at which to search go's and floor's capacity: the largest overlay count with ≥ 99.5% delivered and p99 ≤ 150 ms (one probe step per count tried); without -steps/-matches/-overlays/-per-match no other steps run")
		capFrom   = flag.Int("capacity-from", 2000, "overlay count a capacity search starts at")
		capMax    = flag.Int("capacity-max", 0, "largest overlay count a capacity search tries (0: what the ephemeral ports and RLIMIT_NOFILE allow, at most 40000)")
		capRes    = flag.String("capacity-resolution", "10%", "a capacity search stops when the failing and the ok count are this close (share of the ok count, never under 250 overlays)")
		cpuProf   = flag.String("cpuprofile", "", "write this bench's own CPU profile to FILE (where the harness spends its CPUs)")
		unpinned  = flag.Bool("unpinned-too", false, "after each pinned step of go, run it again with neither the server nor the bench pinned (server go-unpinned in the report)")
	)
	flag.Float64Var(&cfg.CapacitySearch.Growth, "capacity-growth", 2, "factor between a capacity search's probes until one fails (then it bisects)")
	flag.IntVar(&cfg.CapacitySearch.MaxProbes, "capacity-probes", 6, "bound on the probe steps of one capacity search (one server, one match count)")
	flag.Float64Var(&cfg.Speed, "speed", 20, "replay speed factor (recorded gaps divided by it); 0: as fast as possible")
	flag.Float64Var(&cfg.RampRate, "ramp", 500, "overlay connections per second")
	flag.Float64Var(&cfg.PollingShare, "polling", 0, "share of overlays on HTTP long-polling with upgrade to WebSocket (0–1)")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measuring window per step")
	flag.DurationVar(&cfg.Settle, "settle", 2*time.Second, "pause between the last connection and the window")
	flag.IntVar(&cfg.Runs, "runs", 3, "runs of every step and every capacity probe, whatever the first showed (the servers of a step in turn, round after round); verdicts take each figure's median, the report gives its range")
	flag.IntVar(&cfg.Probes, "probes", 2, "probe clients per match at least (full decoding, latency)")
	flag.Float64Var(&cfg.SampleShare, "sample", bench.DefaultSampleShare, "share of each match's overlays that are probes, at random places among them (inflate and parse every frame; 0–1)")
	flag.IntVar(&cfg.MinSamples, "min-samples", bench.MinVerdictSamples, "latency samples per verdict (one server at one step, over its -runs): each match gets enough probes for this many at -marker and -duration")
	flag.DurationVar(&cfg.SlowSample, "slow-samples", 0, "print every latency sample over this (e.g. 300ms) with its wall-clock send and receive times to stderr, to line stalls up with other logs (0: none)")
	flag.DurationVar(&cfg.MarkerEvery, "marker", 200*time.Millisecond, "latency marker interval per match")
	flag.IntVar(&cfg.Readers, "readers", 1, "epoll loops reading the counting overlays")
	flag.IntVar(&cfg.Dialers, "dialers", 32, "concurrent connection attempts (ramp steps)")
	flag.IntVar(&cfg.StormDialers, "storm-dialers", 64, "concurrent connection attempts in a storm step")
	flag.BoolVar(&cfg.Deflate, "deflate", true, "offer permessage-deflate like Chromium")
	flag.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 20*time.Second, "bound on one overlay's connect and logon")
	flag.BoolVar(&cfg.StopAfterFail, "stop-after-fail", true, "skip a server's bigger steps (same match count) after it failed one or delivered under 50%")
	flag.Parse()

	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "spectra-bench: "+format+"\n", args...)
		return 2
	}
	if *redraw != "" {
		if err := bench.Redraw(*redraw); err != nil {
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
	cfg.WorkDir = root
	cfg.BaselineDir = filepath.Join(root, "bench", "baseline")
	cfg.BaseState = *baseState
	cfg.MaxServerRSS = *maxRSSMB << 20

	if cfg.Servers, err = bench.ParseServers(*servers); err != nil {
		return fail("-servers: %v", err)
	}
	if cfg.Servers, err = bench.WithCluster(cfg.Servers, *cluster); err != nil {
		return fail("%v", err)
	}
	if *capacity != "" {
		for _, f := range strings.Split(*capacity, ",") {
			m, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || m < 1 {
				return fail("-capacity: bad match count %q", f)
			}
			cfg.Capacity = append(cfg.Capacity, m)
		}
		if len(bench.CapacityServers(cfg.Servers)) == 0 {
			return fail("-capacity searches go and floor; -servers has neither")
		}
		if cfg.CapacitySearch.Resolution, err = parseShare(*capRes); err != nil {
			return fail("-capacity-resolution: %v", err)
		}
		if cfg.CapacitySearch.Growth <= 1 || cfg.CapacitySearch.MaxProbes < 1 || *capFrom < 1 {
			return fail("-capacity-growth must be over 1, -capacity-probes and -capacity-from at least 1")
		}
		cfg.CapacitySearch.From = *capFrom
		cfg.CapacitySearch.Max = *capMax
	}
	explicitSteps := false
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "steps", "matches", "overlays", "per-match":
			explicitSteps = true
		}
	})
	if len(cfg.Capacity) == 0 || explicitSteps {
		if cfg.Steps, err = bench.ParseSteps(*steps, *matches, *overlays, *perMatch); err != nil {
			return fail("%v", err)
		}
	}
	if *outDir == "" {
		*outDir = filepath.Join("bench", "out")
	}
	if *update {
		*outDir = filepath.Join("bench", "results")
	}

	// Pinning: the servers through taskset, this process through
	// sched_setaffinity. A server inherits the bench's set, so when only the
	// bench is pinned the servers get the set the bench started with.
	all, err := bench.Affinity()
	if err != nil {
		return fail("%v", err)
	}
	cfg.ServerCPUN, cfg.HarnessCPUN = len(all), len(all)
	cfg.AllCPUs = all
	if *benchCPU != "" {
		cpus, err := bench.ParseCPUList(*benchCPU)
		if err != nil {
			return fail("-harness-cpus: %v", err)
		}
		if err := bench.PinSelf(cpus); err != nil {
			return fail("-harness-cpus: %v", err)
		}
		cfg.HarnessCPUN = len(cpus)
		cfg.HarnessPin = cpus
		*benchCPU = bench.FormatCPUList(cpus)
		if *serverCPU == "" {
			*serverCPU = bench.FormatCPUList(all)
		}
	}
	if *serverCPU != "" {
		cpus, err := bench.ParseCPUList(*serverCPU)
		if err != nil {
			return fail("-server-cpus: %v", err)
		}
		if _, err := exec.LookPath("taskset"); err != nil {
			return fail("-server-cpus needs taskset (util-linux): %v", err)
		}
		cfg.ServerCPUs, cfg.ServerCPUN = bench.FormatCPUList(cpus), len(cpus)
	}
	if *unpinned {
		if *serverCPU == "" {
			return fail("-unpinned-too compares with the pinned run: give -server-cpus (and -harness-cpus)")
		}
		if !slices.Contains(cfg.Servers, bench.KindGo) {
			return fail("-unpinned-too runs go unpinned; -servers has no go")
		}
		cfg.UnpinnedToo = true
	}
	for _, g := range strings.Split(*replays, ",") {
		m, _ := filepath.Glob(strings.TrimSpace(g))
		cfg.Files = append(cfg.Files, m...)
	}
	if len(cfg.Files) == 0 {
		return fail("no replay files match %q", *replays)
	}
	if cfg.PollingShare < 0 || cfg.PollingShare > 1 {
		return fail("-polling must be between 0 and 1")
	}
	if cfg.SampleShare < 0 || cfg.SampleShare > 1 || cfg.MinSamples < 0 {
		return fail("-sample must be between 0 and 1, -min-samples not negative")
	}
	if cfg.Runs < 1 {
		return fail("-runs must be at least 1")
	}
	if cfg.Duration <= 0 || cfg.RampRate <= 0 || cfg.Speed < 0 {
		return fail("-duration and -ramp must be positive, -speed not negative")
	}

	maxOverlays := 0
	for _, s := range cfg.Steps {
		maxOverlays = max(maxOverlays, s.Overlays)
	}
	// Each overlay is one socket here and one in the server (a child, which
	// inherits the limit); leave room for the observers and the files.
	limit := bench.RaiseFileLimit(1 << 20)
	if len(cfg.Capacity) > 0 {
		if cfg.CapacitySearch.Max <= 0 {
			// As many overlays as the ports to one address and the file
			// limit allow.
			cfg.CapacitySearch.Max = 40000
			if ports := bench.EphemeralPorts(); ports > 0 {
				cfg.CapacitySearch.Max = min(cfg.CapacitySearch.Max, ports-2000)
			}
			if limit > 0 {
				cfg.CapacitySearch.Max = min(cfg.CapacitySearch.Max, int(min(limit, 1<<20))-4096)
			}
			cfg.CapacitySearch.Max = max(cfg.CapacitySearch.Max, 1000)
		}
		cfg.CapacitySearch.From = min(cfg.CapacitySearch.From, cfg.CapacitySearch.Max)
		maxOverlays = max(maxOverlays, cfg.CapacitySearch.Max)
	}
	if need := uint64(maxOverlays + 4096); limit < need {
		fmt.Fprintf(os.Stderr, "warning: RLIMIT_NOFILE is %d, %d overlays need about %d\n", limit, maxOverlays, need)
	}
	if ports := bench.EphemeralPorts(); ports > 0 && ports < maxOverlays+2000 {
		fmt.Fprintf(os.Stderr, "warning: %d ephemeral ports for %d overlays to one address\n", ports, maxOverlays)
	}

	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
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

	if err := buildServers(ctx, &cfg, logDir, *serverBin, *redisBin); err != nil {
		return fail("%v", err)
	}

	if !*quiet {
		cfg.Progress = os.Stderr
		if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cfg.TTY = true
		}
	}
	unpinnedNote := ""
	if cfg.UnpinnedToo {
		unpinnedNote = fmt.Sprintf(" + %d go steps unpinned", len(cfg.Steps))
	}
	fmt.Fprintf(os.Stderr, "spectra-bench: %d steps × %d servers%s, %s window each; server logs and payloads in %s\n",
		len(cfg.Steps), len(cfg.Servers), unpinnedNote, cfg.Duration, logDir)
	if n := bench.StepRuns(&cfg); n > 0 {
		fmt.Fprintf(os.Stderr, "spectra-bench: %d step runs, estimated %s (fitted to make bench-quick's measured 2 min 57 s)\n",
			n, bench.EstimateSteps(&cfg).Round(time.Second))
	}
	capPlan := bench.CapacityPlanText(&cfg)
	if capPlan != "" {
		fmt.Fprintf(os.Stderr, "spectra-bench: %s\n", capPlan)
	}
	start := time.Now()
	results, err := bench.Run(ctx, &cfg)
	var caps []bench.Capacity
	if err == nil {
		caps, err = bench.RunCapacity(ctx, &cfg)
	}
	if cfg.TTY {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
	}
	host, _ := os.Hostname()
	nodeVersion, _ := exec.Command("node", "--version").Output()
	pinned := func(list string, n int) string {
		if list == "" {
			return fmt.Sprintf("not pinned (%d CPUs)", n)
		}
		return fmt.Sprintf("CPU %s (%d)", list, n)
	}
	rep := &bench.Report{
		ServerCPUs:  *serverCPU,
		HarnessCPUs: *benchCPU,
		Date:        start.Format("2006-01-02 15:04"),
		Host:        host,
		CPUs:        runtime.NumCPU(),
		Go:          runtime.Version(),
		Node:        strings.TrimSpace(string(nodeVersion)),
		Command:     "spectra-bench " + strings.Join(os.Args[1:], " "),
		Settings: map[string]string{
			"replays":         strings.Join(cfg.Files, ", "),
			"speed":           fmt.Sprint(cfg.Speed),
			"ramp":            fmt.Sprintf("%.0f connections/s, %d dialers", cfg.RampRate, cfg.Dialers),
			"storm dialers":   strconv.Itoa(cfg.StormDialers),
			"server CPUs":     pinned(cfg.ServerCPUs, cfg.ServerCPUN),
			"harness CPUs":    pinned(*benchCPU, cfg.HarnessCPUN),
			"floor server":    "bench/floor (one frame per match and send, deflate level 6 with one shared context per match, one write(2) per overlay)",
			"polling share":   fmt.Sprint(cfg.PollingShare),
			"window":          cfg.Duration.String(),
			"marker interval": cfg.MarkerEvery.String(),
			"deflate offered": fmt.Sprint(cfg.Deflate),
			"cluster":         "clusterN: N spectra-server nodes (REDIS_URL, NODE_ID) and one redis-server (--save \"\" --appendonly no), all on the server CPUs; observers and aux clients on node 0, overlays and probes round-robin over the nodes; server figures sum every node and redis-server",
			"node baseline":   "bench/baseline/server.js (socket.io 4.8, perMessageDeflate threshold 1024, level 3, memLevel 7, 100 ms change-driven loop)",
		},
		Results:  results,
		Capacity: caps,
	}
	if capPlan != "" {
		rep.Settings["capacity"] = fmt.Sprintf("searched at %s matches from %d overlays, ×%g until a probe fails, then bisected to %s (never under %d overlays), at most %d probes per search, none over %d overlays",
			*capacity, cfg.CapacitySearch.From, cfg.CapacitySearch.Growth, *capRes, bench.CapacityMinStep, cfg.CapacitySearch.MaxProbes, cfg.CapacitySearch.Max)
	}
	rep.Settings["runs"] = fmt.Sprintf("%d of every step and capacity probe (servers in turn, round after round); verdicts on each figure's median, ranges min–max", max(cfg.Runs, 1))
	rep.Settings["sampled overlays"] = fmt.Sprintf("per match the most of %d, %.0f %% of its overlays and enough for %d latency samples per verdict, at random places; they inflate and parse every frame",
		cfg.Probes, 100*cfg.SampleShare, cfg.MinSamples)
	if cfg.UnpinnedToo {
		rep.Settings["unpinned"] = fmt.Sprintf("go-unpinned: each go step again with neither spectra-server nor the bench pinned (CPUs %s)", bench.FormatCPUList(all))
	}
	if !slices.ContainsFunc(cfg.Servers, bench.IsCluster) {
		delete(rep.Settings, "cluster")
	}
	// Two runs started in the same minute must not overwrite each other's
	// report: the second gets -2, then -3, ...
	base := filepath.Join(*outDir, start.Format("2006-01-02-1504")+"-"+host)
	for n := 2; ; n++ {
		if _, err := os.Stat(base + ".json"); err != nil {
			break
		}
		base = filepath.Join(*outDir, fmt.Sprintf("%s-%s-%d", start.Format("2006-01-02-1504"), host, n))
	}
	if werr := rep.Write(base); werr != nil {
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
