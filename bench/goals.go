package bench

import (
	"fmt"
	"strings"
)

// The goals of issue 22, each a comparison of two servers of the same run
// at the same step (their medians over the runs): TLS against plain
// spectra-server, the write(2) fallback against io_uring, spectra-server
// against floor+. make bench-goals runs exactly the servers they need.

// KindGoWrite is spectra-server on the write(2) path, io_uring off.
const KindGoWrite = KindGoVariantPrefix + "URING=false"

// KindGoAIO is spectra-server batching through Linux AIO, the path it
// falls back to where a seccomp profile refuses io_uring (Docker's default).
const KindGoAIO = KindGoVariantPrefix + "URING=aio"

// Bounds of issue 22's goals.
const (
	goalTLSCPU         = 1.3  // TLS CPU per delivered match_data ≤ ×1.3 plain
	goalTLSRSS         = 1.5  // TLS RSS per overlay ≤ ×1.5 plain
	goalTLSP99DeltaMs  = 20   // TLS p99 ≤ plain + 20 ms
	goalWriteCPU       = 1.2  // write(2) CPU per match_data ≤ ×1.2 io_uring
	goalIdleGoroutine  = 0.01 // TLS goroutines over plain's, per overlay: none per connection,
	goalGoroutineSlack = 16   // beyond a few of TLS's own (handshakes in flight, the certificate watch)
)

// goalSpec is one goal: figure of server A against the same figure of B.
type goalSpec struct {
	name   string
	a, b   string
	bound  string
	format func(float64) string
	delta  bool // the ratio cell also gives A − B
	figure func(Result) (float64, bool)
	// met decides the goal from both figures; c gives the step and both
	// results (floor+'s delivery, the overlay count).
	met func(c Comparison, a, b float64) bool
	// applies says why the goal does not apply at c ("" when it does).
	applies func(c Comparison) string
}

func measuredFigure(f func(Result) float64) func(Result) (float64, bool) {
	return func(x Result) (float64, bool) {
		v := f(x)
		return v, x.Measured() && v > 0
	}
}

var issue22Goals = []goalSpec{
	{name: "TLS µs CPU per delivered match_data", a: KindGoTLS, b: KindGo, bound: fmt.Sprintf("≤ ×%.1f plain", goalTLSCPU), format: f1,
		figure: measuredFigure(func(x Result) float64 { return x.ServerCPUPerMsgUs }),
		met:    func(_ Comparison, a, b float64) bool { return a <= goalTLSCPU*b }},
	{name: "TLS KiB RSS per overlay", a: KindGoTLS, b: KindGo, bound: fmt.Sprintf("≤ ×%.1f plain", goalTLSRSS), format: f1,
		figure: func(x Result) (float64, bool) { return x.RSSPerConnKiB, x.Measured() && x.Connected > 0 },
		met:    func(_ Comparison, a, b float64) bool { return a <= goalTLSRSS*b }},
	{name: "TLS p99 ms", a: KindGoTLS, b: KindGo, bound: fmt.Sprintf("≤ plain + %d ms", goalTLSP99DeltaMs), format: f0, delta: true,
		figure: func(x Result) (float64, bool) { return x.LatencyP99ms, x.Measured() && x.LatencySamples > 0 },
		met:    func(_ Comparison, a, b float64) bool { return a <= b+goalTLSP99DeltaMs }},
	{name: "TLS goroutines", a: KindGoTLS, b: KindGo, bound: fmt.Sprintf("none per idle TLS connection (over plain's ≤ %d + 1 %% of the overlays)", goalGoroutineSlack), format: f0,
		figure: func(x Result) (float64, bool) { return float64(x.ServerGoroutines), x.ServerGoroutines > 0 },
		met: func(c Comparison, a, b float64) bool {
			return a-b <= goalGoroutineSlack+goalIdleGoroutine*float64(c.A.Overlays)
		}},
	{name: "write(2) µs CPU per match_data", a: KindGoWrite, b: KindGo, bound: fmt.Sprintf("≤ ×%.1f io_uring", goalWriteCPU), format: f1,
		figure: measuredFigure(func(x Result) float64 { return x.ServerCPUPerMsgUs }),
		met:    func(_ Comparison, a, b float64) bool { return a <= goalWriteCPU*b }},
	{name: "AIO (container fallback) µs CPU per match_data", a: KindGoAIO, b: KindGo, bound: fmt.Sprintf("≤ ×%.1f io_uring", goalWriteCPU), format: f1,
		figure: measuredFigure(func(x Result) float64 { return x.ServerCPUPerMsgUs }),
		met:    func(_ Comparison, a, b float64) bool { return a <= goalWriteCPU*b }},
	{name: "relay µs CPU per match_data", a: KindGo, b: KindFloorPlus, bound: fmt.Sprintf("≤ ×%.1f floor+ where floor+ delivers ≥ %.1f %%", goalFloorPlusCPU, MinDeliveredPct), format: f1,
		figure: measuredFigure(func(x Result) float64 { return x.ServerCPUPerMsgUs }),
		met:    func(_ Comparison, a, b float64) bool { return a <= goalFloorPlusCPU*b },
		applies: func(c Comparison) string {
			if c.B.Measured() && !c.BDeliversAll {
				return fmt.Sprintf("floor+ delivered %.2f %%", c.B.DeliveredPct)
			}
			return ""
		}},
}

