package relay

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// recBroadcaster records what the controller sends.
type recBroadcaster struct {
	mu    sync.Mutex
	sends []recSend
	ch    chan struct{}
	now   func() time.Time // the clock of a send's time; nil: time.Now
}

type recSend struct {
	at   time.Time
	room string
	pkt  []byte
}

func newRec() *recBroadcaster { return &recBroadcaster{ch: make(chan struct{}, 1024)} }

func (r *recBroadcaster) BroadcastRaw(room string, pkt []byte, coalesce bool) int {
	at := time.Now()
	if r.now != nil {
		at = r.now()
	}
	r.mu.Lock()
	r.sends = append(r.sends, recSend{at, room, pkt})
	r.mu.Unlock()
	r.ch <- struct{}{}
	return 1
}

func (r *recBroadcaster) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.sends) }

func (r *recBroadcaster) wait(t testing.TB) {
	t.Helper()
	select {
	case <-r.ch:
	case <-time.After(tTimeout):
		t.Fatal("no send")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestMatch registers a match for the replay's header under groupCode.
func newTestMatch(t testing.TB, c *controller, r tReplay, groupCode string) *liveMatch {
	t.Helper()
	raw := mustMarshal(t, r.logon(groupCode, "", tVersion))
	l, err := match.ParseLogon(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.createOrReconnect(l, raw)
	if err != nil {
		t.Fatal(err)
	}
	return res.lm
}

// obsPayloads returns the replay's observer events as sent for groupCode.
func obsPayloads(t testing.TB, r tReplay, groupCode string) []string {
	t.Helper()
	var out []string
	for i := range r.events {
		if r.events[i].Kind() != replayfile.KindObserver {
			continue
		}
		p, err := r.events[i].Payload(groupCode)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(p))
	}
	return out
}

func ingestT(t testing.TB, c *controller, payload string) {
	t.Helper()
	ev, err := match.ParseEvent([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.ingest(ev, payload, nil)
}

// fakeClock is a clock and timer factory for the controller that only
// moves when the test advances it; a timer due by then runs inside advance,
// on the test's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c   *fakeClock
	f   func()
	at  time.Time
	set bool
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (fc *fakeClock) now() time.Time { fc.mu.Lock(); defer fc.mu.Unlock(); return fc.t }

func (fc *fakeClock) afterFunc(d time.Duration, f func()) sendTimer {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	ft := &fakeTimer{c: fc, f: f, at: fc.t.Add(d), set: true}
	fc.timers = append(fc.timers, ft)
	return ft
}

func (ft *fakeTimer) Reset(d time.Duration) bool {
	ft.c.mu.Lock()
	defer ft.c.mu.Unlock()
	was := ft.set
	ft.at, ft.set = ft.c.t.Add(d), true
	return was
}

func (ft *fakeTimer) Stop() bool {
	ft.c.mu.Lock()
	defer ft.c.mu.Unlock()
	was := ft.set
	ft.set = false
	return was
}

// advance moves the clock by d and runs, in order of their time, the timers
// due by then, each at its own time.
func (fc *fakeClock) advance(t testing.TB, d time.Duration) {
	t.Helper()
	fc.mu.Lock()
	end := fc.t.Add(d)
	fc.mu.Unlock()
	for range 1000 { // a timer that keeps rearming itself inside d ends the test below
		fc.mu.Lock()
		var next *fakeTimer
		for _, ft := range fc.timers {
			if ft.set && !ft.at.After(end) && (next == nil || ft.at.Before(next.at)) {
				next = ft
			}
		}
		if next == nil {
			fc.t = end
			fc.mu.Unlock()
			return
		}
		fc.t, next.set = next.at, false
		fc.mu.Unlock()
		next.f()
	}
	t.Fatal("fakeClock.advance: timers rearm without end")
}

func TestSendRateLeadingAndTrailingEdge(t *testing.T) {
	const (
		interval = 100 * time.Millisecond
		step     = 3 * time.Millisecond
		burst    = 1500 * time.Millisecond
	)
	fc := newFakeClock()
	rec := newRec()
	rec.now = fc.now
	c := newController(controllerConfig{SendInterval: interval, Logger: quietLogger(), Now: fc.now, AfterFunc: fc.afterFunc}, rec)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	lm := newTestMatch(t, c, r, "RATE01")
	if rec.n() != 1 {
		t.Fatalf("%d sends at logon, want the initial state at once", rec.n())
	}
	t0 := fc.now()

	// A change every 3 ms for 1.5 s: one send at most per interval, the
	// leading one at logon, then one every interval while changes keep coming.
	payloads := obsPayloads(t, r, "RATE01")
	for i := 0; fc.now().Sub(t0) < burst; i++ {
		fc.advance(t, step)
		ingestT(t, c, payloads[i%len(payloads)])
	}
	// The trailing edge sends the final state one interval after the last send.
	fc.advance(t, interval)
	want := func() string {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		return string(appendMatchDataPacket(nil, lm.m.AppendJSON(nil)))
	}()
	rec.mu.Lock()
	sends := append([]recSend(nil), rec.sends...)
	rec.mu.Unlock()
	if last := string(sends[len(sends)-1].pkt); last != want {
		t.Fatal("the final state was not sent on the trailing edge")
	}
	for i := 1; i < len(sends); i++ {
		if gap := sends[i].at.Sub(sends[i-1].at); gap != interval {
			t.Fatalf("sends %d and %d %v apart, want %v", i-1, i, gap, interval)
		}
	}
	// Sends at 0, 100, …, 1500 ms and the trailing one at 1600 ms.
	if n, wantN := len(sends), int(burst/interval)+2; n != wantN {
		t.Fatalf("%d sends for 1.5 s of changes, want %d", n, wantN)
	}

	// After a quiet period the next change is sent at once, inside ingest.
	fc.advance(t, interval+10*time.Millisecond)
	before := rec.n()
	ingestT(t, c, `{"obsName":"o","groupCode":"RATE01","type":"map","data":"Jam"}`)
	if rec.n() != before+1 {
		t.Fatal("a change after a quiet period was not sent at once")
	}
}

func TestInactiveMatchRemoved(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newController(controllerConfig{Logger: quietLogger(), Now: clock}, nil)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	newTestMatch(t, c, r, "IDLE01")
	mu.Lock()
	now = now.Add(DefaultInactivityTimeout + time.Second)
	mu.Unlock()
	deadline := time.After(tTimeout)
	for c.Count() != 0 {
		select {
		case <-deadline:
			t.Fatal("inactive match not removed")
		case <-time.After(DefaultSendInterval):
		}
	}
}

func TestAuxDataRoutedByMatchID(t *testing.T) {
	rec := newRec()
	c := newController(controllerConfig{Logger: quietLogger()}, rec)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	a := newTestMatch(t, c, r, "SAME01")
	b := newTestMatch(t, c, r, "SAME02")
	for _, code := range []string{"SAME01", "SAME02"} {
		ingestT(t, c, `{"obsName":"o","groupCode":"`+code+`","type":"match_start","data":"m-1"}`)
	}
	ver := func(lm *liveMatch) uint64 { lm.mu.Lock(); defer lm.mu.Unlock(); return lm.version }
	before := [2]uint64{ver(a), ver(b)}
	ingestT(t, c, `{"playerId":"p","matchId":"m-1","type":"aux_health","data":50}`)
	if ver(a) == before[0] || ver(b) == before[1] {
		t.Fatal("aux data did not reach both matches with the id")
	}
	var buf [4]*liveMatch
	if got := c.byMatchID(buf[:0], "m-1"); len(got) != 2 {
		t.Fatalf("index has %d matches for m-1", len(got))
	}
	ingestT(t, c, `{"obsName":"o","groupCode":"SAME01","type":"match_start","data":"m-2"}`)
	if got := c.byMatchID(buf[:0], "m-1"); len(got) != 1 || got[0] != b {
		t.Fatal("index not updated on a new match id")
	}
}

// Overlays logging on at one state version share one encoded snapshot
// (so its compressed frame is built once, not once per overlay), and a
// change gives the next logon a new one holding the new state.
func TestSubscribeSharesSnapshotPerVersion(t *testing.T) {
	rec := newRec()
	c := newController(controllerConfig{SendInterval: time.Hour, Logger: quietLogger()}, rec)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	lm := newTestMatch(t, c, r, "SNAP01")
	rec.wait(t) // the initial state went out; the hour-long interval holds the next
	state := func() string {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		return string(appendMatchDataPacket(nil, lm.m.AppendJSON(nil)))
	}
	logon := func() snapshot {
		t.Helper()
		var got snapshot
		err := c.subscribe("SNAP01", func() error { return nil }, func(sn *snapshot) error { got = *sn; return nil })
		if err != nil || got.version == 0 || len(got.pkt) == 0 {
			t.Fatalf("subscribe: snapshot %+v, err %v", got, err)
		}
		return got
	}
	tests := []struct {
		name   string
		change string // an observer event applied before the logons; "" none
	}{
		{"the broadcast version", ""},
		{"a version not broadcast yet", `{"obsName":"o","groupCode":"SNAP01","type":"map","data":"Jam"}`},
		{"the next change", `{"obsName":"o","groupCode":"SNAP01","type":"map","data":"Bind"}`},
	}
	var prev snapshot
	for _, tc := range tests {
		if tc.change != "" {
			ingestT(t, c, tc.change)
		}
		a, b := logon(), logon()
		if a.version != b.version || &a.pkt[0] != &b.pkt[0] {
			t.Fatalf("%s: two logons at one version got two encodings", tc.name)
		}
		if a.version == prev.version {
			t.Fatalf("%s: a logon after a change got the old snapshot", tc.name)
		}
		if string(a.pkt) != state() {
			t.Fatalf("%s: the snapshot is not the current state", tc.name)
		}
		prev = a
	}
}

// A change made while the match's sendMu is held (a fan-out or a logon's
// snapshot under way) does not wait for it; the holder sends it when it
// unlocks, so the overlays still get the newest state.
func TestScheduleDoesNotWaitForSendMu(t *testing.T) {
	rec := newRec()
	c := newController(controllerConfig{Logger: quietLogger()}, rec)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	lm := newTestMatch(t, c, r, "KICK01")
	rec.wait(t)                                           // the initial state
	time.Sleep(DefaultSendInterval + 10*time.Millisecond) // the quiet period under test: the next change is due at once

	lm.sendMu.Lock() // as a broadcast in progress would
	held := rec.n()  // every send takes sendMu: none can happen from here
	done := make(chan struct{})
	go func() {
		defer close(done)
		ingestT(t, c, `{"obsName":"o","groupCode":"KICK01","type":"map","data":"Jam"}`)
	}()
	select {
	case <-done:
	case <-time.After(tTimeout):
		lm.sendMu.Unlock()
		t.Fatal("ingest waited for the held sendMu")
	}
	if n := rec.n(); n != held {
		lm.sendMu.Unlock()
		t.Fatalf("%d sends while sendMu was held", n-held)
	}
	lm.unlockSend()
	last := rec.n() - 1
	if last != held {
		t.Fatalf("%d sends when the holder unlocked, want 1", last+1-held)
	}
	want := func() string {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		return string(appendMatchDataPacket(nil, lm.m.AppendJSON(nil)))
	}()
	rec.mu.Lock()
	got := string(rec.sends[last].pkt)
	rec.mu.Unlock()
	if got != want {
		t.Fatal("the send after the unlock is not the newest state")
	}
}

// The match_data packet is built into a buffer of exactly its size, for
// states with and without characters that need escaping.
func TestMatchDataPacketSize(t *testing.T) {
	tests := []struct{ name, js string }{
		{"golden state", testenv.MatchData(t)},
		{"empty object", `{}`},
		{"escapes", `{"a":"q\"uote","b":"back\\slash","c":"line\nbreak","d":"tab\tü€"}`},
	}
	for _, tc := range tests {
		pkt := newMatchDataPacket([]byte(tc.js))
		if len(pkt) != cap(pkt) {
			t.Errorf("%s: packet of %d bytes in a buffer of %d", tc.name, len(pkt), cap(pkt))
		}
		if want := string(appendMatchDataPacket(nil, []byte(tc.js))); string(pkt) != want {
			t.Errorf("%s: packet %q, want %q", tc.name, pkt, want)
		}
	}
}
