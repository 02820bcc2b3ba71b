package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// rssGrowthKiB is how much the server's RSS grew from before the overlays
// connected to the end of the window, in KiB.
func rssGrowthKiB(r Result) float64 { return r.RSSPerConnKiB * float64(r.Connected) }

// marginalMinShare: two steps must differ by at least this share of the
// bigger one's overlays for their RSS difference to say more than the
// noise of one sample.
const marginalMinShare = 0.25

// MarginalRSS is the RSS one more overlay costs the server of x: with
// another measured step of the same server and match count, (RSS growth of
// the bigger step − RSS growth of the smaller) / (overlays logged on in the
// bigger − in the smaller). Unlike RSS per overlay it does not charge each
// match's fixed costs (its compressor, its state) to the overlays. The
// other step is one of the same kind if there is one, the nearest smaller
// count, else the nearest bigger.
func MarginalRSS(results []Result, x Result) (kib float64, other Step, ok bool) {
	if !x.Measured() || x.Connected <= 0 {
		return 0, Step{}, false
	}
	var best Result
	found := false
	score := func(r Result) (sameKind bool, smaller bool, dist int64) {
		d := r.Connected - x.Connected
		return r.Kind == x.Kind, d < 0, max(d, -d)
	}
	better := func(a, b Result) bool { // a better than b
		ka, sa, da := score(a)
		kb, sb, db := score(b)
		if ka != kb {
			return ka
		}
		if sa != sb {
			return sa
		}
		return da < db
	}
	for _, r := range results {
		if r.Server != x.Server || r.Matches != x.Matches || !r.Measured() || r.Connected <= 0 {
			continue
		}
		d := math.Abs(float64(r.Connected - x.Connected))
		if d < marginalMinShare*float64(max(r.Connected, x.Connected)) {
			continue
		}
		if !found || better(r, best) {
			best, found = r, true
		}
	}
	if !found {
		return 0, Step{}, false
	}
	big, small := x, best
	if big.Connected < small.Connected {
		big, small = small, big
	}
	kib = (rssGrowthKiB(big) - rssGrowthKiB(small)) / float64(big.Connected-small.Connected)
	return kib, best.Step(), true
}

// marginalCell renders the marginal RSS of both servers, and the step each
// was computed against.
func (c Comparison) marginalCell() string {
	out := c.MarginalRSS.cell(f1, "")
	switch {
	case !c.MarginalRSS.OKA && !c.MarginalRSS.OKB:
		return dash
	case c.MarginalRSS.OKA && c.MarginalRSS.OKB && c.MarginalVsA == c.MarginalVsB:
		out += " vs " + c.MarginalVsA.String()
	default:
		var vs []string
		if c.MarginalRSS.OKA {
			vs = append(vs, c.A.Server+" vs "+c.MarginalVsA.String())
		}
		if c.MarginalRSS.OKB {
			vs = append(vs, c.B.Server+" vs "+c.MarginalVsB.String())
		}
		out += " (" + strings.Join(vs, ", ") + ")"
	}
	return out
}

// Thresholds for "go unpinned is worse than go pinned" (issue 7: no step
// worse than pinned), above the run-to-run noise of one step.
const (
	unpinnedDeliveredPts = 0.3
	unpinnedP99Ms        = 20
	unpinnedStormRatio   = 1.2
)

// UnpinnedWorse lists how the unpinned run (B) of a step is worse than the
// pinned one (A); nil when it is not, or when the pinned run was not
// measured.
func (c Comparison) UnpinnedWorse() []string {
	a, b := c.A, c.B
	if !a.Measured() {
		return nil
	}
	if !b.Measured() {
		return []string{"not measured: " + b.Status}
	}
	var w []string
	// Over 100 % a server sent more often than owed (leading edge), which
	// is not better delivery: compare what was owed.
	if da, db := min(a.DeliveredPct, 100), min(b.DeliveredPct, 100); db < da-unpinnedDeliveredPts {
		w = append(w, fmt.Sprintf("delivered %+.1f points", db-da))
	}
	if a.LatencySamples > 0 {
		switch {
		case b.LatencySamples == 0:
			w = append(w, "no p99")
		case b.LatencyP99ms > a.LatencyP99ms+unpinnedP99Ms:
			w = append(w, fmt.Sprintf("p99 %+.0f ms", b.LatencyP99ms-a.LatencyP99ms))
		}
	}
	if a.Kind == StepStorm && a.StormSeconds > 0 {
		switch {
		case b.StormSeconds <= 0:
			w = append(w, "storm not complete")
		case b.StormSeconds > unpinnedStormRatio*a.StormSeconds:
			w = append(w, fmt.Sprintf("storm ×%.2f", b.StormSeconds/a.StormSeconds))
		}
	}
	return w
}

