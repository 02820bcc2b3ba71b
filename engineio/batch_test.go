package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"spectra-relay/internal/uring"

	"spectra-relay/internal/testenv"
)

// requireUring fails under CI=true, and skips elsewhere, when the kernel
// gave the server no ring: the test would only measure the fallback.
func requireUring(t *testing.T, srv *Server) {
	t.Helper()
	testenv.Require(t, srv.uring && !srv.uringAIO, "io_uring unavailable on this kernel (setup refused, or Linux < 5.11)")
}

// TestBatchBroadcast sends broadcasts through Server.BeginBatch to many
// WebSocket clients and checks that every client receives every message,
// whole and in order; among them sockets that are not idle (polling, and a
// WebSocket whose peer does not read, so that its ring send is short and the
// rest, and every later frame, goes through its queue).
func TestBatchBroadcast(t *testing.T) {
	for _, tc := range []struct {
		name      string
		clients   int  // WebSocket clients that read
		deflate   bool // every other one negotiates permessage-deflate
		stalled   bool // plus one that reads only after the last broadcast
		polling   bool // plus one polling session
		msgs      int
		msgSize   int
		uringOn   bool
		wantRings bool
		aio       bool // io_uring refused: the rings are Linux AIO ones
	}{
		{name: "one chunk", clients: 20, msgs: 4, msgSize: 200, uringOn: true, wantRings: true},
		{name: "several chunks deflate", clients: 2*batchEntries + 10, deflate: true, msgs: 5, msgSize: 1500, uringOn: true, wantRings: true},
		{name: "stalled socket", clients: 10, stalled: true, polling: true, msgs: 6, msgSize: 200 << 10, uringOn: true, wantRings: true},
		{name: "switch off", clients: 10, stalled: true, msgs: 3, msgSize: 200 << 10},
		{name: "aio several chunks deflate", clients: 2*batchEntries + 10, deflate: true, msgs: 5, msgSize: 1500, uringOn: true, aio: true},
		{name: "aio stalled socket", clients: 10, stalled: true, polling: true, msgs: 6, msgSize: 200 << 10, uringOn: true, aio: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.aio {
				saved := newRing
				newRing = func(uint32) (*uring.Ring, error) {
					return nil, fmt.Errorf("uring: io_uring_setup: %w", syscall.EPERM)
				}
				t.Cleanup(func() { newRing = saved })
			}
			rec := newRecorder()
			cfg := Config{Uring: tc.uringOn, Deflate: DeflateConfig{Enabled: tc.deflate}}
			if tc.stalled {
				cfg.SendBuffer = 4096
			}
			srv, base := startServer(t, cfg, rec)
			if tc.wantRings {
				requireUring(t, srv)
			}
			if tc.aio {
				testenv.Require(t, srv.uringAIO, "Linux AIO unavailable here")
			}
			type peer struct {
				c *wsClient
				s *Socket
			}
			var peers []peer
			for i := 0; i < tc.clients; i++ {
				c := dialWS(t, base+"?EIO=4&transport=websocket", tc.deflate && i%2 == 0)
				c.next() // open
				peers = append(peers, peer{c: c, s: await(t, rec.sockets, "socket")})
			}
			var stalled peer
			if tc.stalled {
				stalled.c = dialWS(t, base+"?EIO=4&transport=websocket", false)
				stalled.c.next()
				stalled.s = await(t, rec.sockets, "socket")
			}
			var pollSID string
			var pollSock *Socket
			if tc.polling {
				pollSID = openPolling(t, base)
				pollSock = await(t, rec.sockets, "socket")
			}
			msgs := make([][]byte, tc.msgs)
			rng := rand.New(rand.NewPCG(1, uint64(tc.msgSize)))
			for i := range msgs {
				b := make([]byte, tc.msgSize)
				for j := range b {
					b[j] = 'a' + byte(rng.IntN(26))
				}
				copy(b, fmt.Sprintf("msg %d ", i))
				msgs[i] = b
			}
			st := srv.NewStream(StreamOptions{})
			for _, m := range msgs {
				f := st.TextFrame(m)
				b := srv.BeginBatch()
				if (b != nil) != tc.uringOn {
					t.Fatalf("BeginBatch = %v with Uring %v", b, tc.uringOn)
				}
				all := append([]peer(nil), peers...)
				if tc.stalled {
					all = append(all, stalled)
				}
				for _, p := range all {
					if err := p.s.SendFramesBatch(b, f); err != nil {
						t.Fatal(err)
					}
				}
				if pollSock != nil {
					if err := pollSock.SendFramesBatch(b, f); err != nil {
						t.Fatal(err)
					}
				}
				b.End()
			}
			for i, p := range peers {
				for j, m := range msgs {
					got, _, _ := p.c.next()
					if !bytes.Equal(got, append([]byte("4"), m...)) {
						t.Fatalf("client %d, message %d: got %d bytes %.12q", i, j, len(got), got)
					}
				}
			}
			if tc.stalled {
				for j, m := range msgs {
					got, _, _ := stalled.c.next()
					if !bytes.Equal(got, append([]byte("4"), m...)) {
						t.Fatalf("stalled client, message %d: got %d bytes %.12q", j, len(got), got)
					}
				}
			}
			if tc.polling {
				_, body, _ := httpDo(t, "GET", base+"?EIO=4&transport=polling&sid="+pollSID, "")
				parts := strings.Split(body, "\x1e")
				if len(parts) != len(msgs) {
					t.Fatalf("polling GET: %d messages, want %d", len(parts), len(msgs))
				}
				for j, part := range parts {
					if part != "4"+string(msgs[j]) {
						t.Fatalf("polling message %d: %.12q", j, part)
					}
				}
			}
			sends, short := srv.uringSends.Load(), srv.uringShort.Load()
			if !tc.uringOn {
				if sends != 0 {
					t.Fatalf("%d sends through a ring with the switch off", sends)
				}
				return
			}
			// Every reading client's first send is idle, so it is batched;
			// the stalled one is batched until its first short send.
			if min := int64(tc.clients); sends < min {
				t.Errorf("%d sends through the ring, want at least %d", sends, min)
			}
			if tc.stalled && short == 0 {
				t.Error("the stalled socket's ring send was never short: the queue fallback went untested")
			}
		})
	}
}

