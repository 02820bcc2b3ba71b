//go:build linux

// Package uring is the smallest io_uring this module needs: one ring, set
// up with raw syscalls and mmap (no cgo, no liburing), that takes a batch
// of non-blocking socket sends and hands back their results. engineio uses
// it to turn one broadcast's many write(2) calls into one io_uring_enter.
//
// A Ring is not safe for concurrent use: one goroutine fills it, submits
// and reaps, then may hand it to another.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux UAPI values (include/uapi/linux/io_uring.h).
const (
	opSend = 26 // IORING_OP_SEND, Linux 5.6

	setupSubmitAll          = 1 << 7 // IORING_SETUP_SUBMIT_ALL, 5.18
	setupCoopTaskrun        = 1 << 8 // IORING_SETUP_COOP_TASKRUN, 5.19
	featSingleMmap          = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	enterGetEvents          = 1 << 0 // IORING_ENTER_GETEVENTS
	offSQRing               = 0
	offCQRing               = 0x8000000
	offSQEs                 = 0x10000000
	sqeSize                 = 64
	cqeSize                 = 16
	maxEntries       uint32 = 4096
	// maxEnterCalls bounds Submit's retries (signals, EAGAIN/EBUSY) so
	// that a ring that stops making progress is an error, not a hang.
	maxEnterCalls = 1000
)

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

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
}

// ErrUnsupported is returned where there is no io_uring at all.
var ErrUnsupported = errors.New("uring: io_uring is not available on this system")

// New sets up a ring with room for entries submissions (a power of two is
// used, at most 4096). It fails as the kernel does: ENOSYS without
// io_uring, EPERM when kernel.io_uring_disabled or a seccomp filter
// forbids it.
func New(entries uint32) (*Ring, error) {
	if entries == 0 || entries > maxEntries {
		return nil, fmt.Errorf("uring: %d entries: want 1…%d", entries, maxEntries)
	}
	// SUBMIT_ALL: an entry that fails early must not stop the ones after
	// it; COOP_TASKRUN: no interrupt to run completion work, it is reaped
	// by the submitter anyway. Older kernels refuse them with EINVAL.
	var p params
	fd, err := setup(entries, &p, setupSubmitAll|setupCoopTaskrun)
	if err == syscall.EINVAL {
		p = params{}
		fd, err = setup(entries, &p, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", err)
	}
	r := &Ring{fd: fd}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
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
func (r *Ring) Entries() int { return len(r.sqes) }

// PrepSend queues send(fd, b, MSG_DONTWAIT|MSG_NOSIGNAL): a socket that
// cannot take it all at once completes short or with -EAGAIN instead of
// being waited for. It reports false when the submission queue is full.
// The caller keeps b alive and unmodified until its completion is reaped.
func (r *Ring) PrepSend(fd int, b []byte, userData uint64) bool {
	if len(b) == 0 {
		return false
	}
	head := atomic.LoadUint32(r.sqHead)
	tail := *r.sqTail + r.queued
	if tail-head >= uint32(len(r.sqes)) {
		return false
	}
	i := tail & r.sqMask
	r.sqes[i] = sqe{
		opcode:   opSend,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(&b[0]))),
		len:      uint32(len(b)),
		msgFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL,
		userData: userData,
	}
	r.sqArray[i] = i
	r.queued++
	return true
}

// Submit hands every queued send to the kernel and waits until each has
// completed, so that on return all their buffers are free again; reap the
// results with Reap. Sends with MSG_DONTWAIT complete inside the call, so
// the wait is not a wait on the network.
func (r *Ring) Submit() error {
	n := r.queued
	if n == 0 {
		return nil
	}
	// Publish the entries before the kernel may read the new tail.
	atomic.StoreUint32(r.sqTail, *r.sqTail+n)
	r.queued = 0
	toSubmit := n
	for try := 0; ; try++ {
		if try == maxEnterCalls {
			return fmt.Errorf("uring: %d of %d sends still unfinished after %d io_uring_enter calls", n-(atomic.LoadUint32(r.cqTail)-atomic.LoadUint32(r.cqHead)), n, try)
		}
		done := atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
		if toSubmit == 0 && done >= n {
			return nil
		}
		want := uint32(0)
		if done < n {
			want = n - done
		}
		got, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(want), enterGetEvents, 0, 0)
		switch errno {
		case 0:
			toSubmit -= min(uint32(got), toSubmit)
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Interrupted (Go's preemption signal) or short of resources:
			// what was taken is taken (the SQ head says how much), ask again.
			toSubmit = *r.sqTail - atomic.LoadUint32(r.sqHead)
		default:
			return fmt.Errorf("uring: io_uring_enter: %w", errno)
		}
	}
}

// Reap calls fn with every completion posted so far, in posting order,
// and frees their slots. res is the send's return value: bytes sent, or
// a negated errno.
func (r *Ring) Reap(fn func(userData uint64, res int32)) int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		fn(c.userData, c.res)
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// Close unmaps the queues and closes the ring. Nothing may be in flight.
func (r *Ring) Close() error {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && len(r.cqMem) > 0 && &r.cqMem[0] != &r.sqMem[0] {
		_ = unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		_ = unix.Munmap(r.sqMem)
	}
	r.sqMem, r.cqMem, r.sqeMem, r.sqes, r.cqes, r.sqArray = nil, nil, nil, nil, nil, nil
	if r.fd >= 0 {
		err := syscall.Close(r.fd)
		r.fd = -1
		return err
	}
	return nil
}
