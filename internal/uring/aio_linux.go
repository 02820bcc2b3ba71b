//go:build linux

package uring

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Linux AIO backend of Ring (NewAIO): where io_uring is refused (a
// container's seccomp profile, kernel.io_uring_disabled) io_submit still
// takes a batch of socket writes in one system call. A socket has no
// asynchronous write: io_submit runs each write right there, non-blocking
// as the descriptor is O_NONBLOCK (a full socket buffer gives -EAGAIN or
// a short count), and posts its result at once; io_getevents collects the
// results. Docker's default seccomp profile allows these calls.

// Linux UAPI values (include/uapi/linux/aio_abi.h).
const (
	iocbCmdPwrite = 1 // IOCB_CMD_PWRITE
	iocbSize      = 64
	ioEventSize   = 32
)

// iocb is struct iocb (little-endian field order of aio_key/aio_rw_flags).
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   uint32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// ioEvent is struct io_event.
type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

var (
	_ [iocbSize - unsafe.Sizeof(iocb{})]byte
	_ [unsafe.Sizeof(iocb{}) - iocbSize]byte
	_ [ioEventSize - unsafe.Sizeof(ioEvent{})]byte
	_ [unsafe.Sizeof(ioEvent{}) - ioEventSize]byte
)

// aioRing is an AIO context and the batch being filled.
type aioRing struct {
	ctx    uintptr
	cbs    []iocb
	ptrs   []*iocb
	events []ioEvent
	ready  []ioEvent // results collected, not yet reaped
	ts     syscall.Timespec
}

// NewAIO makes a Ring on Linux AIO (io_setup) instead of io_uring, with
// room for entries writes per submission (at most 4096). Its sends are
// write(2)s run by io_submit: as the descriptors are non-blocking they
// complete inside the submission; SetSendFlags has no effect, and a write
// to a peer that reset raises SIGPIPE as write(2) does.
func NewAIO(entries uint32) (*Ring, error) {
	if entries == 0 || entries > maxEntries {
		return nil, fmt.Errorf("uring: %d entries: want 1…%d", entries, maxEntries)
	}
	var ctx uintptr
	if _, _, errno := syscall.Syscall(unix.SYS_IO_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&ctx)), 0); errno != 0 {
		return nil, fmt.Errorf("uring: io_setup: %w", errno)
	}
	a := &aioRing{ctx: ctx, cbs: make([]iocb, 0, entries), ptrs: make([]*iocb, entries),
		events: make([]ioEvent, entries), ready: make([]ioEvent, 0, entries)}
	r := &Ring{fd: -1, aio: a}
	if err := r.aioProbe(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// aioProbe writes one byte to a socket through the ring: a kernel (or a
// sandbox such as gVisor) that has io_setup but refuses or queues socket
// writes would make every batch fall back through the sockets' queues, so
// such a ring is not used at all.
func (r *Ring) aioProbe() error {
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("uring: AIO probe: socketpair: %w", err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	b := []byte{'x'}
	if !r.PrepSend(pair[0], b, 0) {
		return fmt.Errorf("uring: AIO probe: no room: %w", ErrUnsupported)
	}
	taken, err := r.Submit(time.Second)
	res := int32(-1)
	r.Reap(func(_ uint64, x int32) { res = x })
	switch {
	case err != nil:
		return fmt.Errorf("uring: AIO probe: %w", err)
	case taken != 1:
		return fmt.Errorf("uring: AIO probe: io_submit refused a socket write: %w", ErrUnsupported)
	case res != 1:
		return fmt.Errorf("uring: AIO probe: a socket write gave %d, want 1: %w", res, ErrUnsupported)
	}
	return nil
}

// IsAIO reports whether r is a Linux AIO ring (NewAIO).
func (r *Ring) IsAIO() bool { return r.aio != nil }

func (a *aioRing) entries() int { return cap(a.cbs) }

func (r *Ring) aioPrepSend(fd int, b []byte, userData uint64) bool {
	a := r.aio
	if len(b) == 0 || a.ctx == 0 || int(r.inflight)+len(a.cbs) >= cap(a.cbs) {
		return false
	}
	a.cbs = append(a.cbs, iocb{data: userData, opcode: iocbCmdPwrite, fildes: uint32(fd),
		buf: uint64(uintptr(unsafe.Pointer(&b[0]))), nbytes: uint64(len(b))})
	return true
}

// aioSubmit runs the queued writes with io_submit and collects their
// results. What io_submit did not take (it stops at the first write it
// refuses outright, e.g. a descriptor closed meanwhile) is withdrawn.
func (r *Ring) aioSubmit(timeout time.Duration) (int, error) {
	a := r.aio
	if a.ctx == 0 {
		return 0, ErrClosed
	}
	n := len(a.cbs)
	for i := range n {
		a.ptrs[i] = &a.cbs[i]
	}
	taken := 0
	for try := 0; taken < n && try < maxEnterCalls; try++ {
		got, _, errno := syscall.Syscall(unix.SYS_IO_SUBMIT, a.ctx, uintptr(n-taken), uintptr(unsafe.Pointer(&a.ptrs[taken])))
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || got == 0 {
			// The first write left was refused before it ran (a descriptor
			// closed meanwhile, no room for events): it and the ones after
			// it are withdrawn, their callers write them another way.
			break
		}
		taken += int(got)
	}
	clear(a.ptrs[:n])
	clear(a.cbs)
	a.cbs = a.cbs[:0]
	r.inflight += uint32(taken)
	return taken, r.aioWait(timeout)
}

// aioWait collects results until none is in flight, for at most timeout.
func (r *Ring) aioWait(timeout time.Duration) error {
	a := r.aio
	if a.ctx == 0 {
		return ErrClosed
	}
	deadline := time.Now().Add(timeout)
	for try := 0; int(r.inflight) > len(a.ready); try++ {
		wait := time.Until(deadline)
		if wait < 0 || try == maxEnterCalls {
			return fmt.Errorf("%w: %d AIO writes without a result after %v", ErrTimeout, int(r.inflight)-len(a.ready), timeout)
		}
		want := int(r.inflight) - len(a.ready)
		a.ts = syscall.NsecToTimespec(int64(wait))
		got, _, errno := syscall.Syscall6(unix.SYS_IO_GETEVENTS, a.ctx, uintptr(want), uintptr(want),
			uintptr(unsafe.Pointer(&a.events[0])), uintptr(unsafe.Pointer(&a.ts)), 0)
		switch errno {
		case 0:
			a.ready = append(a.ready, a.events[:got]...)
		case syscall.EINTR:
		default:
			return fmt.Errorf("uring: io_getevents: %w", errno)
		}
	}
	return nil
}

func (r *Ring) aioReap(fn func(userData uint64, res int32)) int {
	a := r.aio
	n := len(a.ready)
	for _, e := range a.ready {
		fn(e.data, int32(e.res))
	}
	a.ready = a.ready[:0]
	r.inflight -= min(uint32(n), r.inflight)
	return n
}

func (r *Ring) aioClose() error {
	a := r.aio
	if a.ctx == 0 {
		return nil
	}
	// io_destroy waits for what is still in flight (nothing, for
	// sockets) and frees the context.
	_, _, errno := syscall.Syscall(unix.SYS_IO_DESTROY, a.ctx, 0, 0)
	a.ctx = 0
	a.cbs, a.ptrs, a.events, a.ready = nil, nil, nil, nil
	r.inflight = 0
	if errno != 0 {
		return fmt.Errorf("uring: io_destroy: %w", errno)
	}
	return nil
}
