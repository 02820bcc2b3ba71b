package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"

	"spectra-relay/relay/operator"
)

// metricSet is one scrape of /metrics: "name{labels}" → value, with the
// labels as the text format writes them (sorted by label name).
type metricSet map[string]float64

func scrapeMetrics(t testing.TB, base string) metricSet {
	t.Helper()
	resp, body := httpGet(t, base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	ms := metricSet{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics line %q", line)
		}
		ms[line[:i]] = v
	}
	return ms
}

// sum adds every series of a metric whose labels contain all of match.
func (ms metricSet) sum(name string, match ...string) float64 {
	total := 0.0
	for k, v := range ms {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(k, m)
		}
		if ok {
			total += v
		}
	}
	return total
}

func (ms metricSet) has(name string) bool {
	for k := range ms {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

func httpGet(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

// eventually polls cond until it holds, failing after tTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, tTimeout, what, cond)
}

func logonOverlay(t testing.TB, c *tClient, groupCode string) *tClient {
	t.Helper()
	emitJSON(t, c, "logon", map[string]string{"groupCode": groupCode})
	c.waitFor(t, 0, named("logon_success"))
	return c
}

// untilRound stops a replay before the shopping phase of the given round:
// the state is then the previous round's end.
func untilRound(n int) func(replayfile.Event) bool {
	return func(e replayfile.Event) bool {
		round, phase, ok := e.RoundInfo()
		return ok && round == n && phase == "shopping"
	}
}

// TestMetricsMoveDuringReplay replays part of a match through a relay on
// loopback and checks, by scraping /metrics, that every family the issue
// asks for follows: connections by port and transport, live matches,
// events, match_data sends and bytes, send lag, deflate, replay bytes,
// closes by reason; then that /readyz fails once Shutdown begins.
func TestMetricsMoveDuringReplay(t *testing.T) {
	ts := newTServer(t, nil)
	other := newTServer(t, nil) // a second relay in the same process
	r := loadReplay(t, "short_3rounds")

	before := scrapeMetrics(t, ts.admin)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "spectra_send_lag_seconds_bucket",
		"spectra_connection_closes_total", "spectra_deflate_in_bytes_total", "spectra_recv_budget_evictions_total", "spectra_recv_budget_bytes"} {
		if !before.has(name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v := before.sum("spectra_live_matches"); v != 0 {
		t.Fatalf("live matches before logon: %v", v)
	}
	if _, body := httpGet(t, ts.admin+"/readyz"); body != `{"status":"READY"}` {
		t.Fatalf("/readyz before shutdown: %s", body)
	}

	obs, _ := logonObserver(t, ts, r.logon("MET001", tKey, tVersion))
	// Overlays on each transport: polling only, upgraded without deflate,
	// WebSocket with permessage-deflate.
	logonOverlay(t, dialOpts(t, ts.output, eioclient.Options{NoUpgrade: true}), "MET001")
	upgraded := overlay(t, ts, "MET001")
	deflated := logonOverlay(t, dialOpts(t, ts.output, eioclient.Options{Transports: []string{"websocket"}, Deflate: true}), "MET001")
	waiting := overlay(t, ts, "WAIT01")
	_ = waiting

	sent := sendObs(t, obs, r, "MET001", untilRound(3))
	deflated.waitFor(t, 0, func(e tEvent) bool {
		return e.name == "match_data" && strings.Contains(e.arg, `"roundNumber":2,"roundPhase":"end"`)
	})
	// The replay flush loop writes every 100 ms, and the two overlays on
	// default transports finish their upgrade in the background.
	var ms metricSet
	eventually(t, "replay bytes written and both upgrades done", func() bool {
		ms = scrapeMetrics(t, ts.admin)
		return ms.sum("spectra_replay_bytes_written_total") > 0 &&
			ms.sum("spectra_upgrades_total", `port="output"`)-before.sum("spectra_upgrades_total", `port="output"`) >= 2
	})

	delta := func(name string, match ...string) float64 { return ms.sum(name, match...) - before.sum(name, match...) }
	if v := ms.sum("spectra_live_matches"); v != 1 {
		t.Errorf("live matches %v, want 1", v)
	}
	if v := delta("spectra_events_total"); v != float64(sent) {
		t.Errorf("events counted %v, sent %d", v, sent)
	}
	if v := delta("spectra_events_total", `result="ok"`); v < float64(sent)*0.9 {
		t.Errorf("events ok %v of %d", v, sent)
	}
	// However fast the events go in: the leading-edge send and at least one
	// trailing one (more when the replay spans several send intervals).
	sends := delta("spectra_match_data_sends_total")
	if sends < 2 {
		t.Errorf("match_data sends %v", sends)
	}
	if b := delta("spectra_match_data_bytes_total"); b < sends*1000 {
		t.Errorf("match_data bytes %v for %v sends", b, sends)
	}
	// Three overlays in the match's room get each broadcast (the sends
	// before they logged on reached fewer).
	if n := delta("spectra_match_data_recipients_total"); n < sends || n > 3*sends {
		t.Errorf("recipients %v for %v sends", n, sends)
	}
	lagCount, lagSum := delta("spectra_send_lag_seconds_count"), delta("spectra_send_lag_seconds_sum")
	if lagCount < 1 || lagCount > sends {
		t.Errorf("send lag observations %v for %v sends", lagCount, sends)
	} else if avg := lagSum / lagCount; avg > 0.5 {
		t.Errorf("mean send lag %.3fs, want within a few send intervals", avg)
	}
	if v := ms.sum("spectra_connections", `port="ingest"`); v != 1 {
		t.Errorf("ingest connections %v, want 1 (the observer)", v)
	}
	if v := ms.sum("spectra_connections", `port="output"`, `transport="polling"`); v != 1 {
		t.Errorf("output polling connections %v, want 1", v)
	}
	if v := ms.sum("spectra_connections", `port="output"`, `transport="websocket"`); v != 3 {
		t.Errorf("output websocket connections %v, want 3", v)
	}
	if v := delta("spectra_upgrades_total", `port="output"`); v < 2 {
		t.Errorf("output upgrades %v, want 2", v)
	}
	if v := ms.sum("spectra_sockets", `port="output"`); v != 4 {
		t.Errorf("output sockets %v, want 4", v)
	}
	if v := ms.sum("spectra_overlays_waiting"); v != 1 {
		t.Errorf("overlays waiting %v, want 1", v)
	}
	in := delta("spectra_deflate_in_bytes_total", `port="output"`)
	out := delta("spectra_deflate_out_bytes_total", `port="output"`)
	// At least halved: the broadcasts' first frame has no history to refer
	// to, and the stream's encoder (deltaflate, fixed codes) compresses such
	// a frame about 3-4x; with only two or three sends it weighs most.
	if in < sends*1000 || out <= 0 || out*2 > in {
		t.Errorf("deflate on output: %v bytes in, %v out", in, out)
	}
	if v := ms.sum("spectra_replay_bytes_written_total"); v <= 0 {
		t.Errorf("replay bytes %v", v)
	}
	t.Logf("%d events; %v sends, %v bytes, %v recipients; lag mean %.1f ms over %v; deflate %v -> %v bytes (%.1f%%); replay %v bytes",
		sent, sends, delta("spectra_match_data_bytes_total"), delta("spectra_match_data_recipients_total"),
		1000*lagSum/max(lagCount, 1), lagCount, in, out, 100*out/max(in, 1), ms.sum("spectra_replay_bytes_written_total"))

	// The other relay in this process counts on its own.
	if om := scrapeMetrics(t, other.admin); om.sum("spectra_live_matches") != 0 || om.sum("spectra_events_total") != 0 {
		t.Errorf("second relay sees the first one's numbers: %v matches, %v events",
			om.sum("spectra_live_matches"), om.sum("spectra_events_total"))
	}

	// A client that closes is counted by reason.
	_ = upgraded.Close()
	eventually(t, "close counted", func() bool {
		ms = scrapeMetrics(t, ts.admin)
		return delta("spectra_connection_closes_total", `port="output"`, `reason="client_close"`) >= 1
	})

	// The existing /status answer is unchanged, byte for byte.
	if _, body := httpGet(t, ts.extras+"/status"); body != `{"status":"UP","matchesRunning":1}` {
		t.Errorf("/status = %s", body)
	}

	// Shutdown: readiness fails from its start, health stays.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	eventually(t, "/readyz 503 during shutdown", func() bool {
		resp, body := httpGet(t, ts.admin+"/readyz")
		return resp.StatusCode == http.StatusServiceUnavailable && body == `{"status":"DRAINING"}`
	})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(tTimeout):
		t.Fatal("shutdown did not return")
	}
	if resp, _ := httpGet(t, ts.admin+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz after shutdown: %d", resp.StatusCode)
	}
	if resp, _ := httpGet(t, ts.admin+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after shutdown: %d", resp.StatusCode)
	}
	ms = scrapeMetrics(t, ts.admin)
	if ms.sum("spectra_draining") != 1 {
		t.Error("spectra_draining is not 1 after shutdown")
	}
	if v := delta("spectra_connection_closes_total", `reason="server_shutting_down"`); v < 4 {
		t.Errorf("shutdown closes %v, want every remaining client", v)
	}
	// Shutdown closed the replay file: the counter is its size, exactly.
	files, err := filepath.Glob(filepath.Join(ts.replayDir, "*.replay"))
	if err != nil || len(files) != 1 {
		t.Fatalf("replay files %v (%v)", files, err)
	}
	st, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if v := ms.sum("spectra_replay_bytes_written_total"); v != float64(st.Size()) {
		t.Errorf("replay bytes counted %v, file has %d", v, st.Size())
	}
}

