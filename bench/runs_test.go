package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMerged(t *testing.T) {
	storm := func(delivered, p99, stormS float64) Result {
		r := measured(KindGo, StepStorm, 50, 10000, delivered, p99, 0.8, 80000, 5)
		r.StormSeconds = stormS
		return r
	}
	unmeasured := Result{Server: KindGo, Kind: StepStorm, Matches: 50, Overlays: 10000, Status: "server exited"}
	noLatency := storm(99.9, 0, 4)
	noLatency.LatencySamples = 0
	cases := []struct {
		name      string
		runs      []Result
		delivered float64
		p99       float64
		storm     float64
		status    string
	}{
		{"one run is itself", []Result{storm(86.1, 525, 3.9)}, 86.1, 525, 3.9, "ok"},
		{"median of three", []Result{storm(86.1, 525, 3.9), storm(100.6, 155, 3.7), storm(99.9, 190, 4.4)},
			99.9, 190, 3.9, "median of 3 runs: ok"},
		{"an incomplete storm is the slowest", []Result{storm(100, 150, 0), storm(100, 150, 5), storm(100, 150, 3)},
			100, 150, 5, "median of 3 runs: ok"},
		{"two incomplete storms of three", []Result{storm(100, 150, 0), storm(100, 150, 0), storm(100, 150, 3)},
			100, 150, 0, "median of 3 runs: ok"},
		{"unmeasured runs do not count", []Result{unmeasured, storm(98, 300, 4), storm(99.7, 200, 5)},
			98.85, 250, 4.5, "median of 3 runs: 98.85% delivered, under 99.5%"},
		{"p99 only from runs with samples", []Result{noLatency, storm(99.6, 180, 4), storm(99.8, 220, 4)},
			99.8, 200, 4, "median of 3 runs: ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := measured(KindFloor, StepStorm, 50, 10000, 93, 280, 0.9, 70000, 12)
			in := append(slices.Clone(tc.runs), other)
			out := Merged(in)
			if len(out) != 2 || out[0].Server != KindGo || out[1].Server != KindFloor {
				t.Fatalf("merged %d results, want go then floor", len(out))
			}
			g := out[0]
			if g.DeliveredPct != tc.delivered || g.LatencyP99ms != tc.p99 || g.StormSeconds != tc.storm || g.Status != tc.status {
				t.Errorf("got delivered %v p99 %v storm %v status %q, want %v %v %v %q",
					g.DeliveredPct, g.LatencyP99ms, g.StormSeconds, g.Status, tc.delivered, tc.p99, tc.storm, tc.status)
			}
			if n := len(tc.runs); n > 1 {
				if g.Runs != n || g.FirstRun == nil || g.FirstRun.DeliveredPct != tc.runs[0].DeliveredPct {
					t.Errorf("Runs %d FirstRun %v, want %d and the first run", g.Runs, g.FirstRun, n)
				}
			} else if g.Runs != 0 || g.FirstRun != nil {
				t.Errorf("a single run got Runs %d FirstRun %v", g.Runs, g.FirstRun)
			}
			if out[1].DeliveredPct != 93 || out[1].Runs != 0 {
				t.Errorf("the floor's single run changed: %+v", out[1])
			}
		})
	}
}

// TestReportRuns renders a report of fixed runs: the comparison cells are
// medians, marked as such with the latency samples each verdict rests on,
// and the results table has one row per server and step with each
// figure's median and range.
func TestReportRuns(t *testing.T) {
	res := func(server string, p99 float64, run int) Result {
		r := measured(server, StepRamp, 50, 1000, 100.6, p99, 0.3, 8000, 9)
		r.Run = run
		return r
	}
	r := &Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, ServerCPUs: "0", HarnessCPUs: "1",
		Results: []Result{
			res(KindGo, 149, 0), res(KindGoUnpinned, 110, 0), res(KindFloor, 108, 0),
			res(KindGo, 102, 1), res(KindFloor, 106, 1),
			res(KindGo, 104, 2), res(KindFloor, 104, 2),
		}}
	base := filepath.Join(t.TempDir(), "report")
	if err := r.Write(base); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(base + ".md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 50x1000 (medians of 3 / 3 runs; 60 / 60 samples, under 10000) | 100.6% / 100.6% (×1.00) | +4 ms / +6 ms (Δ -2 ms) |",
		// go's median p99 (104) against unpinned's single run (110).
		"| 50x1000 (medians of 3 / 1 runs; 60 / 20 samples, under 10000) | 100.6% / 100.6% | +4 ms / +10 ms |",
		"| go (3 runs) | 50x1000 |",
		"| **104 (102–149)** |",
		"| **106 (104–108)** |",
		"| 60 |",
		"| go-unpinned | 50x1000 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", md)
	}
}

func TestRangesOf(t *testing.T) {
	run := func(delivered, p99, cpu, rss, storm float64, samples int) Result {
		return Result{DeliveredPct: delivered, LatencyP99ms: p99, ServerCPUPerMsgUs: cpu, RSSPerConnKiB: rss,
			StormSeconds: storm, LatencySamples: samples, Connected: 10}
	}
	for _, tc := range []struct {
		name string
		runs []Result
		want map[string]Range
	}{
		{"three runs", []Result{run(99.9, 150, 10, 8, 4, 10), run(100, 120, 12, 9, 0, 10), run(98, 180, 11, 7, 5, 10)},
			map[string]Range{RangeDelivered: {98, 100}, RangeP99: {120, 180}, RangeCPU: {10, 12}, RangeRSS: {7, 9}, RangeStorm: {4, 5}}},
		{"latency only from runs with samples", []Result{run(100, 900, 10, 8, 0, 0), run(100, 120, 10, 8, 0, 5)},
			map[string]Range{RangeDelivered: {100, 100}, RangeP99: {120, 120}, RangeCPU: {10, 10}, RangeRSS: {8, 8}}},
		{"no runs", nil, map[string]Range{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rangesOf(tc.runs)
			if len(got) != len(tc.want) {
				t.Fatalf("ranges %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s: %v, want %v", k, got[k], w)
				}
			}
		})
	}
	x := Result{Runs: 3, Ranges: map[string]Range{RangeP99: {102, 149}}}
	if got := withRange(x, RangeP99, 104, f0); got != "104 (102–149)" {
		t.Errorf("withRange = %q", got)
	}
	if got := withRange(Result{}, RangeP99, 104, f0); got != "104" {
		t.Errorf("withRange of one run = %q", got)
	}
}
