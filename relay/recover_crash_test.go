package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

// kill ends the server with SIGKILL: nothing is flushed or closed.
func (s *testServer) kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGKILL")
	}
}

// crashDriver plays a replay into a server as the observer and its
// auxiliary clients, in file order: when the sending socket changes, the
// previous one's events are waited for (Barrier), as diffdrive.mjs orders
// them with pauses.
type crashDriver struct {
	t       *testing.T
	replay  string
	version string
	obs     *sioclient.Client
	aux     map[string]*sioclient.Client
	last    *sioclient.Client
	ov      *overlay
	// also are overlays on other servers (the cluster tests) that every
	// checkpoint checks as well as ov.
	also []*overlay
	// auxAt, when set, is where the auxiliary clients connect (the
	// cluster tests put them on another node than the observer).
	auxAt *testServer
	// settle, when set, waits after a barrier until the server applied
	// what it read (forwarded auxiliary data arrives at the owner later).
	settle func()
	sent   int
}

func (d *crashDriver) connect(s *testServer, code, secret string) logonAck {
	d.t.Helper()
	p := headerLogon(d.t, d.replay, "", "")
	p["groupSecret"] = secret
	var ack logonAck
	d.obs, ack = obsLogon(d.t, s.Ingest, p)
	if !ack.Value {
		d.t.Fatalf("observer logon refused: %s", ack.Reason)
	}
	d.version, _ = p["clientVersion"].(string)
	d.aux = map[string]*sioclient.Client{}
	d.last = nil
	d.ov = newOverlay(d.t, s.Output, code)
	return ack
}

func (d *crashDriver) auxFor(s *testServer, e *replayfile.Event) *sioclient.Client {
	d.t.Helper()
	if c := d.aux[e.PlayerID]; c != nil {
		return c
	}
	c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: []string{"websocket"}}})
	acks := make(chan string, 1)
	c.On("aux_logon_ack", func(args []json.RawMessage) {
		var s string
		if len(args) > 0 {
			_ = json.Unmarshal(args[0], &s)
		}
		select {
		case acks <- s:
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx, s.Ingest); err != nil {
		d.t.Fatalf("aux client: %v", err)
	}
	d.t.Cleanup(func() { c.Close() })
	b, _ := json.Marshal(map[string]string{"type": "aux_authenticate", "clientVersion": d.version,
		"name": "Aux-" + e.PlayerID[:8], "matchId": e.MatchID, "playerId": e.PlayerID})
	if err := c.Emit("aux_logon", string(b)); err != nil {
		d.t.Fatal(err)
	}
	select {
	case a := <-acks:
		if !strings.Contains(a, `"value":true`) {
			d.t.Fatalf("aux logon of %s refused: %s", e.PlayerID, a)
		}
	case <-ctx.Done():
		d.t.Fatalf("no aux_logon_ack for %s", e.PlayerID)
	}
	d.aux[e.PlayerID] = c
	return c
}

func (d *crashDriver) send(s *testServer, e *replayfile.Event) {
	d.t.Helper()
	var c *sioclient.Client
	event := "obs_data"
	switch e.Kind() {
	case replayfile.KindObserver:
		c = d.obs
	case replayfile.KindAux:
		if d.auxAt != nil {
			s = d.auxAt
		}
		if d.aux[e.PlayerID] == nil && d.last != nil {
			// The logon finds the match by the id an earlier event set:
			// those events are applied first.
			d.sync()
		}
		c, event = d.auxFor(s, e), "aux_data"
	default:
		d.t.Fatalf("event %d: neither observer nor auxiliary", e.Index)
	}
	if d.last != nil && c != d.last {
		d.sync()
	}
	d.last = c
	p, err := e.Payload("")
	if err != nil {
		d.t.Fatal(err)
	}
	if err := c.Emit(event, string(p)); err != nil {
		d.t.Fatal(err)
	}
	d.sent++
}

// sync waits until the server handled what the last sending client sent.
func (d *crashDriver) sync() {
	d.t.Helper()
	barrier(d.t, d.last)
	if d.settle != nil {
		d.settle()
	}
}

// checkpoint waits (bounded) until the overlays' latest state is the
// golden one.
func (d *crashDriver) checkpoint(cp goldenCheckpoint) {
	d.t.Helper()
	if d.last != nil {
		d.sync()
	}
	for i, ov := range append([]*overlay{d.ov}, d.also...) {
		if diffs := ov.awaitGolden(cp, 5*time.Second); diffs != nil {
			d.t.Fatalf("checkpoint %s (after event %d) on overlay %d differs from the golden state:\n%s", cp.Label, cp.AfterEvent, i, strings.Join(diffs, "\n"))
		}
	}
}

// awaitGolden polls (bounded by wait) until the overlay's latest state is
// the checkpoint's; it returns the last difference seen when it is not.
func (o *overlay) awaitGolden(cp goldenCheckpoint, wait time.Duration) []string {
	o.t.Helper()
	diffs := []string{"no match_data yet"}
	if testenv.Poll(wait, func() bool {
		o.mu.Lock()
		n := len(o.states)
		var latest json.RawMessage
		if n > 0 {
			latest = o.states[n-1]
		}
		o.mu.Unlock()
		if n == 0 {
			return false
		}
		diffs = goldenDiff(o.t, cp, latest)
		return diffs == nil
	}) {
		return nil
	}
	return diffs
}

// waitOnDisk polls the replay file until it holds every event sent.
func waitOnDisk(t *testing.T, dir string, want int) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	var (
		lastErr error
		got     int
		files   []string
	)
	if !testenv.Poll(5*time.Second, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "Match_*.replay"))
		if len(files) != 1 {
			return len(files) > 1
		}
		var evs []replayfile.Event
		_, evs, lastErr = replayfile.ReadFile(files[0])
		got = len(evs)
		return lastErr == nil && got == want
	}) {
		t.Fatalf("replay file has %d of %d events after 5s (%v)", got, want, lastErr)
	}
	if len(files) > 1 {
		t.Fatalf("more than one replay file: %v", files)
	}
	return files[0], time.Since(start)
}