// goalLine is one goal at one step.
type goalLine struct {
	Step    Step
	Goal    string
	Bound   string
	A, B    string // the servers
	FA, FB  string // their figures, — when not measured
	Ratio   string // A / B (and the difference for p99)
	Verdict string // met, missed, or why it cannot tell
}

// goalLines evaluates every goal whose two servers the results have, step
// by step in the order the steps first appear (results: medians, Merged).
func goalLines(results []Result) []goalLine {
	var steps []Step
	seen := map[Step]bool{}
	for _, x := range results {
		if !seen[x.Step()] {
			seen[x.Step()] = true
			steps = append(steps, x.Step())
		}
	}
	byStep := map[Step][]goalLine{}
	for _, g := range issue22Goals {
		for _, c := range Compare(results, g.a, g.b) {
			byStep[c.Step] = append(byStep[c.Step], evalGoal(g, c))
		}
	}
	var out []goalLine
	for _, st := range steps {
		out = append(out, byStep[st]...)
	}
	return out
}

func evalGoal(g goalSpec, c Comparison) goalLine {
	l := goalLine{Step: c.Step, Goal: g.name, Bound: g.bound, A: g.a, B: g.b, FA: dash, FB: dash, Ratio: dash}
	a, okA := g.figure(c.A)
	b, okB := g.figure(c.B)
	if okA {
		l.FA = g.format(a)
	}
	if okB {
		l.FB = g.format(b)
	}
	if okA && okB && b > 0 {
		l.Ratio = fmt.Sprintf("×%.2f", a/b)
		if g.delta {
			l.Ratio += fmt.Sprintf(" (Δ %+.0f ms)", a-b)
		}
	}
	why := ""
	if g.applies != nil {
		why = g.applies(c)
	}
	switch {
	case why != "":
		l.Verdict = "does not apply (" + why + ")"
	case !okA || !okB:
		l.Verdict = "no figures"
	case g.met(c, a, b):
		l.Verdict = "met"
	default:
		l.Verdict = "**missed**"
	}
	if c.HarnessFull && l.Verdict != "no figures" {
		l.Verdict += " ‡"
	}
	return l
}

// goalsMarkdown is the report's section on issue 22's goals: per step, one
// line per goal with both servers' figures, their ratio and the verdict.
func goalsMarkdown(b *strings.Builder, results []Result) {
	lines := goalLines(results)
	if len(lines) == 0 {
		return
	}
	b.WriteString("## Goals of issue 22\n\n")
	b.WriteString("Each goal compares two servers of this run at the same step, on the medians of their runs (ranges in Results). " +
		"plain is `go` (io_uring on), TLS `go+INSECURE=false`, write(2) `go+URING=false`, AIO (what a container whose seccomp profile refuses io_uring falls back to) `go+URING=aio`. ‡: the harness's CPUs were full in either run.\n\n")
	b.WriteString("| step | goal | bound | A / B | A | B | ratio | verdict |\n")
	b.WriteString("|---|---|---|---|--:|--:|---|---|\n")
	for _, l := range lines {
		fmt.Fprintf(b, "| %s | %s | %s | `%s` / `%s` | %s | %s | %s | %s |\n", l.Step, l.Goal, l.Bound, l.A, l.B, l.FA, l.FB, l.Ratio, l.Verdict)
	}
	b.WriteString("\n")
}