// TestBatchFallback: where the ring cannot be set up, the server says so
// once, WritePath names write(2) and the reason, and broadcasts write one
// socket at a time.
func TestBatchFallback(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string // WritePath().Reason
	}{
		{fmt.Errorf("uring: io_uring_setup: %w", syscall.EPERM), "io_uring_setup: operation not permitted (seccomp profile, or sysctl kernel.io_uring_disabled?)"},
		{fmt.Errorf("uring: io_uring_setup: %w", syscall.ENOSYS), "kernel too old: io_uring_setup: function not implemented"},
		{fmt.Errorf("uring: no IORING_FEAT_EXT_ARG (Linux 5.11+), so no timed wait: %w", uring.ErrUnsupported),
			"kernel too old: no IORING_FEAT_EXT_ARG (Linux 5.11+), so no timed wait: uring: io_uring is not available on this system"},
		{fmt.Errorf("uring: io_uring_setup: %w", syscall.ENOMEM), "io_uring_setup: cannot allocate memory (locked-memory limit, ulimit -l, on Linux before 5.12?)"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			saved, savedAIO := newRing, newAIORing
			newRing = func(uint32) (*uring.Ring, error) { return nil, tc.err }
			newAIORing = func(uint32) (*uring.Ring, error) { return nil, fmt.Errorf("uring: io_setup: %w", syscall.EPERM) }
			t.Cleanup(func() { newRing, newAIORing = saved, savedAIO })
			var logs testenv.Buffer
			rec := newRecorder()
			srv, base := startServer(t, Config{Uring: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
			if got := strings.Count(logs.String(), "io_uring unavailable"); got != 1 {
				t.Fatalf("%d log lines about io_uring, want 1:\n%s", got, logs.String())
			}
			if !strings.Contains(logs.String(), tc.err.Error()) || !strings.Contains(logs.String(), tc.reason) {
				t.Errorf("the log line does not name the error and the reason: %s", logs.String())
			}
			if wp := srv.WritePath(); wp.Uring || wp.AIO || wp.Off || wp.Name() != "write(2)" || wp.Reason != tc.reason {
				t.Errorf("WritePath %+v (%s), want write(2) for %q", wp, wp.Name(), tc.reason)
			}
			if b := srv.BeginBatch(); b != nil {
				t.Fatal("BeginBatch gave a batch without a ring")
			}
			c := dialWS(t, base+"?EIO=4&transport=websocket", false)
			c.next()
			so := await(t, rec.sockets, "socket")
			for i := 0; i < 3; i++ {
				b := srv.BeginBatch()
				if err := so.SendFramesBatch(b, NewTextFrame([]byte(fmt.Sprint("m", i)))); err != nil {
					t.Fatal(err)
				}
				b.End()
				if got, _, _ := c.next(); string(got) != fmt.Sprint("4m", i) {
					t.Fatalf("message %d: %q", i, got)
				}
			}
		})
	}
}

