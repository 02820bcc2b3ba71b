package relay

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/jsontext"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

func TestObsLogonRefusals(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	live, _ := logonObserver(t, ts, r.logon("LIVE01", tKey, tVersion))
	_ = live

	withField := func(k string, v any) *logonPayload {
		m := r.logon("NEW001", tKey, tVersion)
		switch k {
		case "type":
			m.Type = v
		case "clientVersion":
			m.ClientVersion = v
		case "key":
			m.Key = v
		}
		return m
	}
	cases := []struct {
		name   string
		logon  *logonPayload
		reason string
	}{
		{"type", withField("type", "auth"), "Invalid packet."},
		{"no type", withField("type", nil), "Invalid packet."},
		{"old version", withField("clientVersion", "0.3.2"), "Client version 0.3.2 is not compatible with server version 0.3.4."},
		{"too new", withField("clientVersion", "0.3.25"), "Client version 0.3.25 is not compatible with server version 0.3.4."},
		{"prerelease", withField("clientVersion", "0.3.10-beta.1"), "Client version 0.3.10-beta.1 is not compatible with server version 0.3.4."},
		{"no version", withField("clientVersion", nil), "Client version undefined is not compatible with server version 0.3.4."},
		{"key", withField("key", "wrong"), "Invalid Key"},
		{"no key", withField("key", nil), "Invalid Key"},
		{"live group", r.logon("LIVE01", tKey, tVersion), "Game with Group Code LIVE01 exists and is still live."},
		{"wrong secret", func() *logonPayload {
			m := r.logon("LIVE01", tKey, tVersion)
			m.GroupSecret = "AAAAAAAAAAAA"
			return m
		}(), "Game with Group Code LIVE01 exists and is still live."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialT(t, ts.ingest)
			emitJSON(t, c, "obs_logon", tc.logon)
			a, raw := c.ack(t, "obs_logon_ack")
			want := obsAck(false, tc.reason)
			if raw != want {
				t.Fatalf("ack %s, want %s", raw, want)
			}
			if a.Type != "authenticate" || a.Value {
				t.Fatalf("ack %+v", a)
			}
			waitDone(t, c)
		})
	}
	if n := ts.srv.ctrl.Count(); n != 1 {
		t.Fatalf("%d live matches after refusals, want 1", n)
	}
}

func TestObsLogonNoKeyRequired(t *testing.T) {
	ts := newTServer(t, func(c *Config) { c.RequireAuthKey = false; c.AuthKey = "" })
	r := loadReplay(t, "short_3rounds")
	_, secret := logonObserver(t, ts, r.logon("ANYKEY", "whatever", "0.3.3"))
	if !isSecret(secret) {
		t.Fatalf("secret %q is not 12 characters of A-Z0-9", secret)
	}
}

func TestEmptyAuthKeyRefusesAll(t *testing.T) {
	ts := newTServer(t, func(c *Config) { c.AuthKey = "" })
	r := loadReplay(t, "short_3rounds")
	for _, key := range []any{"", nil} {
		m := r.logon("G1", "", tVersion)
		m.Key = key
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "obs_logon", m)
		if a, _ := c.ack(t, "obs_logon_ack"); a.Value || a.Reason != "Invalid Key" {
			t.Fatalf("key %v: ack %+v", key, a)
		}
	}
}

