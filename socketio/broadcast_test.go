package socketio

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"spectra-relay/engineio"
	"spectra-relay/internal/testenv"
)

// sinkTransport stands in for an Engine.IO socket: it counts what it is
// given and keeps nothing, so benchmarks measure this package alone.
type sinkTransport struct {
	frames atomic.Int64
	closed atomic.Bool

	mu   sync.Mutex
	keep bool
	got  []*engineio.Frame
}

func (t *sinkTransport) SendFrames(fs ...*engineio.Frame) error {
	if t.closed.Load() {
		return engineio.ErrClosed
	}
	t.frames.Add(int64(len(fs)))
	if t.keep {
		t.mu.Lock()
		t.got = append(t.got, fs...)
		t.mu.Unlock()
	}
	return nil
}

func (t *sinkTransport) SendFramesBatch(_ *engineio.Batch, fs ...*engineio.Frame) error {
	return t.SendFrames(fs...)
}

func (t *sinkTransport) Close(engineio.CloseReason) { t.closed.Store(true) }

func (t *sinkTransport) texts() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.got))
	for _, f := range t.got {
		out = append(out, string(f.Payload()))
	}
	return out
}

// connectFake makes a connection on a sink and connects it to nsp, as a
// CONNECT packet from a client would.
func connectFake(tb testing.TB, s *Server, nsp string, keep bool) (*Socket, *sinkTransport) {
	tb.Helper()
	tr := &sinkTransport{keep: keep}
	c := s.newConn(tr, "eio", "127.0.0.1:1", nil, nil)
	connect := "0"
	if nsp != "/" {
		connect += nsp + ","
	}
	c.handleMessage([]byte(connect), false)
	c.mu.Lock()
	so := c.socketLocked(nsp)
	c.mu.Unlock()
	if so == nil {
		tb.Fatalf("fake connection to %s was refused", nsp)
	}
	return so, tr
}

// matchDataString is the ~15 KB string argument of a match_data broadcast.
func matchDataString(tb testing.TB) string { return testenv.MatchData(tb) }

func TestBroadcastRooms(t *testing.T) {
	s := NewServer(Config{})
	defer s.Close()
	nsp := s.Of("/")
	a, ta := connectFake(t, s, "/", true)
	b, tb := connectFake(t, s, "/", true)
	c, tc := connectFake(t, s, "/", true)
	_ = a.Join("r1")
	_ = b.Join("r1")
	_ = b.Join("r2")
	_ = c.Join("r2")

	cases := []struct {
		name    string
		emit    func() int
		want    [3]bool
		wantOut string
	}{
		{"room", func() int { n, _ := nsp.To("r1").Emit("e", 1); return n }, [3]bool{true, true, false}, `2["e",1]`},
		{"room except", func() int { n, _ := a.To("r1").Emit("e", 2); return n }, [3]bool{false, true, false}, `2["e",2]`},
		{"two rooms once each", func() int { n, _ := nsp.To("r1").To("r2").Emit("e", 3); return n }, [3]bool{true, true, true}, `2["e",3]`},
		{"all", func() int { n, _ := nsp.All().Except(c).Emit("e", 4); return n }, [3]bool{true, true, false}, `2["e",4]`},
		{"raw latest", func() int { return nsp.BroadcastRaw("r2", []byte(`2["match_data","{}"]`), true) }, [3]bool{false, true, true}, `2["match_data","{}"]`},
		{"empty room", func() int { n, _ := nsp.To("nobody").Emit("e", 5); return n }, [3]bool{}, ``},
	}
	sinks := [3]*sinkTransport{ta, tb, tc}
	for _, tcase := range cases {
		var before [3]int
		for i, sk := range sinks {
			before[i] = len(sk.texts())
		}
		n := tcase.emit()
		wantN := 0
		for i, sk := range sinks {
			got := sk.texts()[before[i]:]
			if tcase.want[i] {
				wantN++
				if len(got) != 1 || got[0] != tcase.wantOut {
					t.Errorf("%s: socket %d got %q, want [%s]", tcase.name, i, got, tcase.wantOut)
				}
			} else if len(got) != 0 {
				t.Errorf("%s: socket %d got %q, want nothing", tcase.name, i, got)
			}
		}
		if n != wantN {
			t.Errorf("%s: reached %d, want %d", tcase.name, n, wantN)
		}
	}

	b.Leave("r1")
	if got := nsp.RoomSize("r1"); got != 1 {
		t.Errorf("r1 has %d members after a leave, want 1", got)
	}
	a.Disconnect(false)
	if got := nsp.RoomSize("r1"); got != 0 {
		t.Errorf("r1 has %d members after its last member left, want 0", got)
	}
	if got := ta.texts(); got[len(got)-1] != "1" {
		t.Errorf("disconnected socket was last sent %q, want 1", got[len(got)-1])
	}
	if rooms := b.Rooms(); len(rooms) != 1 || rooms[0] != "r2" {
		t.Errorf("b.Rooms() = %v", rooms)
	}
}

