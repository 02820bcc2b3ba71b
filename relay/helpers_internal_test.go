package relay

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"spectra-relay/engineio"
	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

const (
	tKey     = "tk-Q7ZP4M-never-emitted"
	tVersion = "0.3.24"
	tTimeout = 10 * time.Second
)

// tServer is a relay on four loopback httptest servers: ingest, output,
// extras and admin.
type tServer struct {
	srv                           *Server
	ingest, output, extras, admin string
	replayDir                     string
}

func newTServer(t testing.TB, mod func(*Config)) *tServer {
	t.Helper()
	cfg := Config{
		RequireAuthKey: true,
		AuthKey:        tKey,
		ReplayDir:      t.TempDir(),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine:         engineio.Config{Deflate: engineio.DeflateConfig{Enabled: true, Level: 3, Threshold: 1024}},
	}
	if mod != nil {
		mod(&cfg)
	}
	s := NewServer(cfg)
	in := httptest.NewServer(s.IngestHandler())
	out := httptest.NewServer(s.OutputHandler())
	ex := httptest.NewServer(s.ExtrasHandler())
	ad := httptest.NewServer(s.AdminHandler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		in.Close()
		out.Close()
		ex.Close()
		ad.Close()
	})
	return &tServer{srv: s, ingest: in.URL, output: out.URL, extras: ex.URL, admin: ad.URL, replayDir: cfg.ReplayDir}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), tTimeout)
	t.Cleanup(cancel)
	return ctx
}

// tClient is a Socket.IO client that records the events it receives.
type tClient struct {
	*sioclient.Client
	mu     sync.Mutex
	events []tEvent
	notify chan struct{}
}

type tEvent struct {
	name string
	arg  string // the first argument, decoded when it is a JSON string
	raw  json.RawMessage
}

func dialT(t testing.TB, url string) *tClient {
	t.Helper()
	return dialOpts(t, url, eioclient.Options{})
}

// dialOpts connects a recording test client with the given Engine.IO
// options (transports, compression); dialT uses the defaults.
func dialOpts(t testing.TB, url string, eio eioclient.Options) *tClient {
	t.Helper()
	c := &tClient{notify: make(chan struct{}, 1)}
	c.Client = sioclient.New(sioclient.Options{EIO: eio, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c.OnAny(func(e *sioclient.Event) {
		ev := tEvent{name: e.Name}
		if len(e.Args) > 0 {
			ev.raw = append(json.RawMessage(nil), e.Args[0]...)
			if s, err := e.String(0); err == nil {
				ev.arg = s
			}
		}
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	})
	if err := c.Connect(ctxT(t), url); err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor returns the first event from index from on that satisfies ok,
// with its index.
func (c *tClient) waitFor(t testing.TB, from int, ok func(tEvent) bool) (tEvent, int) {
	t.Helper()
	deadline := time.NewTimer(tTimeout)
	defer deadline.Stop()
	ended := false
	for {
		c.mu.Lock()
		for i := from; i < len(c.events); i++ {
			if ok(c.events[i]) {
				ev := c.events[i]
				c.mu.Unlock()
				return ev, i
			}
		}
		c.mu.Unlock()
		if ended {
			t.Fatalf("client ended (%v) before the awaited event", c.Err())
		}
		select {
		case <-c.notify:
		case <-c.Done():
			ended = true // one more look: the last events may have just arrived
		case <-deadline.C:
			t.Fatal("timeout waiting for an event")
		}
	}
}

func (c *tClient) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if e.name == name {
			n++
		}
	}
	return n
}

func (c *tClient) all() []tEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tEvent(nil), c.events...)
}

func named(name string) func(tEvent) bool { return func(e tEvent) bool { return e.name == name } }

// waitDone waits until the server ended the client's session.
func waitDone(t testing.TB, c *tClient) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(tTimeout):
		t.Fatal("the server did not disconnect the client")
	}
	if c.Err() != sioclient.ErrServerDisconnect {
		t.Fatalf("client ended with %v, want a server disconnect", c.Err())
	}
}

