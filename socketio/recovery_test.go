package socketio

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecoveryAuth(t *testing.T) {
	pid := strings.Repeat("A", pidLen)
	tests := []struct {
		name      string
		auth      string
		pid       string
		tried     bool
		malformed bool
	}{
		{"empty object", `{}`, "", false, false},
		{"other members", `{"token":"x"}`, "", false, false},
		{"pid and offset", `{"pid":"` + pid + `","offset":"3"}`, pid, true, false},
		{"offset first, other members", `{"offset":"zz","token":1,"pid":"` + pid + `"}`, pid, true, false},
		{"no offset (no event received yet)", `{"pid":"` + pid + `"}`, "", true, true},
		{"empty offset", `{"pid":"` + pid + `","offset":""}`, "", true, true},
		{"offset not a string", `{"pid":"` + pid + `","offset":3}`, "", true, true},
		{"offset too long", `{"pid":"` + pid + `","offset":"` + strings.Repeat("9", maxOffsetLen+1) + `"}`, "", true, true},
		{"pid too short", `{"pid":"abc","offset":"1"}`, "", true, true},
		{"pid too long", `{"pid":"` + pid + `x","offset":"1"}`, "", true, true},
		{"pid not a string", `{"pid":12,"offset":"1"}`, "", true, true},
		{"pid null", `{"pid":null,"offset":"1"}`, "", true, true},
		{"not an object", `["pid"]`, "", false, false},
		{"broken JSON", `{"pid":"` + pid, "", false, false},
		{"huge payload not decoded", `{"pid":"` + pid + `","offset":"1","pad":"` + strings.Repeat("x", maxAuthScan) + `"}`, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, tried, malformed := recoveryAuth([]byte(tc.auth))
			if p != tc.pid || tried != tc.tried || malformed != tc.malformed {
				t.Fatalf("recoveryAuth = (%q, %v, %v), want (%q, %v, %v)", p, tried, malformed, tc.pid, tc.tried, tc.malformed)
			}
		})
	}
}

