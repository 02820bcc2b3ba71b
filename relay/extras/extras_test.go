package extras

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// source is a relay with two live matches and one finished match (FIN001),
// whose only valid key is "good".
type source struct{}

func (source) MatchesRunning() int { return 2 }
func (source) TeamInfo(code string) ([]byte, bool) {
	if code == "FIN001" {
		return []byte(`{"leftTeam":{"name":"A"}}`), true
	}
	return nil, false
}
func (source) ValidKey(key string) bool { return key == "good" }

func TestHandlerRoutes(t *testing.T) {
	const team = `{"name":"L","tricode":"L","url":"","attackStart":true}`
	pv := NewMemoryPreviews(time.Minute)
	srv := httptest.NewServer(Handler(source{}, pv, Config{BodyTimeout: 2 * time.Second, RequireAuthKey: true}))
	defer srv.Close()
	cases := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // exact; "" = not checked
	}{
		{"status", "GET", "/status", "", 200, `{"status":"UP","matchesRunning":2}`},
		{"status any case, trailing slash", "GET", "/STATUS/", "", 200, `{"status":"UP","matchesRunning":2}`},
		{"status by HEAD", "HEAD", "/status", "", 200, ""},
		{"team info", "GET", "/getTeamInfoForCode?groupCode=FIN001", "", 200, `{"leftTeam":{"name":"A"}}`},
		{"team info unknown", "GET", "/getTeamInfoForCode?groupCode=NOPE", "", 404, `{"error":"Group code not found"}`},
		{"team info repeated", "GET", "/getTeamInfoForCode?groupCode=A&groupCode=B", "", 400, `{"error":"Group code is required"}`},
		{"preview bad key", "PUT", "/createPreview", `{"key":"bad"}`, 403, `{"error":"Invalid or expired key"}`},
		{"preview key not a string", "PUT", "/createPreview", `{"key":1}`, 403, `{"error":"Invalid or expired key"}`},
		{"preview no key", "PUT", "/createPreview", `{}`, 400, `{"error":"Missing or invalid key in preview data"}`},
		{"preview not JSON", "PUT", "/createPreview", `nope`, 400, `{"error":"Invalid JSON body"}`},
		{"preview too big", "PUT", "/createPreview", `{"key":"` + strings.Repeat("x", maxPreviewBody) + `"}`, 413, `{"error":"Payload too large"}`},
		{"preview created", "PUT", "/createPreview", `{"key":"good","previewCode":"ABC123","leftTeam":` + team + `,"rightTeam":` + team + `,"toolsData":{}}`, 200, `{"previewCode":"ABC123"}`},
		{"preview read", "GET", "/preview/ABC123", "", 200, ""},
		{"preview bad code", "GET", "/preview/AB", "", 400, `{"error":"Invalid preview code format"}`},
		{"preview missing", "GET", "/preview/ZZZ999", "", 404, `{"error":"Preview not found"}`},
		{"preflight", "OPTIONS", "/createPreview", "", 204, ""},
		{"unknown path", "GET", "/metrics", "", 404, `{"error":"Not found"}`},
		{"wrong method", "POST", "/status", "", 404, `{"error":"Not found"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, srv.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.wantStatus, b)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if c.wantBody != "" && string(b) != c.wantBody {
				t.Errorf("body %s, want %s", b, c.wantBody)
			}
			if c.name == "preview read" {
				var doc map[string]any
				if err := json.Unmarshal(b, &doc); err != nil || doc["groupCode"] != "PREVIEW" {
					t.Errorf("preview %s (%v)", b, err)
				}
			}
		})
	}
}

func TestMemoryPreviewsExpireAndBound(t *testing.T) {
	pv := NewMemoryPreviews(20 * time.Millisecond)
	if !pv.Put("AAAAAA", []byte(`1`)) {
		t.Fatal("Put refused on an empty store")
	}
	if doc, ok := pv.Get("AAAAAA"); !ok || string(doc) != "1" {
		t.Fatalf("Get %s %v", doc, ok)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := pv.Get("AAAAAA"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("preview still there past its TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
	full := NewMemoryPreviews(time.Hour)
	for i := range maxPreviews {
		if !full.Put(strings.Repeat("x", 3)+string(rune('A'+i%26))+string(rune('A'+i/26%26))+string(rune('A'+i/676%26)), nil) {
			t.Fatalf("Put %d refused below the bound", i)
		}
	}
	if full.Put("NEW001", nil) {
		t.Errorf("Put past %d live previews accepted", maxPreviews)
	}
}
