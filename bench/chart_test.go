package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestChartFromReport(t *testing.T) {
	r := &Report{Date: "2026-01-01 00:00", Host: "test", CPUs: 2, Results: []Result{
		{Server: KindGo, Matches: 1, Overlays: 200, Status: "ok", WindowSeconds: 10, DeliveredPct: 100, LatencySamples: 5, LatencyP99ms: 90},
		{Server: KindNode, Matches: 1, Overlays: 200, Status: "ok", WindowSeconds: 10, DeliveredPct: 98, LatencySamples: 5, LatencyP99ms: 95},
		{Server: KindGo, Matches: 10, Overlays: 1000, Status: "ok", WindowSeconds: 10, DeliveredPct: 100, LatencySamples: 5, LatencyP99ms: 100},
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
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "Node socket.io baseline") || strings.Count(svg, "<polyline") < 1 {
		t.Fatalf("unexpected chart:\n%s", svg)
	}
	if out := os.Getenv("BENCH_SVG_OUT"); out != "" {
		os.WriteFile(out, []byte(svg), 0o644)
	}
	md := r.Markdown("x.svg")
	if !strings.Contains(md, "| go |") {
		t.Fatalf("markdown without rows:\n%s", md)
	}
}