func TestHealthAndPprofRoutes(t *testing.T) {
	cases := []struct {
		pprof      bool
		port       string // admin or extras
		path       string
		status     int
		bodyPrefix string
	}{
		{false, "admin", "/healthz", 200, `{"status":"UP"}`},
		{false, "admin", "/readyz", 200, `{"status":"READY"}`},
		{false, "admin", "/debug/pprof/", 404, `{"error":"Not found"}`},
		{false, "admin", "/debug/pprof/goroutine?debug=1", 404, `{"error":"Not found"}`},
		{true, "admin", "/debug/pprof/", 200, "<html>"},
		{true, "admin", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{true, "admin", "/debug/pprof/cmdline", 200, ""},
		{true, "extras", "/status", 200, `{"status":"UP","matchesRunning":0}`},
		{true, "admin", "/nope", 404, `{"error":"Not found"}`},
	}
	servers := map[bool]*tServer{
		false: newTServer(t, nil),
		true:  newTServer(t, func(c *Config) { c.Pprof = true }),
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("pprof=%v/%s%s", tc.pprof, tc.port, tc.path), func(t *testing.T) {
			base := servers[tc.pprof].admin
			if tc.port == "extras" {
				base = servers[tc.pprof].extras
			}
			resp, body := httpGet(t, base+tc.path)
			if resp.StatusCode != tc.status || !strings.HasPrefix(strings.TrimSpace(body), tc.bodyPrefix) {
				t.Fatalf("%d %.120q, want %d %q…", resp.StatusCode, body, tc.status, tc.bodyPrefix)
			}
		})
	}
}

