//go:build linux

// Package uring is the smallest io_uring this module needs: one ring, set
// up with raw syscalls and mmap (no cgo, no liburing), that takes a batch
// of non-blocking socket sends and hands back their results. engineio uses
// it to turn one broadcast's many write(2) calls into one io_uring_enter.
// Where io_uring is refused, NewAIO gives a Ring with the same methods on
// Linux AIO (io_submit), which batches the same writes (aio_linux.go).
//
// A Ring is not safe for concurrent use: one goroutine fills it, submits
// and reaps, then may hand it to another.
//
// Every wait in io_uring_enter is bounded (IORING_ENTER_EXT_ARG, Linux
// 5.11): a submission whose completions do not arrive in time returns
// ErrTimeout with those sends still in flight (Pending). Their buffers
// belong to the kernel until the completions are reaped or the ring is
// closed; the caller keeps them referenced until then.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux UAPI values (include/uapi/linux/io_uring.h).
const (
	opSend        = 26 // IORING_OP_SEND, Linux 5.6
	opAsyncCancel = 14 // IORING_OP_ASYNC_CANCEL

	asyncCancelAny = 1 << 2 // IORING_ASYNC_CANCEL_ANY, 5.19: every request
	// cancelUserData marks Cancel's own entry, whose completion Reap
	// does not deliver.
	cancelUserData = ^uint64(0)

	setupSubmitAll        = 1 << 7 // IORING_SETUP_SUBMIT_ALL, 5.18
	featSingleMmap        = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	featExtArg            = 1 << 8 // IORING_FEAT_EXT_ARG, 5.11
	enterGetEvents        = 1 << 0 // IORING_ENTER_GETEVENTS
	enterExtArg           = 1 << 3 // IORING_ENTER_EXT_ARG, 5.11
	offSQRing             = 0
	offCQRing             = 0x8000000
	offSQEs               = 0x10000000
	sqeSize               = 64
	cqeSize               = 16
	maxEntries     uint32 = 4096
	// maxEnterCalls bounds the retries of one Submit or Wait (signals,
	// EAGAIN/EBUSY); the timeout bounds their time.
	maxEnterCalls = 1000
	// sendFlags: a send never waits for room in the socket buffer.
	sendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
)

// geteventsArg is struct io_uring_getevents_arg: with IORING_ENTER_EXT_ARG
// the enter's last two arguments are its address and size instead of a
// signal mask.
type geteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	pad       uint32
	ts        uint64 // *kernelTimespec
}

// kernelTimespec is struct __kernel_timespec.
type kernelTimespec struct {
	sec, nsec int64
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe, the fields a send uses.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	fileIndex   int32
	addr3       uint64
	_           uint64
}

// cqe is struct io_uring_cqe (without the big-CQE extension).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

var (
	_ [sqeSize - unsafe.Sizeof(sqe{})]byte
	_ [unsafe.Sizeof(sqe{}) - sqeSize]byte
	_ [cqeSize - unsafe.Sizeof(cqe{})]byte
	_ [120 - unsafe.Sizeof(params{})]byte
	_ [24 - unsafe.Sizeof(geteventsArg{})]byte
	_ [unsafe.Sizeof(geteventsArg{}) - 24]byte
	_ [16 - unsafe.Sizeof(kernelTimespec{})]byte
)

// Ring is one io_uring instance with its mapped queues.
type Ring struct {
	fd int

	sqMem, cqMem, sqeMem []byte

	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	sqes           []sqe
	queued         uint32 // entries filled since the last submit
	inflight       uint32 // entries the kernel took whose completion is not reaped
	sendFlags      uint32

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe

	// The wait's argument, kept here so that an enter allocates nothing:
	// arg.ts points at ts.
	arg geteventsArg
	ts  kernelTimespec

	// aio: a Linux AIO ring (NewAIO); the fields above are unused then.
	aio *aioRing
}

var (
	// ErrUnsupported is returned where there is no io_uring at all, or
	// none this package can use.
	ErrUnsupported = errors.New("uring: io_uring is not available on this system")
	// ErrTimeout: completions did not arrive within the wait's timeout;
	// the sends without one are still in flight (Pending).
	ErrTimeout = errors.New("uring: completions did not arrive in time")
	// ErrClosed: the ring was used after Close.
	ErrClosed = errors.New("uring: ring closed")
)

