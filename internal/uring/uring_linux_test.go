//go:build linux

package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// newRingOrSkip sets up a ring; where the kernel refuses io_uring the test
// skips, except under CI=true where that is a broken environment.
func newRingOrSkip(t *testing.T, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("io_uring unavailable under CI=true: %v", err)
		}
		t.Skipf("io_uring unavailable: %v", err)
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
			r := newRingOrSkip(t, tc.entries)
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
				if err := r.Submit(); err != nil {
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
	r := newRingOrSkip(t, 4)
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
		if err := r.Submit(); err != nil {
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
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	var res int32
	if r.Reap(func(_ uint64, x int32) { res = x }) != 1 || !errors.Is(syscall.Errno(-res), syscall.EBADF) {
		t.Fatalf("res %d, want -EBADF", res)
	}
}

func TestNewBadSize(t *testing.T) {
	for _, n := range []uint32{0, maxEntries + 1} {
		if r, err := New(n); err == nil {
			r.Close()
			t.Errorf("New(%d) succeeded", n)
		}
	}
}