// TestBatchClosedSocket: a socket closed while its send waits in a batch
// is dropped from the submission; the others still get theirs.
func TestBatchClosedSocket(t *testing.T) {
	for _, aio := range []bool{false, true} {
		t.Run(fmt.Sprint("aio=", aio), func(t *testing.T) { testBatchClosedSocket(t, aio) })
	}
}

// startBatchServer starts a server whose batches run on io_uring, or with
// aio on Linux AIO; it fails under CI=true, and skips elsewhere, where
// the kernel refuses that backend.
func startBatchServer(t *testing.T, cfg Config, rec *recorder, aio bool) (*Server, string) {
	t.Helper()
	cfg.Uring, cfg.UringAIO = true, aio
	srv, base := startServer(t, cfg, rec)
	if aio {
		testenv.Require(t, srv.uring && srv.uringAIO, "Linux AIO unavailable here")
	} else {
		requireUring(t, srv)
	}
	return srv, base
}

func testBatchClosedSocket(t *testing.T, aio bool) {
	rec := newRecorder()
	srv, base := startBatchServer(t, Config{}, rec, aio)
	var cs []*wsClient
	var ss []*Socket
	for i := 0; i < 3; i++ {
		c := dialWS(t, base+"?EIO=4&transport=websocket", false)
		c.next()
		cs = append(cs, c)
		ss = append(ss, await(t, rec.sockets, "socket"))
	}
	b := srv.BeginBatch()
	f := NewTextFrame([]byte("hello"))
	for _, s := range ss {
		if err := s.SendFramesBatch(b, f); err != nil {
			t.Fatal(err)
		}
	}
	// Closed as abruptly as a read error would: the descriptor goes away
	// while the batch still holds the socket's send.
	ss[1].Close(ReasonTransportError)
	waitFor(t, func() bool { return srv.wsLive.Load() == 2 }, "the connection to close")
	b.End()
	for _, i := range []int{0, 2} {
		if got, _, _ := cs[i].next(); string(got) != "4hello" {
			t.Fatalf("client %d: %q", i, got)
		}
	}
	b = srv.BeginBatch()
	err := ss[1].SendFramesBatch(b, f)
	b.End()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("send to the closed socket: %v", err)
	}
}

// TestBatchAddsNoAllocations: a batched broadcast to idle sockets
// allocates no more than the same broadcast written socket by socket (the
// rule for the broadcast path: nothing added per recipient).
func TestBatchAddsNoAllocations(t *testing.T) {
	for _, aio := range []bool{false, true} {
		t.Run(fmt.Sprint("aio=", aio), func(t *testing.T) { testBatchAddsNoAllocations(t, aio) })
	}
}