// recoverClients reconnects the observer and the auxiliary clients to s
// as the real Spectra client does after losing its connection: with the
// session of the lost connection and no logon (Socket.IO connection state
// recovery). Every one must be recovered.
func (d *crashDriver) recoverClients(s *testServer, code string) {
	d.t.Helper()
	reconnect := func(old *sioclient.Client, url, what string) *sioclient.Client {
		sess := old.Session()
		if sess.PID == "" || sess.Offset == "" {
			d.t.Fatalf("%s: no recoverable session (pid set %v, offset %q)", what, sess.PID != "", sess.Offset)
		}
		c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: []string{"websocket"}}, Session: sess})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx, url); err != nil {
			d.t.Fatalf("%s: reconnect: %v", what, err)
		}
		d.t.Cleanup(func() { c.Close() })
		if !c.Recovered() || c.SID() != old.SID() {
			d.t.Fatalf("%s: session not recovered (recovered %v, same sid %v)", what, c.Recovered(), c.SID() == old.SID())
		}
		return c
	}
	d.obs = reconnect(d.obs, s.Ingest, "observer")
	auxAt := s
	if d.auxAt != nil {
		auxAt = d.auxAt
	}
	for id, c := range d.aux {
		if c != nil {
			d.aux[id] = reconnect(c, auxAt.Ingest, "auxiliary client "+id[:8])
		}
	}
	d.last = nil
	d.ov = newOverlay(d.t, s.Output, code)
}

// TestCrashRecovery: kill -9 mid-match, restart on the same replay dir, and
// the match goes on: the observer reconnects, either logging on again with
// its group secret or, as the real Spectra client does, recovering its
// Socket.IO session without a logon (its auxiliary clients too); a new
// overlay gets the rebuilt state at once, and every later checkpoint is the
// existing server's (golden) state.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server and kills it mid-replay")
	}
	for _, tc := range []struct {
		name    string
		recover bool
	}{{"logon again with the secret", false}, {"recovered sessions, no logon", true}} {
		t.Run(tc.name, func(t *testing.T) { testCrashRecovery(t, tc.recover) })
	}
}