// unpinnedMarkdown is the section on go unpinned beside go pinned.
func unpinnedMarkdown(b *strings.Builder, results []Result) {
	cs := Compare(results, KindGo, KindGoUnpinned)
	if len(cs) == 0 {
		return
	}
	b.WriteString("## go unpinned beside go pinned\n\n")
	fmt.Fprintf(b, "Each cell is spectra-server pinned / unpinned (neither it nor the bench pinned, all CPUs shared), the same step run "+
		"one after the other. The goal (issue 7): no step worse unpinned — a step is marked when unpinned delivers more than "+
		"%.1f points less, its p99 is more than %d ms higher or its storm takes more than ×%.1f the time.\n\n",
		unpinnedDeliveredPts, unpinnedP99Ms, unpinnedStormRatio)
	b.WriteString("| step | delivered | p99 − 100 ms | µs CPU / match_data | storm s | KiB RSS / overlay | worse unpinned |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	noRatio := func(r Ratio) Ratio { r.HasRat = false; return r }
	for _, c := range cs {
		worse := "no"
		if !c.A.Measured() {
			worse = dash + " (pinned not measured)"
		} else if w := c.UnpinnedWorse(); len(w) > 0 {
			worse = "**worse**: " + strings.Join(w, ", ")
		}
		storm := dash
		if c.Step.Kind == StepStorm {
			storm = noRatio(c.Storm).cell(f1, "")
		}
		step := c.Step.String() + c.runsNote()
		if c.HarnessFull {
			step += " ‡"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", step,
			noRatio(c.Delivered).cell(f1, "%"), c.P99Over.cell(func(v float64) string { return fmt.Sprintf("%+.0f", v) }, " ms"),
			noRatio(c.CPUPerMsg).cell(f1, ""), storm, noRatio(c.RSSPerConn).cell(f1, ""), worse)
	}
	b.WriteString("\n")
}

// CapacityGoal compares go's capacity with the floor's at one match count:
// the ratio go / floor and whether the goal (≥ ×0.9) holds. The verdict is
// "met", "missed", or why the run cannot tell: "harness limit" (the probe
// that bounded the floor, or go, had the harness's CPUs full), "floor not
// bounded" (no floor probe failed: its capacity is higher than found),
// "go not bounded".
func CapacityGoal(g, f *Capacity) (r float64, hasRatio bool, verdict string) {
	if g == nil || f == nil || len(g.Probes) == 0 || len(f.Probes) == 0 {
		return 0, false, dash
	}
	if f.Overlays == 0 {
		return 0, false, dash + " (the floor was ok at no count tried)"
	}
	r = float64(g.Overlays) / float64(f.Overlays)
	if r >= capacityGoalRatio {
		switch {
		case f.HarnessFull:
			return r, true, "harness limit (the floor's bound is the harness's: its capacity may be higher)"
		case !f.Bounded():
			return r, true, "floor not bounded (no floor probe failed: its capacity is higher)"
		}
		return r, true, "met"
	}
	switch {
	case g.HarnessFull && g.Bounded():
		return r, true, "harness limit (go's bound is the harness's: its capacity may be higher)"
	case !g.Bounded():
		return r, true, "go not bounded (no go probe failed: its capacity is higher)"
	case f.HarnessFull:
		return r, true, "missed (even against the floor's harness limit)"
	}
	return r, true, "missed"
}

// CapacityRange is the span the ratio go / floor may have given both
// searches' bounds: from go's ok count over the floor's failing count to
// go's failing count over the floor's ok count. ok is false unless both
// searches were bounded and found an ok count.
func CapacityRange(g, f *Capacity) (lo, hi float64, ok bool) {
	if g == nil || f == nil || g.Overlays == 0 || f.Overlays == 0 || !g.Bounded() || !f.Bounded() {
		return 0, 0, false
	}
	return float64(g.Overlays) / float64(f.FailedAt), float64(g.FailedAt) / float64(f.Overlays), true
}

// capacityMarkdown is the report's capacity section.
func capacityMarkdown(b *strings.Builder, caps []Capacity) {
	if len(caps) == 0 {
		return
	}
	fmt.Fprintf(b, "## Capacity\n\n"+
		"The largest overlay count a server carries with every overlay logged on, ≥ %.1f %% delivered and p99 ≤ %d ms, "+
		"on the server CPUs of this run. Each server and match count is searched with probe steps (a fresh server each, "+
		"the normal window): up by the growth factor from the start count until a probe fails, then bisected between "+
		"the largest ok and the smallest failing count. Goal (issue 7): go ≥ ×%.1f the floor's.\n\n",
		MinDeliveredPct, CapacityP99Ms, capacityGoalRatio)
	b.WriteString("The ratio's span in parentheses follows from both searches' bounds (go's ok count over the floor's failing count, " +
		"go's failing count over the floor's ok count); when it straddles 0.9 the verdict is within the searches' resolution.\n\n")
	b.WriteString("| matches | go | floor | go / floor | goal ≥ ×0.9 |\n|---|---|---|---|---|\n")
	var matches []int
	byKey := map[string]*Capacity{}
	for i := range caps {
		c := &caps[i]
		if !slices.Contains(matches, c.Matches) {
			matches = append(matches, c.Matches)
		}
		byKey[fmt.Sprintf("%s/%d", c.Server, c.Matches)] = c
	}
	summary := func(c *Capacity) string {
		if c == nil {
			return dash
		}
		return c.Summary()
	}
	for _, m := range matches {
		g, f := byKey[fmt.Sprintf("%s/%d", KindGo, m)], byKey[fmt.Sprintf("%s/%d", KindFloor, m)]
		r, has, verdict := CapacityGoal(g, f)
		rs := dash
		if has {
			rs = fmt.Sprintf("×%.2f", r)
		}
		if lo, hi, ok := CapacityRange(g, f); ok && has {
			rs += fmt.Sprintf(" (%.2f–%.2f)", lo, hi)
			if (verdict == "met" || verdict == "missed") && lo < capacityGoalRatio && hi >= capacityGoalRatio {
				verdict += ", within the searches' resolution"
			}
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", m, summary(g), summary(f), rs, verdict)
	}
	b.WriteString("\nProbe steps (overlays: ok, or why not; ‡ the harness's CPUs were full):\n\n")
	for i := range caps {
		c := &caps[i]
		var ps []string
		for _, p := range c.Probes {
			s := fmt.Sprintf("%d ok", p.Overlays)
			if !p.OK {
				s = fmt.Sprintf("%d failed (%s)", p.Overlays, probeWhy(p))
			}
			if p.Result.HarnessFull() {
				s += " ‡"
			}
			ps = append(ps, s)
		}
		if len(ps) == 0 {
			ps = append(ps, "none")
		}
		fmt.Fprintf(b, "- %s, %d matches: %s — stopped: %s\n", c.Server, c.Matches, strings.Join(ps, " · "), c.Stop)
	}
	b.WriteString("\n")
}

// probeWhy is a failed probe's reason with its figures, short.
func probeWhy(p CapacityProbe) string {
	r := p.Result
	if !r.Measured() {
		return p.Why
	}
	s := fmt.Sprintf("%.2f %%", r.DeliveredPct)
	if r.LatencySamples > 0 {
		s += fmt.Sprintf(", p99 %.0f ms", r.LatencyP99ms)
	}
	if r.Connected < int64(r.Overlays) {
		s += fmt.Sprintf(", %d logged on", r.Connected)
	}
	return s
}