// TestStatusMatchesJSON checks the status page's data against a replayed
// match: group code, teams, score, round, observer, aux clients, overlays,
// waiting codes, and that no secret leaks.
func TestStatusMatchesJSON(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, secret := logonObserver(t, ts, r.logon("JSON01", tKey, tVersion))
	sendObs(t, obs, r, "JSON01", untilRound(3))
	auxes := logonAuxClients(t, ts, r, 2)
	for i := 0; i < 2; i++ {
		overlay(t, ts, "JSON01")
	}
	for i := 0; i < 3; i++ {
		overlay(t, ts, "NOPE42")
	}

	var doc operator.StatusDoc
	eventually(t, "status with both aux clients", func() bool {
		_, body := httpGet(t, ts.admin+"/status/matches")
		for _, leak := range []string{secret, tKey, r.playercamsSecret(t)} {
			if strings.Contains(body, leak) {
				t.Fatalf("/status/matches leaks %q", leak)
			}
		}
		doc = operator.StatusDoc{}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("/status/matches: %v: %s", err, body)
		}
		return len(doc.Matches) == 1 && len(doc.Matches[0].AuxClients) == len(auxes)
	})
	m := doc.Matches[0]
	var lt, rt struct{ Name, Tricode string }
	_ = json.Unmarshal(r.header.LeftTeam, &lt)
	_ = json.Unmarshal(r.header.RightTeam, &rt)
	if m.GroupCode != "JSON01" || m.Teams[0].Name != lt.Name || m.Teams[1].Name != rt.Name ||
		m.Teams[0].Tricode != lt.Tricode || m.Teams[1].Tricode != rt.Tricode {
		t.Errorf("match row %+v, want teams %+v %+v", m, lt, rt)
	}
	if m.RoundNumber != 2 || m.RoundPhase != "end" || m.Teams[0].RoundsWon+m.Teams[1].RoundsWon != 2 {
		t.Errorf("round %v %s, score %v:%v", m.RoundNumber, m.RoundPhase, m.Teams[0].RoundsWon, m.Teams[1].RoundsWon)
	}
	if !m.ObserverConnected || m.Overlays != 2 || m.SinceLastEvent > 5 || m.MatchID != r.matchID() {
		t.Errorf("observer %v, overlays %d, since last event %v, match id %q", m.ObserverConnected, m.Overlays, m.SinceLastEvent, m.MatchID)
	}
	// Aux clients show as their players' names from the roster.
	for _, name := range m.AuxClients {
		if name == "" || name == "(no player yet)" || auxes[name] {
			t.Errorf("aux clients shown as %q", m.AuxClients)
		}
	}
	if len(doc.Waiting) != 1 || doc.Waiting[0] != (operator.StatusWaiting{GroupCode: "NOPE42", Overlays: 3}) {
		t.Errorf("waiting %+v", doc.Waiting)
	}
	if doc.Status != "UP" || doc.OutputClients != 5 || doc.IngestClients != 3 {
		t.Errorf("totals: status %s, output %d, ingest %d", doc.Status, doc.OutputClients, doc.IngestClients)
	}

	// The observer drops: the row says so.
	_ = obs.Close()
	eventually(t, "observer shown disconnected", func() bool {
		_, body := httpGet(t, ts.admin+"/status/matches")
		return strings.Contains(body, `"observerConnected":false`)
	})
}

// logonAuxClients logs on n auxiliary clients for players of the replay
// (the match must have started) and returns their player ids.
func logonAuxClients(t testing.TB, ts *tServer, r tReplay, n int) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for i := range r.events {
		e := &r.events[i]
		if len(seen) == n {
			break
		}
		if e.Kind() != replayfile.KindAux || seen[e.PlayerID] {
			continue
		}
		seen[e.PlayerID] = true
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "aux_logon", map[string]any{"type": "aux_authenticate", "clientVersion": tVersion,
			"name": "aux", "matchId": r.matchID(), "playerId": e.PlayerID})
		if a, _ := c.ack(t, "aux_logon_ack"); !a.Value {
			t.Fatalf("aux refused: %s", a.Reason)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d aux clients, want %d", len(seen), n)
	}
	return seen
}
