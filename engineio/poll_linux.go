//go:build linux

package engineio

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller is the epoll set that watches idle WebSocket connections, so that
// an idle connection holds no goroutine and no read buffer.
//
// Its wait goes through Go's own netpoller: the epoll descriptor is
// non-blocking and registered there (epoll sets nest), and each round asks
// it for events with a zero timeout. Waiting thus parks the goroutine
// instead of blocking a thread in epoll_wait(-1) while it owns a P: with
// GOMAXPROCS=1 such a blocking wait kept the read tasks its callbacks had
// just readied runnable, with the CPU idle, until sysmon took the P back
// (up to 10 ms), round after round during a connect storm.
type poller struct {
	fd   int
	file *os.File // fd as the runtime netpoller sees it
	rc   syscall.RawConn
	log  *slog.Logger

	// mu guards cbs and closed; epoll_ctl runs under its read lock, so
	// that no call reaches the set's number after Close freed it.
	mu     sync.RWMutex
	cbs    map[int]func() // by descriptor: the read task to schedule
	closed bool
}

var errPollerClosed = errors.New("engineio: poller closed")

// readEvents: one-shot, so that one connection is read by one task at a
// time and re-armed only when that task is done.
const readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newPoller makes the epoll set; nil (with a warning) where there is none,
// and then every connection gets a reader goroutine.
func newPoller(log *slog.Logger) *poller {
	p, err := openPoller(log)
	if err != nil {
		log.Warn("engineio: netpoll disabled, using reader goroutines", "err", err)
		return nil
	}
	return p
}

func openPoller(log *slog.Logger) (*poller, error) {
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
	p := &poller{fd: fd, file: f, rc: rc, log: log, cbs: make(map[int]func())}
	// Only a descriptor the runtime polls parks the waiting goroutine;
	// a blocking one would spin in wait. A deadline is refused on those.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll set not pollable by the runtime: %w", err)
	}
	go p.wait()
	return p, nil
}

// add watches fd and schedules fn each time it becomes readable (once per
// arming: see rearm).
func (p *poller) add(fd int, fn func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPollerClosed
	}
	ev := syscall.EpollEvent{Events: readEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	p.cbs[fd] = fn
	return nil
}

// rearm watches fd for the next readiness after a one-shot event.
func (p *poller) rearm(fd int) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errPollerClosed
	}
	ev := syscall.EpollEvent{Events: readEvents, Fd: int32(fd)}
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// del stops watching fd; call it before fd is closed, so that a reused
// number is never watched for a dead connection.
func (p *poller) del(fd int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPollerClosed
	}
	delete(p.cbs, fd)
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// Close ends the wait loop and closes the set.
func (p *poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.file.Close()
}

func (p *poller) wait() {
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
			p.log.Error("engineio: epoll wait", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if fn := p.cbs[int(ev.Fd)]; fn != nil {
				tasks = append(tasks, fn)
			}
		}
		p.mu.RUnlock()
		for i, fn := range tasks {
			fn()
			tasks[i] = nil
		}
		tasks = tasks[:0]
	}
}
