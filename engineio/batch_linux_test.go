//go:build linux

package engineio

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"weak"

	"spectra-relay/internal/testenv"
)

// linuxAtLeast reports whether the running kernel is at least
// major.minor.
func linuxAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var ma, mi int
	if _, err := fmt.Sscanf(string(rel), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", rel, err)
	}
	return ma > major || ma == major && mi >= minor
}

// uringFDs counts this process's open io_uring instances.
func uringFDs(t *testing.T) int {
	t.Helper()
	links, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && target == "anon_inode:[io_uring]" {
			n++
		}
	}
	return n
}

// freeBatches counts the batches waiting in the server's slots.
func freeBatches(srv *Server) int {
	n := 0
	for i := range srv.batches {
		if srv.batches[i].Load() != nil {
			n++
		}
	}
	return n
}

// collected reports whether the object p pointed at has been freed,
// collecting garbage a few times first.
func collected[T any](p weak.Pointer[T]) bool {
	for i := 0; i < 5; i++ {
		runtime.GC()
		if p.Value() == nil {
			return true
		}
	}
	return false
}

// TestBatchSubmitTimeout: a submission whose send does not complete
// within the batch's wait returns after that wait, settles the sends that
// did complete, and retires the ring with the late send, whose buffer
// stays referenced until its completion arrives. Then the late send is
// settled with its real result: the one it completes with, or, at the
// drain limit or when the server closes, the bytes it had sent when it
// was cancelled; the connection goes on with the rest through its queue,
// nothing is written twice, and the ring returns to its slot. Where a
// send cannot be cancelled (here: cancelling switched off), the ring is
// closed and the connection with it.
//
// The late send is made real by sending with MSG_WAITALL and without
// MSG_DONTWAIT (a test-only ring setting) a frame larger than the socket
// buffers to a client that does not read: the kernel keeps it in flight
// until the client has read it.
func TestBatchSubmitTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		drainLimit time.Duration
		noCancel   bool
		closeSrv   bool // the server closes while the ring drains
		cancelled  bool // the drainer cancels the send (the client reads only after)
		lost       bool // the send is given up, the connection closed
	}{
		{name: "late completion", drainLimit: 10 * time.Second},
		{name: "cancelled at the drain limit", drainLimit: 300 * time.Millisecond, cancelled: true},
		{name: "cancelled as the server closes", drainLimit: time.Minute, closeSrv: true, cancelled: true},
		{name: "given up", drainLimit: 300 * time.Millisecond, noCancel: true, lost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// MSG_WAITALL retries of stream sends (5.18), the cancel of
			// any request and a cancelled send's partial count (5.19).
			testenv.Require(t, linuxAtLeast(t, 5, 19), "a send that waits in io_uring and its cancellation need Linux 5.19+")
			rings0 := uringFDs(t)
			rec := newRecorder()
			var logs testenv.Buffer
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("server log:\n%s", logs.String())
				}
			})
			srv, base := startServer(t, Config{Uring: true, SendBuffer: 4096, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
			requireUring(t, srv)
			if got := uringFDs(t) - rings0; got != batchRings {
				t.Fatalf("%d io_uring instances for %d rings", got, batchRings)
			}
			var readers []*wsClient
			var readerSocks []*Socket
			for i := 0; i < 3; i++ {
				c := dialWS(t, base+"?EIO=4&transport=websocket", false)
				c.next()
				readers = append(readers, c)
				readerSocks = append(readerSocks, await(t, rec.sockets, "socket"))
			}
			slow := dialWS(t, base+"?EIO=4&transport=websocket", false)
			slow.next()
			slowSock := await(t, rec.sockets, "socket")

			payload := bytes.Repeat([]byte("late "), (1<<20)/5)
			big := NewTextFrame(payload)
			bigWire := weak.Make(&big.wsPlain()[0])
			small := NewTextFrame([]byte("small"))

			b := srv.BeginBatch()
			const wait = 80 * time.Millisecond
			b.wait, b.drainLimit, b.noCancel = wait, tc.drainLimit, tc.noCancel
			b.ring.SetSendFlags(syscall.MSG_NOSIGNAL | syscall.MSG_WAITALL)
			ring := b.ring
			for _, so := range readerSocks[:2] {
				if err := so.SendFramesBatch(b, small); err != nil {
					t.Fatal(err)
				}
			}
			if err := slowSock.SendFramesBatch(b, big); err != nil {
				t.Fatal(err)
			}
			// Added after the submission is under way, in the same
			// broadcast: written without the retired ring.
			if err := readerSocks[2].SendFramesBatch(b, small); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			b.End()
			took := time.Since(start)
			if took < wait || took > wait+2*time.Second {
				t.Fatalf("End returned after %v with a wait of %v", took, wait)
			}
			t.Logf("End returned after %v with a wait of %v", took, wait)
			big = nil
			for i, c := range readers {
				if got, _, _ := c.next(); string(got) != "4small" {
					t.Fatalf("reader %d: %q", i, got)
				}
			}
			if !strings.Contains(logs.String(), "io_uring submission did not finish") {
				t.Errorf("no log line about the late send:\n%s", logs.String())
			}
			if n := freeBatches(srv); n > batchRings-1 {
				t.Fatalf("%d free batches while one ring drains", n)
			}
			if collected(bigWire) {
				t.Fatal("the late send's buffer was freed while the kernel may still read it")
			}
			if err := slowSock.SendFrames(NewTextFrame([]byte("after"))); err != nil {
				t.Fatal(err)
			}

			if tc.closeSrv {
				srv.Close()
			}
			if tc.lost {
				waitFor(t, func() bool { return srv.uringLost.Load() == 1 }, "the late send to be given up")
				if srv.uringLate.Load() != 0 {
					t.Fatal("a send settled late")
				}
				if got := uringFDs(t) - rings0; got != batchRings-1 {
					t.Fatalf("%d io_uring instances open after giving one up, want %d", got, batchRings-1)
				}
				if r := await(t, rec.closed, "the slow socket's close"); r != ReasonTransportError {
					t.Fatalf("the slow socket closed with %v", r)
				}
				waitFor(t, func() bool {
					wc := slowSock.ws
					wc.mu.Lock()
					defer wc.mu.Unlock()
					return wc.stopped
				}, "the slow connection to be shut down")
				if !collected(bigWire) {
					t.Error("the given-up send's buffer is still referenced")
				}
				return
			}
			if tc.cancelled {
				waitFor(t, func() bool { return srv.uringLate.Load() == 1 }, "the cancelled send to be settled")
			}
			if tc.closeSrv {
				// Settled by the cancel, not given up. What the closing
				// session still writes is bounded by WriteTimeout, so
				// a client reading under load may get only part of it.
				if srv.uringLost.Load() != 0 {
					t.Fatal("a send was given up")
				}
				return
			}
			got, _, _ := slow.next()
			if !bytes.Equal(got, append([]byte("4"), payload...)) {
				t.Fatalf("the late frame: %d bytes %.12q", len(got), got)
			}
			if got, _, _ := slow.next(); string(got) != "4after" {
				t.Fatalf("the frame queued behind the late one: %q", got)
			}
			waitFor(t, func() bool { return srv.uringLate.Load() == 1 }, "the late send to be settled")
			if srv.uringLost.Load() != 0 {
				t.Fatal("a send was given up")
			}
			waitFor(t, func() bool { return freeBatches(srv) == batchRings }, "the drained ring back in its slot")
			if uringFDs(t)-rings0 != batchRings {
				t.Fatal("a ring was closed")
			}
			if !collected(bigWire) {
				t.Error("the settled send's buffer is still referenced")
			}
			// The ring the drainer put back is the same and works.
			b = srv.BeginBatch()
			for b != nil && b.ring != ring {
				defer b.End()
				b = srv.BeginBatch()
			}
			if b == nil {
				t.Fatal("the drained ring is not among the free batches")
			}
			b.ring.SetSendFlags(syscall.MSG_NOSIGNAL | syscall.MSG_DONTWAIT)
			for _, so := range append(readerSocks, slowSock) {
				if err := so.SendFramesBatch(b, small); err != nil {
					t.Fatal(err)
				}
			}
			b.End()
			for i, c := range append(readers, slow) {
				if got, _, _ := c.next(); string(got) != "4small" {
					t.Fatalf("client %d after the drain: %q", i, got)
				}
			}
		})
	}
}

