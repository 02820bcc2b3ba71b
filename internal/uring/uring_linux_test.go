//go:build linux

package uring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spectra-relay/internal/testenv"
)

// newRingOrSkip sets up a ring; where the kernel refuses io_uring the test
// skips, except under CI=true where that is a broken environment.
func newRingOrSkip(t *testing.T, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		testenv.Missing(t, "io_uring unavailable: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// backends are the two ways a Ring sends: io_uring and Linux AIO.
var backends = []struct {
	name string
	mk   func(uint32) (*Ring, error)
}{{"io_uring", New}, {"aio", NewAIO}}

// newBackendOrSkip is newRingOrSkip for either backend.
func newBackendOrSkip(t *testing.T, mk func(uint32) (*Ring, error), entries uint32) *Ring {
	t.Helper()
	r, err := mk(entries)
	if err != nil {
		testenv.Missing(t, "ring unavailable: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// tcpPair is a connected loopback pair: the server side's descriptor (for
// the ring) and the client side to read from.
func tcpPair(t *testing.T) (server *net.TCPConn, fd int, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server = c.(*net.TCPConn)
	t.Cleanup(func() { server.Close(); client.Close() })
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return server, fd, client
}

func TestSendBatch(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testSendBatch(t, be.mk) })
	}
}

func testSendBatch(t *testing.T, mk func(uint32) (*Ring, error)) {
	for _, tc := range []struct {
		name    string
		entries uint32
		conns   int
	}{
		{"one", 8, 1},
		{"full ring", 8, 8},
		{"many rounds", 4, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBackendOrSkip(t, mk, tc.entries)
			fds := make([]int, tc.conns)
			clients := make([]net.Conn, tc.conns)
			for i := range fds {
				_, fds[i], clients[i] = tcpPair(t)
			}
			msg := bytes.Repeat([]byte("spectra "), 100)
			for i := 0; i < tc.conns; {
				start := i
				for i < tc.conns && r.PrepSend(fds[i], msg, uint64(i)) {
					i++
				}
				if i == start {
					t.Fatal("PrepSend refused an empty ring")
				}
				if _, err := r.Submit(time.Second); err != nil {
					t.Fatal(err)
				}
				seen := 0
				r.Reap(func(ud uint64, res int32) {
					if int(ud) < start || int(ud) >= i {
						t.Errorf("completion for %d outside the batch %d…%d", ud, start, i)
					}
					if res != int32(len(msg)) {
						t.Errorf("send %d: res %d, want %d", ud, res, len(msg))
					}
					seen++
				})
				if seen != i-start {
					t.Fatalf("reaped %d completions for %d sends", seen, i-start)
				}
			}
			for i, c := range clients {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("client %d: %v, got %q", i, err, got[:16])
				}
			}
		})
	}
}

// TestSendFullSocket: a socket that takes no more completes with -EAGAIN
// or short, never waits: the caller finishes the rest its own way.
func TestSendFullSocket(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testSendFullSocket(t, be.mk) })
	}
}

func testSendFullSocket(t *testing.T, mk func(uint32) (*Ring, error)) {
	r := newBackendOrSkip(t, mk, 4)
	server, fd, _ := tcpPair(t)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	sent, sawShort, sawAgain := 0, false, false
	for round := 0; round < 200 && !sawAgain; round++ {
		if !r.PrepSend(fd, chunk, 1) {
			t.Fatal("PrepSend refused")
		}
		if _, err := r.Submit(time.Second); err != nil {
			t.Fatal(err)
		}
		r.Reap(func(_ uint64, res int32) {
			switch {
			case res == -int32(syscall.EAGAIN):
				sawAgain = true
			case res < 0:
				t.Fatalf("send: %v", syscall.Errno(-res))
			case int(res) < len(chunk):
				sawShort = true
				sent += int(res)
			default:
				sent += int(res)
			}
		})
	}
	if !sawAgain {
		t.Fatalf("no EAGAIN after %d bytes into a peer that reads nothing (short sends seen: %v)", sent, sawShort)
	}
}

