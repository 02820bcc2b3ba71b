package operator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/socketio"
)

type source struct{ draining atomic.Bool }

func (s *source) Status() StatusDoc {
	return StatusDoc{Status: "UP", Matches: []StatusMatch{{GroupCode: "LIVE01", AuxClients: []string{}}}, Waiting: []StatusWaiting{}}
}
func (s *source) Draining() bool { return s.draining.Load() }

func TestHandlerRoutesAndGuard(t *testing.T) {
	const token = "tok-3F9"
	src := &source{}
	ingest := socketio.NewServer(socketio.Config{})
	output := socketio.NewServer(socketio.Config{})
	reg := NewRegistry([]Port{{Name: "ingest", Server: ingest}, {Name: "output", Server: output}}, Gauges{
		LiveMatches:     func() int { return 1 },
		OverlaysWaiting: func() int { return 3 },
		RecvBudgetBytes: func() int64 { return 42 },
		Draining:        src.Draining,
	}, nil, prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPrefix + "test_total", Help: "a collector of the relay"}))
	srv := httptest.NewServer(Handler(src, MetricsHandler(reg, nil), Config{AdminToken: token}))
	defer srv.Close()
	cases := []struct {
		name       string
		method     string
		path       string
		auth       string
		draining   bool
		wantStatus int
		wantIn     string // the body holds it
	}{
		{"healthz without token", "GET", "/healthz", "", false, 200, `{"status":"UP"}`},
		{"readyz", "GET", "/readyz", "", false, 200, `{"status":"READY"}`},
		{"readyz draining", "GET", "/readyz", "", true, 503, `{"status":"DRAINING"}`},
		{"status page needs the token", "GET", "/", "", false, 401, `Unauthorized`},
		{"wrong token", "GET", "/status/matches", "Bearer nope", false, 401, `Unauthorized`},
		{"status page", "GET", "/", "Bearer " + token, false, 200, `<`},
		{"status JSON", "GET", "/status/matches", "Bearer " + token, false, 200, `"groupCode":"LIVE01"`},
		{"metrics", "GET", "/metrics", "Bearer " + token, false, 200, `spectra_overlays_waiting 3`},
		{"metrics of the relay's collectors", "GET", "/metrics", "Bearer " + token, false, 200, `spectra_test_total 0`},
		{"metrics per port", "GET", "/metrics", "Bearer " + token, false, 200, `spectra_sockets{port="output"} 0`},
		{"draining gauge", "GET", "/metrics", "Bearer " + token, true, 200, `spectra_draining 1`},
		{"pprof off", "GET", "/debug/pprof/", "Bearer " + token, false, 404, `Not found`},
		{"unknown", "GET", "/nope", "Bearer " + token, false, 404, `Not found`},
		{"no write method", "POST", "/status/matches", "Bearer " + token, false, 404, `Not found`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src.draining.Store(c.draining)
			req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus || !strings.Contains(string(b), c.wantIn) {
				t.Fatalf("status %d, want %d; body %.300s, want it to hold %q", resp.StatusCode, c.wantStatus, b, c.wantIn)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Error("the operator surface answered with CORS")
			}
			if c.path == "/status/matches" && resp.StatusCode == 200 {
				var doc StatusDoc
				if err := json.Unmarshal(b, &doc); err != nil || len(doc.Matches) != 1 {
					t.Errorf("status doc %s: %v", b, err)
				}
			}
		})
	}
}

func TestHandlerWithoutTokenNeedsLiteralHost(t *testing.T) {
	h := Handler(&source{}, http.NotFoundHandler(), Config{})
	cases := []struct {
		host string
		want int
	}{
		{"127.0.0.1:9", 200},
		{"[::1]:9", 200},
		{"localhost", 200},
		{"LOCALHOST:80", 200},
		{"evil.example:9", 403},
		{"127.0.0.1.nip.io", 403},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/status/matches", nil)
			r.Host = c.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("Host %q: %d, want %d", c.host, w.Code, c.want)
			}
		})
	}
}