func isSecret(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// sendEvents emits replay events as the observer (obs) and returns how
// many it sent; stop says where to stop (exclusive).
func sendObs(t testing.TB, c *tClient, r tReplay, groupCode string, stop func(replayfile.Event) bool) int {
	t.Helper()
	n := 0
	for i := range r.events {
		e := &r.events[i]
		if stop != nil && stop(*e) {
			break
		}
		if e.Kind() != replayfile.KindObserver {
			continue
		}
		p, err := e.Payload(groupCode)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Emit("obs_data", string(p)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	c.sync(t)
	return n
}

func afterMatchStart() func(replayfile.Event) bool {
	seen := false
	return func(e replayfile.Event) bool {
		if seen {
			return true
		}
		seen = e.Type == "match_start"
		return false
	}
}

func TestReconnectWithGroupSecretKeepsState(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, secret := logonObserver(t, ts, r.logon("RECON1", tKey, tVersion))
	// Up to the end of round 1.
	stop := func(e replayfile.Event) bool {
		round, phase, ok := e.RoundInfo()
		return ok && round == 2 && phase == "shopping"
	}
	sendObs(t, obs, r, "RECON1", stop)
	_ = obs.Close()

	ov := overlay(t, ts, "RECON1")
	ev, _ := ov.waitFor(t, 0, named("match_data"))
	before := matchData(t, ev)
	if before["roundNumber"].(float64) != 1 || before["isRunning"] != true {
		t.Fatalf("state before reconnect: round %v running %v", before["roundNumber"], before["isRunning"])
	}

	l := r.logon("RECON1", tKey, tVersion)
	l.GroupSecret = secret
	obs2 := dialT(t, ts.ingest)
	emitJSON(t, obs2, "obs_logon", l)
	a, raw := obs2.ack(t, "obs_logon_ack")
	if raw != `{"type":"authenticate","value":true,"reason":"reconnected"}` || !a.Value {
		t.Fatalf("reconnect ack %s", raw)
	}
	// The state is the same match: a snapshot to a new overlay equals it.
	ov2 := overlay(t, ts, "RECON1")
	ev2, _ := ov2.waitFor(t, 0, named("match_data"))
	if ev2.arg != ev.arg {
		t.Fatal("state after reconnect differs from before")
	}
	// The new connection continues the match.
	emitJSON(t, obs2, "obs_data", map[string]any{"obsName": "o", "groupCode": "RECON1", "type": "round_info",
		"data": map[string]any{"roundNumber": 2, "roundPhase": "shopping"}})
	ov.waitFor(t, 1, func(e tEvent) bool {
		return e.name == "match_data" && strings.Contains(e.arg, `"roundNumber":2,"roundPhase":"shopping"`)
	})
}

func TestOutputSnapshotOnlyToNewOverlay(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("SNAP01", tKey, tVersion))
	early := overlay(t, ts, "SNAP01")
	sendObs(t, obs, r, "SNAP01", afterMatchStart())
	// Settle: a marker event, then wait for its state.
	// Markers are map changes: "Jam" shows as Lotus, "Juliett" as Sunset.
	marker := func(c *tClient, n int) {
		emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": "SNAP01", "type": "map", "data": []string{"", "Jam", "Juliett"}[n]})
	}
	hasMap := func(name string) func(tEvent) bool {
		return func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == name }
	}
	marker(obs, 1)
	_, i1 := early.waitFor(t, 0, hasMap("Lotus"))

	late := overlay(t, ts, "SNAP01")
	ev, _ := late.waitFor(t, 0, named("match_data"))
	if matchData(t, ev)["map"] != "Lotus" {
		t.Fatal("the late overlay's snapshot is not the current state")
	}
	evs := late.all()
	if evs[0].name != "logon_success" || evs[0].arg != `{"groupCode":"SNAP01","msg":"Logon succeeded for group code SNAP01"}` {
		t.Fatalf("first event %s %s", evs[0].name, evs[0].arg)
	}

	marker(obs, 2)
	_, i2 := early.waitFor(t, i1+1, hasMap("Sunset"))
	late.waitFor(t, 0, hasMap("Sunset"))
	if i2 != i1+1 {
		for _, e := range early.all()[i1-1 : i2+1] {
			m := matchData(t, e)
			t.Logf("%s map=%v round=%v phase=%v len=%d", e.name, m["map"], m["roundNumber"], m["roundPhase"], len(e.arg))
		}
		t.Fatalf("the early overlay got %d extra events when another overlay logged on", i2-i1-1)
	}
	if n := late.count("match_data"); n != 2 {
		t.Fatalf("late overlay got %d match_data, want snapshot + 1", n)
	}
}

func TestOverlayBeforeMatchGetsFirstState(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	ov := overlay(t, ts, "EARLY1")
	if n := ov.count("match_data"); n != 0 {
		t.Fatalf("%d match_data before the match exists", n)
	}
	logonObserver(t, ts, r.logon("EARLY1", tKey, tVersion))
	ev, _ := ov.waitFor(t, 0, named("match_data"))
	if m := matchData(t, ev); m["groupCode"] != "EARLY1" {
		t.Fatalf("state of %v", m["groupCode"])
	}
}

func TestAuxLogonAndDisconnectFlags(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("AUX001", tKey, tVersion))
	sendObs(t, obs, r, "AUX001", afterMatchStart())
	matchID := r.matchID()

	aux := func(m map[string]any) (*tClient, ack, string) {
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "aux_logon", m)
		a, raw := c.ack(t, "aux_logon_ack")
		return c, a, raw
	}
	var playerID string
	for _, e := range r.events {
		if e.Kind() == replayfile.KindAux {
			playerID = e.PlayerID
			break
		}
	}
	// match_data has no player ids: find the player by name.
	var playerName string
	for _, e := range r.events {
		var d struct{ PlayerID, Name string }
		if e.Type == "roster" && json.Unmarshal(e.Data, &d) == nil && d.PlayerID == playerID {
			playerName = d.Name
		}
	}
	base := func() map[string]any {
		return map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "name": "P#1", "matchId": matchID, "playerId": playerID}
	}
	refusals := []struct {
		mod    func(map[string]any)
		reason string
	}{
		{func(m map[string]any) { m["type"] = "authenticate" }, "Invalid packet."},
		{func(m map[string]any) { m["clientVersion"] = "1.0.0" }, "Client version 1.0.0 is not compatible with server version 0.3.4."},
		{func(m map[string]any) { m["matchId"] = "nope" }, "Game with Match ID nope not found."},
		{func(m map[string]any) { m["matchId"] = "" }, "Game with Match ID  not found."},
	}
	for _, rf := range refusals {
		m := base()
		rf.mod(m)
		c, _, raw := aux(m)
		if want := obsAck(false, rf.reason); raw != want {
			t.Fatalf("aux ack %s, want %s", raw, want)
		}
		waitDone(t, c)
	}

	ac, _, raw := aux(base())
	if raw != `{"type":"aux_authenticate","value":true}` {
		t.Fatalf("aux ack %s", raw)
	}
	ov := overlay(t, ts, "AUX001")
	emitJSON(t, ac, "aux_data", map[string]any{"playerId": playerID, "matchId": matchID, "type": "aux_health", "data": 77})
	flags := func(e tEvent) (map[string]any, bool) {
		if e.name != "match_data" {
			return nil, false
		}
		for _, tm := range matchData(t, e)["teams"].([]any) {
			for _, p := range tm.(map[string]any)["players"].([]any) {
				pm := p.(map[string]any)
				if pm["name"] == playerName {
					return pm["auxiliaryAvailable"].(map[string]any), true
				}
			}
		}
		return nil, false
	}
	_, i := ov.waitFor(t, 0, func(e tEvent) bool {
		f, ok := flags(e)
		return ok && f["health"] == true
	})
	_ = ac.Close()
	ov.waitFor(t, i+1, func(e tEvent) bool {
		f, ok := flags(e)
		return ok && f["health"] == false && f["abilities"] == false && f["scoreboard"] == false
	})
}