// BenchmarkBroadcast measures one room broadcast of a ~15 KB match_data
// packet: encode once, one stream frame, queue to every member. Allocations
// must not grow with the member count.
func BenchmarkBroadcast(b *testing.B) {
	state := matchDataString(b)
	for _, members := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("subs=%d", members), func(b *testing.B) {
			s := NewServer(Config{})
			defer s.Close()
			nsp := s.Of("/")
			sinks := make([]*sinkTransport, members)
			for i := range members {
				so, tr := connectFake(b, s, "/", false)
				sinks[i] = tr
				if err := so.Join("match"); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("emit", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n, err := nsp.To("match").Emit("match_data", state); err != nil || n != members {
						b.Fatalf("reached %d of %d: %v", n, members, err)
					}
				}
			})
			pkt, _, _ := EncodeEvent("/", NoID, "match_data", state)
			b.Run("raw", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n := nsp.BroadcastRaw("match", pkt, true); n != members {
						b.Fatalf("reached %d of %d", n, members)
					}
				}
			})
		})
	}
}

// A broadcast hands back its own frame, and a socket joining later is sent
// that very frame: its wire forms are made once for the room and every
// late joiner. Sending across namespaces or a zero Prepared is refused.
func TestBroadcastRawPreparedSharesTheFrame(t *testing.T) {
	s := NewServer(Config{})
	s.Of("/other")
	member, mtr := connectFake(t, s, "/", true)
	if err := member.Join("r"); err != nil {
		t.Fatal(err)
	}
	nsp := s.Of("/")
	pkt := []byte(`2["match_data","{}"]`)
	sent, p, ok := nsp.BroadcastRawPrepared("r", pkt, true)
	if sent != 1 || !ok {
		t.Fatalf("broadcast reached %d, prepared %v", sent, ok)
	}
	if _, _, ok := nsp.BroadcastRawPrepared("empty", pkt, true); ok {
		t.Fatal("a broadcast to an empty room made a frame")
	}
	late, ltr := connectFake(t, s, "/", true)
	other, _ := connectFake(t, s, "/other", true)
	tests := []struct {
		name    string
		so      *Socket
		p       Prepared
		wantErr bool
	}{
		{"late joiner", late, p, false},
		{"made for the namespace", late, nsp.PrepareRaw(pkt), false},
		{"other namespace", other, p, true},
		{"zero value", late, Prepared{}, true},
	}
	for _, tc := range tests {
		if err := tc.so.SendPrepared(tc.p); (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
	mtr.mu.Lock()
	ltr.mu.Lock()
	defer mtr.mu.Unlock()
	defer ltr.mu.Unlock()
	// Each got its CONNECT reply first.
	if len(mtr.got) != 2 || len(ltr.got) != 3 {
		t.Fatalf("member got %d frames, late joiner %d", len(mtr.got), len(ltr.got))
	}
	last := len(ltr.got) - 1
	if ltr.got[last-1] != mtr.got[1] {
		t.Error("the late joiner got a frame of its own, not the broadcast's")
	}
	if ltr.got[last] == mtr.got[1] || string(ltr.got[last].Payload()) != string(pkt) {
		t.Error("PrepareRaw did not frame the packet on its own")
	}
}

// TestBroadcastLargeRoom covers rooms large enough for the fan-out to be
// split over goroutines (parallelFanout): every member gets the broadcast
// once, the count leaves out closed members, whatever GOMAXPROCS is.
func TestBroadcastLargeRoom(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			s := NewServer(Config{})
			defer s.Close()
			const members = 2*parallelFanout + 7
			sinks := make([]*sinkTransport, members)
			for i := range sinks {
				so, tr := connectFake(t, s, "/", false)
				if err := so.Join("big"); err != nil {
					t.Fatal(err)
				}
				sinks[i] = tr
			}
			closed := map[int]bool{0: true, parallelFanout: true, members - 1: true}
			for i := range closed {
				sinks[i].closed.Store(true)
			}
			before := make([]int64, members) // the CONNECT answers
			for i, tr := range sinks {
				before[i] = tr.frames.Load()
			}
			if n := s.Of("/").BroadcastRaw("big", []byte(`2["match_data","{}"]`), true); n != members-len(closed) {
				t.Errorf("reached %d, want %d", n, members-len(closed))
			}
			for i, tr := range sinks {
				want := int64(1)
				if closed[i] {
					want = 0
				}
				if got := tr.frames.Load() - before[i]; got != want {
					t.Fatalf("member %d got %d frames, want %d", i, got, want)
				}
			}
		})
	}
}

