package cluster_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/redistest"
	"spectra-relay/relay/cluster"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type received struct {
	mu  sync.Mutex
	out []cluster.Seq
	in  []string
}

func newNode(t *testing.T, url, id string, r *received) *cluster.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := cluster.Handlers{}
	if r != nil {
		h.Out = func(code string, s cluster.Seq, pkt []byte) {
			r.mu.Lock()
			r.out = append(r.out, s)
			r.mu.Unlock()
		}
		h.In = func(code string, kind byte, p []byte) {
			r.mu.Lock()
			r.in = append(r.in, string(kind)+string(p))
			r.mu.Unlock()
		}
	}
	n, err := cluster.New(ctx, cluster.Config{URL: url, NodeID: id, LeaseTTL: 600 * time.Millisecond, Logger: quiet()}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond for at most 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFencing: a takeover moves the token, and from then on every write of
// the old owner fails with ErrFenced while the new owner's succeed; the
// new owner reads exactly the events appended before the takeover.
func TestFencing(t *testing.T) {
	rs := redistest.Start(t)
	ctx := ctxT(t)
	a := newNode(t, rs.URL, "a", nil)
	b := newNode(t, rs.URL, "b", nil)
	var lostMu sync.Mutex
	var lostA []error
	oa, err := a.Create(ctx, "G1", "s3cret", []byte(`{"logon":1}`), 1000, func(err error) {
		lostMu.Lock()
		lostA = append(lostA, err)
		lostMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "G1", "other", nil, 2000, nil); !errors.Is(err, cluster.ErrTaken) {
		t.Fatalf("second create: %v, want ErrTaken", err)
	}
	for i, raw := range []string{`{"e":1}`, `{"e":2}`} {
		if err := oa.Append(ctx, int64(1001+i), raw); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Takeover(ctx, "G1", "wrong", nil); !errors.Is(err, cluster.ErrTaken) {
		t.Fatalf("takeover with a wrong secret: %v", err)
	}
	if _, _, err := b.Takeover(ctx, "NOPE", "x", nil); !errors.Is(err, cluster.ErrNoMatch) {
		t.Fatalf("takeover of an unknown code: %v", err)
	}
	ob, snap, err := b.Takeover(ctx, "G1", "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Logon) != `{"logon":1}` || snap.Start != 1000 || len(snap.Events) != 2 || snap.Events[1].Raw != `{"e":2}` || snap.Events[1].TS != 1002 {
		t.Fatalf("snapshot %+v", snap)
	}
	if ob.Token() <= oa.Token() {
		t.Fatalf("token did not grow: %d -> %d", oa.Token(), ob.Token())
	}
	cases := []struct {
		name string
		do   func(o *cluster.Owner) error
	}{
		{"append", func(o *cluster.Owner) error { return o.Append(ctx, 1003, `{"e":3}`) }},
		{"publish", func(o *cluster.Owner) error { return o.Publish(ctx, 7, []byte("pkt")) }},
	}
	for _, c := range cases {
		if err := c.do(oa); !errors.Is(err, cluster.ErrFenced) {
			t.Errorf("old owner %s: %v, want ErrFenced", c.name, err)
		}
		if err := c.do(ob); err != nil {
			t.Errorf("new owner %s: %v", c.name, err)
		}
	}
	// The old owner's renewal finds out too.
	waitUntil(t, "old owner told it lost the match", func() bool {
		lostMu.Lock()
		defer lostMu.Unlock()
		return len(lostA) > 0 && errors.Is(lostA[0], cluster.ErrFenced)
	})
	_, snap2, err := a.Takeover(ctx, "G1", "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap2.Events) != 3 {
		t.Fatalf("stream has %d events, want 3 (the fenced append must not be there)", len(snap2.Events))
	}
}

// TestPublishOrderAndLatest: subscribers get the owner's packets with
// growing Seq, and LatestState is the last one.
func TestPublishOrderAndLatest(t *testing.T) {
	rs := redistest.Start(t)
	ctx := ctxT(t)
	a := newNode(t, rs.URL, "a", nil)
	var r received
	b := newNode(t, rs.URL, "b", &r)
	b.SubscribeOut("G2")
	o, err := a.Create(ctx, "G2", "s", []byte("{}"), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The subscription is asynchronous: publish until the first arrives.
	v := uint64(0)
	waitUntil(t, "first packet received", func() bool {
		v++
		if err := o.Publish(ctx, v, []byte("p")); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.out) > 0
	})
	for i := 0; i < 5; i++ {
		v++
		if err := o.Publish(ctx, v, []byte("p")); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "last packet received", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.out[len(r.out)-1].Version == v
	})
	r.mu.Lock()
	for i := 1; i < len(r.out); i++ {
		if !r.out[i-1].Less(r.out[i]) {
			t.Errorf("packet %d (%+v) not after %+v", i, r.out[i], r.out[i-1])
		}
	}
	r.mu.Unlock()
	s, pkt, ok, err := b.LatestState(ctx, "G2")
	if err != nil || !ok || s.Version != v || string(pkt) != "p" || s.Start != 5 {
		t.Fatalf("latest state %+v %q %v %v", s, pkt, ok, err)
	}
}

// TestRedisLossRestore: after Redis restarts empty, the owner's writes
// report ErrLost, Restore writes the match back with a higher token, and
// a takeover then sees the restored events.
func TestRedisLossRestore(t *testing.T) {
	rs := redistest.Start(t)
	ctx := ctxT(t)
	a := newNode(t, rs.URL, "a", nil)
	lost := make(chan error, 4)
	o, err := a.Create(ctx, "G3", "sec", []byte("{}"), 9, func(err error) {
		select {
		case lost <- err:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Append(ctx, 10, "e1"); err != nil {
		t.Fatal(err)
	}
	tok := o.Token()
	if err := rs.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var appendErr error
	waitUntil(t, "append reports the loss", func() bool {
		appendErr = o.Append(ctx, 11, "e2")
		return errors.Is(appendErr, cluster.ErrLost)
	})
	select {
	case err := <-lost:
		if !errors.Is(err, cluster.ErrLost) {
			t.Fatalf("renewal: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("renewal did not report the loss")
	}
	if err := o.Restore(ctx, "sec", []byte("{}"), []cluster.Entry{{TS: 10, Raw: "e1"}, {TS: 11, Raw: "e2"}}, "mid-1"); err != nil {
		t.Fatal(err)
	}
	if o.Token() <= tok {
		t.Fatalf("token after restore %d, before %d", o.Token(), tok)
	}
	if err := o.Append(ctx, 12, "e3"); err != nil {
		t.Fatal(err)
	}
	codes, err := a.CodesOfMatchID(ctx, "mid-1")
	if err != nil || len(codes) != 1 || codes[0] != "G3" {
		t.Fatalf("match id index: %v %v", codes, err)
	}
	// A resync with the keys present (events missed while Redis was
	// unreachable) replaces the stream.
	if err := o.Restore(ctx, "sec", []byte("{}"), []cluster.Entry{{TS: 10, Raw: "e1"}, {TS: 11, Raw: "e2"}, {TS: 12, Raw: "e3"}, {TS: 13, Raw: "e4"}}, "mid-1"); err != nil {
		t.Fatalf("resync: %v", err)
	}
	b := newNode(t, rs.URL, "b", nil)
	ob, snap, err := b.Takeover(ctx, "G3", "sec", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Events) != 4 || snap.Events[3].Raw != "e4" {
		t.Fatalf("after restore and resync the stream has %+v", snap.Events)
	}
	// The old owner cannot restore over the new one.
	if err := o.Restore(ctx, "sec", []byte("{}"), nil, ""); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("restore by a fenced owner: %v, want ErrFenced", err)
	}
	if err := ob.Append(ctx, 14, "e5"); err != nil {
		t.Fatal(err)
	}
}

// TestSessions: a session stored with its match is found from another
// node while the match lives, and not after it ended.
func TestSessions(t *testing.T) {
	rs := redistest.Start(t)
	ctx := ctxT(t)
	a := newNode(t, rs.URL, "a", nil)
	b := newNode(t, rs.URL, "b", nil)
	oa, err := a.Create(ctx, "G1", "s3cret", []byte(`{"logon":1}`), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutSession(ctx, "G1", "pid-1", []byte(`{"sid":"x"}`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pid    string
		ok     bool
		code   string
		secret string
		bind   string
	}{
		{"pid-1", true, "G1", "s3cret", `{"sid":"x"}`},
		{"pid-unknown", false, "", "", ""},
	}
	for _, tc := range tests {
		code, secret, bind, ok, err := b.Session(ctx, tc.pid)
		if err != nil || ok != tc.ok || code != tc.code || secret != tc.secret || string(bind) != tc.bind {
			t.Fatalf("Session(%q) = %q %q %q %v %v", tc.pid, code, secret, bind, ok, err)
		}
	}
	oa.Release(ctx, true, "")
	if _, _, _, ok, err := b.Session(ctx, "pid-1"); ok || err != nil {
		t.Fatalf("the session of an ended match was found (%v)", err)
	}
}