func FuzzRecoveryAuth(f *testing.F) {
	for _, s := range []string{`{}`, `{"pid":"` + newPID() + `","offset":"1"}`, `{"pid":1}`, `{"pid":"\u0041"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, tried, malformed := recoveryAuth(b)
		if pid != "" && (!tried || malformed || len(pid) != pidLen) {
			t.Fatalf("pid %q with tried=%v malformed=%v", pid, tried, malformed)
		}
		if malformed && !tried {
			t.Fatal("malformed without trying")
		}
	})
}

func TestNewPID(t *testing.T) {
	seen := make(map[string]bool, 100)
	for range 100 {
		p := newPID()
		if len(p) != pidLen || seen[p] {
			t.Fatalf("pid %q: length %d (want %d) or repeated", p, len(p), pidLen)
		}
		seen[p] = true
	}
}

// TestRecoveryTable: the window, the cap (oldest forgotten first) and one
// use per remembered session.
func TestRecoveryTable(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		remember string        // pid to remember at t0+at (or "")
		take     string        // pid to take at t0+at (or "")
		at       time.Duration // since t0
		ok       bool
		expired  bool
	}
	tests := []struct {
		name  string
		max   int
		steps []step
		left  int
	}{
		{"taken once", 10, []step{
			{remember: "a"},
			{take: "a", at: time.Second, ok: true},
			{take: "a", at: time.Second},
		}, 0},
		{"expired at the window", 10, []step{
			{remember: "a"},
			{take: "a", at: time.Minute + time.Millisecond, expired: true},
		}, 0},
		{"within the window", 10, []step{
			{remember: "a"},
			{take: "a", at: time.Minute, ok: true},
		}, 0},
		{"the cap forgets the oldest", 2, []step{
			{remember: "a"},
			{remember: "b", at: time.Second},
			{remember: "c", at: 2 * time.Second},
			{take: "a", at: 3 * time.Second},
			{take: "b", at: 3 * time.Second, ok: true},
		}, 1},
		{"expired ones are purged on the next remember", 10, []step{
			{remember: "a"},
			{remember: "b", at: 2 * time.Minute},
			{take: "a", at: 2 * time.Minute},
		}, 1},
		{"remembered again after a recovery", 10, []step{
			{remember: "a"},
			{take: "a", at: time.Second, ok: true},
			{remember: "a", at: 50 * time.Second},
			{take: "a", at: 100 * time.Second, ok: true},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recovery{cfg: RecoveryConfig{Window: time.Minute, MaxSessions: tc.max}, byPID: map[string]lostSession{}}
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.remember != "" {
					r.remember(s.remember, "sid-"+s.remember, 7, now)
					continue
				}
				got, ok, expired := r.take(s.take, now)
				if ok != s.ok || expired != s.expired {
					t.Fatalf("step %d: take(%q) ok=%v expired=%v, want %v %v", i, s.take, ok, expired, s.ok, s.expired)
				}
				if ok && (got.sid != "sid-"+s.take || got.offset != 7) {
					t.Fatalf("step %d: took %+v", i, got)
				}
			}
			if n := r.remembered(); n != tc.left {
				t.Fatalf("%d sessions left, want %d", n, tc.left)
			}
		})
	}
}

// recoveryServer is a testServer whose "/rec" namespace recovers
// connection state; outcomes collects what Observe was told.
type recoveryServer struct {
	*testServer
	mu       sync.Mutex
	outcomes []RecoveryOutcome
	remote   map[string]string // pid → sid the Lookup hook knows
	refuse   bool              // Lookup refuses remembered sessions
}

func newRecoveryServer(t *testing.T) *recoveryServer {
	rs := &recoveryServer{testServer: newTestServer(t), remote: map[string]string{}}
	nsp := rs.srv.Of("/rec")
	nsp.EnableRecovery(RecoveryConfig{
		Window: time.Minute,
		Lookup: func(pid, sid string, remembered bool) (string, bool) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if remembered {
				return sid, !rs.refuse
			}
			s, ok := rs.remote[pid]
			return s, ok
		},
		Observe: func(o RecoveryOutcome) {
			rs.mu.Lock()
			rs.outcomes = append(rs.outcomes, o)
			rs.mu.Unlock()
		},
	})
	nsp.OnConnection(func(s *Socket) {
		// The handler first: once the greeting is out the test may replace
		// this socket at once.
		s.OnDisconnect(func(reason string) { rs.disc <- reason })
		_ = s.Emit("hi", s.Recovered())
	})
	return rs
}

func (rs *recoveryServer) lastOutcome() RecoveryOutcome {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.outcomes) == 0 {
		return ""
	}
	return rs.outcomes[len(rs.outcomes)-1]
}

// connectRec connects to /rec with auth and returns the CONNECT reply's
// sid and pid and the greeting's offset argument.
func connectRec(t *testing.T, c *wsClient, auth string, wantRecovered bool) (sid, pid, offset string) {
	t.Helper()
	c.send("40/rec," + auth)
	reply := c.expectPrefix(`40/rec,{"sid":"`)
	var r struct{ SID, PID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "40/rec,")), &r); err != nil || r.PID == "" {
		t.Fatalf("CONNECT reply %q: want sid and pid (%v)", reply, err)
	}
	hi := c.expectPrefix(`42/rec,["hi",`)
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimPrefix(hi, "42/rec,")), &args); err != nil || len(args) != 3 {
		t.Fatalf("greeting %q: want [name, recovered, offset] (%v)", hi, err)
	}
	if got := string(args[1]); got != map[bool]string{true: "true", false: "false"}[wantRecovered] {
		t.Fatalf("greeting %q: recovered %s, want %v", hi, got, wantRecovered)
	}
	if err := json.Unmarshal(args[2], &offset); err != nil || offset == "" {
		t.Fatalf("greeting %q: last argument is not an offset", hi)
	}
	return r.SID, r.PID, offset
}

