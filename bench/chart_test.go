package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestChartFromReport(t *testing.T) {
	r := &Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, ServerCPUs: "0", HarnessCPUs: "1", Results: []Result{
		measured(KindGo, StepRamp, 1, 200, 100, 90, 0.1, 1600, 20),
		measured(KindFloor, StepRamp, 1, 200, 100, 85, 0.08, 1600, 10),
		measured(KindNode, StepRamp, 1, 200, 98, 95, 0.5, 1500, 300),
		measured(KindGo, StepStorm, 10, 1000, 99, 140, 0.3, 8000, 25),
		measured(KindFloor, StepStorm, 10, 1000, 100, 110, 0.2, 8000, 12),
		measured(KindGo, StepRamp, 10, 1000, 100, 100, 0.25, 8000, 22),
		measured(KindFloor, StepRamp, 10, 1000, 100, 104, 0.2, 8000, 11),
		{Server: KindNode, Matches: 10, Overlays: 1000, Status: "server exited"},
	}}
	if p := os.Getenv("BENCH_REPORT"); p != "" {
		// Re-render a real report: BENCH_REPORT=bench/results/x.json go test -run Chart ./bench
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		r = &Report{}
		if err := json.Unmarshal(b, r); err != nil {
			t.Fatal(err)
		}
	}
	svg := Chart(r)
	for _, want := range []string{"<svg", "Node socket.io baseline", "floor server, storm", "100 ms send interval",
		"server CPU per delivered match_data", "server RSS per connected overlay", "failed"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart without %q", want)
		}
	}
	if strings.Count(svg, "<polyline") < 4 {
		t.Errorf("chart with %d lines", strings.Count(svg, "<polyline"))
	}
	if out := os.Getenv("BENCH_SVG_OUT"); out != "" {
		os.WriteFile(out, []byte(svg), 0o644)
	}
	md := r.Markdown("x.svg")
	if !strings.Contains(md, "| go |") {
		t.Fatalf("markdown without rows:\n%s", md)
	}
}
