package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Confirmation runs. On a shared 2-core box one 20 s window near a core's
// limit can go either way: the same step of the same binary delivered 74,
// 86, 100.6 and 87 % in four runs. A verdict taken from one window is then a
// coin toss, so a step whose first run misses a goal is measured again
// (Config.Confirm more times, every server of the failing comparison, in
// the same order as the first time) and the verdicts compare each figure's
// median over the runs. A step that passed the first time is not run again;
// every run is listed in the report.

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

// needsConfirmation names the servers to run step st again and why: go and
// the floor when go misses a goal against a floor that delivered, go and
// go-unpinned when unpinned is worse. Each verdict is taken on the medians
// of the runs so far; servers come in the order of runs.
func needsConfirmation(results []Result, st Step, runs []string) (servers []string, why string) {
	view := map[string]Result{}
	for _, x := range Merged(results) {
		if x.Step() == st {
			view[x.Server] = x
		}
	}
	g, ok := view[KindGo]
	if !ok || skipped(g) {
		return nil, ""
	}
	want := map[string]bool{}
	var reasons []string
	if f, ok := view[KindFloor]; ok && !skipped(f) {
		if m := compareResults(g, f).Misses(); len(m) > 0 {
			want[KindGo], want[KindFloor] = true, true
			reasons = append(reasons, "go misses "+strings.Join(m, ", ")+" against the floor")
		}
	}
	if u, ok := view[KindGoUnpinned]; ok && !skipped(u) {
		if w := compareResults(g, u).UnpinnedWorse(); len(w) > 0 {
			want[KindGo], want[KindGoUnpinned] = true, true
			reasons = append(reasons, "unpinned worse: "+strings.Join(w, ", "))
		}
	}
	for _, name := range runs {
		if want[name] {
			servers = append(servers, name)
		}
	}
	return servers, strings.Join(reasons, "; ")
}

// confirmStep runs step st again where needsConfirmation asks, one round
// at a time, until every server it flagged has 1+Confirm runs. The verdict
// is looked at again after each round only to add servers (go's medians
// can make a comparison that passed on go's first run fail), never to stop
// early: a median of two would let one good rerun outweigh a bad first run.
func confirmStep(ctx context.Context, cfg *Config, st Step, runs []string, results []Result,
	measure func(string, Step) (Result, error)) ([]Result, error) {
	flagged := map[string]bool{}
	want := 1 + cfg.Confirm
	for {
		todo, why := confirmPlan(results, st, runs, want, flagged)
		if len(todo) == 0 {
			break
		}
		cfg.printf("%s: %s; confirmation runs of %s\n", st, why, strings.Join(todo, ", "))
		for _, name := range todo {
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			r, err := measure(name, st)
			if err != nil {
				return results, err
			}
			r.Run = runsOf(results, name, st)
			cfg.printf("%s [confirmation %d/%d]\n", r.summary(), r.Run, cfg.Confirm)
			results = append(results, r)
		}
	}
	if len(flagged) == 0 {
		return results, nil
	}
	if _, why := needsConfirmation(results, st, runs); why != "" {
		cfg.printf("%s: confirmed over %d runs: %s\n", st, want, why)
	} else {
		cfg.printf("%s: not confirmed: the medians of %d runs meet every goal\n", st, want)
	}
	return results, nil
}

// confirmPlan is the next round of confirmation runs of step st: every
// server flagged now or before (flagged collects them) that has fewer than
// want runs, in the order of runs.
func confirmPlan(results []Result, st Step, runs []string, want int, flagged map[string]bool) ([]string, string) {
	again, why := needsConfirmation(results, st, runs)
	for _, name := range again {
		flagged[name] = true
	}
	var todo []string
	for _, name := range runs {
		if flagged[name] && runsOf(results, name, st) < want {
			todo = append(todo, name)
		}
	}
	if why == "" {
		why = "confirming"
	}
	return todo, why
}

// runsOf counts the runs of server name at step st.
func runsOf(results []Result, name string, st Step) int {
	n := 0
	for _, x := range results {
		if x.Server == name && x.Step() == st {
			n++
		}
	}
	return n
}

// skipped: the step was not run for this server (-stop-after-fail).
func skipped(x Result) bool { return strings.HasPrefix(x.Status, statusSkipped) }

// runLabel is a result's server as the results table names it.
func runLabel(x Result) string {
	if x.Run > 0 {
		return fmt.Sprintf("%s (confirmation %d)", x.Server, x.Run)
	}
	return x.Server
}

// runsNote marks a comparison whose cells are medians of several runs.
func (c Comparison) runsNote() string {
	if c.A.Runs <= 1 && c.B.Runs <= 1 {
		return ""
	}
	return fmt.Sprintf(" (medians of %d / %d runs)", max(c.A.Runs, 1), max(c.B.Runs, 1))
}

// firstRunNote gives the verdict of the step's first runs where the cells
// are medians, so that a report shows what confirmation changed.
func (c Comparison) firstRunNote(verdict func(Comparison) []string) string {
	if c.A.Runs <= 1 && c.B.Runs <= 1 {
		return ""
	}
	a, b := c.A, c.B
	if a.FirstRun != nil {
		a = *a.FirstRun
	}
	if b.FirstRun != nil {
		b = *b.FirstRun
	}
	v := verdict(compareResults(a, b))
	if len(v) == 0 {
		return " (first run: none)"
	}
	return " (first run: " + strings.Join(v, ", ") + ")"
}

// confirmMarkdown explains the confirmation runs of a report, if any.
func confirmMarkdown(b *strings.Builder, view []Result) {
	var steps []Step
	who := map[Step][]string{}
	for _, x := range view {
		if x.Runs <= 1 {
			continue
		}
		st := x.Step()
		if _, ok := who[st]; !ok {
			steps = append(steps, st)
		}
		who[st] = append(who[st], fmt.Sprintf("%s ×%d", x.Server, x.Runs))
	}
	if len(steps) == 0 {
		return
	}
	b.WriteString("## Confirmation runs\n\n")
	b.WriteString("A step whose first run missed a goal against the floor, or was worse unpinned than pinned, ran again " +
		"(the servers of that comparison, in the same order); its cells above are each figure's median over the runs, " +
		"and \"first run\" gives the verdict of the first runs alone. One window near a core's limit goes either way on " +
		"this shared box; the results table lists every run.\n\n")
	for _, st := range steps {
		fmt.Fprintf(b, "- %s: %s\n", st, strings.Join(who[st], ", "))
	}
	b.WriteString("\n")
}