func TestSendClosedDescriptor(t *testing.T) {
	r := newRingOrSkip(t, 2)
	if !r.PrepSend(1<<20, []byte("x"), 7) {
		t.Fatal("PrepSend refused")
	}
	if _, err := r.Submit(time.Second); err != nil {
		t.Fatal(err)
	}
	var res int32
	if r.Reap(func(_ uint64, x int32) { res = x }) != 1 || !errors.Is(syscall.Errno(-res), syscall.EBADF) {
		t.Fatalf("res %d, want -EBADF", res)
	}
}

func TestNewBadSize(t *testing.T) {
	for _, be := range backends {
		for _, n := range []uint32{0, maxEntries + 1} {
			if r, err := be.mk(n); err == nil {
				r.Close()
				t.Errorf("%s: New(%d) succeeded", be.name, n)
			}
		}
	}
}

// TestAIOWithdrawsRefused: io_submit refuses a write to a descriptor that
// is not open before running it; Submit then withdraws it and the ones
// after it (not taken, no result), and the ones before it were sent.
func TestAIOWithdrawsRefused(t *testing.T) {
	r := newBackendOrSkip(t, NewAIO, 4)
	_, fd, client := tcpPair(t)
	msg := []byte("before")
	if !r.PrepSend(fd, msg, 0) || !r.PrepSend(1<<20, []byte("x"), 1) || !r.PrepSend(fd, []byte("after"), 2) {
		t.Fatal("PrepSend refused")
	}
	taken, err := r.Submit(time.Second)
	if err != nil || taken != 1 {
		t.Fatalf("Submit: %d taken, %v; want 1", taken, err)
	}
	var res []int32
	r.Reap(func(ud uint64, x int32) { res = append(res, int32(ud), x) })
	if len(res) != 2 || res[0] != 0 || res[1] != int32(len(msg)) || r.Pending() != 0 {
		t.Fatalf("results (user data, res) %v, pending %d", res, r.Pending())
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client read %q, %v", got, err)
	}
}

// linuxAtLeast reports whether the running kernel is at least
// major.minor.
func linuxAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release, err)
	}
	return ma > major || ma == major && mi >= minor
}

// needWaitingSends stops the test (a failure under CI=true) on kernels
// that cannot keep a send in flight and cancel it as the tests need:
// MSG_WAITALL retries of stream sends (5.18), IORING_ASYNC_CANCEL_ANY and
// the partial count of a cancelled send (5.19).
func needWaitingSends(t *testing.T) {
	t.Helper()
	testenv.Require(t, linuxAtLeast(t, 5, 19), "a send that waits in io_uring and its cancellation need Linux 5.19+")
}

// waitingSend queues on r a send of size bytes to fd that the kernel
// holds until the peer has read all of it: MSG_WAITALL without
// MSG_DONTWAIT, so the send waits for room in the socket instead of
// completing short (Linux 5.18+ retries a partial stream send).
func waitingSend(t *testing.T, r *Ring, fd int, b []byte, ud uint64) {
	t.Helper()
	r.SetSendFlags(syscall.MSG_NOSIGNAL | syscall.MSG_WAITALL)
	defer r.SetSendFlags(sendFlags)
	if !r.PrepSend(fd, b, ud) {
		t.Fatal("PrepSend refused")
	}
}

