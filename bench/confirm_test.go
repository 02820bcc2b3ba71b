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

func TestNeedsConfirmation(t *testing.T) {
	st := Step{Kind: StepRamp, Matches: 50, Overlays: 1000}
	runs := []string{KindGo, KindGoUnpinned, KindFloor, KindNode}
	res := func(server string, delivered, p99 float64) Result {
		return measured(server, StepRamp, 50, 1000, delivered, p99, 0.3, 8000, 9)
	}
	goOK, floor := res(KindGo, 100.6, 101), res(KindFloor, 100.6, 104)
	goSlow := res(KindGo, 100.6, 149)
	unOK, unWorse := res(KindGoUnpinned, 100.6, 99), res(KindGoUnpinned, 98.2, 299)
	floorLow := res(KindFloor, 93, 280)
	skippedGo := Result{Server: KindGo, Kind: StepRamp, Matches: 50, Overlays: 1000, Status: "skipped: failed at 500 overlays"}
	otherStep := res(KindGo, 90, 900)
	otherStep.Overlays = 2000
	cases := []struct {
		name    string
		results []Result
		want    []string
	}{
		{"every goal met", []Result{goOK, unOK, floor, otherStep}, nil},
		{"p99 over the floor's", []Result{goSlow, unOK, floor}, []string{KindGo, KindFloor}},
		{"worse unpinned", []Result{goOK, unWorse, floor}, []string{KindGo, KindGoUnpinned}},
		{"both, in run order", []Result{goSlow, unWorse, floor}, []string{KindGo, KindGoUnpinned, KindFloor}},
		{"floor out of scope", []Result{goSlow, unOK, floorLow}, nil},
		{"medians of the confirmation runs meet the goals", []Result{goSlow, unOK, floor, goOK, floor, goOK, floor}, nil},
		{"medians still miss", []Result{goSlow, unOK, floor, goSlow, floor, goOK, floor}, []string{KindGo, KindFloor}},
		{"go skipped", []Result{skippedGo, floor}, nil},
		{"no go at this step", []Result{floor, otherStep}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := needsConfirmation(tc.results, st, runs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v (%s), want %v", got, why, tc.want)
			}
			if (why == "") != (len(tc.want) == 0) {
				t.Errorf("reason %q for %v", why, got)
			}
		})
	}
}

// TestReportConfirmation renders a report in which one step was confirmed:
// the comparison cells are medians, marked as such with the first run's
// verdict, and the results table lists every run.
func TestReportConfirmation(t *testing.T) {
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
		"| 50x1000 (medians of 3 / 3 runs) | 100.6% / 100.6% (×1.00) | +4 ms / +6 ms (Δ -2 ms) |",
		"| none (first run: p99) |",
		// go's median p99 (104) against unpinned's single run (110).
		"| 50x1000 (medians of 3 / 1 runs) | 100.6% / 100.6% | +4 ms / +10 ms |",
		"## Confirmation runs\n",
		"- 50x1000: go ×3, floor ×3\n",
		"| go (confirmation 1) | 50x1000 |",
		"| floor (confirmation 2) | 50x1000 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", md)
	}
}

// TestConfirmPlan follows one step through its confirmation rounds: the
// flagged servers run until each has 1+Confirm runs even when a median of
// two would pass, and a comparison that fails only on go's medians adds
// its other server.
func TestConfirmPlan(t *testing.T) {
	st := Step{Kind: StepRamp, Matches: 50, Overlays: 1000}
	runs := []string{KindGo, KindGoUnpinned, KindFloor, KindNode}
	res := func(server string, p99 float64) Result {
		return measured(server, StepRamp, 50, 1000, 100.6, p99, 0.3, 8000, 9)
	}
	results := []Result{res(KindGo, 149), res(KindGoUnpinned, 95), res(KindFloor, 108), res(KindNode, 300)}
	flagged := map[string]bool{}
	steps := []struct {
		add  []Result
		want []string
	}{
		{nil, []string{KindGo, KindFloor}},                                            // p99 +41 over the floor's
		{[]Result{res(KindGo, 60), res(KindFloor, 105)}, []string{KindGo, KindFloor}}, // medians pass: still a third run
		{[]Result{res(KindGo, 62), res(KindFloor, 104)}, []string{KindGoUnpinned}},    // go's median 62: unpinned's 95 is +33
		{[]Result{res(KindGoUnpinned, 97)}, []string{KindGoUnpinned}},
		{[]Result{res(KindGoUnpinned, 70)}, nil}, // three runs each: done
	}
	for i, s := range steps {
		results = append(results, s.add...)
		got, _ := confirmPlan(results, st, runs, 3, flagged)
		if !slices.Equal(got, s.want) {
			t.Fatalf("round %d: plan %v, want %v", i, got, s.want)
		}
	}
	if n := runsOf(results, KindNode, st); n != 1 {
		t.Errorf("node ran %d times, want once (not part of any goal)", n)
	}
}
