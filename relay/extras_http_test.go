package relay_test

// Acceptance 3: every HTTP extra of SPEC §9 on the extras port, for each of
// its status codes, with CORS "*" on every answer.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

type httpAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a httpAnswer) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("body is not a JSON object: %q (%v)", a.body, err)
	}
	return v
}

// do sends a request and checks the CORS header that every answer carries.
func do(t testing.TB, method, url string, body []byte, header map[string]string) httpAnswer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://overlay.example")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("%s %s (%d): Access-Control-Allow-Origin = %q, want *", method, url, resp.StatusCode, got)
	}
	return httpAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// expectJSON checks the status, a JSON content type and the exact body.
func expectJSON(t testing.TB, what string, a httpAnswer, status int, want map[string]any) map[string]any {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d; body %q", what, a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	got := a.json(t)
	if want != nil && !reflect.DeepEqual(got, want) {
		t.Errorf("%s: body %s, want %s", what, a.body, mustJSON(want))
	}
	return got
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestExtrasStatus(t *testing.T) {
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{})
	expectJSON(t, "GET /status (no match)", do(t, "GET", s.Extras+"/status", nil, nil), 200,
		map[string]any{"status": "UP", "matchesRunning": float64(0)})

	obs1, ack := obsLogon(t, s.Ingest, headerLogon(t, replay, "", "STAT01"))
	if !ack.Value {
		t.Fatalf("logon: %+v", ack)
	}
	obs2, _ := obsLogon(t, s.Ingest, headerLogon(t, replay, "", "STAT02"))
	expectJSON(t, "GET /status (two matches)", do(t, "GET", s.Extras+"/status", nil, nil), 200,
		map[string]any{"status": "UP", "matchesRunning": float64(2)})

	// game_end removes a match at once; a dropped observer does not.
	obsEvent(t, obs1, "Observer1#OBS", "STAT01", "round_info", map[string]any{"roundNumber": 1, "roundPhase": "game_end"})
	obs2.Close()
	var st map[string]any
	if !testenv.Poll(3*time.Second, func() bool {
		httpGetJSON(t, s.Extras+"/status", &st)
		return st["matchesRunning"] == float64(1)
	}) {
		t.Fatalf("matchesRunning after one game_end: %v, want 1", st["matchesRunning"])
	}
	select {
	case <-obs1.Done():
	case <-time.After(3 * time.Second):
		t.Error("the server did not disconnect the observer after game_end")
	}
}

