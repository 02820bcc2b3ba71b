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
	Date     string            `json:"date"`
	Host     string            `json:"host"`
	CPUs     int               `json:"cpus"`
	Go       string            `json:"go"`
	Node     string            `json:"node"`
	Command  string            `json:"command"`
	Settings map[string]string `json:"settings"`
	Results  []Result          `json:"results"`
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
	base := strings.TrimSuffix(jsonPath, ".json")
	if err := os.WriteFile(base+".svg", []byte(Chart(&r)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(r.Markdown(filepath.Base(base)+".svg")), 0o644)
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
	fmt.Fprintf(&b, "\n![delivered %% and p99 latency against overlays](%s)\n\n", svg)

	b.WriteString("## Results\n\n")
	b.WriteString("| server | matches | overlays | logged on | connect s | sends/match/s | delivered/s | expected/s | delivered | p50 ms | p99 ms | max ms | wire MB/s | B/match_data | zlib-3 ctx B | zlib-3 no-ctx B | server cores | server RSS MB | KiB/conn | harness cores | disc | errors | status |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, x := range r.Results {
		if x.WindowSeconds == 0 {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | | | | | | | | | | | | | | | | | | %d | %s |\n",
				x.Server, x.Matches, x.Overlays, x.Connected, x.ConnectFails+x.Errors, x.Status)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s | %s | **%s%%** | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n",
			x.Server, x.Matches, x.Overlays, x.Connected, f1(x.ConnectSeconds), f1(x.SendsPerMatchPerSec),
			f0(x.DeliveredPerSec), f0(x.ExpectedPerSec), f1(x.DeliveredPct),
			f0(x.LatencyP50ms), f0(x.LatencyP99ms), f0(x.LatencyMaxms),
			f2(x.WireMBps), f0(x.BytesPerMatchData), f0(x.RefContextBytes), f0(x.RefNoContextBytes),
			f2(x.ServerCores), f0(x.ServerRSSMB), f1(x.RSSPerConnKiB), f2(x.HarnessCores),
			x.Disconnects, x.ConnectFails+x.Errors+x.InvalidJSON, x.Status)
	}

	// Side by side, where both servers ran the same step.
	type key struct{ m, n int }
	byKind := map[string]map[key]Result{}
	var order []key
	for _, x := range r.Results {
		if byKind[x.Server] == nil {
			byKind[x.Server] = map[key]Result{}
		}
		k := key{x.Matches, x.Overlays}
		if _, seen := byKind[KindGo][k]; !seen {
			if _, seen := byKind[KindNode][k]; !seen {
				order = append(order, k)
			}
		}
		byKind[x.Server][k] = x
	}
	if len(byKind[KindGo]) > 0 && len(byKind[KindNode]) > 0 {
		b.WriteString("\n## Go against the Node baseline\n\n")
		b.WriteString("| matches | overlays | delivered go / node | p99 ms go / node | server cores go / node | RSS MB go / node | B/match_data go / node |\n")
		b.WriteString("|--:|--:|---|---|---|---|---|\n")
		for _, k := range order {
			g, okg := byKind[KindGo][k]
			n, okn := byKind[KindNode][k]
			if !okg || !okn {
				continue
			}
			cell := func(a, b float64, fmtf func(float64) string, suffix string, okA, okB bool) string {
				sa, sb := "—", "—"
				if okA {
					sa = fmtf(a) + suffix
				}
				if okB {
					sb = fmtf(b) + suffix
				}
				ratio := ""
				if okA && okB && b > 0 {
					ratio = fmt.Sprintf(" (×%.2f)", a/b)
				}
				return sa + " / " + sb + ratio
			}
			gm, nm := g.WindowSeconds > 0, n.WindowSeconds > 0
			fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s |\n", k.m, k.n,
				cell(g.DeliveredPct, n.DeliveredPct, f1, "%", gm, nm),
				cell(g.LatencyP99ms, n.LatencyP99ms, f0, "", gm && g.LatencySamples > 0, nm && n.LatencySamples > 0),
				cell(g.ServerCores, n.ServerCores, f2, "", gm, nm),
				cell(g.ServerRSSMB, n.ServerRSSMB, f0, "", gm, nm),
				cell(g.BytesPerMatchData, n.BytesPerMatchData, f0, "", gm, nm))
		}
	}

	var errs []string
	for _, x := range r.Results {
		if x.FirstError != "" {
			errs = append(errs, fmt.Sprintf("- %s %dx%d: %s", x.Server, x.Matches, x.Overlays, x.FirstError))
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

- **overlays**: clients of the output port in total, spread evenly over the matches; all but the
  polling share are direct WebSocket clients offering permessage-deflate exactly as Chromium
  does (` + "`permessage-deflate; client_max_window_bits`" + `). A few per match are probes (below).
- **logged on / connect s**: overlays that got ` + "`logon_success`" + `, and the time from the first
  connection attempt to the last ` + "`logon_success`" + ` (the ramp rate bounds it from below).
- **sends/match/s**: the match_data each overlay is owed per second — per match, the number of
  100 ms slots in which the observer sent at least one event (what a change-driven 100 ms loop must
  send, at most 10/s), or the busiest probe's count if higher (a server may send sooner after a quiet
  period), averaged over the matches.
- **expected/s** = Σ over matches of sends/s × overlays of the match; **delivered/s**: match_data
  messages all overlays received in the window; **delivered** = delivered / expected.
- **p50/p99/max ms**: ingest→overlay latency measured by the probes. Each observer emits a
  ` + "`toast`" + ` event with a sequence number every marker interval; the server copies the toast into the
  state's toastInfo, so the first match_data whose toastInfo is active with message m<seq> is the
  first state reflecting that marker. Latency = when the probe read it − when the observer handed the
  marker to its socket; it includes the wait for the server's send tick.
- **wire MB/s**: bytes all overlays read from their sockets (frame headers, compressed payloads,
  pings, polling bodies). **B/match_data**: wire bytes (frame header + payload) per match_data over the
  WebSocket overlays.
- **zlib-3 ctx B / no-ctx B**: the offline reference — the match_data payloads the first probe of
  match 0 received in the window, compressed by Node's zlib as the ws library does (deflate-raw level
  3, memLevel 7, 15-bit window, sync flush per message, 1024-byte threshold) on one stream per
  connection (context takeover), and message by message (no context), plus the frame header.
- **server cores / RSS**: from /proc/<pid>/stat (utime+stime over the window) and /proc/<pid>/status
  (VmRSS, highest sample in the window). **KiB/conn**: RSS at the end of the window minus RSS before
  the overlays connected, per logged-on overlay (busy connections, not idle ones).
- **harness cores**: this bench's own CPU in the window (observers, overlays, probes).
- **disc**: overlays disconnected during the window; **errors**: failed connections, protocol or
  write errors, observer errors and match_data that were not valid JSON.
`
