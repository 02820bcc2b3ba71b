package bench

import (
	"bufio"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int
		wantErr    bool
	}{
		{"present", "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_threads 7\n", 42, false},
		{"float form", "go_goroutines 1.5e+03\n", 1500, false},
		{"prefix of another name", "go_goroutines_total 3\n", 0, true},
		{"missing", "go_threads 7\n", 0, true},
		{"a word", "go_goroutines many\n", 0, true},
		{"negative", "go_goroutines -1\n", 0, true},
		{"infinite", "go_goroutines +Inf\n", 0, true},
		{"not a number", "go_goroutines NaN\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGoroutines(bufio.NewScanner(strings.NewReader(tc.text)))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseGoroutines = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestTLSVariantSmoke runs one real step of spectra-server with TLS
// (go+INSECURE=false): the server generates its pair in the step's folder,
// the observer, probes and counting overlays trust it and connect over
// https/wss, and the goroutine count is read from the admin listener.
func TestTLSVariantSmoke(t *testing.T) {
	cfg, src := smokeStep(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	res := runStep(ctx, cfg, []*replaySource{src}, KindGoTLS, Step{Matches: 1, Overlays: 10})
	t.Logf("%s", res.summary())
	if !res.Measured() || res.Status != "ok" {
		t.Fatalf("status %q, first error %q (logs in %s)", res.Status, res.FirstError, cfg.LogDir)
	}
	if res.Connected != 10 || res.Probes != 2 || res.LatencySamples == 0 {
		t.Errorf("connected %d, probes %d, latency samples %d; want 10, 2, > 0", res.Connected, res.Probes, res.LatencySamples)
	}
	if res.Errors != 0 || res.InvalidJSON != 0 || res.ConnectFails != 0 {
		t.Errorf("errors %d, invalid JSON %d, connect failures %d (first: %q)", res.Errors, res.InvalidJSON, res.ConnectFails, res.FirstError)
	}
	if res.DeliveredPct < 99 || res.DeliveredPct > 100 {
		t.Errorf("delivered %.2f%%: want every state, and never over 100 %%", res.DeliveredPct)
	}
	if res.OwedFrom != OwedFromServer {
		t.Errorf("owed from %q: the server's per-match send counts were not read", res.OwedFrom)
	}
	if res.ServerGoroutines <= 0 {
		t.Errorf("server goroutines %d: /metrics on the admin listener was not read", res.ServerGoroutines)
	}
	// The pair the server generated is where the bench put it, and it is
	// the certificate the clients trusted (a plain server would have failed
	// every TLS handshake above).
	crts, _ := filepath.Glob(filepath.Join(cfg.LogDir, "*-tls", "server.crt"))
	if len(crts) != 1 {
		t.Fatalf("certificates generated for the step: %v; want one", crts)
	}
	if _, err := clientTLS(crts[0]); err != nil {
		t.Error(err)
	}
}

// FuzzParseGoroutines: any /metrics text gives a count ≥ 0 or an error,
// never a panic.
func FuzzParseGoroutines(f *testing.F) {
	f.Add("go_goroutines 42\n")
	f.Add("# TYPE go_goroutines gauge\ngo_goroutines 1e3\n")
	f.Add("go_goroutines NaN\n")
	f.Add("go_goroutines +Inf\n")
	f.Fuzz(func(t *testing.T, text string) {
		n, err := parseGoroutines(bufio.NewScanner(strings.NewReader(text)))
		if err == nil && n < 0 {
			t.Errorf("parseGoroutines(%q) = %d", text, n)
		}
	})
}
