//go:build linux

package epollset

import (
	"io"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The set reports a watched descriptor once per arming, again after
// Rearm, never after Del, and its wait never holds the only P: with
// GOMAXPROCS=1 a goroutine readied by its callback runs while it waits.
func TestOneShotRearmDel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p, err := Open(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	ready := make(chan struct{}, 4)
	if err := p.Add(fds[0], func() { ready <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		var b [16]byte
		for {
			if n, _ := syscall.Read(fds[0], b[:]); n <= 0 {
				return
			}
		}
	}
	expect := func(step string, want bool) {
		t.Helper()
		// A readiness event takes microseconds; 200 ms without one is none.
		wait := 200 * time.Millisecond
		if want {
			wait = 5 * time.Second
		}
		select {
		case <-ready:
			if !want {
				t.Fatalf("%s: reported", step)
			}
		case <-time.After(wait):
			if want {
				t.Fatalf("%s: not reported", step)
			}
		}
	}
	steps := []struct {
		name  string
		do    func() error
		write bool
		want  bool
	}{
		{"first data", nil, true, true},
		{"more data before rearm", nil, true, false},
		{"rearm with data pending", func() error { return p.Rearm(fds[0]) }, false, true},
		{"rearm, then data", func() error { drain(); return p.Rearm(fds[0]) }, true, true},
		{"del, rearm refused, data", func() error {
			drain()
			if err := p.Del(fds[0]); err != nil {
				return err
			}
			if p.Rearm(fds[0]) == nil {
				t.Error("rearm of a deleted descriptor succeeded")
			}
			return nil
		}, true, false},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		if s.write {
			if _, err := syscall.Write(fds[1], []byte("x")); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		expect(s.name, s.want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.Add(fds[0], func() {}) == nil {
		t.Fatal("add after Close succeeded")
	}
}