func TestGameEndRemovesMatchAndDisconnects(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "swift")
	obs, _ := logonObserver(t, ts, r.logon("END001", tKey, tVersion))
	sendObs(t, obs, r, "END001", afterMatchStart())
	matchID := r.matchID()
	var auxes []*tClient
	seen := map[string]bool{}
	for _, e := range r.events {
		if e.Kind() != replayfile.KindAux || seen[e.PlayerID] {
			continue
		}
		seen[e.PlayerID] = true
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "aux_logon", map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "name": "x", "matchId": matchID, "playerId": e.PlayerID})
		if a, _ := c.ack(t, "aux_logon_ack"); !a.Value {
			t.Fatalf("aux refused: %s", a.Reason)
		}
		auxes = append(auxes, c)
	}
	if len(auxes) < 2 {
		t.Fatalf("%d aux clients", len(auxes))
	}
	if ts.srv.ctrl.Count() != 1 {
		t.Fatal("match not live")
	}
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": "END001", "type": "round_info",
		"data": map[string]any{"roundNumber": 9, "roundPhase": "game_end"}})
	waitDone(t, obs)
	for _, c := range auxes {
		waitDone(t, c)
	}
	if n := ts.srv.ctrl.Count(); n != 0 {
		t.Fatalf("%d live matches after game_end", n)
	}
	if info, ok := ts.srv.ctrl.TeamInfo("END001"); !ok || !json.Valid(info) {
		t.Fatal("no finished team info")
	}
	// The replay file is complete and closed.
	files, _ := filepath.Glob(filepath.Join(ts.replayDir, "Match_END001_*.replay"))
	if len(files) != 1 {
		t.Fatalf("replay files %v", files)
	}
	h, evs := readReplayEventually(t, files[0], 0)
	if h.GroupCode != "END001" || h.LogStartTime == 0 || len(evs) == 0 || !evs[len(evs)-1].IsGameEnd() {
		t.Fatalf("replay header %+v, %d events", h, len(evs))
	}
	var hdr map[string]any
	_ = json.Unmarshal(h.Raw, &hdr)
	if _, ok := hdr["key"]; ok {
		t.Fatal("replay header keeps the key")
	}
	if _, ok := hdr["type"]; ok {
		t.Fatal("replay header keeps the type")
	}
	for _, e := range evs {
		if !e.HasTimestamp {
			t.Fatalf("event %d without timestamp", e.Index)
		}
	}
}

