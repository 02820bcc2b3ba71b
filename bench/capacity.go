package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Capacity goal of issue 7: the largest overlay count a server carries on
// its CPUs with at least MinDeliveredPct delivered and a p99 no higher than
// CapacityP99Ms.
const (
	CapacityP99Ms = 150
	// capacityGoalRatio: spectra-server's capacity must be at least this
	// share of the floor's.
	capacityGoalRatio = 0.9
	// CapacityMinStep is the finest resolution of a search, in overlays:
	// below it two probes differ less than the run-to-run noise of one.
	CapacityMinStep = 250
)

// CapacitySearch is the plan of one capacity search: where it starts, how
// it grows, when it stops.
type CapacitySearch struct {
	From       int     // first overlay count probed
	Max        int     // no probe above this (ports, file descriptors)
	Growth     float64 // factor between probes until one fails (> 1)
	Resolution float64 // stop when failing − ok ≤ this share of ok (or CapacityMinStep)
	MaxProbes  int     // hard bound on probe steps
}

// Stop reasons of a search.
const (
	StopResolution = "resolution reached"
	StopProbes     = "probe bound reached"
	StopMax        = "maximum overlay count reached"
	StopNoneOK     = "nothing ok down to the smallest count"
	StopAborted    = "interrupted"
)

// capacityState walks one search: Next names the overlay count to probe,
// Record takes its answer. The search grows by Growth from From until a
// probe fails (or shrinks by it until one is ok, when From already fails),
// then bisects between the largest ok and the smallest failing count.
type capacityState struct {
	plan    CapacitySearch
	matches int // counts are multiples of it, so every match gets as many overlays
	min     int // smallest count probed
	lo, hi  int // largest ok, smallest failing; 0: none yet
	probes  int
	stop    string
}

func newCapacityState(plan CapacitySearch, matches int) *capacityState {
	if plan.Growth <= 1 {
		plan.Growth = 2
	}
	if plan.MaxProbes < 1 {
		plan.MaxProbes = 1
	}
	s := &capacityState{plan: plan, matches: max(matches, 1)}
	s.min = s.roundUp(max(CapacityMinStep, matches))
	s.plan.Max = max(s.roundDown(plan.Max), s.min)
	s.plan.From = min(max(s.round(float64(plan.From)), s.min), s.plan.Max)
	return s
}

func (s *capacityState) round(n float64) int {
	return int(math.Round(n/float64(s.matches))) * s.matches
}

func (s *capacityState) roundUp(n int) int {
	return (n + s.matches - 1) / s.matches * s.matches
}

func (s *capacityState) roundDown(n int) int { return n / s.matches * s.matches }

// width is how close the bounds must be for the search to stop.
func (s *capacityState) width() int {
	return max(int(s.plan.Resolution*float64(s.lo)), CapacityMinStep)
}

// Next returns the next count to probe, or false with the reason in s.stop.
func (s *capacityState) Next() (int, bool) {
	if s.stop != "" {
		return 0, false
	}
	var n int
	switch {
	case s.probes == 0:
		n = s.plan.From
	case s.hi == 0: // all ok so far: grow
		if s.lo >= s.plan.Max {
			s.stop = StopMax
			return 0, false
		}
		n = min(max(s.round(float64(s.lo)*s.plan.Growth), s.lo+s.matches), s.plan.Max)
	case s.lo == 0: // all failed so far: shrink
		if s.hi <= s.min {
			s.stop = StopNoneOK
			return 0, false
		}
		n = max(min(s.round(float64(s.hi)/s.plan.Growth), s.hi-s.matches), s.min)
	default:
		if s.hi-s.lo <= s.width() {
			s.stop = StopResolution
			return 0, false
		}
		n = s.round(float64(s.lo+s.hi) / 2)
		if n <= s.lo || n >= s.hi {
			s.stop = StopResolution
			return 0, false
		}
	}
	if s.probes >= s.plan.MaxProbes {
		s.stop = StopProbes
		return 0, false
	}
	return n, true
}

