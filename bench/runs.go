package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Fixed runs. On a shared 2-core box one 20 s window near a core's limit
// can go either way: the same step of the same binary delivered 74, 86,
// 100.6 and 87 % in four runs. Every step and every capacity probe
// therefore runs Config.Runs times (the servers of a step in turn, round
// after round), whatever the first run showed: re-running only the steps
// that failed biased the verdicts toward passing. The verdicts compare each
// figure's median over the runs, and the report gives its range.

// Merged folds the runs of each server and step into one result per pair,
// in the order the pairs first appear: a single run is itself, several
// runs give a result whose figures are the medians over the runs that were
// measured (see medianResult).
func Merged(results []Result) []Result {
	type key struct {
		server string
		st     Step
	}
	idx := map[key]int{}
	var groups [][]Result
	for _, x := range results {
		k := key{x.Server, x.Step()}
		if i, ok := idx[k]; ok {
			groups[i] = append(groups[i], x)
			continue
		}
		idx[k] = len(groups)
		groups = append(groups, []Result{x})
	}
	out := make([]Result, 0, len(groups))
	for _, g := range groups {
		out = append(out, medianResult(g))
	}
	return out
}

// medianResult is one result standing for the runs rs of one server and
// step. Each figure is its median over the measured runs (the mean of the
// middle two for an even count); a storm that did not complete counts as
// slower than any that did. Runs and FirstRun record what it stands for.
func medianResult(rs []Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	var m []Result
	for _, x := range rs {
		if x.Measured() {
			m = append(m, x)
		}
	}
	first := rs[0]
	if len(m) == 0 {
		out := first
		out.Runs, out.FirstRun = len(rs), &first
		return out
	}
	out := m[0]
	out.Runs, out.FirstRun = len(rs), &first
	for _, field := range medianFields {
		*field(&out) = medianOf(m, func(x *Result) float64 { return *field(x) })
	}
	out.Ranges = rangesOf(m)
	// One run owed by the harness's estimate makes the median an estimate.
	for _, x := range m {
		if x.OwedFrom == OwedFromEstimate {
			out.OwedFrom = OwedFromEstimate
		}
	}
	var lat []Result
	out.LatencySamples = 0
	for _, x := range m {
		if x.LatencySamples > 0 {
			lat = append(lat, x)
			out.LatencySamples += x.LatencySamples
		}
	}
	if len(lat) > 0 {
		out.LatencyP50ms = medianOf(lat, func(x *Result) float64 { return x.LatencyP50ms })
		out.LatencyP99ms = medianOf(lat, func(x *Result) float64 { return x.LatencyP99ms })
		out.LatencyMaxms = medianOf(lat, func(x *Result) float64 { return x.LatencyMaxms })
	}
	if out.Kind == StepStorm {
		out.StormSeconds = medianOf(m, func(x *Result) float64 {
			if x.StormSeconds <= 0 {
				return math.Inf(1)
			}
			return x.StormSeconds
		})
		if math.IsInf(out.StormSeconds, 1) {
			out.StormSeconds = 0
		}
	}
	out.Status = "ok"
	if out.DeliveredPct < MinDeliveredPct {
		out.Status = underStatus(out.DeliveredPct)
	}
	out.Status = fmt.Sprintf("median of %d runs: %s", len(rs), out.Status)
	return out
}

// medianFields are the figures medianResult takes the median of (latency
// and storm time have rules of their own).
var medianFields = []func(*Result) *float64{
	func(x *Result) *float64 { return &x.DeliveredPct },
	func(x *Result) *float64 { return &x.DeliveredPerSec },
	func(x *Result) *float64 { return &x.ExpectedPerSec },
	func(x *Result) *float64 { return &x.SendsPerMatchPerSec },
	func(x *Result) *float64 { return &x.ServerCores },
	func(x *Result) *float64 { return &x.ServerRSSMB },
	func(x *Result) *float64 { return &x.RSSPerConnKiB },
	func(x *Result) *float64 { return &x.HarnessCores },
	func(x *Result) *float64 { return &x.ServerCPUPerMsgUs },
	func(x *Result) *float64 { return &x.WireMBps },
	func(x *Result) *float64 { return &x.BytesPerMatchData },
	func(x *Result) *float64 { return &x.ConnectSeconds },
	func(x *Result) *float64 { return &x.StormServerCores },
	func(x *Result) *float64 { return &x.StormHarnessCores },
}

