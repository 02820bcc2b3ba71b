package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/socketio"

	"spectra-relay/relay/operator"
)

const tAdminToken = "adm-7Q2KX9-never-guessed"

// adminGet sends GET base+path with the given Host (empty: the URL's)
// and Authorization (empty: none).
func adminGet(t testing.TB, base, path, host, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, string(b)
}

// liveMatchOn starts a match (group code code) with one overlay, so that
// an operator endpoint has a group code and match id to show.
func liveMatchOn(t testing.TB, ts *tServer, code string) tReplay {
	t.Helper()
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon(code, tKey, tVersion))
	sendObs(t, obs, r, code, afterMatchStart())
	overlay(t, ts, code)
	return r
}

// TestOperatorEndpointsOnlyOnAdmin: the public extras port answers none
// of the operator's endpoints (404, as for any unknown path, and no
// group code or match id in the answer); the admin handler serves them.
func TestOperatorEndpointsOnlyOnAdmin(t *testing.T) {
	ts := newTServer(t, func(c *Config) { c.Pprof = true })
	r := liveMatchOn(t, ts, "PRIV01")
	cases := []struct {
		path       string
		adminStart string // the admin answer's body starts with it
	}{
		{"/status/matches", `{"status":"UP"`},
		{"/STATUS/MATCHES/", `{"status":"UP"`},
		{"/metrics", "# HELP"},
		{"/", "<!doctype html>"},
		{"/debug/pprof/", "<html>"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
		{"/healthz", `{"status":"UP"}`},
		{"/readyz", `{"status":"READY"}`},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := httpGet(t, ts.extras+tc.path)
			if resp.StatusCode != http.StatusNotFound || body != `{"error":"Not found"}` {
				t.Errorf("extras %s: %d %.200q, want 404 Not found", tc.path, resp.StatusCode, body)
			}
			if leak := containsAny(body, "PRIV01", r.matchID()); leak != "" {
				t.Errorf("extras %s shows %q", tc.path, leak)
			}
			resp, body = httpGet(t, ts.admin+tc.path)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(strings.ToLower(body), strings.ToLower(tc.adminStart)) {
				t.Errorf("admin %s: %d %.200q, want 200 %q…", tc.path, resp.StatusCode, body, tc.adminStart)
			}
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("admin %s: CORS %q, want none", tc.path, v)
			}
		})
	}
	// The admin data does name the match: it is the operator's view.
	if _, body := httpGet(t, ts.admin+"/status/matches"); !strings.Contains(body, "PRIV01") || !strings.Contains(body, r.matchID()) {
		t.Errorf("admin /status/matches lacks the live match: %.300s", body)
	}
	// The public port's own endpoints are still there.
	if resp, body := httpGet(t, ts.extras+"/status"); resp.StatusCode != 200 || body != `{"status":"UP","matchesRunning":1}` {
		t.Errorf("extras /status: %d %s", resp.StatusCode, body)
	}
}

// TestAdminToken: with Config.AdminToken, every admin endpoint but the
// health checks answers 401 (with Basic and Bearer challenges) unless the
// request carries the token as a bearer token or a Basic password.
func TestAdminToken(t *testing.T) {
	ts := newTServer(t, func(c *Config) { c.Pprof = true; c.AdminToken = tAdminToken })
	liveMatchOn(t, ts, "TOKEN1")
	basic := func(user, pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	bearer := "Bearer " + tAdminToken
	cases := []struct {
		name, path, auth, host string
		status                 int
	}{
		{"no token", "/status/matches", "", "", 401},
		{"wrong token", "/status/matches", "Bearer wrong", "", 401},
		{"token with a byte more", "/status/matches", bearer + "x", "", 401},
		{"token less its last byte", "/status/matches", bearer[:len(bearer)-1], "", 401},
		{"empty bearer", "/status/matches", "Bearer ", "", 401},
		{"other scheme", "/status/matches", "Token " + tAdminToken, "", 401},
		{"bearer", "/status/matches", bearer, "", 200},
		{"bearer, scheme in lower case", "/status/matches", "bearer " + tAdminToken, "", 200},
		{"basic", "/status/matches", basic("operator", tAdminToken), "", 200},
		{"basic, token as user name", "/status/matches", basic(tAdminToken, ""), "", 401},
		{"basic, wrong password", "/status/matches", basic("operator", "nope"), "", 401},
		{"page without", "/", "", "", 401},
		{"page with", "/", bearer, "", 200},
		{"metrics without", "/metrics", "", "", 401},
		{"metrics with", "/metrics", bearer, "", 200},
		{"pprof without", "/debug/pprof/", "", "", 401},
		{"pprof with", "/debug/pprof/", bearer, "", 200},
		{"unknown path without", "/nope", "", "", 401},
		{"unknown path with", "/nope", bearer, "", 404},
		{"healthz without", "/healthz", "", "", 200},
		{"readyz without", "/readyz", "", "", 200},
		{"healthz with a wrong token", "/healthz", "Bearer wrong", "", 200},
		// With a token any Host is fine: a reverse proxy may pass its own.
		{"named host with token", "/status/matches", bearer, "admin.example.org", 200},
		{"named host without token", "/status/matches", "", "admin.example.org", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := adminGet(t, ts.admin, tc.path, tc.host, tc.auth)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %.200q, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 401 {
				return
			}
			if body != `{"error":"Unauthorized"}` || strings.Contains(body, "TOKEN1") {
				t.Errorf("401 body %q", body)
			}
			ch := strings.Join(resp.Header.Values("WWW-Authenticate"), "|")
			if !strings.Contains(ch, "Basic realm=") || !strings.Contains(ch, "Bearer realm=") {
				t.Errorf("challenges %q, want Basic and Bearer", ch)
			}
		})
	}
}

