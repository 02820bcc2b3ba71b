package bench

import (
	"testing"
	"time"
)

func TestEstimateSteps(t *testing.T) {
	five := []string{KindGo, KindGoTLS, KindGoWrite, KindFloor, KindFloorPlus}
	for _, tc := range []struct {
		name  string
		cfg   Config
		runs  int
		want  time.Duration
		under time.Duration
	}{
		// The measurement the model is fitted to, 2 min 57 s, and the 1 s
		// edge drain added since: 15 × 12.8 s.
		{"bench-quick", Config{Servers: five, Runs: 3, Duration: 8 * time.Second, Settle: 2 * time.Second, RampRate: 500,
			Steps: []Step{{Kind: StepStorm, Matches: 10, Overlays: 2000}}}, 15, 192 * time.Second, 0},
		// make bench-goals: (20+2+1+1+4) + (20+2+1+1+10) + (20+2+1+1+4) s =
		// 90 s per server and round, 15 of each: 22 min 30 s, within 40 min.
		{"bench-goals", Config{Servers: five, Runs: 3, Duration: 20 * time.Second, Settle: 2 * time.Second, RampRate: 500,
			Steps: []Step{{Matches: 10, Overlays: 2000}, {Matches: 50, Overlays: 5000}, {Kind: StepStorm, Matches: 50, Overlays: 10000}}},
			45, 1350 * time.Second, 40 * time.Minute},
		{"unpinned go runs twice", Config{Servers: []string{KindGo}, UnpinnedToo: true, Runs: 1, Duration: 10 * time.Second, RampRate: 100,
			Steps: []Step{{Matches: 1, Overlays: 100}}}, 2, 26 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := StepRuns(&tc.cfg); n != tc.runs {
				t.Errorf("%d step runs, want %d", n, tc.runs)
			}
			got := EstimateSteps(&tc.cfg)
			if got != tc.want {
				t.Errorf("estimate %s, want %s", got, tc.want)
			}
			if tc.under > 0 && got > tc.under {
				t.Errorf("estimate %s over %s", got, tc.under)
			}
		})
	}
}

func TestProgressNote(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{1, 45, 30 * time.Second, "step run 1/45, 30s, ~22m0s left"},
		{45, 45, 20 * time.Minute, "step run 45/45, 20m0s"},
		{0, 3, 0, "step run 0/3, 0s"},
	} {
		if got := progressNote(tc.done, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("progressNote(%d, %d, %s) = %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}
