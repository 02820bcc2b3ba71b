package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// measured is a result with a complete window.
func measured(server, kind string, m, n int, delivered, p99, cores, perSec, rssKiB float64) Result {
	return Result{Server: server, Kind: kind, Matches: m, Overlays: n, Status: "ok", Connected: int64(n),
		WindowSeconds: 10, DeliveredPct: delivered, LatencySamples: 20, LatencyP99ms: p99,
		ServerCores: cores, DeliveredPerSec: perSec, ServerCPUPerMsgUs: cores / perSec * 1e6,
		RSSPerConnKiB: rssKiB, HarnessCPUs: 1, HarnessCores: 0.5,
		ConnectSeconds: 1, SendsPerMatchPerSec: 8, ExpectedPerSec: perSec, LatencyP50ms: 50, LatencyMaxms: p99,
		WireMBps: 1, BytesPerMatchData: 200, RefMessages: 10, RefContextBytes: 1000, RefNoContextBytes: 3000, ServerRSSMB: 30}
}

func TestCompare(t *testing.T) {
	goStorm := measured(KindGo, StepStorm, 10, 2000, 99.9, 130, 0.5, 10000, 20)
	goStorm.StormSeconds = 6
	floorStorm := measured(KindFloor, StepStorm, 10, 2000, 100, 105, 0.4, 10000, 10)
	floorStorm.StormSeconds = 2
	floorStorm.HarnessCores = 0.97 // its one harness CPU was full
	goRamp := Result{Server: KindGo, Matches: 10, Overlays: 2000, Status: "server exited while clients connected"}
	floorRamp := measured(KindFloor, StepRamp, 10, 2000, 100, 102, 0.4, 10000, 10)
	goAbort := measured(KindGo, StepRamp, 50, 5000, 90, 300, 1, 10000, 30)
	goAbort.Aborted, goAbort.Status = true, "aborted: server RSS 5000 MB over the limit"
	floorLow := measured(KindFloor, StepRamp, 50, 5000, 80, 400, 1, 10000, 10)
	nodeOnly := measured(KindNode, StepRamp, 50, 5000, 10, 9000, 1, 100, 400)

	cs := Compare([]Result{goStorm, floorStorm, goRamp, floorRamp, goAbort, floorLow, nodeOnly}, KindGo, KindFloor)
	if len(cs) != 3 {
		t.Fatalf("%d comparisons, want 3 (storm and ramp at 10x2000 are different steps)", len(cs))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	c := cs[0]
	if c.Step != (Step{Kind: StepStorm, Matches: 10, Overlays: 2000}) {
		t.Fatalf("first step %v", c.Step)
	}
	if !c.Delivered.HasRat || !near(c.Delivered.R, 0.999) {
		t.Errorf("delivered ratio %+v", c.Delivered)
	}
	if !c.CPUPerMsg.HasRat || !near(c.CPUPerMsg.R, 1.25) {
		t.Errorf("CPU ratio %+v", c.CPUPerMsg)
	}
	if !c.Storm.HasRat || !near(c.Storm.R, 3) {
		t.Errorf("storm ratio %+v", c.Storm)
	}
	if !c.RSSPerConn.HasRat || !near(c.RSSPerConn.R, 2) {
		t.Errorf("RSS ratio %+v", c.RSSPerConn)
	}
	if !c.HasP99Delta || !near(c.P99Delta, 25) || !near(c.P99Over.A, 30) || !near(c.P99Over.B, 5) || c.P99Over.HasRat {
		t.Errorf("p99 over the send interval %+v, delta %v", c.P99Over, c.P99Delta)
	}
	if !c.HarnessFull || !c.BDeliversAll {
		t.Errorf("harness full %v, floor delivers all %v", c.HarnessFull, c.BDeliversAll)
	}
	if got, want := c.Misses(), []string{"p99", "CPU", "storm", "RSS"}; !slices.Equal(got, want) {
		t.Errorf("misses %v, want %v", got, want)
	}

	// spectra-server failed: its side is —, no ratio, every goal missed.
	c = cs[1]
	if c.Delivered.OKA || c.Delivered.HasRat || !c.Delivered.OKB || c.HasP99Delta || c.Storm.OKA || c.Storm.OKB {
		t.Errorf("failed step: %+v", c)
	}
	if cell := c.Delivered.cell(f1, "%"); cell != "— / 100.0%" {
		t.Errorf("failed step's delivered cell %q", cell)
	}
	if got := c.Misses(); !slices.Equal(got, []string{"delivered", "p99", "CPU", "RSS"}) {
		t.Errorf("failed step misses %v", got)
	}

	// An aborted window is not a measurement; the floor under 99.5 %: no goals.
	c = cs[2]
	if c.Delivered.OKA || c.CPUPerMsg.OKA || c.BDeliversAll || c.Misses() != nil {
		t.Errorf("aborted step: %+v, misses %v", c, c.Misses())
	}
}

func TestReportDashes(t *testing.T) {
	ok := measured(KindFloor, StepRamp, 1, 200, 100, 101, 0.1, 1600, 9)
	short := measured(KindGo, StepRamp, 1, 200, 97, 180, 0.2, 1550, 20)
	short.Status = "97.0% delivered, under 99.5%"
	failed := Result{Server: KindGo, Kind: StepStorm, Matches: 1, Overlays: 200, Status: "server exited while clients connected", Connected: 12}
	aborted := measured(KindFloor, StepStorm, 1, 200, 60, 900, 0.3, 900, 9)
	aborted.Aborted, aborted.Status = true, "interrupted"
	r := &Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, Results: []Result{short, ok, failed, aborted}}
	md := r.Markdown("x.svg")
	rows := map[string]string{}
	for _, line := range strings.Split(md, "\n") {
		f := strings.Split(line, "|")
		if len(f) > 20 {
			rows[strings.TrimSpace(f[1])+" "+strings.TrimSpace(f[2])] = line
		}
	}
	for key, want := range map[string]struct {
		dashes bool
		has    string
	}{
		"go 1x200":          {false, "**97.0%**"},
		"floor 1x200":       {false, "**100.0%**"},
		"go storm:1x200":    {true, "server exited"},
		"floor storm:1x200": {true, "interrupted"},
	} {
		line, found := rows[key]
		if !found {
			t.Fatalf("no row %q in\n%s", key, md)
		}
		if !strings.Contains(line, want.has) {
			t.Errorf("row %q lacks %q: %s", key, want.has, line)
		}
		// Unmeasured rows: every figure after "logged on" is —, none is 0.
		f := strings.Split(line, "|")
		figures := f[4 : len(f)-3] // connect s … harness cores
		n := 0
		for _, c := range figures {
			c = strings.TrimSpace(c)
			if c == dash {
				n++
			}
			if want.dashes && (c == "0" || c == "0.0" || c == "0.00" || c == "**0.0%**") {
				t.Errorf("row %q shows %q for an unmeasured figure: %s", key, c, line)
			}
		}
		if want.dashes && n < len(figures)-1 {
			t.Errorf("row %q: only %d of %d figures are —: %s", key, n, len(figures), line)
		}
		if !want.dashes && n > 1 { // storm s, on a ramp step
			t.Errorf("measured row %q has %d —: %s", key, n, line)
		}
	}
	if !strings.Contains(md, "## spectra-server beside the floor") || !strings.Contains(md, "×") {
		t.Errorf("no comparison with the floor:\n%s", md)
	}
}