// TestAdminHostWithoutToken: without a token the admin handler answers
// only requests that name the host by an IP address or localhost, so a
// page on a domain rebound to 127.0.0.1 cannot read it; the health checks
// answer any Host.
func TestAdminHostWithoutToken(t *testing.T) {
	ts := newTServer(t, nil)
	cases := []struct {
		host, path string
		status     int
	}{
		{"", "/status/matches", 200}, // 127.0.0.1:port
		{"localhost:5102", "/status/matches", 200},
		{"LOCALHOST", "/metrics", 200},
		{"[::1]:5102", "/status/matches", 200},
		{"10.1.2.3", "/", 200},
		{"rebound.example.com:5102", "/status/matches", 403},
		{"rebound.example.com", "/", 403},
		{"localhost.example.com", "/metrics", 403},
		{"rebound.example.com:5102", "/healthz", 200},
		{"rebound.example.com:5102", "/readyz", 200},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			resp, body := adminGet(t, ts.admin, tc.path, tc.host, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %.200q, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
}

func TestDecodeGroupCode(t *testing.T) {
	big := `"` + strings.Repeat("G", 1<<20) + `"`
	cases := []struct {
		raw  string
		want string // "" = refused
	}{
		{`"GU3Z72"`, "GU3Z72"},
		{`"` + strings.Repeat("g", maxGroupCodeLen) + `"`, strings.Repeat("g", maxGroupCodeLen)},
		{`"` + strings.Repeat("é", maxGroupCodeLen/2) + `"`, strings.Repeat("é", maxGroupCodeLen/2)},
		{`"\u00e9\u00e9"`, "éé"},
		{`"` + strings.Repeat("g", maxGroupCodeLen+1) + `"`, ""},
		{`"` + strings.Repeat(`\u0067`, maxGroupCodeLen) + `"`, strings.Repeat("g", maxGroupCodeLen)},
		{`"` + strings.Repeat(`\u0067`, maxGroupCodeLen+1) + `"`, ""},
		{big, ""},
		// An invalid byte decodes to U+FFFD, three bytes: 62 + 3 > 64.
		{`"` + strings.Repeat("g", maxGroupCodeLen-2) + "\xbd" + `"`, ""},
		{`"` + strings.Repeat("g", maxGroupCodeLen-3) + "\xbd" + `"`, strings.Repeat("g", maxGroupCodeLen-3) + "\ufffd"},
		{`"" `, ""},
		{`""`, ""},
		{``, ""},
		{`null`, ""},
		{`123456`, ""},
		{`["GU3Z72"]`, ""},
		{`{"a":1}`, ""},
		{`"unterminated`, ""},
	}
	for _, tc := range cases {
		got, err := decodeGroupCode(json.RawMessage(tc.raw))
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("decodeGroupCode(%.40q) = %.40q, %v; want %.40q", tc.raw, got, err, tc.want)
		}
		if err != nil && len(err.Error()) > 100 {
			t.Errorf("decodeGroupCode(%.40q): error of %d bytes", tc.raw, len(err.Error()))
		}
	}
}

// TestOverlayLogonLimits: an overlay logon takes the group code on the
// ingest's terms. A refused one gets no answer (the existing server's
// answer to a logon it cannot parse), joins no room, is not on the status
// page, and its log line does not carry the code.
func TestOverlayLogonLimits(t *testing.T) {
	logs := &testenv.Buffer{}
	ts := newTServer(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	long := func(n int) string { return strings.Repeat("W", n) }
	cases := []struct {
		name    string
		payload any // marshalled to the logon's JSON string
		code    string
	}{
		{"64 bytes", map[string]any{"groupCode": long(maxGroupCodeLen)}, long(maxGroupCodeLen)},
		{"usual", map[string]any{"groupCode": "GU3Z72"}, "GU3Z72"},
		{"65 bytes", map[string]any{"groupCode": long(maxGroupCodeLen + 1)}, ""},
		{"2000 bytes", map[string]any{"groupCode": long(2000)}, ""},
		{"empty", map[string]any{"groupCode": ""}, ""},
		{"number", map[string]any{"groupCode": 123456}, ""},
		{"null", map[string]any{"groupCode": nil}, ""},
		{"missing", map[string]any{"group": "GU3Z72"}, ""},
		{"object", map[string]any{"groupCode": map[string]string{"x": long(2000)}}, ""},
	}
	parent := t // the overlays stay connected until the status check below
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "output logon refused")
			c := dialT(parent, ts.output)
			emitJSON(t, c, "logon", tc.payload)
			if tc.code != "" {
				ev, _ := c.waitFor(t, 0, named("logon_success"))
				var ls struct{ GroupCode string }
				if err := json.Unmarshal([]byte(ev.arg), &ls); err != nil || ls.GroupCode != tc.code {
					t.Fatalf("logon_success %.200s", ev.arg)
				}
				return
			}
			c.sync(t) // the server has handled the logon
			if evs := c.all(); len(evs) != 0 {
				t.Fatalf("refused logon answered with %q", evs[0].name)
			}
			if n := strings.Count(logs.String(), "output logon refused"); n != before+1 {
				t.Fatalf("%d refusal lines logged, want 1", n-before)
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if len(line) > 400 || strings.Contains(line, long(100)) {
					t.Fatalf("log line of %d bytes carries the code: %.200s", len(line), line)
				}
			}
			for _, r := range ts.srv.output.Of("/").AppendRooms(nil) {
				if r.Members > 0 && r.Name != "GU3Z72" && r.Name != long(maxGroupCodeLen) {
					t.Fatalf("a refused logon made room %.80q", r.Name)
				}
			}
		})
	}
	doc := ts.srv.statusDoc()
	if len(doc.Waiting) != 2 || doc.WaitingMore != 0 {
		t.Errorf("waiting %+v (+%d), want the two accepted codes", doc.Waiting, doc.WaitingMore)
	}
}