// readReplayEventually reads a replay file whose close runs in the
// background after a match removal: it is complete once it parses with
// the expected number of events (or any, for want 0) and ends in game_end.
func readReplayEventually(t testing.TB, path string, want int) (replayfile.Header, []replayfile.Event) {
	t.Helper()
	var (
		h       replayfile.Header
		evs     []replayfile.Event
		lastErr error
	)
	if !testenv.Poll(tTimeout, func() bool {
		h, evs, lastErr = replayfile.ReadFile(path)
		return lastErr == nil && (want == 0 && len(evs) > 0 && evs[len(evs)-1].IsGameEnd() || want > 0 && len(evs) == want)
	}) {
		t.Fatalf("replay %s incomplete: %v", path, lastErr)
	}
	return h, evs
}

func TestNoSecretsEmitted(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	ov := overlay(t, ts, "SEC001")
	obs, secret := logonObserver(t, ts, r.logon("SEC001", tKey, tVersion))
	sendObs(t, obs, r, "SEC001", nil)
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": "SEC001", "type": "map", "data": "Jam"})
	ov.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == "Lotus" })
	late := overlay(t, ts, "SEC001")
	late.waitFor(t, 0, named("match_data"))

	pcSecret := r.playercamsSecret(t)
	for _, c := range []*tClient{ov, late} {
		for _, e := range c.all() {
			if hit := containsAny(string(e.raw), secret, tKey, pcSecret, `\"endTime\"`, "replayLog", "eventNumber", "timeoutEndTimeout", "timeoutRemainingLoop", "toastEndTimeout", "groupSecret"); hit != "" {
				t.Fatalf("%s frame contains %q", e.name, hit)
			}
		}
	}
	if n := ov.count("match_data"); n < 2 {
		t.Fatalf("only %d match_data", n)
	}
}

func TestMalformedDataKeepsConnection(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("BAD001", tKey, tVersion))
	ov := overlay(t, ts, "BAD001")
	for _, p := range []any{"not json", `{"obsName":"o"}`, `[1,2]`, 42, `{"obsName":"o","groupCode":"BAD001","type":"scoreboard","data":{"kills":"x"}}`,
		`{"obsName":"o","groupCode":"OTHER1","type":"map","data":"Ascent"}`} {
		if err := obs.Emit("obs_data", p); err != nil {
			t.Fatal(err)
		}
	}
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": "BAD001", "type": "map", "data": "Jam"})
	ov.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == "Lotus" })
	select {
	case <-obs.Done():
		t.Fatalf("observer disconnected: %v", obs.Err())
	default:
	}
}