func TestHarnessFull(t *testing.T) {
	for _, tc := range []struct {
		cpus          int
		window, storm float64
		want          bool
	}{
		{1, 0.96, 0, true},
		{1, 0.5, 0.99, true},
		{1, 0.9, 0.9, false},
		{2, 1.5, 0, false},
		{2, 1.95, 0, true},
		{0, 5, 5, false}, // unknown
	} {
		r := Result{HarnessCPUs: tc.cpus, HarnessCores: tc.window, StormHarnessCores: tc.storm}
		if got := r.HarnessFull(); got != tc.want {
			t.Errorf("%+v: HarnessFull %v, want %v", tc, got, tc.want)
		}
	}
}

func TestReportMajorFaults(t *testing.T) {
	quiet := measured(KindFloor, StepRamp, 1, 200, 100, 101, 0.1, 1600, 9)
	faulted := measured(KindGo, StepRamp, 1, 200, 100, 900, 0.2, 1550, 20)
	faulted.ServerMajorFaults, faulted.HarnessMajorFaults = 3, 1
	unmeasured := Result{Server: KindGo, Kind: StepStorm, Matches: 1, Overlays: 200, Status: "interrupted", ServerMajorFaults: 7}
	for _, tc := range []struct {
		name    string
		results []Result
		rows    []string // expected lines of the section; none: no section
	}{
		{"no faults", []Result{quiet}, nil},
		{"faults at one step", []Result{quiet, faulted}, []string{"| go | 1x200 | 3 | 1 |"}},
		{"unmeasured step left out", []Result{unmeasured}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := (&Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, Results: tc.results}).Markdown("x.svg")
			has := strings.Contains(md, "## Major page faults in the window")
			if has != (len(tc.rows) > 0) {
				t.Fatalf("section present %v, want %v:\n%s", has, len(tc.rows) > 0, md)
			}
			for _, row := range tc.rows {
				if !strings.Contains(md, row+"\n") {
					t.Errorf("no row %q in\n%s", row, md)
				}
			}
			if strings.Contains(md, "| floor | 1x200 | 0 |") {
				t.Errorf("a step without faults is listed:\n%s", md)
			}
		})
	}
}