// TestWaitingListCapped: the status page lists at most maxWaitingShown
// waiting group codes, those with the most overlays, and counts the rest;
// rooms of live matches and empty rooms are not waiting.
func TestWaitingListCapped(t *testing.T) {
	ts := newTServer(t, nil)
	liveMatchOn(t, ts, "LIVE01")
	var rooms []socketio.RoomSize
	wantMoreOverlays := 0
	for i := range maxWaitingShown + 50 {
		code := "W" + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		members := 1
		if i < maxWaitingShown {
			members = 2 + i // the shown ones have more overlays than any left out
		} else {
			wantMoreOverlays += members
		}
		rooms = append(rooms, socketio.RoomSize{Name: code, Members: members})
	}
	rooms = append(rooms, socketio.RoomSize{Name: "LIVE01", Members: 1000}, socketio.RoomSize{Name: "EMPTY1"})
	shown, more, moreOverlays := ts.srv.waitingIn(rooms, maxWaitingShown)
	if len(shown) != maxWaitingShown || more != 50 || moreOverlays != wantMoreOverlays {
		t.Fatalf("shown %d, more %d with %d overlays; want %d, 50 with %d", len(shown), more, moreOverlays, maxWaitingShown, wantMoreOverlays)
	}
	for i, w := range shown {
		if w.GroupCode == "LIVE01" || w.GroupCode == "EMPTY1" || w.Overlays < 2 {
			t.Fatalf("shown[%d] = %+v", i, w)
		}
		if i > 0 && w.Overlays > shown[i-1].Overlays {
			t.Fatalf("not most overlays first at %d: %+v after %+v", i, w, shown[i-1])
		}
	}
	// Under the cap nothing is left out.
	if shown, more, mo := ts.srv.waitingIn(rooms[:3], maxWaitingShown); len(shown) != 3 || more != 0 || mo != 0 {
		t.Errorf("3 rooms: shown %d, more %d (%d overlays)", len(shown), more, mo)
	}
	// The JSON names the counts.
	doc := operator.StatusDoc{Waiting: shown[:1], WaitingMore: 7, WaitingMoreOverlays: 9}
	b, _ := json.Marshal(doc)
	if !bytes.Contains(b, []byte(`"waitingMore":7,"waitingMoreOverlays":9`)) {
		t.Errorf("JSON %s", b)
	}
}
