package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestGoVariantEnv(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		want    []string
		wantErr string
	}{
		{kind: "go+URING=true", want: []string{"URING=true"}},
		{kind: "go+URING=true+SNDBUF=64KiB", want: []string{"URING=true", "SNDBUF=64KiB"}},
		{kind: "go+LOG_LEVEL=debug", want: []string{"LOG_LEVEL=debug"}},
		{kind: "go+A1=x=y", want: []string{"A1=x=y"}},
		{kind: "go", wantErr: "not a go+NAME=value kind"},
		{kind: "floor+URING=true", wantErr: "not a go+NAME=value kind"},
		{kind: "go+", wantErr: "not NAME=value"},
		{kind: "go+URING", wantErr: "not NAME=value"},
		{kind: "go+URING=", wantErr: "not NAME=value"},
		{kind: "go+=true", wantErr: "not an environment variable name"},
		{kind: "go+uring=true", wantErr: "not an environment variable name"},
		{kind: "go+1X=2", wantErr: "not an environment variable name"},
		{kind: "go+URING=true+URING=false", wantErr: "given twice"},
		{kind: "go+REQUIRE_AUTH_KEY=true", wantErr: "set by the bench"},
		{kind: "go+INSECURE=false", want: []string{"INSECURE=false"}},
		{kind: "go+INSECURE=false+URING=false", want: []string{"INSECURE=false", "URING=false"}},
		{kind: "go+INSECURE=no", wantErr: "true or false"},
		{kind: "go+SERVER_CERT=x.pem", wantErr: "set by the bench"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			got, err := GoVariantEnv(tc.kind)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("GoVariantEnv(%q) = %v, %v; want an error with %q", tc.kind, got, err, tc.wantErr)
				}
				if IsGoVariant(tc.kind) {
					t.Errorf("IsGoVariant(%q) = true", tc.kind)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("GoVariantEnv(%q) = %v, %v; want %v", tc.kind, got, err, tc.want)
			}
			if !IsGo(tc.kind) || IsCluster(tc.kind) {
				t.Errorf("IsGo(%q) = false or IsCluster true", tc.kind)
			}
			if tls := slices.Contains(tc.want, "INSECURE=false"); VariantTLS(tc.kind) != tls {
				t.Errorf("VariantTLS(%q) = %v, want %v", tc.kind, !tls, tls)
			}
		})
	}
}

// TestVariantReport: a variant is reported beside go and the floor of
// the same step, as ratios.
func TestVariantReport(t *testing.T) {
	st := Step{Kind: StepRamp, Matches: 10, Overlays: 5000}
	res := func(server string, cpu, p99 float64) Result {
		r := Result{Server: server, Kind: st.Kind, Matches: st.Matches, Overlays: st.Overlays, Status: "ok",
			DeliveredPct: 100, LatencySamples: 100, LatencyP99ms: p99, ServerCPUPerMsgUs: cpu, Connected: int64(st.Overlays), WindowSeconds: 10}
		return r
	}
	results := []Result{res(KindGo, 10, 130), res("go+URING=true", 9, 128), res(KindFloor, 8, 120)}
	results[0].ServerGoroutines, results[1].ServerGoroutines = 40, 5040
	var b strings.Builder
	variantMarkdown(&b, results)
	out := b.String()
	for _, want := range []string{"`go+URING=true`", "9.0 / 10.0 (×0.90)", "9.0 / 8.0 (×1.12)", "(Δ -2)", "5040 / 40 (×126.00)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	variantMarkdown(&b, results[:1])
	if b.Len() != 0 {
		t.Errorf("a run without variants got a variant section: %s", b.String())
	}
}

// TestFloorPlusReport: go and its variants beside floor+, with the ×1.1
// CPU goal judged only where floor+ delivers.
func TestFloorPlusReport(t *testing.T) {
	st := Step{Kind: StepRamp, Matches: 10, Overlays: 2000}
	res := func(server string, cpu, delivered float64) Result {
		return Result{Server: server, Kind: st.Kind, Matches: st.Matches, Overlays: st.Overlays, Status: "ok",
			DeliveredPct: delivered, LatencySamples: 100, LatencyP99ms: 120, ServerCPUPerMsgUs: cpu, Connected: int64(st.Overlays), WindowSeconds: 10}
	}
	var b strings.Builder
	floorPlusMarkdown(&b, []Result{res(KindGo, 10.5, 100), res(KindGoTLS, 12, 100), res(KindFloor, 14, 100), res(KindFloorPlus, 10, 100)})
	out := b.String()
	for _, want := range []string{"## spectra-server beside floor+",
		"| `go` | 10x2000 (100 / 100 samples, under 10000) | 100.0% / 100.0% (×1.00) | 120 / 120 (×1.00) (Δ +0) | 10.5 / 10.0 (×1.05) | met |",
		"| `go+INSECURE=false` | 10x2000 (100 / 100 samples, under 10000) |", "12.0 / 10.0 (×1.20) | **missed** |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	floorPlusMarkdown(&b, []Result{res(KindGo, 30, 100), res(KindFloorPlus, 10, 97)})
	if !strings.Contains(b.String(), "| — (floor+ under 99.5 %) |") {
		t.Errorf("a floor+ that did not deliver judged the goal:\n%s", b.String())
	}
	b.Reset()
	floorPlusMarkdown(&b, []Result{res(KindGo, 10, 100), res(KindFloor, 10, 100)})
	if b.Len() != 0 {
		t.Errorf("a run without floor+ got its section: %s", b.String())
	}
}