// TestSubmitTimeout: a submission whose completion does not come returns
// ErrTimeout after the timeout with the send still in flight; the other
// sends of the submission are reaped; the late completion arrives once
// the peer reads and the ring goes on working.
func TestSubmitTimeout(t *testing.T) {
	needWaitingSends(t)
	for _, tc := range []struct {
		name    string
		fast    int // sends that complete at once beside the waiting one
		timeout time.Duration
	}{
		{"alone", 0, 30 * time.Millisecond},
		{"among fast ones", 3, 60 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRingOrSkip(t, 8)
			server, fd, client := tcpPair(t)
			if err := server.SetWriteBuffer(4096); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("x"), 2<<20)
			waitingSend(t, r, fd, big, 100)
			msg := []byte("fast")
			var peers []net.Conn
			for i := 0; i < tc.fast; i++ {
				_, pfd, pc := tcpPair(t)
				peers = append(peers, pc)
				if !r.PrepSend(pfd, msg, uint64(i)) {
					t.Fatal("PrepSend refused")
				}
			}
			start := time.Now()
			taken, err := r.Submit(tc.timeout)
			took := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Submit: %v, want ErrTimeout", err)
			}
			if taken != tc.fast+1 {
				t.Fatalf("the kernel took %d of %d sends", taken, tc.fast+1)
			}
			if took < tc.timeout || took > tc.timeout+2*time.Second {
				t.Fatalf("Submit returned after %v with a timeout of %v", took, tc.timeout)
			}
			t.Logf("Submit returned ErrTimeout after %v with a timeout of %v", took, tc.timeout)
			got := map[uint64]int32{}
			r.Reap(func(ud uint64, res int32) { got[ud] = res })
			if len(got) != tc.fast || r.Pending() != 1 {
				t.Fatalf("reaped %v, %d pending; want the %d fast sends and 1 pending", got, r.Pending(), tc.fast)
			}
			for i := 0; i < tc.fast; i++ {
				if got[uint64(i)] != int32(len(msg)) {
					t.Fatalf("fast send %d: res %d", i, got[uint64(i)])
				}
			}
			// Nothing new may be queued beyond the ring's free entries.
			free := 0
			for r.PrepSend(fd, msg, 200) {
				free++
				if free > r.Entries() {
					t.Fatal("PrepSend never refuses")
				}
			}
			if free != r.Entries()-1 {
				t.Fatalf("%d entries free beside one in flight in a ring of %d", free, r.Entries())
			}
			r.queued = 0 // drop them: they were only counted
			if err := r.Wait(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
				t.Fatalf("Wait with the peer not reading: %v", err)
			}
			read := make(chan error, 1)
			go func() {
				client.SetReadDeadline(time.Now().Add(10 * time.Second))
				got := make([]byte, len(big))
				_, err := io.ReadFull(client, got)
				if err == nil && !bytes.Equal(got, big) {
					err = errors.New("the peer read other bytes than were sent")
				}
				read <- err
			}()
			if err := r.Wait(10 * time.Second); err != nil {
				t.Fatalf("Wait once the peer reads: %v", err)
			}
			var res int32
			if n := r.Reap(func(ud uint64, x int32) { res = x }); n != 1 || res != int32(len(big)) || r.Pending() != 0 {
				t.Fatalf("late completion: %d reaped, res %d, %d pending", n, res, r.Pending())
			}
			if err := <-read; err != nil {
				t.Fatal(err)
			}
			if !r.PrepSend(fd, msg, 300) {
				t.Fatal("PrepSend refused after the ring drained")
			}
			if _, err := r.Submit(time.Second); err != nil {
				t.Fatal(err)
			}
			if r.Reap(func(uint64, int32) {}) != 1 {
				t.Fatal("no completion for the send after the drain")
			}
		})
	}
}

// TestCloseInFlight: a ring closed with a send in flight closes without
// error, and every later use says it is closed instead of touching the
// unmapped queues.
func TestCloseInFlight(t *testing.T) {
	needWaitingSends(t)
	r := newRingOrSkip(t, 4)
	server, fd, _ := tcpPair(t)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	waitingSend(t, r, fd, bytes.Repeat([]byte("y"), 2<<20), 1)
	if _, err := r.Submit(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Submit: %v, want ErrTimeout", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close with a send in flight: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r.PrepSend(fd, []byte("z"), 2) {
		t.Error("PrepSend on a closed ring")
	}
	if _, err := r.Submit(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit on a closed ring: %v", err)
	}
	if err := r.Wait(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait on a closed ring: %v", err)
	}
	if n := r.Reap(func(uint64, int32) {}); n != 0 || r.Pending() != 0 {
		t.Errorf("Reap on a closed ring: %d, pending %d", n, r.Pending())
	}
}