func testBatchAddsNoAllocations(t *testing.T, aio bool) {
	rec := newRecorder()
	srv, base := startBatchServer(t, Config{}, rec, aio)
	const n, runs = batchEntries + 20, 50
	var socks []*Socket
	for i := 0; i < n; i++ {
		c := dialWS(t, base+"?EIO=4&transport=websocket", false)
		c.next()
		socks = append(socks, await(t, rec.sockets, "socket"))
	}
	// Frames built beforehand, their wire form too: only the sends count.
	frames := make([]*Frame, 2*(runs+1))
	for i := range frames {
		frames[i] = NewTextFrame([]byte(fmt.Sprintf("frame %d", i)))
		frames[i].wsPlain()
	}
	idle := func() bool {
		for _, so := range socks {
			so.mu.Lock()
			busy := so.flushing || len(so.queue) > 0
			so.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	}
	next := 0
	broadcast := func(batched bool) {
		f := frames[next]
		next++
		var b *Batch
		if batched {
			b = srv.BeginBatch()
		}
		for _, so := range socks {
			_ = so.SendFramesBatch(b, f)
		}
		b.End()
	}
	inline := testing.AllocsPerRun(runs, func() { broadcast(false) })
	waitFor(t, idle, "the inline writes to settle")
	batched := testing.AllocsPerRun(runs, func() { broadcast(true) })
	waitFor(t, idle, "the batched writes to settle")
	t.Logf("allocations per broadcast to %d sockets: %.1f inline, %.1f batched", n, inline, batched)
	if batched > inline {
		t.Errorf("a batched broadcast allocates %.1f times, one written socket by socket %.1f", batched, inline)
	}
}

// TestWritePath: the server reports io_uring where it has rings, Linux
// AIO with the reason where io_uring was refused, and write(2) without a
// reason where the configuration switched them off.
func TestWritePath(t *testing.T) {
	const eperm = "io_uring_setup: operation not permitted (seccomp profile, or sysctl kernel.io_uring_disabled?)"
	for _, tc := range []struct {
		uring, refused bool
		aio            bool // Config.UringAIO
		want           WritePath
		log            string // the one fallback line, "" for none
	}{
		{uring: false, want: WritePath{Off: true}},
		{uring: true, want: WritePath{Uring: true}},
		{uring: true, refused: true, want: WritePath{AIO: true, Reason: eperm}, log: "broadcasts batch their socket writes with Linux AIO"},
		{uring: true, aio: true, want: WritePath{AIO: true, Chosen: true}},
	} {
		t.Run(fmt.Sprint("Uring=", tc.uring, ",refused=", tc.refused, ",aio=", tc.aio), func(t *testing.T) {
			if tc.refused {
				saved := newRing
				newRing = func(uint32) (*uring.Ring, error) {
					return nil, fmt.Errorf("uring: io_uring_setup: %w", syscall.EPERM)
				}
				t.Cleanup(func() { newRing = saved })
			}
			var logs testenv.Buffer
			srv, _ := startServer(t, Config{Uring: tc.uring, UringAIO: tc.aio, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, newRecorder())
			switch {
			case tc.refused || tc.aio:
				testenv.Require(t, srv.uringAIO, "Linux AIO unavailable here")
			case tc.uring:
				requireUring(t, srv)
			}
			if got := srv.WritePath(); got != tc.want {
				t.Errorf("WritePath %+v, want %+v", got, tc.want)
			}
			if n := strings.Count(logs.String(), "io_uring unavailable"); n != min(len(tc.log), 1) || !strings.Contains(logs.String(), tc.log) {
				t.Errorf("%d fallback lines, want one saying %q:\n%s", n, tc.log, logs.String())
			}
		})
	}
}