func emitJSON(t testing.TB, c *tClient, event string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(event, string(b)); err != nil {
		t.Fatalf("emit %s: %v", event, err)
	}
}

// sync waits until the server has handled everything c sent.
func (c *tClient) sync(t testing.TB) {
	t.Helper()
	if err := c.Barrier(ctxT(t)); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

type ack struct {
	Type   string `json:"type"`
	Value  bool   `json:"value"`
	Reason string `json:"reason"`
}

func (c *tClient) ack(t testing.TB, name string) (ack, string) {
	t.Helper()
	ev, _ := c.waitFor(t, 0, named(name))
	var a ack
	if err := json.Unmarshal([]byte(ev.arg), &a); err != nil {
		t.Fatalf("%s is not a JSON string of an object: %s", name, ev.raw)
	}
	return a, ev.arg
}

// ---- replay data ----

type tReplay struct {
	header replayfile.Header
	events []replayfile.Event
}

func loadReplay(t testing.TB, name string) tReplay {
	t.Helper()
	h, evs, err := replayfile.ReadFile(testenv.Replay(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return tReplay{h, evs}
}

// logon is the replay header as an obs_logon payload, in the observer
// client's key order.
func (r tReplay) logon(groupCode, key, version string) *logonPayload {
	return &logonPayload{
		Type: "authenticate", ClientVersion: version, ObsName: r.header.ObsName, Key: key,
		GroupCode: groupCode, LeftTeam: r.header.LeftTeam, RightTeam: r.header.RightTeam, ToolsData: r.header.ToolsData,
	}
}

type logonPayload struct {
	Type          any             `json:"type,omitempty"`
	ClientVersion any             `json:"clientVersion,omitempty"`
	ObsName       string          `json:"obsName"`
	Key           any             `json:"key,omitempty"`
	GroupCode     string          `json:"groupCode"`
	GroupSecret   string          `json:"groupSecret"`
	LeftTeam      json.RawMessage `json:"leftTeam"`
	RightTeam     json.RawMessage `json:"rightTeam"`
	ToolsData     json.RawMessage `json:"toolsData"`
}

func (r tReplay) playercamsSecret(t testing.TB) string {
	var td struct {
		PlayercamsInfo struct {
			Secret string `json:"secret"`
		} `json:"playercamsInfo"`
	}
	if err := json.Unmarshal(r.header.ToolsData, &td); err != nil || td.PlayercamsInfo.Secret == "" {
		t.Fatalf("replay header has no playercams secret (%v)", err)
	}
	return td.PlayercamsInfo.Secret
}

func (r tReplay) matchID() string {
	for _, e := range r.events {
		if e.Type == "match_start" {
			var id string
			_ = json.Unmarshal(e.Data, &id)
			return id
		}
	}
	return ""
}

// logonObserver logs an observer on and returns it with the secret.
func logonObserver(t testing.TB, ts *tServer, logon *logonPayload) (*tClient, string) {
	t.Helper()
	c := dialT(t, ts.ingest)
	emitJSON(t, c, "obs_logon", logon)
	a, _ := c.ack(t, "obs_logon_ack")
	if !a.Value {
		t.Fatalf("logon refused: %s", a.Reason)
	}
	return c, a.Reason
}

// overlay logs an output client on to a group.
func overlay(t testing.TB, ts *tServer, groupCode string) *tClient {
	t.Helper()
	c := dialT(t, ts.output)
	emitJSON(t, c, "logon", map[string]string{"groupCode": groupCode})
	c.waitFor(t, 0, named("logon_success"))
	return c
}

// matchData decodes a match_data event.
func matchData(t testing.TB, e tEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.arg), &m); err != nil {
		t.Fatalf("match_data is not a JSON string of an object: %.200s", e.raw)
	}
	return m
}

func containsAny(s string, needles ...string) string {
	for _, n := range needles {
		if n != "" && strings.Contains(s, n) {
			return n
		}
	}
	return ""
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