// TestRecoveryOverWebSocket: the wire exchange, and every refusal reason.
func TestRecoveryOverWebSocket(t *testing.T) {
	rs := newRecoveryServer(t)
	waitDisc := func(want string) {
		t.Helper()
		select {
		case got := <-rs.disc:
			if got != want {
				t.Fatalf("disconnect reason %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no disconnect")
		}
	}

	// A first session, then its connection lost.
	c := rs.dial(t)
	sid, pid, off := connectRec(t, c, `{}`, false)
	_ = c.conn.Close()
	waitDisc("transport close")
	if n := rs.srv.Of("/rec").RecoverySessions(); n != 1 {
		t.Fatalf("%d sessions remembered, want 1", n)
	}

	// Recovered: same sid and pid; the offset goes on from the last one.
	c = rs.dial(t)
	sid2, pid2, off2 := connectRec(t, c, `{"pid":"`+pid+`","offset":"`+off+`"}`, true)
	if sid2 != sid || pid2 != pid || off2 == off {
		t.Fatalf("recovered sid %q pid-equal %v offset %q, want sid %q, same pid, offset after %q", sid2, pid2 == pid, off2, sid, off)
	}
	if o := rs.lastOutcome(); o != RecoveryRestored {
		t.Fatalf("outcome %q", o)
	}

	// The same pid again while the recovered socket lives: the old
	// connection is taken over only through the Lookup hook; the table
	// entry was used up.
	c3 := rs.dial(t)
	_, pid3, _ := connectRec(t, c3, `{"pid":"`+pid+`","offset":"1"}`, false)
	if pid3 == pid {
		t.Fatal("a used-up pid gave its session again")
	}
	if o := rs.lastOutcome(); o != RecoveryUnknown {
		t.Fatalf("outcome %q, want unknown", o)
	}

	// A pid the application knows (another node's, a restart's): restored
	// with the sid the hook gives; the socket holding it is replaced.
	rs.mu.Lock()
	rs.remote[pid] = sid
	rs.mu.Unlock()
	c4 := rs.dial(t)
	sid4, _, _ := connectRec(t, c4, `{"pid":"`+pid+`","offset":"9"}`, true)
	if sid4 != sid {
		t.Fatalf("sid %q, want %q", sid4, sid)
	}
	waitDisc("replaced by a recovered connection")
	c.expectClosed()

	// Malformed and refused.
	c5 := rs.dial(t)
	connectRec(t, c5, `{"pid":"short","offset":"1"}`, false)
	if o := rs.lastOutcome(); o != RecoveryMalformed {
		t.Fatalf("outcome %q, want malformed", o)
	}
	_ = c4.conn.Close()
	waitDisc("transport close")
	rs.mu.Lock()
	rs.refuse = true
	rs.mu.Unlock()
	c6 := rs.dial(t)
	connectRec(t, c6, `{"pid":"`+pid+`","offset":"9"}`, false)
	if o := rs.lastOutcome(); o != RecoveryRefused {
		t.Fatalf("outcome %q, want refused", o)
	}

	// A namespace disconnect is not a lost connection: nothing to recover.
	c7 := rs.dial(t)
	sid7, pid7b, _ := connectRec(t, c7, `{}`, false)
	c7.send("41/rec,")
	waitDisc("client namespace disconnect")
	rs.mu.Lock()
	rs.refuse = false
	rs.mu.Unlock()
	c8 := rs.dial(t)
	sid8, _, _ := connectRec(t, c8, `{"pid":"`+pid7b+`","offset":"1"}`, false)
	if sid8 == sid7 {
		t.Fatal("a session left on purpose was recovered")
	}
}

// TestRecoveryOffNoPID: without EnableRecovery the CONNECT reply is exactly
// {"sid":…} (the protocol suite checks it) and emits carry no offset.
func TestRecoveryOffNoPID(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	c.send(`40{"pid":"` + strings.Repeat("A", pidLen) + `","offset":"1"}`)
	reply := c.expectPrefix(`40{"sid":"`)
	if strings.Contains(reply, "pid") {
		t.Fatalf("CONNECT reply %q has a pid", reply)
	}
	c.expectPrefix(`42["auth",{"pid"`)
}
