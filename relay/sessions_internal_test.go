package relay

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"spectra-relay/internal/testenv"
	"spectra-relay/socketio/sioclient"
)

// TestSidecar: the secret sidecar keeps the group secret on its first line
// and the ingest sessions' bindings after it, mode 0600, replaced whole.
func TestSidecar(t *testing.T) {
	bs := []sessionBinding{
		{PID: "p1", SID: "s1"},
		{PID: "p2", SID: "s2", Aux: true, PlayerID: "player \"two\"\nwith a newline"},
	}
	tests := []struct {
		name    string
		content string // written as is when set; else writeSidecar(secret, bs)
		secret  string
		want    []sessionBinding
		wantErr bool
	}{
		{name: "round trip", secret: "SECRET123456", want: bs},
		{name: "secret only (an older relay's file)", content: "SECRET123456\n", secret: "SECRET123456"},
		{name: "damaged lines skipped", content: "S\n{\"pid\":\"p1\",\"sid\":\"s1\"}\n{broken\n{\"pid\":\"\",\"sid\":\"x\"}\n{\"pid\":\"p3\"}\n", secret: "S", want: bs[:1]},
		{name: "empty secret", content: "\n{\"pid\":\"p1\",\"sid\":\"s1\"}\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Match_X_1.secret")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := writeSidecar(path, tc.secret, tc.want); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("sidecar %v, mode %v", err, st.Mode().Perm())
			}
			secret, got, err := readSidecar(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("readSidecar error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if secret != tc.secret || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("read %q %+v, want %q %+v", secret, got, tc.secret, tc.want)
			}
			if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
				t.Fatalf("temporary file left behind: %v", err)
			}
		})
	}
	// A wider file of the same name is narrowed when replaced.
	path := filepath.Join(t.TempDir(), "wide.secret")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSidecar(path, "new", bs); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after replace", st.Mode().Perm())
	}
}

// recoveries is the spectra_ingest_recoveries_total sample of result,
// read from the server's own registry.
func recoveries(t *testing.T, ts *tServer, result string) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := ts.srv.ctrl.m.recoveries.WithLabelValues(result).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestIngestSessionRecovery: an observer whose connection is lost comes
// back with its session (no logon) and its events go into its match; a
// session whose match ended is not recovered; with recovery off the ingest
// port issues no pid.
func TestIngestSessionRecovery(t *testing.T) {
	tests := []struct {
		name       string
		off        bool // RecoveryWindow < 0
		endMatch   bool // the match is removed while the client is away
		recovered  bool
		metric     string
		dataGoesIn bool
	}{
		{name: "lost connection recovered", recovered: true, metric: "restored", dataGoesIn: true},
		{name: "match ended meanwhile", endMatch: true, metric: "refused"},
		{name: "recovery off", off: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTServer(t, func(c *Config) {
				if tc.off {
					c.RecoveryWindow = -1
				}
			})
			r := loadReplay(t, "short_3rounds")
			const code = "RECOV1"
			obs, _ := logonObserver(t, ts, r.logon(code, tKey, tVersion))
			sendObs(t, obs, r, code, afterMatchStart())
			sess := obs.Session()
			if tc.off {
				if sess.PID != "" {
					t.Fatal("a pid with recovery off")
				}
				return
			}
			if sess.PID == "" || sess.Offset == "" {
				t.Fatalf("no recoverable session: pid set %v, offset %q", sess.PID != "", sess.Offset)
			}
			ov := overlay(t, ts, code)
			ov.waitFor(t, 0, named("match_data"))
			// The connection is lost: the Engine.IO session ends without the
			// namespace's DISCONNECT a deliberate Close would send.
			_ = obs.EIO().Close()
			// The relay has seen the connection go (and remembers it).
			if !testenv.Poll(tTimeout, func() bool { return ts.srv.ingest.Of("/").RecoverySessions() == 1 }) {
				t.Fatal("the lost session was not remembered")
			}
			if tc.endMatch {
				lm := ts.srv.ctrl.get(code)
				if lm == nil {
					t.Fatal("no live match")
				}
				ts.srv.ctrl.remove(lm, "test")
			}
			back := sioclient.New(sioclient.Options{Session: sess, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := back.Connect(ctxT(t), ts.ingest); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = back.Close() })
			if back.Recovered() != tc.recovered || (back.SID() == obs.SID()) != tc.recovered {
				t.Fatalf("recovered %v (same sid %v), want %v", back.Recovered(), back.SID() == obs.SID(), tc.recovered)
			}
			if got := recoveries(t, ts, tc.metric); got != 1 {
				t.Fatalf("recoveries{result=%q} = %v, want 1", tc.metric, got)
			}
			if !tc.dataGoesIn {
				return
			}
			// No logon: the recovered connection's data goes into its match.
			b, _ := json.Marshal(map[string]any{"obsName": "o", "groupCode": code, "type": "round_info",
				"data": map[string]any{"roundNumber": 7, "roundPhase": "shopping"}})
			if err := back.Emit("obs_data", string(b)); err != nil {
				t.Fatal(err)
			}
			ov.waitFor(t, 1, func(e tEvent) bool {
				return e.name == "match_data" && strings.Contains(e.arg, `"roundNumber":7,"roundPhase":"shopping"`)
			})
		})
	}
}

// FuzzReadSidecar: any file content reads without panicking; what comes
// back is a non-empty secret and bindings with a pid and a sid.
func FuzzReadSidecar(f *testing.F) {
	f.Add([]byte("SECRET\n{\"pid\":\"p\",\"sid\":\"s\",\"aux\":true,\"playerId\":\"x\"}\n"))
	f.Add([]byte("S\n{broken\n\n{\"pid\":1}\n"))
	f.Add([]byte(""))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "f.secret")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		secret, bs, err := readSidecar(path)
		if err != nil {
			return
		}
		if secret == "" {
			t.Fatal("an empty secret without an error")
		}
		for _, x := range bs {
			if x.PID == "" || x.SID == "" {
				t.Fatalf("binding without pid or sid: %+v", x)
			}
		}
	})
}
