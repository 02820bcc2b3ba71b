package bench

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCapacitySearchSequence(t *testing.T) {
	plan := CapacitySearch{From: 2000, Max: 40000, Growth: 2, Resolution: 0.10, MaxProbes: 8}
	for _, tc := range []struct {
		name     string
		plan     CapacitySearch
		matches  int
		capacity int // a probe is ok at or under it
		want     []int
		lo, hi   int
		stop     string
	}{
		{"grow then bisect to 10 %", plan, 10, 7000,
			[]int{2000, 4000, 8000, 6000, 7000, 7500}, 7000, 7500, StopResolution},
		{"probe bound", CapacitySearch{From: 2000, Max: 40000, Growth: 2, Resolution: 0.10, MaxProbes: 4}, 10, 7000,
			[]int{2000, 4000, 8000, 6000}, 6000, 8000, StopProbes},
		{"all ok up to the maximum", CapacitySearch{From: 2000, Max: 20000, Growth: 2, Resolution: 0.10, MaxProbes: 8}, 10, 1 << 30,
			[]int{2000, 4000, 8000, 16000, 20000}, 20000, 0, StopMax},
		{"the first probe fails: shrink, then bisect down to 250", plan, 10, 600,
			[]int{2000, 1000, 500, 750}, 500, 750, StopResolution},
		{"nothing ok", plan, 10, 0,
			[]int{2000, 1000, 500, 250}, 0, 250, StopNoneOK},
		{"growth 1.5, counts rounded to the match count", CapacitySearch{From: 2000, Max: 40000, Growth: 1.5, Resolution: 0.10, MaxProbes: 8}, 50, 5000,
			[]int{2000, 3000, 4500, 6750, 5650, 5100, 4800}, 4800, 5100, StopResolution},
		{"never finer than 250 overlays", CapacitySearch{From: 2000, Max: 40000, Growth: 2, Resolution: 0.01, MaxProbes: 8}, 10, 2100,
			[]int{2000, 4000, 3000, 2500, 2250}, 2000, 2250, StopResolution},
		{"from rounded to the match count, min 250", CapacitySearch{From: 130, Max: 40000, Growth: 2, Resolution: 0.10, MaxProbes: 2}, 50, 1 << 30,
			[]int{250, 500}, 500, 0, StopProbes},
		{"one probe", CapacitySearch{From: 2000, Max: 40000, Growth: 2, Resolution: 0.10, MaxProbes: 1}, 10, 5000,
			[]int{2000}, 2000, 0, StopProbes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCapacityState(tc.plan, tc.matches)
			var got []int
			for range 100 {
				n, more := s.Next()
				if !more {
					break
				}
				got = append(got, n)
				s.Record(n, n <= tc.capacity)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("probed %v, want %v", got, tc.want)
			}
			if s.lo != tc.lo || s.hi != tc.hi || s.stop != tc.stop {
				t.Errorf("ok up to %d, failing from %d, stop %q; want %d, %d, %q", s.lo, s.hi, s.stop, tc.lo, tc.hi, tc.stop)
			}
			if len(got) > tc.plan.MaxProbes {
				t.Errorf("%d probes over the bound %d", len(got), tc.plan.MaxProbes)
			}
			for _, n := range got {
				if n%tc.matches != 0 {
					t.Errorf("%d overlays is not a multiple of %d matches", n, tc.matches)
				}
			}
		})
	}
}

func TestCapacityOK(t *testing.T) {
	good := measured(KindGo, StepRamp, 10, 2000, 99.9, 140, 0.5, 10000, 20)
	slow := measured(KindGo, StepRamp, 10, 2000, 99.9, 151, 0.5, 10000, 20)
	short := measured(KindGo, StepRamp, 10, 2000, 98, 120, 0.5, 10000, 20)
	short.Status = "98.00% delivered, under 99.5%"
	aborted := measured(KindGo, StepRamp, 10, 2000, 99.9, 120, 0.5, 10000, 20)
	aborted.Aborted, aborted.Status = true, "aborted: server RSS 5000 MB over the limit"
	noLat := measured(KindGo, StepRamp, 10, 2000, 99.9, 0, 0.5, 10000, 20)
	noLat.LatencySamples = 0
	for _, tc := range []struct {
		r   Result
		ok  bool
		why string
	}{
		{good, true, ""},
		{slow, false, "p99 151 ms over 150 ms"},
		{short, false, "98.00% delivered"},
		{aborted, false, "aborted"},
		{noLat, false, "no latency samples"},
		{Result{Status: "only 1500 of 2000 overlays logged on"}, false, "only 1500"},
	} {
		ok, why := CapacityOK(tc.r)
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("%s: CapacityOK = %v, %q; want %v, %q", tc.r.Status, ok, why, tc.ok, tc.why)
		}
	}
}

