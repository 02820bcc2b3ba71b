// Over 600 lines on purpose: one black-box suite around one built binary (TestMain) and the helpers all its tests share.

package relay_test

// Interop tests of cmd/spectra-server as a black box: the binary is built
// once, each test starts fresh servers on free loopback ports, and real
// socket.io-client 4.8 scripts (testdata/interop, node:test) or the Go
// clients talk to them. See testdata/interop/*.test.mjs for the scenarios.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay"
	"spectra-relay/socketio/sioclient"
)

// A distinctive access key: no frame may ever contain it.
const testAuthKey = "Xk3y-interop-7QZP4M"

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spectra-interop-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ---------------------------------------------------------------- binaries

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var binaries sync.Map // package path → *builtBinary

// binary builds ./cmd/<name> of this module once per test process.
// SPECTRA_INTEROP_RACE=1 builds it with the race detector.
func binary(t testing.TB, name string) string {
	t.Helper()
	v, _ := binaries.LoadOrStore(name, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, name)
		// -trimpath: the README walk-through's `go run` in a fresh copy
		// (GOFLAGS=-trimpath) then reuses these compiled packages.
		args := []string{"build", "-trimpath", "-o", b.path}
		if os.Getenv("SPECTRA_INTEROP_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/"+name)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", name, b.err)
	}
	return b.path
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	return testenv.Root(t)
}

// replayPath returns the absolute path of testdata/replays/<name> at the
// module root.
func replayPath(t testing.TB, name string) string {
	t.Helper()
	return testenv.Replay(t, name)
}

// ---------------------------------------------------------------- server

type serverOpts struct {
	// authKey set: REQUIRE_AUTH_KEY=true AUTH_KEY=authKey; else REQUIRE_AUTH_KEY=false.
	authKey string
	env     []string
	// replayDir set: the server writes (and recovers) its replays there.
	replayDir string
	// bin set: run this spectra-server binary instead of the one built
	// from the module (a comparison with an older build).
	bin string
	// tls: TLS on the public ports (INSECURE=false, the self-signed pair
	// it generates in its directory) with TLS_FAST_PATH=true; the URLs are
	// https. Node clients need nodeTLSEnv to accept the pair.
	tls bool
}

// nodeTLSEnv lets Node's https, ws and fetch accept a server's
// self-signed test pair.
const nodeTLSEnv = "NODE_TLS_REJECT_UNAUTHORIZED"

type testServer struct {
	Ingest, Output, Extras, Admin string // http://host:port
	ReplayDir                     string

	cmd     *exec.Cmd
	log     *testenv.Buffer
	exited  chan struct{}
	waitErr error
	stopped bool
	mu      sync.Mutex
}

var listeningLine = regexp.MustCompile(`^spectra-server listening ingest=(\S+) output=(\S+) extras=(\S+) admin=(\S+)$`)

// serverEnvKeys are never inherited from the test's environment.
var serverEnvKeys = []string{"INSECURE", "REQUIRE_AUTH_KEY", "AUTH_KEY", "SERVER_KEY", "SERVER_CERT", "USE_BACKEND", "REDIS_URL", "NODE_ID", "ADMIN_BIND", "ADMIN_TOKEN"}

