package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSampleRuleProbes(t *testing.T) {
	base := sampleRule{Min: 2, Share: 0.02, Samples: MinVerdictSamples, Runs: 3, Window: 20 * time.Second, Marker: 200 * time.Millisecond}
	for _, tc := range []struct {
		name              string
		rule              sampleRule
		perMatch, matches int
		want              int
	}{
		// 3 runs × 1 match × 100 markers × 0.5 = 150 samples per probe: 67 probes.
		{"one match: the sample count decides", base, 1000, 1, 67},
		{"one match of 10 000: the share decides", base, 10_000, 1, 200},
		// 3 × 10 × 100 × 0.5 = 1500 per probe: 7; 2 % of 200 is 4.
		{"10x2000: the sample count decides", base, 200, 10, 7},
		{"50x10000: the share decides", base, 200, 50, 4},
		{"50x1000: the minimum decides", base, 20, 50, 2},
		{"never more than the match's overlays", base, 12, 1, 12},
		{"one run needs three times the probes", func() sampleRule { r := base; r.Runs = 1; return r }(), 1000, 1, 200},
		{"no sample rule: share and minimum", func() sampleRule { r := base; r.Samples = 0; return r }(), 1000, 1, 20},
		{"no marker: share and minimum", func() sampleRule { r := base; r.Marker = 0; return r }(), 1000, 1, 20},
		{"no probes asked", sampleRule{}, 1000, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.probes(tc.perMatch, tc.matches); got != tc.want {
				t.Errorf("probes(%d, %d) = %d, want %d", tc.perMatch, tc.matches, got, tc.want)
			}
		})
	}
	// Every step of the full suite gets its 10 000 samples per verdict.
	for _, st := range []Step{{Matches: 1, Overlays: 1000}, {Matches: 10, Overlays: 1000}, {Matches: 50, Overlays: 1000}, {Matches: 50, Overlays: 10_000}} {
		per := make([]int, st.Matches)
		for m := range per {
			per[m] = st.Overlays / st.Matches
		}
		if n := base.plannedSamples(per); n < MinVerdictSamples {
			t.Errorf("%s: %d samples planned per verdict, want ≥ %d", st, n, MinVerdictSamples)
		}
	}
}

func TestPickProbes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, k, want int }{{100, 4, 4}, {5, 9, 5}, {10, 0, 0}, {0, 3, 0}, {10, -1, 0}} {
		got := pickProbes(rng, tc.n, tc.k)
		if len(got) != tc.want || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("pickProbes(%d, %d) = %v: want %d distinct sorted slots", tc.n, tc.k, got, tc.want)
		}
		for _, i := range got {
			if i < 0 || i >= tc.n {
				t.Errorf("pickProbes(%d, %d) = %v: slot out of range", tc.n, tc.k, got)
			}
		}
	}
	// Not the first slots every time.
	first := 0
	for range 20 {
		if slices.Equal(pickProbes(rng, 100, 3), []int{0, 1, 2}) {
			first++
		}
	}
	if first == 20 {
		t.Error("pickProbes always picks the first slots")
	}
}