// Record takes the answer of the probe at n.
func (s *capacityState) Record(n int, ok bool) {
	s.probes++
	if ok {
		s.lo = max(s.lo, n)
	} else if s.hi == 0 || n < s.hi {
		s.hi = n
	}
}

// CapacityProbe is one probe step of a search.
type CapacityProbe struct {
	Overlays int    `json:"overlays"`
	OK       bool   `json:"ok"`
	Why      string `json:"why,omitempty"` // what failed
	Result   Result `json:"result"`
}

// Capacity is the outcome of one search: one server, one match count.
type Capacity struct {
	Server  string `json:"server"`
	Matches int    `json:"matches"`
	// Overlays: the largest count that was ok (0: none); FailedAt the
	// smallest that failed (0: none, the capacity is then a lower bound).
	Overlays int    `json:"overlays"`
	FailedAt int    `json:"failedAt,omitempty"`
	Stop     string `json:"stop"`
	// HarnessFull: the probe at FailedAt had the harness's CPUs full, so
	// the bound is the load generator's, not the server's.
	HarnessFull bool            `json:"harnessFullAtBound,omitempty"`
	Search      CapacitySearch  `json:"search"`
	Probes      []CapacityProbe `json:"probes"`
}

// Bounded reports whether a probe failed above the capacity found, so that
// it is the server's figure and not a lower bound.
func (c *Capacity) Bounded() bool { return c.FailedAt > 0 }

// CapacityOK is the capacity criterion for one probe step: every overlay
// logged on, ≥ 99.5 % delivered over a full window, p99 ≤ 150 ms. When it
// fails, why says how.
func CapacityOK(r Result) (ok bool, why string) {
	switch {
	case !r.Measured():
		return false, r.Status
	case !r.ok():
		return false, r.Status
	case r.LatencySamples == 0:
		return false, "no latency samples"
	case r.LatencyP99ms > CapacityP99Ms:
		return false, fmt.Sprintf("p99 %.0f ms over %d ms", r.LatencyP99ms, CapacityP99Ms)
	}
	return true, ""
}

// searchCapacity runs one search with probe as the step runner.
func searchCapacity(ctx context.Context, plan CapacitySearch, server string, matches int,
	probe func(Step) Result, progress func(string)) Capacity {
	s := newCapacityState(plan, matches)
	c := Capacity{Server: server, Matches: matches, Search: s.plan}
	for {
		n, more := s.Next()
		if !more {
			c.Stop = s.stop
			break
		}
		if ctx.Err() != nil {
			c.Stop = StopAborted
			break
		}
		r := probe(Step{Matches: matches, Overlays: n})
		ok, why := CapacityOK(r)
		if r.Status == "interrupted" || ctx.Err() != nil {
			c.Stop = StopAborted
			break
		}
		s.Record(n, ok)
		c.Probes = append(c.Probes, CapacityProbe{Overlays: n, OK: ok, Why: why, Result: r})
		verdict := "ok"
		if !ok {
			verdict = "failed: " + why
		}
		if r.HarnessFull() {
			verdict += " [harness CPU full]"
		}
		if progress != nil {
			progress(fmt.Sprintf("capacity %s %d matches, probe %d/%d: %d overlays %s (ok up to %d, failing from %s)",
				server, matches, s.probes, s.plan.MaxProbes, n, verdict, s.lo, countOrDash(s.hi)))
		}
	}
	c.Overlays, c.FailedAt = s.lo, s.hi
	for _, p := range c.Probes {
		if p.Overlays == c.FailedAt && !p.OK {
			c.HarnessFull = p.Result.HarnessFull()
		}
	}
	return c
}

func countOrDash(n int) string {
	if n == 0 {
		return dash
	}
	return fmt.Sprint(n)
}

// CapacityServers are the server kinds a capacity search runs for: the goal
// compares spectra-server with the floor.
func CapacityServers(servers []string) []string {
	var out []string
	for _, k := range servers {
		if k == KindGo || k == KindFloor {
			out = append(out, k)
		}
	}
	return out
}

