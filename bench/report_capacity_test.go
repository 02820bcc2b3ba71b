package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMarginalRSS(t *testing.T) {
	go1k := measured(KindGo, StepRamp, 10, 1000, 100, 110, 0.2, 8000, 30)      // grew 30 000 KiB
	go2k := measured(KindGo, StepRamp, 10, 2000, 100, 110, 0.4, 16000, 20)     // 40 000 KiB
	goStorm := measured(KindGo, StepStorm, 10, 2000, 100, 110, 0.4, 16000, 25) // 50 000 KiB
	go50 := measured(KindGo, StepRamp, 50, 5000, 100, 110, 0.8, 40000, 40)
	fl1k := measured(KindFloor, StepRamp, 10, 1000, 100, 105, 0.2, 8000, 15) // 15 000 KiB
	fl1200 := measured(KindFloor, StepRamp, 10, 1200, 100, 105, 0.2, 8000, 14)
	fl1500 := measured(KindFloor, StepRamp, 10, 1500, 100, 105, 0.2, 8000, 12) // 18 000 KiB
	flFailed := Result{Server: KindFloor, Matches: 10, Overlays: 3000, Status: "server exited"}
	half := measured(KindFloor, StepRamp, 10, 4000, 60, 900, 1, 8000, 9)
	half.Connected = 3000 // 27 000 KiB over 3000 logged on
	results := []Result{go1k, go2k, goStorm, go50, fl1k, fl1200, fl1500, flFailed, half}
	for _, tc := range []struct {
		name  string
		x     Result
		ok    bool
		kib   float64
		other Step
	}{
		{"bigger step against the smaller", go2k, true, 10, go1k.Step()},
		{"smallest step against the nearest bigger", go1k, true, 10, go2k.Step()},
		{"storm step falls back to a ramp step, the nearest smaller", goStorm, true, 20, go1k.Step()},
		{"only step at its match count", go50, false, 0, Step{}},
		{"steps under 25 % apart are skipped", fl1500, true, 6, fl1k.Step()},
		{"1200: 1000 and 1500 too close, the next bigger taken", fl1200, true, (27000.0 - 16800) / 1800, half.Step()},
		{"unmeasured step", flFailed, false, 0, Step{}},
		{"overlays logged on, not asked for", half, true, (27000.0 - 18000) / 1500, fl1500.Step()},
	} {
		kib, other, ok := MarginalRSS(results, tc.x)
		if ok != tc.ok || math.Abs(kib-tc.kib) > 1e-9 || other != tc.other {
			t.Errorf("%s: %.3f KiB vs %v, %v; want %.3f vs %v, %v", tc.name, kib, other, ok, tc.kib, tc.other, tc.ok)
		}
	}
}