func TestFirstLogonWins(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	c := dialT(t, ts.ingest)
	emitJSON(t, c, "obs_logon", r.logon("FIRST1", tKey, tVersion))
	emitJSON(t, c, "obs_logon", r.logon("FIRST2", tKey, tVersion))
	emitJSON(t, c, "aux_logon", map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "matchId": "x"})
	c.ack(t, "obs_logon_ack")
	c.sync(t)
	if n := c.count("obs_logon_ack"); n != 1 {
		t.Fatalf("%d obs_logon_ack", n)
	}
	if n := c.count("aux_logon_ack"); n != 0 {
		t.Fatalf("%d aux_logon_ack", n)
	}
	if ts.srv.ctrl.get("FIRST2") != nil {
		t.Fatal("a second logon on one connection created a match")
	}
}

func TestReplayFileFormat(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("FILE01", tKey, tVersion))
	n := sendObs(t, obs, r, "FILE01", nil)
	files, _ := filepath.Glob(filepath.Join(ts.replayDir, "Match_FILE01_*.replay"))
	if len(files) != 1 {
		t.Fatalf("replay files %v", files)
	}
	h, evs := readReplayEventually(t, files[0], n)
	raw, _ := os.ReadFile(files[0])
	var all []json.RawMessage
	if err := json.Unmarshal([]byte("["+string(raw)+"]"), &all); err != nil {
		t.Fatalf("[file] is not a JSON array: %v", err)
	}
	ms, _ := jsontext.Members(h.Raw)
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	want := "serverVersion,clientVersion,obsName,groupCode,groupSecret,leftTeam,rightTeam,toolsData,logStartTime"
	if got := strings.Join(keys, ","); got != want {
		t.Fatalf("header keys %s, want %s", got, want)
	}
	if !strings.HasSuffix(files[0], fmt.Sprintf("_%d.replay", h.LogStartTime)) {
		t.Fatalf("file %s does not end in the header's logStartTime %d", files[0], h.LogStartTime)
	}
	for i, e := range evs {
		if e.GroupCode != "FILE01" || !e.HasTimestamp || e.Timestamp < h.LogStartTime {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

func TestOverlayRateLoopback(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("RATE02", tKey, tVersion))
	var overlays []*tClient
	for _, tr := range [][]string{{"polling"}, {"websocket"}} {
		c := &tClient{notify: make(chan struct{}, 1)}
		c.Client = sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: tr}, Logger: quietLogger()})
		c.OnAny(func(e *sioclient.Event) {
			ev := tEvent{name: e.Name}
			if s, err := e.String(0); err == nil {
				ev.arg = s
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
			select {
			case c.notify <- struct{}{}:
			default:
			}
		})
		if err := c.Connect(ctxT(t), ts.output); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		emitJSON(t, c, "logon", map[string]string{"groupCode": "RATE02"})
		c.waitFor(t, 0, named("match_data"))
		overlays = append(overlays, c)
	}
	base := []int{overlays[0].count("match_data"), overlays[1].count("match_data")}
	payloads := obsPayloads(t, r, "RATE02")
	const span = 1500 * time.Millisecond
	tick := time.NewTicker(2 * time.Millisecond)
	start := time.Now()
	for i := 0; time.Since(start) < span; i++ {
		<-tick.C
		if err := obs.Emit("obs_data", payloads[i%len(payloads)]); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": "RATE02", "type": "map", "data": "Juliett"})
	elapsed := time.Since(start)
	for i, c := range overlays {
		c.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && strings.Contains(e.arg, `"map":"Sunset"`) })
		n := c.count("match_data") - base[i]
		// At most one send per 100 ms, plus the leading edge.
		if max := int(elapsed/DefaultSendInterval) + 2; n > max {
			t.Fatalf("overlay %d got %d match_data in %v (max %d)", i, n, elapsed, max)
		}
		if n < 5 {
			t.Fatalf("overlay %d got only %d match_data in %v", i, n, elapsed)
		}
	}
}