// medianOf is the median of one figure over rs.
func medianOf(rs []Result, get func(*Result) float64) float64 {
	v := make([]float64, 0, len(rs))
	for i := range rs {
		v = append(v, get(&rs[i]))
	}
	return median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	a, b := v[n/2-1], v[n/2]
	if math.IsInf(a, 1) || math.IsInf(b, 1) {
		return math.Inf(1) // half the storms did not complete
	}
	return (a + b) / 2
}

// skipped: the step was not run for this server (-stop-after-fail).
func skipped(x Result) bool { return strings.HasPrefix(x.Status, statusSkipped) }

// runLabel is a result's server as the results table names it.
func runLabel(x Result) string {
	if x.Runs > 1 {
		return fmt.Sprintf("%s (%d runs)", x.Server, x.Runs)
	}
	return x.Server
}

// runsNote marks a comparison whose cells are medians of several runs and
// gives the latency samples each side's verdict rests on, flagging a side
// under MinVerdictSamples.
func (c Comparison) runsNote() string {
	var parts []string
	if c.A.Runs > 1 || c.B.Runs > 1 {
		parts = append(parts, fmt.Sprintf("medians of %d / %d runs", max(c.A.Runs, 1), max(c.B.Runs, 1)))
	}
	if c.A.LatencySamples > 0 || c.B.LatencySamples > 0 {
		s := fmt.Sprintf("%d / %d samples", c.A.LatencySamples, c.B.LatencySamples)
		if min(c.A.LatencySamples, c.B.LatencySamples) < MinVerdictSamples {
			s += fmt.Sprintf(", under %d", MinVerdictSamples)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// Range is a figure's smallest and largest value over a step's runs.
type Range struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// The figures whose range the report gives.
const (
	RangeDelivered = "delivered"
	RangeP99       = "p99"
	RangeCPU       = "cpuPerMatchData"
	RangeRSS       = "rssPerOverlay"
	RangeStorm     = "storm"
)

// rangesOf is the range of each reported figure over the measured runs m
// (latency over the runs that had samples, storm over the complete storms).
func rangesOf(m []Result) map[string]Range {
	out := map[string]Range{}
	add := func(name string, ok func(*Result) bool, get func(*Result) float64) {
		for i := range m {
			x := &m[i]
			if !ok(x) {
				continue
			}
			v := get(x)
			r, seen := out[name]
			if !seen {
				r = Range{v, v}
			}
			r.Min, r.Max = min(r.Min, v), max(r.Max, v)
			out[name] = r
		}
	}
	all := func(*Result) bool { return true }
	add(RangeDelivered, all, func(x *Result) float64 { return x.DeliveredPct })
	add(RangeP99, func(x *Result) bool { return x.LatencySamples > 0 }, func(x *Result) float64 { return x.LatencyP99ms })
	add(RangeCPU, func(x *Result) bool { return x.ServerCPUPerMsgUs > 0 }, func(x *Result) float64 { return x.ServerCPUPerMsgUs })
	add(RangeRSS, func(x *Result) bool { return x.Connected > 0 }, func(x *Result) float64 { return x.RSSPerConnKiB })
	add(RangeStorm, func(x *Result) bool { return x.StormSeconds > 0 }, func(x *Result) float64 { return x.StormSeconds })
	return out
}

// withRange renders a figure as "median (min–max)" when it has a range
// over several runs, else as itself.
func withRange(x Result, name string, v float64, format func(float64) string) string {
	r, ok := x.Ranges[name]
	if !ok || x.Runs <= 1 {
		return format(v)
	}
	return fmt.Sprintf("%s (%s–%s)", format(v), format(r.Min), format(r.Max))
}