func testCrashRecovery(t *testing.T, recoverSessions bool) {
	const name = "short_3rounds"
	began := time.Now()
	replay := replayPath(t, name+".replay")
	golden := loadGoldenCheckpoints(t, name)
	h, events, err := replayfile.ReadFile(replay)
	if err != nil {
		t.Fatal(err)
	}
	// Killed in the middle of round 2's tech pause.
	killAt := -1
	for i, cp := range golden {
		if cp.Label == "tech_pause_r2" {
			killAt = i
			break
		}
	}
	if killAt < 0 {
		t.Fatal("golden file has no tech_pause_r2 checkpoint")
	}
	dir := filepath.Join(t.TempDir(), "replays")
	srv1 := startServer(t, serverOpts{replayDir: dir})
	d := &crashDriver{t: t, replay: replay}
	ack := d.connect(srv1, h.GroupCode, "")
	secret := ack.Reason
	ov1 := d.ov

	next := 0 // next golden checkpoint
	play := func(s *testServer, from, to int) {
		for i := from; i <= to; i++ {
			d.send(s, &events[i])
			for next < len(golden) && golden[next].AfterEvent == i {
				d.checkpoint(golden[next])
				next++
			}
		}
	}
	cut := golden[killAt].AfterEvent
	play(srv1, 0, cut)
	path, lag := waitOnDisk(t, dir, d.sent)
	t.Logf("all %d events sent were in the replay file %v after the last checkpoint", d.sent, lag.Round(time.Millisecond))
	ov1.mu.Lock()
	lastBefore := ov1.states[len(ov1.states)-1]
	ov1.mu.Unlock()

	srv1.kill(t)
	for _, c := range append([]*sioclient.Client{d.obs, ov1.c}, mapValues(d.aux)...) {
		c.Close()
	}

	srv2 := startServer(t, serverOpts{replayDir: dir})
	if !testenv.Poll(5*time.Second, func() bool {
		return strings.Contains(srv2.log.String(), `msg="match recovered" groupCode=`+h.GroupCode)
	}) {
		t.Fatalf("no recovery log line:\n%s", srv2.log.String())
	}
	// The observer continues the same match, with its secret or its
	// recovered session; the new overlay has the rebuilt state as its
	// first match_data.
	if recoverSessions {
		d.recoverClients(srv2, h.GroupCode)
		awaitLog(t, srv2, `msg="ingest session recovered" kind=observer`, 5*time.Second)
	} else if ack := d.connect(srv2, h.GroupCode, secret); ack.Reason != "reconnected" {
		t.Fatalf("observer reconnect: %+v", ack)
	}
	ov2 := d.ov
	testenv.WaitFor(t, 5*time.Second, "match_data for an overlay of the recovered match", func() bool { return ov2.count() > 0 })
	ov2.mu.Lock()
	first := ov2.states[0]
	ov2.mu.Unlock()
	if !bytes.Equal(first, lastBefore) {
		t.Errorf("rebuilt state differs from the last state before the kill:\n%s", strings.Join(goldenDiff(t, goldenCheckpoint{Label: "before kill", Data: lastBefore}, first), "\n"))
	}
	if diffs := goldenDiff(t, golden[killAt], first); diffs != nil {
		t.Fatalf("rebuilt state differs from golden %s:\n%s", golden[killAt].Label, strings.Join(diffs, "\n"))
	}
	after := next
	play(srv2, cut+1, len(events)-1)
	if next != len(golden) {
		t.Fatalf("%d golden checkpoints not reached", len(golden)-next)
	}
	t.Logf("%d checkpoints before the kill and %d after it match the golden file", after, len(golden)-after)

	// One file, continued, holding every event of both runs.
	if got, _ := waitOnDisk(t, dir, d.sent); got != path {
		t.Fatalf("replay file %s, want the original %s", got, path)
	}
	for _, ov := range []*overlay{ov1, ov2} {
		ov.mu.Lock()
		for _, s := range ov.states {
			if bytes.Contains(s, []byte(secret)) {
				t.Error("a match_data carries the group secret")
			}
		}
		ov.mu.Unlock()
	}
	t.Logf("crash test took %v", time.Since(began).Round(time.Millisecond))
	if st, err := os.Stat(strings.TrimSuffix(path, ".replay") + ".secret"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("group secret sidecar: %v", err)
	}
}

func mapValues(m map[string]*sioclient.Client) []*sioclient.Client {
	out := make([]*sioclient.Client, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	return out
}