// New sets up a ring with room for entries submissions (a power of two is
// used, at most 4096). It fails as the kernel does: ENOSYS without
// io_uring, EPERM when kernel.io_uring_disabled or a seccomp filter
// forbids it; and with ErrUnsupported on a kernel older than 5.11, whose
// io_uring_enter cannot wait with a timeout (IORING_FEAT_EXT_ARG): a ring
// whose wait could hang while the caller holds locks is worse than none.
func New(entries uint32) (*Ring, error) {
	if entries == 0 || entries > maxEntries {
		return nil, fmt.Errorf("uring: %d entries: want 1…%d", entries, maxEntries)
	}
	// SUBMIT_ALL: an entry that fails early must not stop the ones after
	// it; kernels before 5.18 refuse it with EINVAL. Not COOP_TASKRUN: a
	// send that completes after its submission's wait is finished by task
	// work on the submitting thread, which then must be woken (the default)
	// rather than merely flagged, or a drainer on another thread could wait
	// until that thread happens to enter the kernel. Sends that complete
	// inside the submission use no task work, so the flag would save
	// nothing on that path.
	var p params
	fd, err := setup(entries, &p, setupSubmitAll)
	if err == syscall.EINVAL {
		p = params{}
		fd, err = setup(entries, &p, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", err)
	}
	r := &Ring{fd: fd, sendFlags: sendFlags}
	if p.features&featExtArg == 0 {
		r.Close()
		return nil, fmt.Errorf("uring: no IORING_FEAT_EXT_ARG (Linux 5.11+), so no timed wait: %w", ErrUnsupported)
	}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
	return r, nil
}

func setup(entries uint32, p *params, flags uint32) (int, error) {
	p.flags = flags
	fd, _, errno := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*cqeSize
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: mmap SQ ring: %w", err)
	}
	if single {
		r.cqMem = r.sqMem
	} else if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("uring: mmap CQ ring: %w", err)
	}
	r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: mmap SQEs: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead = u32(r.sqMem, p.sqOff.head)
	r.sqTail = u32(r.sqMem, p.sqOff.tail)
	r.sqMask = *u32(r.sqMem, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.sqMem, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = u32(r.cqMem, p.cqOff.head)
	r.cqTail = u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// Entries is how many sends fit in one submission.
func (r *Ring) Entries() int {
	if r.aio != nil {
		return r.aio.entries()
	}
	return len(r.sqes)
}

// Pending is how many sends the kernel took whose completion has not been
// reaped: after a Submit or Wait that returned ErrTimeout, the sends still
// in flight. Their buffers must stay untouched until then.
func (r *Ring) Pending() int { return int(r.inflight) }

// SetSendFlags replaces the flags of later PrepSends (default
// MSG_DONTWAIT|MSG_NOSIGNAL). Only tests use it, to make a send that waits
// in the kernel (e.g. MSG_WAITALL without MSG_DONTWAIT to a peer that
// does not read) and so exercise the timeout.
func (r *Ring) SetSendFlags(flags uint32) { r.sendFlags = flags }

// PrepSend queues send(fd, b, MSG_DONTWAIT|MSG_NOSIGNAL): a socket that
// cannot take it all at once completes short or with -EAGAIN instead of
// being waited for. It reports false when the ring is full: the queued
// sends and those in flight fill its submission queue (so that the
// completion queue, twice as long, never overflows).
// The caller keeps b alive and unmodified until its completion is reaped
// or the ring is closed.
func (r *Ring) PrepSend(fd int, b []byte, userData uint64) bool {
	if r.aio != nil {
		return r.aioPrepSend(fd, b, userData)
	}
	if len(b) == 0 || r.inflight+r.queued >= uint32(len(r.sqes)) {
		return false
	}
	// Every earlier entry was taken or withdrawn, so the queue is empty
	// up to the entries queued since.
	i := (*r.sqTail + r.queued) & r.sqMask
	r.sqes[i] = sqe{
		opcode:   opSend,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(&b[0]))),
		len:      uint32(len(b)),
		msgFlags: r.sendFlags,
		userData: userData,
	}
	r.sqArray[i] = i
	r.queued++
	return true
}

// Submit hands every queued send to the kernel and waits up to timeout
// until each send in flight has completed; reap the results with Reap.
// Sends with MSG_DONTWAIT complete inside the call, so the wait is not a
// wait on the network, but it is bounded all the same.
//
// It returns how many of the queued sends the kernel took: always all of
// them, except when it returns an error; the ones after those, in
// PrepSend order, are withdrawn (never sent, their buffers free again).
// On ErrTimeout (or another error), Pending says how many taken sends
// have no completion yet.
func (r *Ring) Submit(timeout time.Duration) (int, error) {
	if r.aio != nil {
		return r.aioSubmit(timeout)
	}
	if r.fd < 0 {
		return 0, ErrClosed
	}
	n := r.queued
	if n == 0 && r.inflight == 0 {
		return 0, nil
	}
	// Publish the entries before the kernel may read the new tail.
	atomic.StoreUint32(r.sqTail, *r.sqTail+n)
	r.queued = 0
	err := r.enter(n, timeout)
	// What the kernel did not take it never will: no other enter of this
	// ring submits, as the tail is put back to the head.
	left := *r.sqTail - atomic.LoadUint32(r.sqHead)
	if left != 0 {
		atomic.StoreUint32(r.sqTail, *r.sqTail-left)
	}
	return int(n - left), err
}