// capacityOverhead is a probe step's time besides its ramp, settle and
// window: starting the server and observers, the reference compression,
// stopping.
const capacityOverhead = 5 * time.Second

// CapacityPlanText says up front how long the searches may take: the
// bound on probe steps and the time of one.
func CapacityPlanText(cfg *Config) string {
	servers := CapacityServers(cfg.Servers)
	n := len(servers) * len(cfg.Capacity) * cfg.CapacitySearch.MaxProbes
	if n == 0 {
		return ""
	}
	ramp := func(o int) time.Duration {
		return time.Duration(float64(o) / max(cfg.RampRate, 1) * float64(time.Second))
	}
	base := capacityOverhead + cfg.Settle + cfg.Duration
	at := base + ramp(cfg.CapacitySearch.From)
	worst := base + ramp(cfg.CapacitySearch.Max)
	runs := max(cfg.Runs, 1)
	return fmt.Sprintf("capacity at %s matches for %s: at most %d probe steps (%d per search), each run %d times, of ~%s a run "+
		"(at %d overlays: ramp at %.0f/s, settle, window, ~%s to start and stop; ~%s at the maximum, %d overlays): ≤ %s in all",
		joinInts(cfg.Capacity), strings.Join(servers, ", "), n, cfg.CapacitySearch.MaxProbes, runs, at.Round(time.Second),
		cfg.CapacitySearch.From, cfg.RampRate, capacityOverhead, worst.Round(time.Second), cfg.CapacitySearch.Max,
		(time.Duration(n*runs) * worst).Round(time.Minute))
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ",")
}

// RunCapacity searches the capacity of go and floor (those of them in
// cfg.Servers) at each of cfg.Capacity's match counts: a fresh server per
// probe step, pinned as the flags say, the normal window. The
// -stop-after-fail rule does not apply: a search needs its failing probes.
func RunCapacity(ctx context.Context, cfg *Config) ([]Capacity, error) {
	if len(cfg.Capacity) == 0 {
		return nil, nil
	}
	srcs, err := loadSources(cfg)
	if err != nil {
		return nil, err
	}
	var out []Capacity
	for _, m := range cfg.Capacity {
		for _, kind := range CapacityServers(cfg.Servers) {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			c := searchCapacity(ctx, cfg.CapacitySearch, kind, m,
				func(st Step) Result { return capacityProbe(ctx, cfg, srcs, kind, st) },
				func(line string) { cfg.printf("%s\n", line) })
			cfg.printf("capacity %s %d matches: %s (%s, %d probes)\n", kind, m, c.Summary(), c.Stop, len(c.Probes))
			out = append(out, c)
		}
	}
	return out, ctx.Err()
}

// capacityProbe runs one probe step Config.Runs times and stands for them
// with their medians (its ranges and the first run kept), so that a probe's
// verdict is not one window's coin toss.
func capacityProbe(ctx context.Context, cfg *Config, srcs []*replaySource, kind string, st Step) Result {
	var rs []Result
	for round := range max(cfg.Runs, 1) {
		if ctx.Err() != nil && round > 0 {
			break
		}
		r := runStepNamed(ctx, cfg, srcs, kind, "capacity-"+kind, st)
		r.Run = round
		rs = append(rs, r)
	}
	return medianResult(rs)
}

// Summary is the capacity as the report's cell shows it: "6000 (fails at
// 7000)", "≥ 20000" when nothing failed, "< 2000" when nothing was ok.
func (c *Capacity) Summary() string {
	switch {
	case len(c.Probes) == 0:
		return dash
	case c.Overlays == 0:
		return fmt.Sprintf("< %d", c.FailedAt)
	case !c.Bounded():
		return fmt.Sprintf("≥ %d", c.Overlays)
	}
	s := fmt.Sprintf("%d (fails at %d", c.Overlays, c.FailedAt)
	if c.HarnessFull {
		s += " ‡"
	}
	return s + ")"
}
