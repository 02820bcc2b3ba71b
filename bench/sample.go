package bench

import (
	"math"
	"math/rand/v2"
	"time"
)

// MinVerdictSamples is the fewest latency samples a verdict (one server at
// one step, over its runs) rests on: at 10 000 the p99 is the 100th
// largest sample, not the one or two largest of ~100.
const MinVerdictSamples = 10_000

// DefaultSampleShare is the share of a match's overlays that are probes
// (inflate and parse every frame, time every marker).
const DefaultSampleShare = 0.02

// markerYield is the share of markers that give a sample: the server
// toggles toasts (a toast while one is active deactivates it), so about
// every other marker activates one. A smoke run (1x50, two 3 s windows,
// every overlay a probe) got 800 samples of 1 500 markers × probes.
const markerYield = 0.5

// sampleRule decides how many of a match's overlays are probes.
type sampleRule struct {
	Min     int           // at least this many per match (-probes)
	Share   float64       // and at least this share of the match's overlays (-sample)
	Samples int           // and enough for this many latency samples per verdict
	Runs    int           // runs per verdict (-runs)
	Window  time.Duration // measuring window of one run
	Marker  time.Duration // marker interval
}

// markersPerWindow is how many markers one match sends in a window: every
// probe of the match times each of them (a marker toast is active in the
// first state that carries it).
func (r sampleRule) markersPerWindow() int {
	if r.Marker <= 0 || r.Window <= 0 {
		return 0
	}
	return int(r.Window / r.Marker)
}

// probes is the probe count for a match of perMatch overlays in a step of
// matches matches: the largest of the three rules, never more than the
// match's overlays.
func (r sampleRule) probes(perMatch, matches int) int {
	n := max(r.Min, int(math.Ceil(r.Share*float64(perMatch))))
	if per := float64(max(r.Runs, 1)*max(matches, 1)*r.markersPerWindow()) * markerYield; r.Samples > 0 && per > 0 {
		n = max(n, int(math.Ceil(float64(r.Samples)/per)))
	}
	return max(min(n, perMatch), 0)
}

// plannedSamples is how many latency samples the rule gives a verdict at a
// step, about.
func (r sampleRule) plannedSamples(perMatch []int) int {
	n := 0
	for _, o := range perMatch {
		n += r.probes(o, len(perMatch))
	}
	return int(float64(n*max(r.Runs, 1)*r.markersPerWindow()) * markerYield)
}

// pickProbes chooses which of a match's n overlay slots are probes: k of
// them at random (rng), so that probes are not the first connections of a
// match (a server that serves its sockets in accept order would favour
// them). The result is sorted.
func pickProbes(rng *rand.Rand, n, k int) []int {
	k = max(min(k, n), 0)
	idx := rng.Perm(n)[:k]
	// Insertion sort: k is small.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}