// TestBatchEndCloseRace: broadcasts that take and return batches while
// the server closes its rings never use a ring after it was closed, and
// every ring is closed once: the io_uring instances go back to what they
// were before the server, and no batch is handed out after the close. The
// close lands at fixed points (one of them inside End's window between
// its check of the flag and its Store, through batchPutHook) and at
// random points among concurrent broadcasts. Run it under -race.
func TestBatchEndCloseRace(t *testing.T) {
	type setup struct {
		srv   *Server
		socks []*Socket
		f     *Frame
	}
	broadcast := func(s setup) {
		b := s.srv.BeginBatch()
		for _, so := range s.socks {
			_ = so.SendFramesBatch(b, s.f)
		}
		b.End()
	}
	for _, tc := range []struct {
		name   string
		rounds int
		socks  int
		run    func(t *testing.T, s setup, round int)
	}{
		{name: "idle", rounds: 1, run: func(t *testing.T, s setup, _ int) {
			broadcast(s)
			s.srv.closeUring()
			broadcast(s)
		}},
		{name: "batch taken", rounds: 1, socks: 2, run: func(t *testing.T, s setup, _ int) {
			b := s.srv.BeginBatch()
			for _, so := range s.socks {
				_ = so.SendFramesBatch(b, s.f)
			}
			s.srv.closeUring()
			b.End()
		}},
		{name: "between check and store", rounds: 1, socks: 2, run: func(t *testing.T, s setup, _ int) {
			var once sync.Once
			hook := func() { once.Do(s.srv.closeUring) }
			batchPutHook.Store(&hook)
			defer batchPutHook.Store(nil)
			broadcast(s)
		}},
		{name: "concurrent", rounds: 30, socks: 3, run: func(t *testing.T, s setup, round int) {
			const broadcasters, each = 4, 50
			var wg sync.WaitGroup
			startLine := make(chan struct{})
			for g := 0; g < broadcasters; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startLine
					for i := 0; i < each; i++ {
						broadcast(s)
					}
				}()
			}
			close(startLine)
			for i := 0; i < round%10; i++ {
				broadcast(s)
			}
			s.srv.closeUring()
			wg.Wait()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < tc.rounds; round++ {
				rings0 := uringFDs(t)
				var logs testenv.Buffer
				rec := newRecorder()
				srv, base := startServer(t, Config{Uring: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
				requireUring(t, srv)
				s := setup{srv: srv, f: NewTextFrame([]byte("race"))}
				var clients []*wsClient
				for i := 0; i < tc.socks; i++ {
					c := dialWS(t, base+"?EIO=4&transport=websocket", false)
					c.next()
					clients = append(clients, c)
					s.socks = append(s.socks, await(t, rec.sockets, "socket"))
				}
				tc.run(t, s, round)
				if got := uringFDs(t); got != rings0 {
					t.Fatalf("round %d: %d io_uring instances open after closeUring, %d before the server", round, got, rings0)
				}
				if b := srv.BeginBatch(); b != nil {
					t.Fatalf("round %d: a batch after closeUring", round)
				}
				if strings.Contains(logs.String(), "io_uring") {
					t.Fatalf("round %d: a ring failed:\n%s", round, logs.String())
				}
				if len(clients) > 0 {
					// The sends went through, batched or not.
					if got, _, _ := clients[0].next(); string(got) != "4race" {
						t.Fatalf("round %d: %q", round, got)
					}
				}
			}
		})
	}
}