// TestLateCompletionOtherThread: a send that completes after its
// submission's wait is reaped by another thread (a drainer) while the
// submitting thread sleeps. The kernel finishes such a send with task
// work on the submitting thread, so the ring must not defer that work
// until the submitter happens to enter the kernel (COOP_TASKRUN would).
func TestLateCompletionOtherThread(t *testing.T) {
	needWaitingSends(t)
	r := newRingOrSkip(t, 4)
	server, fd, client := tcpPair(t)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("w"), 2<<20)
	submitted := make(chan error)
	release := make(chan struct{})
	defer close(release)
	go func() {
		// This goroutine's thread submits, then sleeps in the scheduler
		// with nothing else to run until the test ends.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		waitingSend(t, r, fd, big, 1)
		_, err := r.Submit(10 * time.Millisecond)
		submitted <- err
		<-release
	}()
	if err := <-submitted; !errors.Is(err, ErrTimeout) {
		t.Fatalf("Submit: %v, want ErrTimeout", err)
	}
	read := make(chan error, 1)
	go func() {
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.ReadFull(client, make([]byte, len(big)))
		read <- err
	}()
	if err := <-read; err != nil {
		t.Fatalf("the peer's read: %v", err)
	}
	start := time.Now()
	if err := r.Wait(3 * time.Second); err != nil {
		t.Fatalf("Wait from another thread after the peer read everything: %v", err)
	}
	t.Logf("completion reaped %v after the peer's read", time.Since(start))
	if n := r.Reap(func(uint64, int32) {}); n != 1 {
		t.Fatalf("%d completions", n)
	}
}

// TestSubmitWithdraws: entries the kernel did not take (here: no time to
// submit at all) are withdrawn, never submitted by a later Submit, and the
// ring goes on with the next ones.
func TestSubmitWithdraws(t *testing.T) {
	r := newRingOrSkip(t, 4)
	_, fd, client := tcpPair(t)
	for _, m := range []string{"never", "sent"} {
		if !r.PrepSend(fd, []byte(m), 1) {
			t.Fatal("PrepSend refused")
		}
	}
	taken, err := r.Submit(0)
	if taken != 0 || !errors.Is(err, ErrTimeout) || r.Pending() != 0 {
		t.Fatalf("Submit(0): %d taken, %v, %d pending; want 0, ErrTimeout, 0", taken, err, r.Pending())
	}
	if !r.PrepSend(fd, []byte("only this"), 2) {
		t.Fatal("PrepSend refused after a withdrawal")
	}
	if taken, err := r.Submit(time.Second); taken != 1 || err != nil {
		t.Fatalf("Submit: %d taken, %v", taken, err)
	}
	var uds []uint64
	r.Reap(func(ud uint64, _ int32) { uds = append(uds, ud) })
	if len(uds) != 1 || uds[0] != 2 {
		t.Fatalf("completions %v, want only the send after the withdrawal", uds)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("only this"))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "only this" {
		t.Fatalf("the peer read %q, %v", got, err)
	}
}

// TestCancel: a send in flight is cancelled and reaped; its result says
// how much of it reached the socket (the bytes the peer then reads), and
// the ring goes on.
func TestCancel(t *testing.T) {
	needWaitingSends(t)
	r := newRingOrSkip(t, 4)
	server, fd, client := tcpPair(t)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("c"), 2<<20)
	waitingSend(t, r, fd, big, 5)
	if _, err := r.Submit(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Submit: %v, want ErrTimeout", err)
	}
	if err := r.Cancel(5 * time.Second); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	var uds []uint64
	var res int32
	r.Reap(func(ud uint64, x int32) { uds = append(uds, ud); res = x })
	if len(uds) != 1 || uds[0] != 5 || r.Pending() != 0 {
		t.Fatalf("completions %v, %d pending; want the cancelled send's alone", uds, r.Pending())
	}
	if res != -int32(syscall.ECANCELED) && (res <= 0 || int(res) >= len(big)) {
		t.Fatalf("cancelled send: res %d, want -ECANCELED or a part of %d bytes", res, len(big))
	}
	sent := max(0, int(res))
	t.Logf("the cancelled send had sent %d of %d bytes (res %d)", sent, len(big), res)
	// The peer reads exactly the cancelled send's part, then the next
	// send's bytes.
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, sent)
	if n, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, big[:sent]) {
		t.Fatalf("read %d of the %d bytes sent before the cancel: %v", n, sent, err)
	}
	msg := []byte("after the cancel")
	if !r.PrepSend(fd, msg, 6) {
		t.Fatal("PrepSend refused after the cancel")
	}
	if _, err := r.Submit(time.Second); err != nil {
		t.Fatal(err)
	}
	r.Reap(func(_ uint64, x int32) { res = x })
	if res != int32(len(msg)) {
		t.Fatalf("the send after the cancel: res %d", res)
	}
	got = make([]byte, len(msg))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after the cancelled part the peer read %q, %v", got, err)
	}
}