func TestExtrasTeamInfoForCode(t *testing.T) {
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{})
	u := s.Extras + "/getTeamInfoForCode"
	expectJSON(t, "no groupCode", do(t, "GET", u, nil, nil), 400, map[string]any{"error": "Group code is required"})
	expectJSON(t, "empty groupCode", do(t, "GET", u+"?groupCode=", nil, nil), 400, map[string]any{"error": "Group code is required"})
	expectJSON(t, "unknown groupCode", do(t, "GET", u+"?groupCode=NOSUCH", nil, nil), 404, map[string]any{"error": "Group code not found"})

	logon := headerLogon(t, replay, "", "TEAM01")
	obs, _ := obsLogon(t, s.Ingest, logon)
	expectJSON(t, "live match", do(t, "GET", u+"?groupCode=TEAM01", nil, nil), 404, map[string]any{"error": "Group code not found"})

	// Left team (attacking first: in-game team 0) wins a round, then the game ends.
	obsEvent(t, obs, "Observer1#OBS", "TEAM01", "score", map[string]any{"team_0": 1, "team_1": 0})
	obsEvent(t, obs, "Observer1#OBS", "TEAM01", "round_info", map[string]any{"roundNumber": 2, "roundPhase": "game_end"})
	var a httpAnswer
	testenv.Poll(3*time.Second, func() bool { a = do(t, "GET", u+"?groupCode=TEAM01", nil, nil); return a.status != 404 })
	got := expectJSON(t, "finished match", a, 200, nil)
	tools := logon["toolsData"].(map[string]any)
	sponsors := tools["sponsorInfo"].(map[string]any)
	wantSponsors := map[string]any{}
	for k, v := range sponsors {
		wantSponsors[k] = v
	}
	// not a supporter: the Spectra logo is appended to enabled sponsors
	wantSponsors["sponsors"] = append(append([]any{}, sponsors["sponsors"].([]any)...), "https://auto.valospectra.com/assets/misc/logo.webp")
	want := map[string]any{
		"leftTeam":       logon["leftTeam"],
		"rightTeam":      logon["rightTeam"],
		"higherScore":    float64(0),
		"tournamentInfo": tools["tournamentInfo"],
		"sponsorInfo":    wantSponsors,
		"isSupporter":    false,
	}
	if d := testenv.JSONDiff(nil, "$", want, got, nil, 20); len(d) > 0 {
		t.Errorf("team info of a finished match (got vs want):\n%s", strings.Join(d, "\n"))
	}

	// A tie goes to the right team (index 1), like the existing server.
	obs2, _ := obsLogon(t, s.Ingest, headerLogon(t, replay, "", "TEAM02"))
	obsEvent(t, obs2, "Observer1#OBS", "TEAM02", "round_info", map[string]any{"roundNumber": 1, "roundPhase": "game_end"})
	testenv.Poll(3*time.Second, func() bool { a = do(t, "GET", u+"?groupCode=TEAM02", nil, nil); return a.status != 404 })
	if got := expectJSON(t, "finished match, tie", a, 200, nil); got["higherScore"] != float64(1) {
		t.Errorf("higherScore of a 0-0 game: %v, want 1", got["higherScore"])
	}
}