// TestBatchWithdrawn: sends the kernel never took (a submission with no
// time to submit) go through their sockets' queues whole, and the ring,
// with nothing in flight, stays in use.
func TestBatchWithdrawn(t *testing.T) {
	rec := newRecorder()
	var logs testenv.Buffer
	srv, base := startServer(t, Config{Uring: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
	requireUring(t, srv)
	var cs []*wsClient
	var ss []*Socket
	for i := 0; i < 3; i++ {
		c := dialWS(t, base+"?EIO=4&transport=websocket", false)
		c.next()
		cs = append(cs, c)
		ss = append(ss, await(t, rec.sockets, "socket"))
	}
	b := srv.BeginBatch()
	b.wait = 0
	for _, so := range ss {
		if err := so.SendFramesBatch(b, NewTextFrame([]byte("withdrawn"))); err != nil {
			t.Fatal(err)
		}
	}
	b.End()
	for i, c := range cs {
		if got, _, _ := c.next(); string(got) != "4withdrawn" {
			t.Fatalf("client %d: %q", i, got)
		}
	}
	if n := freeBatches(srv); n != batchRings {
		t.Fatalf("%d free batches after a withdrawal, want %d", n, batchRings)
	}
	if srv.uringLate.Load() != 0 || srv.uringLost.Load() != 0 {
		t.Fatal("a withdrawn send was counted as in flight")
	}
	if !strings.Contains(logs.String(), "io_uring submission did not finish") {
		t.Errorf("no log line about the withdrawal:\n%s", logs.String())
	}
}