func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	bin := o.bin
	if bin == "" {
		bin = binary(t, "spectra-server")
	}
	dir := t.TempDir() // working directory: no stray .env, replays inside
	s := &testServer{ReplayDir: filepath.Join(dir, "replays"), log: &testenv.Buffer{}, exited: make(chan struct{})}
	if o.replayDir != "" {
		s.ReplayDir = o.replayDir
	}
	cmd := exec.Command(bin, "-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-admin-bind", "127.0.0.1:0", "-replay-dir", s.ReplayDir)
	cmd.Dir = dir
	env := []string{"INSECURE=true"}
	scheme := "http://"
	if o.tls {
		env, scheme = []string{"INSECURE=false", "TLS_FAST_PATH=true"}, "https://"
	}
	if o.authKey != "" {
		env = append(env, "REQUIRE_AUTH_KEY=true", "AUTH_KEY="+o.authKey)
	} else {
		env = append(env, "REQUIRE_AUTH_KEY=false")
	}
	cmd.Env = append(filteredEnv(), append(env, o.env...)...)
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	s.cmd = cmd
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
				continue
			}
			fmt.Fprintf(s.log, "[stdout] %s\n", sc.Text())
		}
		close(lines)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log (stderr):\n%s", tail(s.log.String(), 12000))
		}
	})
	select {
	case line, ok := <-lines:
		if !ok {
			<-s.exited
			t.Fatalf("server exited before printing its listening line (%v):\n%s", s.waitErr, s.log.String())
		}
		m := listeningLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			t.Fatalf("server's first stdout line is not `spectra-server listening ingest=HOST:PORT output=HOST:PORT extras=HOST:PORT admin=HOST:PORT`: %q", line)
		}
		// The admin listener is on loopback: plain HTTP even with TLS on.
		s.Ingest, s.Output, s.Extras, s.Admin = scheme+m[1], scheme+m[2], scheme+m[3], "http://"+m[4]
	case <-time.After(20 * time.Second):
		t.Fatalf("no listening line from the server within 20s:\n%s", s.log.String())
	}
	return s
}