func TestUnpinnedWorse(t *testing.T) {
	pinned := measured(KindGo, StepStorm, 10, 2000, 99.9, 130, 0.5, 10000, 20)
	pinned.StormSeconds = 5
	with := func(f func(*Result)) Result {
		r := pinned
		r.Server = KindGoUnpinned
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name     string
		pinned   Result
		unpinned Result
		want     []string
	}{
		{"same", pinned, with(func(*Result) {}), nil},
		{"within the thresholds", pinned, with(func(r *Result) { r.DeliveredPct, r.LatencyP99ms, r.StormSeconds = 99.7, 149, 6 }), nil},
		{"delivered", pinned, with(func(r *Result) { r.DeliveredPct = 99.5 }), []string{"delivered -0.4 points"}},
		{"over 100 % is not better", with(func(r *Result) { r.Server, r.DeliveredPct = KindGo, 100.4 }), with(func(r *Result) { r.DeliveredPct = 100 }), nil},
		{"over 100 % counts as 100", with(func(r *Result) { r.Server, r.DeliveredPct = KindGo, 100.4 }), with(func(r *Result) { r.DeliveredPct = 99.6 }), []string{"delivered -0.4 points"}},
		{"p99 and storm", pinned, with(func(r *Result) { r.LatencyP99ms, r.StormSeconds = 151, 6.5 }), []string{"p99 +21 ms", "storm ×1.30"}},
		{"storm incomplete", pinned, with(func(r *Result) { r.StormSeconds = 0 }), []string{"storm not complete"}},
		{"unpinned not measured", pinned, Result{Server: KindGoUnpinned, Kind: StepStorm, Matches: 10, Overlays: 2000, Status: "server exited"},
			[]string{"not measured: server exited"}},
		{"pinned not measured", Result{Server: KindGo, Kind: StepStorm, Matches: 10, Overlays: 2000, Status: "server exited"}, pinned, nil},
	} {
		c := compareResults(tc.pinned, tc.unpinned)
		if got := c.UnpinnedWorse(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCapacityRange(t *testing.T) {
	probed := []CapacityProbe{{Overlays: 2000, OK: true}}
	capOf := func(ok, failed int) *Capacity {
		return &Capacity{Matches: 10, Overlays: ok, FailedAt: failed, Probes: probed}
	}
	for _, tc := range []struct {
		g, f   *Capacity
		lo, hi float64
		ok     bool
	}{
		{capOf(4000, 4500), capOf(4500, 5000), 0.8, 1, true},
		{capOf(4000, 0), capOf(4500, 5000), 0, 0, false},
		{capOf(4000, 4500), capOf(0, 250), 0, 0, false},
		{capOf(4000, 4500), nil, 0, 0, false},
	} {
		lo, hi, ok := CapacityRange(tc.g, tc.f)
		if math.Abs(lo-tc.lo) > 1e-9 || math.Abs(hi-tc.hi) > 1e-9 || ok != tc.ok {
			t.Errorf("%+v / %+v: %.3f–%.3f %v; want %.3f–%.3f %v", tc.g, tc.f, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

func TestCapacityGoal(t *testing.T) {
	probed := []CapacityProbe{{Overlays: 2000, OK: true}}
	capOf := func(server string, ok, failed int, full bool) *Capacity {
		return &Capacity{Server: server, Matches: 10, Overlays: ok, FailedAt: failed, HarnessFull: full, Probes: probed}
	}
	for _, tc := range []struct {
		name    string
		g, f    *Capacity
		r       float64
		has     bool
		verdict string
	}{
		{"met", capOf(KindGo, 9000, 9500, false), capOf(KindFloor, 10000, 11000, false), 0.9, true, "met"},
		{"missed", capOf(KindGo, 6000, 7000, false), capOf(KindFloor, 10000, 11000, false), 0.6, true, "missed"},
		{"met, but the floor's bound was the harness", capOf(KindGo, 10000, 11000, false), capOf(KindFloor, 10000, 11000, true), 1, true, "harness limit"},
		{"missed even against the harness limit", capOf(KindGo, 5000, 6000, false), capOf(KindFloor, 10000, 11000, true), 0.5, true, "missed (even"},
		{"missed, but go's bound was the harness", capOf(KindGo, 5000, 6000, true), capOf(KindFloor, 10000, 11000, false), 0.5, true, "harness limit"},
		{"floor never failed", capOf(KindGo, 9500, 10000, false), capOf(KindFloor, 10000, 0, false), 0.95, true, "floor not bounded"},
		{"go never failed", capOf(KindGo, 5000, 0, false), capOf(KindFloor, 10000, 11000, false), 0.5, true, "go not bounded"},
		{"go never ok", capOf(KindGo, 0, 250, false), capOf(KindFloor, 10000, 11000, false), 0, true, "missed"},
		{"floor never ok", capOf(KindGo, 0, 250, false), capOf(KindFloor, 0, 250, false), 0, false, dash},
		{"no floor search", capOf(KindGo, 5000, 6000, false), nil, 0, false, dash},
	} {
		r, has, verdict := CapacityGoal(tc.g, tc.f)
		if math.Abs(r-tc.r) > 1e-9 || has != tc.has || !strings.HasPrefix(verdict, tc.verdict) {
			t.Errorf("%s: ×%.2f %v %q; want ×%.2f %v %q…", tc.name, r, has, verdict, tc.r, tc.has, tc.verdict)
		}
	}
}

// TestReportNewSections renders a report with capacity searches, unpinned
// runs and two step sizes per server, writes it and reads it back.
func TestReportNewSections(t *testing.T) {
	goSmall := measured(KindGo, StepRamp, 10, 1000, 100, 110, 0.2, 8000, 30)    // grew 30 000 KiB
	goBig := measured(KindGo, StepRamp, 10, 2000, 99.8, 120, 0.4, 16000, 20)    // 40 000 KiB
	flSmall := measured(KindFloor, StepRamp, 10, 1000, 100, 105, 0.2, 8000, 15) // 15 000 KiB
	flBig := measured(KindFloor, StepRamp, 10, 2000, 100, 105, 0.3, 16000, 10)  // 20 000 KiB
	unSmall := goSmall
	unSmall.Server = KindGoUnpinned
	unBig := goBig
	unBig.Server, unBig.LatencyP99ms = KindGoUnpinned, 150
	probe := func(server string, n int, ok bool, full bool) CapacityProbe {
		r := measured(server, StepRamp, 10, n, 100, 110, 0.5, 10000, 10)
		why := ""
		if !ok {
			r.DeliveredPct, r.Status = 97.5, "97.50% delivered, under 99.5%"
			why = r.Status
		}
		if full {
			r.HarnessCores = 0.99
		}
		return CapacityProbe{Overlays: n, OK: ok, Why: why, Result: r}
	}
	caps := []Capacity{
		{Server: KindGo, Matches: 10, Overlays: 6000, FailedAt: 7000, Stop: StopResolution,
			Probes: []CapacityProbe{probe(KindGo, 2000, true, false), probe(KindGo, 4000, true, false), probe(KindGo, 8000, false, false),
				probe(KindGo, 6000, true, false), probe(KindGo, 7000, false, false)}},
		{Server: KindFloor, Matches: 10, Overlays: 8000, FailedAt: 9000, HarnessFull: true, Stop: StopProbes,
			Probes: []CapacityProbe{probe(KindFloor, 8000, true, false), probe(KindFloor, 9000, false, true)}},
		{Server: KindGo, Matches: 50, Overlays: 4000, Stop: StopProbes,
			Probes: []CapacityProbe{probe(KindGo, 4000, true, false)}},
	}
	r := &Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, ServerCPUs: "0", HarnessCPUs: "1",
		Results: []Result{goSmall, unSmall, flSmall, goBig, unBig, flBig}, Capacity: caps}
	dir := t.TempDir()
	base := filepath.Join(dir, "report")
	if err := r.Write(base); err != nil {
		t.Fatal(err)
	}
	mdBytes, err := os.ReadFile(base + ".md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(mdBytes)
	for _, want := range []string{
		// Beside the floor: go (40 000 − 30 000) / 1000 = 10, floor 5.
		"| marginal KiB RSS / overlay | goals missed |",
		"| 20.0 / 10.0 (×2.00) | 10.0 / 5.0 (×2.00) vs 10x1000 | CPU, RSS |",
		"| 30.0 / 15.0 (×2.00) | 10.0 / 5.0 (×2.00) vs 10x2000 | RSS |",
		"## Capacity\n",
		"| 10 | 6000 (fails at 7000) | 8000 (fails at 9000 ‡) | ×0.75 (0.67–0.88) | missed (even against the floor's harness limit) |",
		"| 50 | ≥ 4000 | — | — | — |",
		"- go, 10 matches: 2000 ok · 4000 ok · 8000 failed (97.50 %, p99 110 ms) · 6000 ok · 7000 failed (97.50 %, p99 110 ms) — stopped: resolution reached",
		"- floor, 10 matches: 8000 ok · 9000 failed (97.50 %, p99 110 ms) ‡ — stopped: probe bound reached",
		"## go unpinned beside go pinned\n",
		"| 10x1000 (20 / 20 samples, under 10000) | 100.0% / 100.0% | +10 ms / +10 ms | 25.0 / 25.0 | — | 30.0 / 30.0 | no |",
		"| 10x2000 (20 / 20 samples, under 10000) | 99.8% / 99.8% | +20 ms / +50 ms | 25.0 / 25.0 | — | 20.0 / 20.0 | **worse**: p99 +30 ms |",
		"‡ **The harness's CPUs were full**",
		"**marginal KiB RSS / overlay**",
		"**Capacity** (-capacity)",
		"**go-unpinned** (-unpinned-too)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// The pinned and unpinned rows stay apart in the JSON, the capacity
	// searches keep their probes; a redraw gives the same report.
	js, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	servers := map[string]int{}
	for _, x := range back.Results {
		servers[x.Server]++
	}
	if servers[KindGo] != 2 || servers[KindGoUnpinned] != 2 || servers[KindFloor] != 2 {
		t.Errorf("servers in the JSON: %v", servers)
	}
	if len(back.Capacity) != 3 || len(back.Capacity[0].Probes) != 5 || back.Capacity[1].FailedAt != 9000 || !back.Capacity[1].HarnessFull {
		t.Errorf("capacity in the JSON: %+v", back.Capacity)
	}
	if err := Redraw(base + ".json"); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(base + ".md")
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != md {
		t.Errorf("redrawn report differs")
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "Go spectra-server unpinned") {
		t.Errorf("chart has no unpinned line")
	}
}
