package bench

import (
	"strings"
	"testing"
)

func TestGoalLines(t *testing.T) {
	// measured(server, kind, matches, overlays, delivered, p99, cores, perSec, rssKiB):
	// µs CPU per match_data = cores / perSec × 1e6.
	plain := measured(KindGo, StepRamp, 10, 2000, 100, 120, 0.5, 10000, 10) // 50 µs
	plain.ServerGoroutines = 40
	tls := measured(KindGoTLS, StepRamp, 10, 2000, 100, 150, 0.6, 10000, 16)      // 60 µs, p99 +30, RSS ×1.6
	tls.ServerGoroutines = 59                                                     // +19 < 1 % of 2000
	write := measured(KindGoWrite, StepRamp, 10, 2000, 100, 125, 0.6, 10000, 10)  // ×1.2: met at the bound
	aio := measured(KindGoAIO, StepRamp, 10, 2000, 100, 125, 0.65, 10000, 10)     // ×1.3: missed
	plus := measured(KindFloorPlus, StepRamp, 10, 2000, 99.9, 110, 0.5, 11000, 8) // 45.45 µs: go ×1.1
	// At 50x5000 floor+ does not deliver, TLS has a goroutine per overlay
	// and neither write(2) nor AIO was run.
	plain5 := measured(KindGo, StepRamp, 50, 5000, 100, 130, 0.9, 20000, 10)
	plain5.ServerGoroutines = 40
	tls5 := measured(KindGoTLS, StepRamp, 50, 5000, 99, 140, 1.0, 20000, 12)
	tls5.ServerGoroutines = 5040
	plus5 := measured(KindFloorPlus, StepRamp, 50, 5000, 97, 300, 1.0, 20000, 8)

	lines := goalLines([]Result{plain, tls, write, aio, plus, plain5, tls5, plus5})
	want := []struct{ step, goal, fa, fb, ratio, verdict string }{
		{"10x2000", "TLS µs CPU per delivered match_data", "60.0", "50.0", "×1.20", "met"},
		{"10x2000", "TLS KiB RSS per overlay", "16.0", "10.0", "×1.60", "**missed**"},
		{"10x2000", "TLS p99 ms", "150", "120", "×1.25 (Δ +30 ms)", "**missed**"},
		{"10x2000", "TLS goroutines", "59", "40", "×1.48", "met"},
		{"10x2000", "write(2) µs CPU per match_data", "60.0", "50.0", "×1.20", "met"},
		{"10x2000", "AIO (container fallback) µs CPU per match_data", "65.0", "50.0", "×1.30", "**missed**"},
		{"10x2000", "relay µs CPU per match_data", "50.0", "45.5", "×1.10", "met"},
		{"50x5000", "TLS µs CPU per delivered match_data", "50.0", "45.0", "×1.11", "met"},
		{"50x5000", "TLS KiB RSS per overlay", "12.0", "10.0", "×1.20", "met"},
		{"50x5000", "TLS p99 ms", "140", "130", "×1.08 (Δ +10 ms)", "met"},
		{"50x5000", "TLS goroutines", "5040", "40", "×126.00", "**missed**"},
		{"50x5000", "relay µs CPU per match_data", "45.0", "50.0", "×0.90", "does not apply (floor+ delivered 97.00 %)"},
	}
	if len(lines) != len(want) {
		for _, l := range lines {
			t.Logf("%+v", l)
		}
		t.Fatalf("%d goal lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		l := lines[i]
		got := []string{l.Step.String(), l.Goal, l.FA, l.FB, l.Ratio, l.Verdict}
		exp := []string{w.step, w.goal, w.fa, w.fb, w.ratio, w.verdict}
		if strings.Join(got, " | ") != strings.Join(exp, " | ") {
			t.Errorf("line %d:\n got %s\nwant %s", i, strings.Join(got, " | "), strings.Join(exp, " | "))
		}
	}

	// A server missing its figure, the harness full.
	noCPU := tls
	noCPU.ServerCPUPerMsgUs = 0
	noCPU.HarnessCores = 0.99
	l := goalLines([]Result{plain, noCPU})[0]
	if l.FA != dash || l.Verdict != "no figures" {
		t.Errorf("without A's figure: %+v", l)
	}
	if l := goalLines([]Result{plain, noCPU})[1]; !strings.HasSuffix(l.Verdict, " ‡") {
		t.Errorf("harness full: verdict %q, want ‡", l.Verdict)
	}
	if len(goalLines([]Result{plain, measured(KindFloor, StepRamp, 10, 2000, 100, 100, 0.4, 10000, 8)})) != 0 {
		t.Error("goal lines without any of the goals' pairs")
	}
	var b strings.Builder
	goalsMarkdown(&b, []Result{plain, tls})
	if !strings.Contains(b.String(), "| 10x2000 | TLS p99 ms | ≤ plain + 20 ms | `go+INSECURE=false` / `go` | 150 | 120 | ×1.25 (Δ +30 ms) | **missed** |") {
		t.Errorf("markdown:\n%s", b.String())
	}
}
