package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Report is what a bench run writes.
type Report struct {
	Date        string            `json:"date"`
	Host        string            `json:"host"`
	CPUs        int               `json:"cpus"`
	ServerCPUs  string            `json:"serverCPUs,omitempty"`  // taskset list; "" not pinned
	HarnessCPUs string            `json:"harnessCPUs,omitempty"` // sched_setaffinity list; "" not pinned
	Go          string            `json:"go"`
	Node        string            `json:"node"`
	Command     string            `json:"command"`
	Settings    map[string]string `json:"settings"`
	Results     []Result          `json:"results"`
	// Capacity: the searches of -capacity, with every probe step.
	Capacity []Capacity `json:"capacity,omitempty"`
}

// Redraw rewrites the .md and .svg of a report from its .json.
func Redraw(jsonPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	r.upgrade()
	base := strings.TrimSuffix(jsonPath, ".json")
	if err := os.WriteFile(base+".svg", []byte(Chart(&r)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(r.Markdown(filepath.Base(base)+".svg")), 0o644)
}

// upgrade fills in what reports from older versions of the bench lack: CPU
// per delivered match_data, and "ok" only at ≥ 99.5 % delivered.
func (r *Report) upgrade() {
	for i := range r.Results {
		x := &r.Results[i]
		if x.ServerCPUPerMsgUs == 0 && x.Measured() && x.DeliveredPerSec > 0 {
			x.ServerCPUPerMsgUs = x.ServerCores / x.DeliveredPerSec * 1e6
		}
		if x.ok() && x.Measured() && x.DeliveredPct < MinDeliveredPct {
			x.Status = underStatus(x.DeliveredPct)
		}
	}
}

// Write writes base.md, base.json and base.svg.
func (r *Report) Write(base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".svg", []byte(Chart(r)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(r.Markdown(filepath.Base(base)+".svg")), 0o644)
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// dash is what a cell shows for a figure that was not measured.
const dash = "—"

// SendIntervalMs is the servers' send interval: a change waits for the
// match's next send, so no server's p99 latency is much below it.
const SendIntervalMs = 100

// Ratio is one figure of two servers at the same step, and a / b.
type Ratio struct {
	A, B   float64
	OKA    bool // A was measured
	OKB    bool
	R      float64
	HasRat bool // both measured and B > 0
}

func ratio(a, b float64, okA, okB bool) Ratio {
	r := Ratio{A: a, B: b, OKA: okA, OKB: okB}
	if okA && okB && b > 0 {
		r.R, r.HasRat = a/b, true
	}
	return r
}

// cell renders "a / b (×r)", with — for what was not measured.
func (r Ratio) cell(format func(float64) string, unit string) string {
	sa, sb := dash, dash
	if r.OKA {
		sa = format(r.A) + unit
	}
	if r.OKB {
		sb = format(r.B) + unit
	}
	out := sa + " / " + sb
	if r.HasRat {
		out += fmt.Sprintf(" (×%.2f)", r.R)
	}
	return out
}

// Comparison is spectra-server beside another server at one step.
type Comparison struct {
	Step      Step
	A, B      Result
	Delivered Ratio
	// P99Over: p99 minus the send interval, and the difference A − B in ms
	// (a ratio of two small differences says little).
	P99Over     Ratio
	P99Delta    float64
	HasP99Delta bool
	CPUPerMsg   Ratio // µs of server CPU per delivered match_data
	Storm       Ratio // seconds until every overlay had a match_data
	RSSPerConn  Ratio // KiB per connected overlay
	// MarginalRSS: KiB per added overlay against another step of the same
	// server and match count (MarginalVsA, MarginalVsB).
	MarginalRSS              Ratio
	MarginalVsA, MarginalVsB Step
	HarnessFull              bool // the bench's CPUs were full in either run
	BDeliversAll             bool // B delivered ≥ MinDeliveredPct: the goals apply
}

// Compare pairs the results of servers a and b step by step, in the order
// the steps first appear.
func Compare(results []Result, a, b string) []Comparison {
	byStep := map[string]map[Step]Result{a: {}, b: {}}
	var order []Step
	for _, x := range results {
		if x.Server != a && x.Server != b {
			continue
		}
		st := x.Step()
		if _, seenA := byStep[a][st]; !seenA {
			if _, seenB := byStep[b][st]; !seenB {
				order = append(order, st)
			}
		}
		byStep[x.Server][st] = x
	}
	var out []Comparison
	for _, st := range order {
		ra, okA := byStep[a][st]
		rb, okB := byStep[b][st]
		if !okA || !okB {
			continue
		}
		c := compareResults(ra, rb)
		ma, vsA, okMA := MarginalRSS(results, ra)
		mb, vsB, okMB := MarginalRSS(results, rb)
		c.MarginalRSS = ratio(ma, mb, okMA, okMB)
		c.MarginalRSS.HasRat = okMA && okMB && mb > 0 && ma >= 0
		if !c.MarginalRSS.HasRat {
			c.MarginalRSS.R = 0
		}
		c.MarginalVsA, c.MarginalVsB = vsA, vsB
		out = append(out, c)
	}
	return out
}

func compareResults(a, b Result) Comparison {
	ma, mb := a.Measured(), b.Measured()
	c := Comparison{Step: a.Step(), A: a, B: b, HarnessFull: a.HarnessFull() || b.HarnessFull()}
	c.Delivered = ratio(a.DeliveredPct, b.DeliveredPct, ma, mb)
	la, lb := ma && a.LatencySamples > 0, mb && b.LatencySamples > 0
	c.P99Over = ratio(a.LatencyP99ms-SendIntervalMs, b.LatencyP99ms-SendIntervalMs, la, lb)
	c.P99Over.HasRat, c.P99Over.R = false, 0
	if la && lb {
		c.P99Delta, c.HasP99Delta = a.LatencyP99ms-b.LatencyP99ms, true
	}
	c.CPUPerMsg = ratio(a.ServerCPUPerMsgUs, b.ServerCPUPerMsgUs, ma && a.ServerCPUPerMsgUs > 0, mb && b.ServerCPUPerMsgUs > 0)
	if a.Kind == StepStorm {
		c.Storm = ratio(a.StormSeconds, b.StormSeconds, a.StormSeconds > 0, b.StormSeconds > 0)
	}
	c.RSSPerConn = ratio(a.RSSPerConnKiB, b.RSSPerConnKiB, ma && a.Connected > 0, mb && b.Connected > 0)
	c.BDeliversAll = mb && b.DeliveredPct >= MinDeliveredPct
	return c
}

// Goals of issue 7 for spectra-server beside the floor.
const (
	goalP99DeltaMs  = 20
	goalCPURatio    = 1.15
	goalStormRatio  = 1.5
	goalRSSPerConnK = 12
)

// Misses lists the goals A misses against B at this step; none when B
// itself did not deliver (the goals apply only where the floor does).
func (c Comparison) Misses() []string {
	if !c.BDeliversAll {
		return nil
	}
	var m []string
	if !c.Delivered.OKA || c.A.DeliveredPct < MinDeliveredPct {
		m = append(m, "delivered")
	}
	if !c.HasP99Delta || c.P99Delta > goalP99DeltaMs {
		m = append(m, "p99")
	}
	if !c.CPUPerMsg.HasRat || c.CPUPerMsg.R > goalCPURatio {
		m = append(m, "CPU")
	}
	if c.Step.Kind == StepStorm && (!c.Storm.HasRat || c.Storm.R > goalStormRatio) {
		m = append(m, "storm")
	}
	if !c.RSSPerConn.OKA || c.A.RSSPerConnKiB > goalRSSPerConnK {
		m = append(m, "RSS")
	}
	return m
}

// na renders a figure of one result, — unless measured.
func na(ok bool, v float64, format func(float64) string) string {
	if !ok {
		return dash
	}
	return format(v)
}

// Markdown renders the report as tables and notes.
func (r *Report) Markdown(svg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# spectra-bench %s on %s\n\n", r.Date, r.Host)
	fmt.Fprintf(&b, "%d CPUs, %s, node %s. Command: `%s`\n\n", r.CPUs, r.Go, r.Node, r.Command)
	var keys []string
	for k := range r.Settings {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, r.Settings[k])
	}
	fmt.Fprintf(&b, "\n![delivered %%, p99 latency, server CPU per match_data and RSS per overlay against overlays](%s)\n\n", svg)

	// The verdicts compare each server's runs of a step as one (medians,
	// see runs.go); so does the results table, with ranges; the .json
	// holds every run.
	view := Merged(r.Results)
	full := false
	for _, x := range view {
		full = full || x.HarnessFull()
	}
	for _, c := range r.Capacity {
		for _, p := range c.Probes {
			full = full || p.Result.HarnessFull()
		}
	}
	if cs := Compare(view, KindGo, KindFloor); len(cs) > 0 {
		b.WriteString("## spectra-server beside the floor\n\n")
		b.WriteString("Each cell is spectra-server / floor from the same run (×: the ratio). The goals (issue 7) apply where the floor delivers ≥ 99.5 %: " +
			"delivered ≥ 99.5 %, p99 ≤ floor + 20 ms, CPU per match_data ≤ ×1.15, storm ≤ ×1.5, RSS ≤ 12 KiB per overlay.\n\n")
		b.WriteString("| step | delivered | p99 − 100 ms (Δ) | server µs CPU / match_data | storm s | KiB RSS / overlay | marginal KiB RSS / overlay | goals missed |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|\n")
		for _, c := range cs {
			p99 := c.P99Over.cell(func(v float64) string { return fmt.Sprintf("%+.0f", v) }, " ms")
			if c.HasP99Delta {
				p99 += fmt.Sprintf(" (Δ %+.0f ms)", c.P99Delta)
			}
			storm := dash
			if c.Step.Kind == StepStorm {
				storm = c.Storm.cell(f1, "")
			}
			goals := dash + " (floor under 99.5 %)"
			if c.BDeliversAll {
				goals = "none"
				if m := c.Misses(); len(m) > 0 {
					goals = strings.Join(m, ", ")
				}
			}
			step := c.Step.String() + c.runsNote()
			if c.HarnessFull {
				step += " ‡"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", step,
				c.Delivered.cell(f1, "%"), p99, c.CPUPerMsg.cell(f1, ""), storm, c.RSSPerConn.cell(f1, ""), c.marginalCell(), goals)
		}
		b.WriteString("\n")
	}
	capacityMarkdown(&b, r.Capacity)
	unpinnedMarkdown(&b, view)
	goalsMarkdown(&b, view)
	variantMarkdown(&b, view)
	floorPlusMarkdown(&b, view)
	clusterMarkdown(&b, view)
	if full {
		b.WriteString("‡ **The harness's CPUs were full** (it used ≥ 95 % of the CPUs it may run on, in the window or the storm): " +
			"at these steps the load generator is the limit, so the floor's figures are the harness's limit, not the floor's, and a ratio " +
			"against them flatters spectra-server.\n\n")
	}

	b.WriteString("## Results\n\n")
	b.WriteString("| server | step | logged on | connect s | storm s | sends/match/s | delivered/s | expected/s | delivered | p50 ms | p99 ms | max ms | latency samples | wire MB/s | B/match_data | zlib-3 ctx B | zlib-3 no-ctx B | server cores | µs CPU/match_data | server RSS MB | KiB/conn | harness cores | disc | errors | status |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, x := range view {
		m := x.Measured()
		lat := m && x.LatencySamples > 0
		ref := m && x.RefMessages > 0
		storm := dash
		if x.StormSeconds > 0 {
			storm = withRange(x, RangeStorm, x.StormSeconds, f1)
		}
		del := dash
		if m {
			del = "**" + withRange(x, RangeDelivered, x.DeliveredPct, func(v float64) string { return f1(v) + "%" }) + "**"
		}
		p99 := dash
		if lat {
			p99 = "**" + withRange(x, RangeP99, x.LatencyP99ms, f0) + "**"
		}
		samples := dash
		if m {
			samples = fmt.Sprint(x.LatencySamples)
		}
		harness := na(m, x.HarnessCores, f2)
		if x.HarnessFull() {
			harness += " ‡"
		}
		disc := dash
		if m {
			disc = fmt.Sprint(x.Disconnects)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
			runLabel(x), x.Step(), x.Connected, na(x.ConnectSeconds > 0, x.ConnectSeconds, f1), storm,
			na(m, x.SendsPerMatchPerSec, sendsCell(x)), na(m, x.DeliveredPerSec, f0), na(m, x.ExpectedPerSec, f0), del,
			na(lat, x.LatencyP50ms, f0), p99, na(lat, x.LatencyMaxms, f0), samples,
			na(m, x.WireMBps, f2), na(m && x.BytesPerMatchData > 0, x.BytesPerMatchData, f0), na(ref, x.RefContextBytes, f0), na(ref, x.RefNoContextBytes, f0),
			na(m, x.ServerCores, f2), na(m && x.ServerCPUPerMsgUs > 0, x.ServerCPUPerMsgUs, func(v float64) string { return withRange(x, RangeCPU, v, f1) }),
			na(m, x.ServerRSSMB, f0), na(m && x.Connected > 0, x.RSSPerConnKiB, func(v float64) string { return withRange(x, RangeRSS, v, f1) }), harness,
			disc, x.ConnectFails+x.Errors+x.InvalidJSON+x.DecodeFailures, x.Status)
	}

	faultsMarkdown(&b, r.Results)

	if cs := Compare(view, KindGo, KindNode); len(cs) > 0 {
		b.WriteString("\n## Go against the Node baseline\n\n")
		b.WriteString("| step | delivered go / node | p99 ms go / node | server cores go / node | RSS MB go / node | B/match_data go / node |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, c := range cs {
			g, n := c.A, c.B
			gm, nm := g.Measured(), n.Measured()
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.Step,
				c.Delivered.cell(f1, "%"),
				ratio(g.LatencyP99ms, n.LatencyP99ms, gm && g.LatencySamples > 0, nm && n.LatencySamples > 0).cell(f0, ""),
				ratio(g.ServerCores, n.ServerCores, gm, nm).cell(f2, ""),
				ratio(g.ServerRSSMB, n.ServerRSSMB, gm, nm).cell(f0, ""),
				ratio(g.BytesPerMatchData, n.BytesPerMatchData, gm, nm).cell(f0, ""))
		}
	}

	var errs []string
	for _, x := range r.Results {
		if x.FirstError != "" {
			errs = append(errs, fmt.Sprintf("- %s %s: %s", x.Server, x.Step(), x.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n## First error per step\n\n" + strings.Join(errs, "\n") + "\n")
	}
	b.WriteString(legend)
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

const legend = `
## What the columns mean

- **servers**: **go** is spectra-server (` + "`./cmd/spectra-server`" + `); **floor** is ` + "`bench/floor`" + `, a minimal
  server doing only the physically necessary work per send (the state encoded once per match and send,
  compressed once with one shared deflate context per match, one write(2) per overlay; no Engine.IO
  sessions, no polling, no rooms); **node** is the socket.io 4.8 baseline in ` + "`bench/baseline`" + `.
- **step**: MATCHESxOVERLAYS. A plain step ramps the overlays up at the ramp rate; a **storm:** step
  connects all of them at once with the storm dialers (no ramp), as after a server restart.
- **overlays**: clients of the output port in total, spread evenly over the matches; all but the
  polling share are direct WebSocket clients offering permessage-deflate exactly as Chromium
  does (` + "`permessage-deflate; client_max_window_bits`" + `). A few per match are probes (below).
- **logged on / connect s**: overlays that got ` + "`logon_success`" + `, and the time from the first
  connection attempt to the last ` + "`logon_success`" + ` (the ramp rate bounds it from below).
- **storm s**: storm steps only — from the first connection attempt until every overlay had received
  its first match_data; — when not all of them did.
- **sends/match/s**: the match_data each overlay is owed per second, averaged over the matches: per
  match, what the server itself counted as sent in the window (spectra-server's and the floors'
  ` + "`spectra_match_data_sends_by_match_total`" + ` on their admin /metrics, read at both ends of the
  window), so an overlay is never owed a state the server did not send. **est.**: a server without that
  count (the Node baseline) is owed the harness's estimate instead — per match, the number of 100 ms
  slots in which the observer sent at least one event (what a change-driven 100 ms loop must send, at
  most 10/s), or the busiest probe's count less one if higher — which can ask for more than a correct
  server sends.
- **expected/s** = Σ over matches of sends/s × overlays of the match; **delivered/s**: match_data
  all overlays received in the window, each overlay's count capped at what its match was owed (the
  overlays' counts are read before the server's send counts at the window's start and 1 s after them
  at its end, so that every counted send had time to arrive; with the estimate, est., one more: there
  the window's edges cut a send's fan-out and average out over the match) and each match's at what it
  was owed in all: extra or repeated frames cannot make up for lost ones, and **delivered** = delivered /
  expected is never over 100 % (the .json's framesOverOwed counts what the caps cut off). The probes count distinct states only: a match_data equal to the one before it
  (repeatedStates) or one that does not inflate or parse (decodeFailures, invalidJSON; both in
  **errors**) is not a delivery. A step is **ok** only at ≥ 99.5 % delivered.
- **p50/p99/max ms**: ingest→overlay latency measured by the probes. Each observer emits a
  ` + "`toast`" + ` event with a sequence number about every marker interval (each gap random within ±25 %, so that the
  markers meet the server's send cycle at every phase); the server copies the toast into the
  state's toastInfo, so the first match_data whose toastInfo is active with message m<seq> is the
  first state reflecting that marker. Latency = when the probe read it − when the observer handed the
  marker to its socket; it includes the wait for the server's send tick. **p99 − 100 ms**: a change
  waits for its match's next send, at most one 100 ms send interval, so a p99 near 100 ms is the floor
  of any server sending at most 10 times a second; the figure that says how a server does is the
  distance above it. Δ is spectra-server's p99 minus the floor's.
- **wire MB/s**: bytes all overlays read from their sockets (frame headers, compressed payloads,
  pings, polling bodies). **B/match_data**: wire bytes (frame header + payload) per match_data over the
  WebSocket overlays.
- **zlib-3 ctx B / no-ctx B**: the offline reference — the match_data payloads the first probe of
  match 0 received in the window, compressed by Node's zlib as the ws library does (deflate-raw level
  3, memLevel 7, 15-bit window, sync flush per message, 1024-byte threshold) on one stream per
  connection (context takeover), and message by message (no context), plus the frame header.
- **server cores / RSS**: from /proc/<pid>/stat (utime+stime over the window) and /proc/<pid>/status
  (VmRSS, highest sample in the window). **µs CPU/match_data**: server CPU time in the window per
  match_data the server was asked to deliver (expected, not received: extra frames do not make a
  server look cheaper). **KiB/conn** (KiB RSS / overlay): RSS at the end of the window minus RSS before
  the overlays connected, per logged-on overlay (busy connections, not idle ones). It charges each
  match's fixed costs (its compressor, its state) to the match's overlays, which weighs with many
  matches and few overlays each; the goal of 12 KiB is checked on it all the same.
- **marginal KiB RSS / overlay**: what one more overlay costs, free of the per-match costs: with another
  measured step of the same server and match count (one of the same kind first, the nearest smaller
  overlay count, else the nearest bigger; at least 25 % apart), (RSS growth of the bigger step − RSS
  growth of the smaller) / (overlays logged on in the bigger − in the smaller), RSS growth being RSS at
  the end of the window minus RSS before the overlays connected. "vs" names the other step; — when the
  run has no such step. Two samples of RSS, so a few KiB of noise.
- **go-unpinned** (-unpinned-too): the same go step run again right after the pinned one, with neither
  spectra-server nor the bench pinned (both on all CPUs, GOMAXPROCS the CPU count). The section *go
  unpinned beside go pinned* shows pinned / unpinned and marks a step **worse** when unpinned delivers
  more than 0.3 points less, its p99 is more than 20 ms higher, or its storm takes more than ×1.2 the time.
- **Capacity** (-capacity): per server and match count, the largest overlay count with every overlay
  logged on, ≥ 99.5 % delivered and p99 ≤ 150 ms in a plain (ramp) step on the server CPUs; "fails at"
  the smallest count that did not. Each count tried is a full step with a fresh server. ≥: no probe
  failed (the search hit its probe bound or the maximum count), so the capacity is higher; <: no count
  tried was ok. The two bounds are as close as the resolution (or the probe bound) left them, so a
  ratio near 0.9 is within that error: the span in parentheses runs from go's ok count over the floor's
  failing count to go's failing count over the floor's ok count, and a verdict whose span straddles 0.9
  says "within the searches' resolution". **go / floor** divides the two capacities; the goal is ≥ ×0.9.
  **harness limit**: the probe that bounded the floor (or go) had the harness's CPUs full (‡), so
  that bound is the load generator's and the goal cannot be judged from it.
- **harness cores**: this bench's own CPU in the window (observers, overlays, probes); ‡ when it used
  ≥ 95 % of the CPUs it may run on (in the window or the storm): the harness is then the limit.
- **Major page faults**: faults that read from disk in the window, for the server processes and the
  harness, listed for the steps that had any. Each stalls the faulting thread for a disk read (on one
  pinned core: the whole server); a VM that pages out cold file pages can take the server's own code.
- **disc**: overlays disconnected during the window; **errors**: failed connections, protocol or
  write errors, observer errors, match_data that were not valid JSON and frames a probe could not
  inflate.
- **clusterN**: N spectra-server nodes in cluster mode (` + "`REDIS_URL`, `NODE_ID`" + `) and one redis-server
  (` + "`--save \"\" --appendonly no`" + `, a temporary folder, a free port), started for each step and all on the
  server CPUs. The observers and auxiliary clients connect to node 0, which owns their matches; overlays
  and probes go round-robin over the nodes' output ports. server cores, RSS and µs CPU/match_data sum
  every node and redis-server; the cluster section adds redis-server's own share and the p99 of the
  probes on node 0 against those on the other nodes.
- **—**: not measured (the step failed, was aborted or skipped before or during its window).
`

// faultsMarkdown lists the steps whose window saw major page faults: a
// latency tail at such a step may be the disk's, not the server's.
func faultsMarkdown(b *strings.Builder, rs []Result) {
	header := false
	for _, x := range rs {
		if !x.Measured() || x.ServerMajorFaults+x.HarnessMajorFaults == 0 {
			continue
		}
		if !header {
			b.WriteString("\n## Major page faults in the window\n\n| server | step | server faults | harness faults |\n|---|---|--:|--:|\n")
			header = true
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d |\n", x.Server, x.Step(), x.ServerMajorFaults, x.HarnessMajorFaults)
	}
}

// sendsCell is the sends/match/s cell: marked est. when the harness, not
// the server, counted what was owed (also in reports from before the
// server's counts, which have no owedFrom).
func sendsCell(x Result) func(float64) string {
	return func(v float64) string {
		if x.OwedFrom != OwedFromServer {
			return f1(v) + " est."
		}
		return f1(v)
	}
}