func TestExtrasPreview(t *testing.T) {
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{authKey: testAuthKey})
	logon := headerLogon(t, replay, testAuthKey, "")
	body := func(fields map[string]any) []byte {
		v := map[string]any{"key": testAuthKey, "previewCode": "PRV123", "leftTeam": logon["leftTeam"], "rightTeam": logon["rightTeam"], "toolsData": logon["toolsData"]}
		for k, x := range fields {
			if x == nil {
				delete(v, k)
			} else {
				v[k] = x
			}
		}
		b, _ := json.Marshal(v)
		return b
	}
	u := s.Extras + "/createPreview"

	expectJSON(t, "createPreview without key", do(t, "PUT", u, body(map[string]any{"key": nil}), nil), 400,
		map[string]any{"error": "Missing or invalid key in preview data"})
	expectJSON(t, "createPreview with an empty key", do(t, "PUT", u, body(map[string]any{"key": ""}), nil), 400,
		map[string]any{"error": "Missing or invalid key in preview data"})
	expectJSON(t, "createPreview with a wrong key", do(t, "PUT", u, body(map[string]any{"key": "wrong"}), nil), 403,
		map[string]any{"error": "Invalid or expired key"})
	bad := expectJSON(t, "createPreview without teams", do(t, "PUT", u, body(map[string]any{"leftTeam": nil, "rightTeam": nil}), nil), 400, nil)
	if bad["error"] != "Invalid preview data" {
		t.Errorf("createPreview without teams: error %q, want \"Invalid preview data\"", bad["error"])
	}
	if a := do(t, "PUT", u, []byte(`{"key":`), nil); a.status != 400 {
		t.Errorf("createPreview with a malformed JSON body: status %d, want 400", a.status)
	}
	if a := do(t, "GET", s.Extras+"/preview/PRV123", nil, nil); a.status != 404 {
		t.Errorf("a refused createPreview stored a preview: GET status %d", a.status)
	}

	expectJSON(t, "createPreview", do(t, "PUT", u, body(nil), nil), 200, map[string]any{"previewCode": "PRV123"})
	p := expectJSON(t, "GET /preview/PRV123", do(t, "GET", s.Extras+"/preview/PRV123", nil, nil), 200, nil)
	if p["groupCode"] != "PREVIEW" {
		t.Errorf("preview groupCode %v, want PREVIEW", p["groupCode"])
	}
	teams, _ := p["teams"].([]any)
	if len(teams) != 2 {
		t.Fatalf("preview teams: %s", testenv.ShowJSON(p["teams"]))
	}
	left := logon["leftTeam"].(map[string]any)
	t0 := teams[0].(map[string]any)
	if t0["teamName"] != left["name"] || t0["teamTricode"] != left["tricode"] || t0["teamUrl"] != left["url"] || t0["isAttacking"] != left["attackStart"] {
		t.Errorf("preview left team %s does not show the request's %s", testenv.ShowJSON(t0), testenv.ShowJSON(left))
	}
	for i, tm := range teams {
		if pl, _ := tm.(map[string]any)["players"].([]any); len(pl) != 5 {
			t.Errorf("preview team %d has %d players, want 5", i, len(pl))
		}
	}
	if _, ok := p["tools"].(map[string]any); !ok {
		t.Errorf("preview without tools: %s", testenv.ShowJSON(p))
	}

	// Without a 6-character previewCode the server picks one.
	for _, code := range []any{nil, "", "TOOLONG1"} {
		a := expectJSON(t, "createPreview without a usable code", do(t, "PUT", u, body(map[string]any{"previewCode": code}), nil), 200, nil)
		got, _ := a["previewCode"].(string)
		if !regexp.MustCompile(`^[A-Z0-9]{6}$`).MatchString(got) {
			t.Errorf("createPreview with previewCode %v: generated code %q, want 6 characters A-Z0-9", code, got)
			continue
		}
		expectJSON(t, "GET the generated preview", do(t, "GET", s.Extras+"/preview/"+got, nil, nil), 200, nil)
	}

	expectJSON(t, "GET /preview/ with 5 characters", do(t, "GET", s.Extras+"/preview/ABCDE", nil, nil), 400,
		map[string]any{"error": "Invalid preview code format"})
	expectJSON(t, "GET /preview/ with 7 characters", do(t, "GET", s.Extras+"/preview/ABCDEFG", nil, nil), 400,
		map[string]any{"error": "Invalid preview code format"})
	expectJSON(t, "GET /preview/ unknown", do(t, "GET", s.Extras+"/preview/ZZZZZZ", nil, nil), 404,
		map[string]any{"error": "Preview not found"})

	// The browser's preflight for the JSON PUT.
	a := do(t, "OPTIONS", u, nil, map[string]string{"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"})
	if a.status != 204 && a.status != 200 {
		t.Errorf("preflight OPTIONS /createPreview: status %d, want 204", a.status)
	}
	if m := a.header.Get("Access-Control-Allow-Methods"); !strings.Contains(strings.ToUpper(m), "PUT") {
		t.Errorf("preflight: Access-Control-Allow-Methods %q does not allow PUT", m)
	}
	if h := a.header.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(h), "content-type") && h != "*" {
		t.Errorf("preflight: Access-Control-Allow-Headers %q does not allow content-type", h)
	}
}

// With REQUIRE_AUTH_KEY=false any key creates a preview, but one is needed.
func TestExtrasPreviewNoAuth(t *testing.T) {
	s := startServer(t, serverOpts{})
	team := map[string]any{"name": "L", "tricode": "L", "url": "", "attackStart": true}
	b, _ := json.Marshal(map[string]any{"key": "anything", "previewCode": "NOAUTH", "leftTeam": team, "rightTeam": team, "toolsData": map[string]any{}})
	expectJSON(t, "createPreview, any key", do(t, "PUT", s.Extras+"/createPreview", b, nil), 200, map[string]any{"previewCode": "NOAUTH"})
	b, _ = json.Marshal(map[string]any{"previewCode": "NOAUTH", "leftTeam": team, "rightTeam": team, "toolsData": map[string]any{}})
	expectJSON(t, "createPreview, no key", do(t, "PUT", s.Extras+"/createPreview", b, nil), 400,
		map[string]any{"error": "Missing or invalid key in preview data"})
}