// A broadcast with a mark leaves out exactly the room's members marked with
// it (they were sent its packet on their own), in a small room and in one
// large enough to be fanned out by several goroutines; a stale or cleared
// mark leaves a member in, and mark 0 reaches everyone.
func TestBroadcastRawPreparedSkipLeavesOutMarked(t *testing.T) {
	s := NewServer(Config{})
	defer s.Close()
	nsp := s.Of("/")
	pkt := []byte(`2["match_data","{}"]`)
	tests := []struct {
		name    string
		members int
		marks   func(i int) uint64 // each member's mark before the broadcast
		skip    uint64
		want    func(i int) bool // whether member i gets the packet
	}{
		{"no mark sent", 3, func(int) uint64 { return 7 }, 0, func(int) bool { return true }},
		{"one marked", 3, func(i int) uint64 { return uint64(7 * boolInt(i == 1)) }, 7, func(i int) bool { return i != 1 }},
		{"stale mark", 3, func(int) uint64 { return 6 }, 7, func(int) bool { return true }},
		{"all marked", 3, func(int) uint64 { return 7 }, 7, func(int) bool { return false }},
		{"large room, every third marked", 3 * parallelFanout, func(i int) uint64 {
			if i%3 == 0 {
				return 9
			}
			return 8
		}, 9, func(i int) bool { return i%3 != 0 }},
	}
	for ti, tc := range tests {
		room := fmt.Sprintf("r%d", ti)
		sinks := make([]*sinkTransport, tc.members)
		for i := range sinks {
			so, tr := connectFake(t, s, "/", false)
			if err := so.Join(room); err != nil {
				t.Fatal(err)
			}
			so.MarkHas(tc.marks(i))
			sinks[i] = tr
		}
		before := make([]int64, len(sinks))
		for i, tr := range sinks {
			before[i] = tr.frames.Load()
		}
		sent, _, ok := nsp.BroadcastRawPreparedSkip(room, pkt, true, tc.skip)
		wantSent := 0
		for i, tr := range sinks {
			got := tr.frames.Load() - before[i]
			want := int64(0)
			if tc.want(i) {
				want, wantSent = 1, wantSent+1
			}
			if got != want {
				t.Errorf("%s: member %d got %d frames, want %d", tc.name, i, got, want)
				break
			}
		}
		if sent != wantSent || !ok {
			t.Errorf("%s: sent %d (prepared %v), want %d", tc.name, sent, ok, wantSent)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