// Wait waits up to timeout until every send in flight has completed.
func (r *Ring) Wait(timeout time.Duration) error {
	if r.aio != nil {
		return r.aioWait(timeout)
	}
	if r.fd < 0 {
		return ErrClosed
	}
	return r.enter(0, timeout)
}

// enter submits the last n published entries and waits until every
// entry in flight has completed, for at most timeout in all. It keeps
// inflight up to date with what the kernel took, whatever it returns.
func (r *Ring) enter(n uint32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	base, head0 := r.inflight, *r.sqTail-n
	var last error
	for try := 0; ; try++ {
		taken := atomic.LoadUint32(r.sqHead) - head0
		r.inflight = base + taken
		ready := atomic.LoadUint32(r.cqTail) - *r.cqHead
		if taken == n && ready >= r.inflight {
			return nil
		}
		if try == maxEnterCalls {
			return fmt.Errorf("%w: %d of %d sends without a completion, %d not submitted after %d io_uring_enter calls (last: %v)",
				ErrTimeout, r.inflight-min(ready, r.inflight), r.inflight, n-taken, try, last)
		}
		wait := timeout
		if try > 0 {
			wait = time.Until(deadline)
		}
		if wait <= 0 {
			return fmt.Errorf("%w: %d of %d sends without a completion, %d not submitted after %v",
				ErrTimeout, r.inflight-min(ready, r.inflight), r.inflight, n-taken, timeout)
		}
		r.ts = kernelTimespec{sec: int64(wait / time.Second), nsec: int64(wait % time.Second)}
		// min_complete counts from the completion queue's head, so the
		// completions already posted count towards it; it includes the
		// entries being submitted, as the kernel does not wait at all when
		// it takes fewer than asked.
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n-taken), uintptr(base+n),
			enterGetEvents|enterExtArg, uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg))
		switch errno {
		case 0, syscall.ETIME:
			// ETIME: the wait expired; the next round reports it if the
			// completions are still short.
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Interrupted (Go's preemption signal) or short of resources:
			// what was taken is taken (the SQ head says how much), ask again.
			last = errno
		default:
			r.inflight = base + atomic.LoadUint32(r.sqHead) - head0
			return fmt.Errorf("uring: io_uring_enter: %w", errno)
		}
	}
}

// Cancel asks the kernel to cancel every send in flight
// (IORING_OP_ASYNC_CANCEL with IORING_ASYNC_CANCEL_ANY, Linux 5.19) and
// waits up to timeout for their completions; Reap delivers them. A
// cancelled send completes with -ECANCELED, or with the bytes it had sent
// if it had sent some. Where the kernel cannot cancel them, the sends stay
// in flight (Pending).
func (r *Ring) Cancel(timeout time.Duration) error {
	if r.aio != nil {
		// A socket write never waits in AIO: nothing to cancel, only
		// results to collect.
		return r.aioWait(timeout)
	}
	if r.fd < 0 {
		return ErrClosed
	}
	if r.inflight == 0 {
		return nil
	}
	if r.queued >= uint32(len(r.sqes)) {
		return errors.New("uring: no room to queue a cancel")
	}
	i := (*r.sqTail + r.queued) & r.sqMask
	r.sqes[i] = sqe{opcode: opAsyncCancel, fd: -1, msgFlags: asyncCancelAny, userData: cancelUserData}
	r.sqArray[i] = i
	r.queued++
	_, err := r.Submit(timeout)
	return err
}

// Reap calls fn with every completion posted so far, in posting order,
// and frees their slots. res is the send's return value: bytes sent, or
// a negated errno. The user data ^0 is Cancel's own and never delivered.
func (r *Ring) Reap(fn func(userData uint64, res int32)) int {
	if r.aio != nil {
		return r.aioReap(fn)
	}
	if r.fd < 0 {
		return 0
	}
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		if c.userData != cancelUserData {
			fn(c.userData, c.res)
			n++
		}
	}
	r.inflight -= min(head-*r.cqHead, r.inflight)
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// Close unmaps the queues and closes the ring; it may be called again.
// Sends still in flight are cancelled by the kernel as it tears the ring
// down, which it finishes on its own time: where that matters, Cancel and
// reap them first.
func (r *Ring) Close() error {
	if r.aio != nil {
		return r.aioClose()
	}
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if len(r.cqMem) > 0 && len(r.sqMem) > 0 && &r.cqMem[0] != &r.sqMem[0] {
		_ = unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		_ = unix.Munmap(r.sqMem)
	}
	r.sqMem, r.cqMem, r.sqeMem, r.sqes, r.cqes, r.sqArray = nil, nil, nil, nil, nil, nil
	r.queued, r.inflight = 0, 0
	if r.fd >= 0 {
		err := syscall.Close(r.fd)
		r.fd = -1
		return err
	}
	return nil
}
