//go:build linux

// Package epollset watches many idle descriptors with one epoll set whose
// wait goes through Go's own netpoller, so that an idle connection holds no
// goroutine and no read buffer and a waiting set never blocks a thread that
// owns a P. engineio and the bench's floor server share it, so that the two
// are compared on the same footing.
package epollset

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// Set is one epoll set.
//
// Its wait goes through Go's netpoller: the epoll descriptor is non-blocking
// and registered there (epoll sets nest), and each round asks it for events
// with a zero timeout. Waiting thus parks the goroutine instead of blocking
// a thread in epoll_wait(-1) while it owns a P: with GOMAXPROCS=1 such a
// blocking wait (mailru/easygo's) kept the read tasks its callbacks had just
// readied runnable, with the CPU idle, until sysmon took the P back (up to
// 10 ms), round after round during a connect storm.
type Set struct {
	fd   int
	file *os.File // fd as the runtime netpoller sees it
	rc   syscall.RawConn
	log  *slog.Logger

	// mu guards cbs and closed; epoll_ctl runs under its read lock, so
	// that no call reaches the set's number after Close freed it.
	mu     sync.RWMutex
	cbs    map[int]func() // by descriptor: what readiness starts
	closed bool
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("epollset: closed")

// readEvents: one-shot, so that one connection is read by one task at a
// time and re-armed only when that task is done.
const readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// Open makes a set and starts its wait loop; wait errors go to log.
func Open(log *slog.Logger) (*Set, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking before os.NewFile, which then hands it to the runtime
	// netpoller.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &Set{fd: fd, file: f, rc: rc, log: log, cbs: make(map[int]func())}
	// Only a descriptor the runtime polls parks the waiting goroutine;
	// a blocking one would spin in wait. A deadline is refused on those.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll set not pollable by the runtime: %w", err)
	}
	go p.wait()
	return p, nil
}

// Add watches fd and calls fn from the wait loop each time fd becomes
// readable (once per arming: see Rearm). fn must not block: it hands the
// read to a worker or a goroutine.
func (p *Set) Add(fd int, fn func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	ev := syscall.EpollEvent{Events: readEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	p.cbs[fd] = fn
	return nil
}

// Rearm watches fd for the next readiness after a one-shot event.
func (p *Set) Rearm(fd int) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	ev := syscall.EpollEvent{Events: readEvents, Fd: int32(fd)}
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// Del stops watching fd; call it before fd is closed, so that a reused
// number is never watched for a dead connection.
func (p *Set) Del(fd int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	delete(p.cbs, fd)
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// Close ends the wait loop and closes the set.
func (p *Set) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.file.Close()
}

func (p *Set) wait() {
	events := make([]syscall.EpollEvent, 256)
	tasks := make([]func(), 0, len(events))
	var n int
	var werr error
	poll := func(fd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr == syscall.EINTR {
				continue
			}
			return werr != nil || n > 0
		}
	}
	for {
		err := p.rc.Read(poll)
		if err == nil {
			err = werr
		}
		p.mu.RLock()
		if p.closed {
			p.mu.RUnlock()
			return
		}
		if err != nil {
			p.mu.RUnlock()
			p.log.Error("epollset: wait", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if fn := p.cbs[int(ev.Fd)]; fn != nil {
				tasks = append(tasks, fn)
			}
		}
		p.mu.RUnlock()
		// Called outside the lock: a callback may Del its own descriptor.
		for i, fn := range tasks {
			fn()
			tasks[i] = nil
		}
		tasks = tasks[:0]
	}
}
