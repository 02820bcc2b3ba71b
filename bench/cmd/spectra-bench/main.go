// Command spectra-bench measures Spectra relays under replayed traffic: the
// Go spectra-server of this module and a Node socket.io 4.8 baseline
// (bench/baseline), side by side in one run, and writes
// bench/results/<date>-<host>.{md,json,svg}.
//
//	go run ./bench/cmd/spectra-bench -steps 1x200,10x1000 -duration 15s
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
		servers   = flag.String("servers", "both", "servers to measure: go | node | both")
		steps     = flag.String("steps", "", "load steps as MATCHESxOVERLAYS (overlays in total), comma-separated, e.g. 1x200,10x1000; overrides -matches/-overlays/-per-match")
		matches   = flag.String("matches", "10", "match counts, comma-separated (with -overlays or -per-match)")
		overlays  = flag.String("overlays", "1000", "total overlay counts, comma-separated")
		perMatch  = flag.String("per-match", "", "overlays per match instead of -overlays, comma-separated")
		replays   = flag.String("replays", "testdata/replays/*.replay", "replay files (glob, comma-separated, relative to the working directory: the repository root under make); match i plays file i mod n")
		outDir    = flag.String("out", "bench/results", "folder for the report")
		baseState = flag.String("base-state", "testdata/replays/golden/bomb_regular.checkpoints.json", "golden checkpoints file whose last state seeds the Node baseline's matches")
		serverBin = flag.String("server-bin", "", "prebuilt spectra-server binary (default: go build ./cmd/spectra-server)")
		maxRSSMB  = flag.Int64("max-server-rss", 4096, "abort a step when the server's RSS exceeds this many MB")
		quiet     = flag.Bool("q", false, "no progress line")
		redraw    = flag.String("redraw", "", "only rewrite the .md and .svg of an earlier report from its .json, e.g. after a change to the chart")
	)
	flag.Float64Var(&cfg.Speed, "speed", 20, "replay speed factor (recorded gaps divided by it); 0: as fast as possible")
	flag.Float64Var(&cfg.RampRate, "ramp", 500, "overlay connections per second")
	flag.Float64Var(&cfg.PollingShare, "polling", 0, "share of overlays on HTTP long-polling with upgrade to WebSocket (0–1)")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measuring window per step")
	flag.DurationVar(&cfg.Settle, "settle", 2*time.Second, "pause between the last connection and the window")
	flag.IntVar(&cfg.Probes, "probes", 2, "probe clients per match (full decoding, latency)")
	flag.DurationVar(&cfg.MarkerEvery, "marker", 200*time.Millisecond, "latency marker interval per match")
	flag.IntVar(&cfg.Readers, "readers", 1, "epoll loops reading the counting overlays")
	flag.IntVar(&cfg.Dialers, "dialers", 32, "concurrent connection attempts")
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

	switch *servers {
	case "both":
		cfg.Servers = []string{bench.KindGo, bench.KindNode}
	case bench.KindGo, bench.KindNode:
		cfg.Servers = []string{*servers}
	default:
		return fail("-servers must be go, node or both")
	}
	if cfg.Steps, err = parseSteps(*steps, *matches, *overlays, *perMatch); err != nil {
		return fail("%v", err)
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
	if need := uint64(maxOverlays + 4096); limit < need {
		fmt.Fprintf(os.Stderr, "warning: RLIMIT_NOFILE is %d, %d overlays need about %d\n", limit, maxOverlays, need)
	}
	if ports := bench.EphemeralPorts(); ports > 0 && ports < maxOverlays+2000 {
		fmt.Fprintf(os.Stderr, "warning: %d ephemeral ports for %d overlays to one address\n", ports, maxOverlays)
	}

	logDir, err := os.MkdirTemp("", "spectra-bench-")
	if err != nil {
		return fail("%v", err)
	}
	cfg.LogDir = logDir
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, k := range cfg.Servers {
		switch k {
		case bench.KindGo:
			cfg.GoBinary = *serverBin
			if cfg.GoBinary == "" {
				cfg.GoBinary = filepath.Join(logDir, "spectra-server")
				fmt.Fprintln(os.Stderr, "building ./cmd/spectra-server")
				if out, err := exec.CommandContext(ctx, "go", "build", "-o", cfg.GoBinary, "./cmd/spectra-server").CombinedOutput(); err != nil {
					return fail("building the server: %v\n%s", err, out)
				}
			}
		case bench.KindNode:
			if _, err := os.Stat(filepath.Join(cfg.BaselineDir, "node_modules", "socket.io", "package.json")); err != nil {
				fmt.Fprintln(os.Stderr, "npm ci in bench/baseline")
				cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
				cmd.Dir = cfg.BaselineDir
				if out, err := cmd.CombinedOutput(); err != nil {
					return fail("npm ci in bench/baseline: %v\n%s", err, out)
				}
			}
		}
	}

	if !*quiet {
		cfg.Progress = os.Stderr
		if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cfg.TTY = true
		}
	}
	fmt.Fprintf(os.Stderr, "spectra-bench: %d steps × %d servers, %s window each; server logs and payloads in %s\n",
		len(cfg.Steps), len(cfg.Servers), cfg.Duration, logDir)
	start := time.Now()
	results, err := bench.Run(ctx, &cfg)
	if cfg.TTY {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
	}
	host, _ := os.Hostname()
	nodeVersion, _ := exec.Command("node", "--version").Output()
	rep := &bench.Report{
		Date:    start.Format("2006-01-02 15:04"),
		Host:    host,
		CPUs:    runtime.NumCPU(),
		Go:      runtime.Version(),
		Node:    strings.TrimSpace(string(nodeVersion)),
		Command: "spectra-bench " + strings.Join(os.Args[1:], " "),
		Settings: map[string]string{
			"replays":          strings.Join(cfg.Files, ", "),
			"speed":            fmt.Sprint(cfg.Speed),
			"ramp":             fmt.Sprintf("%.0f connections/s", cfg.RampRate),
			"polling share":    fmt.Sprint(cfg.PollingShare),
			"window":           cfg.Duration.String(),
			"probes per match": strconv.Itoa(cfg.Probes),
			"marker interval":  cfg.MarkerEvery.String(),
			"deflate offered":  fmt.Sprint(cfg.Deflate),
			"node baseline":    "bench/baseline/server.js (socket.io 4.8, perMessageDeflate threshold 1024, level 3, memLevel 7, 100 ms change-driven loop)",
		},
		Results: results,
	}
	base := filepath.Join(*outDir, start.Format("2006-01-02-1504")+"-"+host)
	if werr := rep.Write(base); werr != nil {
		return fail("writing the report: %v", werr)
	}
	fmt.Fprintf(os.Stderr, "wrote %s.{md,json,svg} in %s\n", base, time.Since(start).Round(time.Second))
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return fail("%v", err)
	}
	return 0
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

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSteps(steps, matches, overlays, perMatch string) ([]bench.Step, error) {
	var out []bench.Step
	if steps != "" {
		for _, f := range strings.Split(steps, ",") {
			m, n, ok := strings.Cut(strings.TrimSpace(f), "x")
			mi, err1 := strconv.Atoi(m)
			ni, err2 := strconv.Atoi(n)
			if !ok || err1 != nil || err2 != nil || mi < 1 || ni < mi {
				return nil, fmt.Errorf("bad step %q (want MATCHESxOVERLAYS with overlays ≥ matches)", f)
			}
			out = append(out, bench.Step{Matches: mi, Overlays: ni})
		}
		return out, nil
	}
	ms, err := ints(matches)
	if err != nil {
		return nil, err
	}
	src, mult := overlays, false
	if perMatch != "" {
		src, mult = perMatch, true
	}
	ns, err := ints(src)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, n := range ns {
			if mult {
				n *= m
			}
			if n >= m {
				out = append(out, bench.Step{Matches: m, Overlays: n})
			}
		}
	}
	return out, nil
}