func filteredEnv() []string {
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, k := range serverEnvKeys {
			if strings.HasPrefix(kv, k+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// stop sends SIGTERM and waits for a graceful exit (status 0).
func (s *testServer) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.cmd == nil {
		return nil
	}
	s.stopped = true
	select {
	case <-s.exited:
		return fmt.Errorf("the server had exited by itself: %v", s.waitErr)
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return errors.New("no exit within 10s of SIGTERM (killed)")
	}
	if s.waitErr != nil {
		return fmt.Errorf("exit after SIGTERM: %v (want status 0)", s.waitErr)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// ---------------------------------------------------------------- node

var (
	npmOnce sync.Once
	npmErr  error
)

func interopDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("testdata", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// needNode stops the test when node is missing (a failure under CI=true)
// and installs the scripts' modules from the lockfile when `make node-deps`
// has not.
func needNode(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the socket.io-client interop tests (make test runs them)")
	}
	testenv.NeedNode(t)
	dir := interopDir(t)
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

// runNode runs one node:test script with env and fails the test with its
// output when it exits non-zero or overruns timeout.
func runNode(t *testing.T, script string, env map[string]string, timeout time.Duration) {
	t.Helper()
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test-reporter=spec", script)
	cmd.Dir = interopDir(t)
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.WaitDelay = 5 * time.Second
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("node %s: no exit within %s (killed):\n%s", script, timeout, out.String())
	}
	if err != nil {
		t.Fatalf("node %s failed after %s: %v\n%s", script, el, err, out.String())
	}
	t.Logf("node %s passed in %s:\n%s", script, el, out.String())
}

// ---------------------------------------------------------------- the Node scenarios (Acceptance 2)

func TestInteropObserverReconnect(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	a := startServer(t, serverOpts{authKey: testAuthKey})
	b := startServer(t, serverOpts{authKey: testAuthKey})
	runNode(t, "reconnect.test.mjs", map[string]string{
		"INGEST_URL": a.Ingest, "OUTPUT_URL": a.Output,
		"REF_INGEST_URL": b.Ingest, "REF_OUTPUT_URL": b.Output,
		"AUTH_KEY": testAuthKey, "REPLAY": replay,
	}, 2*time.Minute)
}

func TestInteropLogonFailures(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{authKey: testAuthKey})
	runNode(t, "logon.test.mjs", map[string]string{
		"INGEST_URL": s.Ingest, "OUTPUT_URL": s.Output, "EXTRAS_URL": s.Extras,
		"AUTH_KEY": testAuthKey, "REPLAY": replay,
	}, 90*time.Second)
}

func TestInteropAuxClients(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{authKey: testAuthKey})
	runNode(t, "aux.test.mjs", map[string]string{
		"INGEST_URL": s.Ingest, "OUTPUT_URL": s.Output,
		"AUTH_KEY": testAuthKey, "REPLAY": replay,
	}, 90*time.Second)
}

func TestInteropMatchIsolation(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{authKey: testAuthKey})
	runNode(t, "isolation.test.mjs", map[string]string{
		"INGEST_URL": s.Ingest, "OUTPUT_URL": s.Output,
		"AUTH_KEY": testAuthKey, "REPLAY": replay,
	}, 90*time.Second)
}

// TestInteropTLS runs the Node scenarios over https/wss against a server
// with TLS on its fast path (TLS_FAST_PATH=true): polling, WebSocket and
// the upgrade, as the scripts use them.
func TestInteropTLS(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	for _, script := range []string{"logon.test.mjs", "aux.test.mjs", "isolation.test.mjs", "rate.test.mjs"} {
		t.Run(script, func(t *testing.T) {
			s := startServer(t, serverOpts{authKey: testAuthKey, tls: true})
			runNode(t, script, map[string]string{
				"INGEST_URL": s.Ingest, "OUTPUT_URL": s.Output, "EXTRAS_URL": s.Extras,
				"AUTH_KEY": testAuthKey, "REPLAY": replay, nodeTLSEnv: "0",
			}, 90*time.Second)
		})
	}
}

// TestInteropOverlayRateAndLateJoin: the Node side checks what overlays
// receive; the spacing of the sends is checked here on the server's clock
// (its debug log of every send), where a loaded machine's delivery jitter
// cannot bunch them.
func TestInteropOverlayRateAndLateJoin(t *testing.T) {
	needNode(t)
	replay := replayPath(t, "short_3rounds.replay")
	s := startServer(t, serverOpts{authKey: testAuthKey, env: []string{"LOG_LEVEL=debug", "LOG_FORMAT=json"}})
	runNode(t, "rate.test.mjs", map[string]string{
		"INGEST_URL": s.Ingest, "OUTPUT_URL": s.Output,
		"AUTH_KEY": testAuthKey, "REPLAY": replay,
	}, 90*time.Second)

	sends := 0
	for line := range strings.Lines(s.log.String()) {
		var rec struct {
			Msg       string        `json:"msg"`
			GroupCode string        `json:"groupCode"`
			Gap       time.Duration `json:"gap"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "match_data sent" {
			continue
		}
		sends++
		if rec.Gap < relay.DefaultSendInterval {
			t.Errorf("%s: a send %v after the previous one, want at least %v", rec.GroupCode, rec.Gap, relay.DefaultSendInterval)
		}
	}
	if sends < 15 {
		t.Errorf("the server logged %d sends after the first; the replay changes the match for seconds", sends)
	}
	t.Logf("%d sends after the first, each at least %v after the one before", sends, relay.DefaultSendInterval)
}

// ---------------------------------------------------------------- Go clients

// overlay is a Go output-side client that keeps every match_data.
type overlay struct {
	t      testing.TB
	c      *sioclient.Client
	mu     sync.Mutex
	states []json.RawMessage
	times  []time.Time // arrival of each state
	last   time.Time
}

func newOverlay(t testing.TB, outputURL, groupCode string) *overlay {
	t.Helper()
	return newOverlayOpts(t, outputURL, groupCode, eioclient.Options{Transports: []string{"websocket"}})
}

// newOverlayOpts is newOverlay with the client's Engine.IO options.
func newOverlayOpts(t testing.TB, outputURL, groupCode string, opts eioclient.Options) *overlay {
	t.Helper()
	o := &overlay{t: t, c: sioclient.New(sioclient.Options{EIO: opts})}
	ok := make(chan struct{}, 1)
	o.c.On("logon_success", func([]json.RawMessage) {
		select {
		case ok <- struct{}{}:
		default:
		}
	})
	o.c.On("match_data", func(args []json.RawMessage) {
		var s string
		if len(args) == 0 || json.Unmarshal(args[0], &s) != nil {
			t.Errorf("match_data without a JSON string argument: %.200s", args)
			return
		}
		o.mu.Lock()
		o.states = append(o.states, json.RawMessage(s))
		o.last = time.Now()
		o.times = append(o.times, o.last)
		o.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.c.Connect(ctx, outputURL); err != nil {
		t.Fatalf("overlay: connecting to %s: %v", outputURL, err)
	}
	t.Cleanup(func() { o.c.Close() })
	b, _ := json.Marshal(map[string]string{"groupCode": groupCode})
	if err := o.c.Emit("logon", string(b)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ok:
	case <-ctx.Done():
		t.Fatalf("overlay: no logon_success for %s", groupCode)
	}
	return o
}

func (o *overlay) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.states)
}

func (o *overlay) latest() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.states) == 0 {
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal(o.states[len(o.states)-1], &v); err != nil {
		o.t.Fatalf("unparsable match_data: %v", err)
	}
	return v
}

// settle waits until no match_data arrived for quiet (and at least min).
func (o *overlay) settle(min, quiet, max time.Duration) map[string]any {
	o.t.Helper()
	time.Sleep(min) // part of the quiet period under test, not synchronisation
	if !testenv.Poll(max-min, func() bool {
		o.mu.Lock()
		last := o.last
		o.mu.Unlock()
		return time.Since(last) >= quiet
	}) {
		o.t.Fatalf("match_data did not settle within %s", max)
	}
	return o.latest()
}

// obsLogon connects an observer and logs it on; it returns the client and
// the parsed ack.
func obsLogon(t testing.TB, ingestURL string, payload map[string]any) (*sioclient.Client, logonAck) {
	t.Helper()
	c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: []string{"websocket"}}})
	acks := make(chan string, 1)
	c.On("obs_logon_ack", func(args []json.RawMessage) {
		var s string
		if len(args) > 0 {
			json.Unmarshal(args[0], &s)
		}
		select {
		case acks <- s:
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx, ingestURL); err != nil {
		t.Fatalf("observer: connecting to %s: %v", ingestURL, err)
	}
	t.Cleanup(func() { c.Close() })
	b, _ := json.Marshal(payload)
	if err := c.Emit("obs_logon", string(b)); err != nil {
		t.Fatal(err)
	}
	var ack logonAck
	select {
	case s := <-acks:
		if err := json.Unmarshal([]byte(s), &ack); err != nil {
			t.Fatalf("obs_logon_ack %q: %v", s, err)
		}
	case <-ctx.Done():
		t.Fatal("no obs_logon_ack")
	}
	return c, ack
}

type logonAck struct {
	Type   string `json:"type"`
	Value  bool   `json:"value"`
	Reason string `json:"reason"`
}

// headerLogon is an obs_logon payload built from a replay header.
func headerLogon(t testing.TB, replay, key, groupCode string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(replay)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var h map[string]any
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("%s: header: %v", replay, err)
	}
	p := map[string]any{
		"type": "authenticate", "clientVersion": h["clientVersion"], "obsName": h["obsName"], "key": key,
		"groupCode": h["groupCode"], "groupSecret": "", "leftTeam": h["leftTeam"], "rightTeam": h["rightTeam"], "toolsData": h["toolsData"],
	}
	if groupCode != "" {
		p["groupCode"] = groupCode
	}
	return p
}

// obsEvent emits one obs_data event.
func obsEvent(t testing.TB, c *sioclient.Client, obsName, groupCode, typ string, data any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"obsName": obsName, "groupCode": groupCode, "type": typ, "data": data})
	if err := c.Emit("obs_data", string(b)); err != nil {
		t.Fatal(err)
	}
}

// barrier waits until the server has read everything c sent.
func barrier(t testing.TB, c *sioclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Barrier(ctx); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

// ---------------------------------------------------------------- state comparison

// clockFields' values depend on the server's clock and are masked.
var clockFields = map[string]bool{"timestamp": true, "logStartTime": true, "roundTimeoutTime": true, "spikeDetonationTime": true, "agentSelectStartTime": true}

func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if clockFields[k] {
				out[k] = "<clock>"
			} else {
				out[k] = mask(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mask(e)
		}
		return out
	}
	return v
}

// httpGetJSON fetches url and decodes a JSON body.
func httpGetJSON(t testing.TB, url string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, body, err)
		}
	}
	return resp
}