// TestSearchCapacity drives the search with step results built to pass
// below 5 000 overlays; the probe at 8 000 has the harness's CPU full.
func TestSearchCapacity(t *testing.T) {
	var lines []string
	var steps []Step
	probe := func(st Step) Result {
		steps = append(steps, st)
		r := measured(KindFloor, StepRamp, st.Matches, st.Overlays, 100, 110, 0.5, 10000, 10)
		if st.Overlays > 5000 {
			r.LatencyP99ms = 400
		}
		if st.Overlays == 8000 {
			r.HarnessCores = 0.99
		}
		return r
	}
	// Three probes: 2000 ok, 4000 ok, 8000 failed with the harness full.
	plan := CapacitySearch{From: 2000, Max: 40000, Growth: 2, Resolution: 0.10, MaxProbes: 3}
	c := searchCapacity(context.Background(), plan, KindFloor, 10, probe, func(s string) { lines = append(lines, s) })
	if c.Overlays != 4000 || c.FailedAt != 8000 || !c.HarnessFull || c.Stop != StopProbes {
		t.Errorf("capacity %+v", c)
	}
	if len(c.Probes) != 3 || len(lines) != 3 || len(steps) != 3 {
		t.Fatalf("%d probes, %d progress lines, %d steps; want 3", len(c.Probes), len(lines), len(steps))
	}
	if !strings.Contains(lines[2], "8000 overlays failed: p99 400 ms over 150 ms [harness CPU full]") {
		t.Errorf("progress line %q", lines[2])
	}
	if got := c.Summary(); got != "4000 (fails at 8000 ‡)" {
		t.Errorf("summary %q", got)
	}
	// Six: then 6000 failed, 5000 ok, 5500 failed; the bound is no longer
	// the probe with the harness full.
	plan.MaxProbes = 6
	c = searchCapacity(context.Background(), plan, KindFloor, 10, probe, nil)
	if c.Overlays != 5000 || c.FailedAt != 5500 || c.HarnessFull || c.Stop != StopResolution || len(c.Probes) != 6 {
		t.Errorf("with six probes: %+v", c)
	}
	if got := c.Summary(); got != "5000 (fails at 5500)" {
		t.Errorf("summary %q", got)
	}
	for i, st := range steps {
		if st.Matches != 10 || st.Kind != StepRamp || st.Overlays != []int{2000, 4000, 8000, 2000, 4000, 8000, 6000, 5000, 5500}[i] {
			t.Errorf("step %d: %v", i, st)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = searchCapacity(ctx, plan, KindGo, 10, probe, nil)
	if c.Stop != StopAborted || len(c.Probes) != 0 || c.Summary() != dash {
		t.Errorf("cancelled search: %+v", c)
	}
}

func TestCapacityPlanText(t *testing.T) {
	cfg := &Config{Servers: []string{KindGo, KindFloor, KindNode}, Capacity: []int{10, 50}, RampRate: 500,
		Settle: 2 * time.Second, Duration: 6 * time.Second,
		CapacitySearch: CapacitySearch{From: 2000, Max: 20000, Growth: 2, Resolution: 0.1, MaxProbes: 6}}
	got := CapacityPlanText(cfg)
	// 2 servers (node is not searched) × 2 match counts × 6 probes; a probe
	// at 2000 overlays: 5 s + 2 s + 6 s + 4 s ramp, at 20000: 53 s.
	for _, want := range []string{"for go, floor:", "at most 24 probe steps (6 per search), each run 1 times, of ~17s a run", "~53s at the maximum, 20000 overlays", "≤ 21m0s in all"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan %q lacks %q", got, want)
		}
	}
	// Three runs of each probe: three times as long (24 × 3 × 53 s).
	cfg.Runs = 3
	if got := CapacityPlanText(cfg); !strings.Contains(got, "each run 3 times") || !strings.Contains(got, "≤ 1h4m0s in all") {
		t.Errorf("plan with 3 runs: %q", got)
	}
	cfg.Servers = []string{KindNode}
	if got := CapacityPlanText(cfg); got != "" {
		t.Errorf("plan without go or floor: %q", got)
	}
}
