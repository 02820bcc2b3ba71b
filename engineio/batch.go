package engineio

import (
	"errors"
	"fmt"
	"syscall"

	"spectra-relay/internal/uring"
)

const (
	// batchEntries is the number of sends per io_uring submission: one
	// io_uring_enter instead of this many write(2). The descriptors of a
	// submission are held one call deeper each (see holdFrom), so it also
	// bounds that nesting.
	batchEntries = 128
	// batchRings is how many broadcasts can batch at the same time; a
	// broadcast that finds none free writes one socket at a time.
	batchRings = 4
)

// newRing makes a ring; tests replace it to take the fallback path.
var newRing = uring.New

// errSendLost: the ring failed with a send of this socket in it whose
// fate is unknown, so the socket's byte stream cannot go on.
var errSendLost = errors.New("engineio: io_uring submission failed")

// Batch gathers the writes of one broadcast (the same frame to many idle
// WebSocket connections) into io_uring submissions. Get one with
// Server.BeginBatch, pass it to Socket.SendFramesBatch for every
// recipient, then End it. A nil *Batch is valid and batches nothing.
//
// Only sends that would have been written inline (an idle socket, nothing
// queued, nothing pending) join a batch; the socket stays marked as being
// flushed until its send completed, so any later frame queues behind it and
// a socket never gets frames out of order. What a send leaves unwritten
// (short, EAGAIN) goes to the socket's queue exactly like writeInline's
// rest.
type Batch struct {
	srv  *Server
	slot int
	ring *uring.Ring
	ents []batchEnt
	cur  int // the entry whose descriptor hold is taking

	holdFn func(uintptr) bool
	reapFn func(uint64, int32)
	broken bool // the ring failed: dropped instead of reused
}

type batchEnt struct {
	so   *Socket
	b    []byte
	fd   int
	err  error // the descriptor could not be held: the connection is closing
	res  int32 // the send's result: bytes or -errno
	done bool  // res is set
}

// setupUring makes the server's rings, or logs once why there are none.
func (s *Server) setupUring() {
	for i := range s.batches {
		r, err := newRing(batchEntries)
		if err != nil {
			if i == 0 {
				s.log.Warn("engineio: io_uring unavailable, broadcasts write each socket with write(2)", "err", err)
				return
			}
			break
		}
		b := &Batch{srv: s, slot: i, ring: r, ents: make([]batchEnt, 0, min(batchEntries, r.Entries()))}
		b.holdFn, b.reapFn = b.hold, b.reaped
		s.batches[i].Store(b)
	}
	s.uring = true
}

// closeUring releases the rings not in use; one in use is closed by End.
func (s *Server) closeUring() {
	s.uringClosed.Store(true)
	for i := range s.batches {
		if b := s.batches[i].Swap(nil); b != nil {
			_ = b.ring.Close()
		}
	}
}

// BeginBatch returns a free Batch for one broadcast, or nil when io_uring
// is off or unavailable or every batch is in use; the sends then write one
// socket at a time as without it.
func (s *Server) BeginBatch() *Batch {
	if s == nil || !s.uring {
		return nil
	}
	for i := range s.batches {
		if b := s.batches[i].Swap(nil); b != nil {
			return b
		}
	}
	return nil
}

// End submits what the batch still holds and frees it for the next
// broadcast.
func (b *Batch) End() {
	if b == nil {
		return
	}
	b.flush()
	if b.broken || b.srv.uringClosed.Load() {
		_ = b.ring.Close()
		return
	}
	b.srv.batches[b.slot].Store(b)
}

// add takes the single queued item of a socket that SendFramesBatch
// marked as flushing; the caller holds no lock.
func (b *Batch) add(so *Socket, items []outItem) {
	buf := so.ws.bytesFor(items[0])
	so.recycleQueue(items)
	b.ents = append(b.ents, batchEnt{so: so, b: buf})
	if len(b.ents) == cap(b.ents) {
		b.flush()
	}
}

// flush sends what the batch holds and settles every socket in it.
func (b *Batch) flush() {
	if len(b.ents) == 0 {
		return
	}
	b.holdFrom(0)
	short := 0
	for i := range b.ents {
		e := &b.ents[i]
		n, err := e.result()
		if err == nil && n < len(e.b) {
			short++
		}
		e.so.finishInline(e.b, n, err)
	}
	b.srv.uringSends.Add(int64(len(b.ents)))
	if short > 0 {
		b.srv.uringShort.Add(int64(short))
	}
	clear(b.ents)
	b.ents = b.ents[:0]
}

// holdFrom takes Go's reference on the descriptor of every entry from i
// on, each inside the callback of the previous one's RawConn.Write, and
// submits from the innermost. While those references are held a Close of
// the connection cannot release its descriptor number, so no send can
// reach another connection that reused it. A connection already closing
// is left out with its error.
func (b *Batch) holdFrom(i int) {
	for ; i < len(b.ents); i++ {
		b.cur = i
		e := &b.ents[i]
		if err := e.so.ws.raw.Write(b.holdFn); err != nil {
			e.err = err
			continue
		}
		return // the callback held the rest and submitted
	}
	b.submit()
}

func (b *Batch) hold(fd uintptr) bool {
	i := b.cur
	b.ents[i].fd = int(fd)
	b.holdFrom(i + 1)
	return true
}

// submit runs every held send through the ring and collects the results.
func (b *Batch) submit() {
	for i := range b.ents {
		e := &b.ents[i]
		if e.err == nil && !b.ring.PrepSend(e.fd, e.b, uint64(i)) {
			// Not sent at all: the whole frame goes through the queue.
			e.res, e.done = -int32(syscall.EAGAIN), true
		}
	}
	err := b.ring.Submit()
	b.ring.Reap(b.reapFn)
	if err != nil {
		b.broken = true
		b.srv.log.Warn("engineio: io_uring submission failed, the batch's ring is dropped", "err", err)
	}
}

func (b *Batch) reaped(ud uint64, res int32) {
	if ud < uint64(len(b.ents)) {
		e := &b.ents[ud]
		e.res, e.done = res, true
	}
}

// result is what the send wrote and whether the connection failed.
func (e *batchEnt) result() (int, error) {
	switch {
	case e.err != nil:
		return 0, e.err
	case !e.done:
		return 0, errSendLost
	case e.res >= 0:
		return int(e.res), nil
	}
	switch errno := syscall.Errno(-e.res); errno {
	case syscall.EAGAIN, syscall.EINTR:
		return 0, nil
	default:
		return 0, fmt.Errorf("engineio: io_uring send: %w", errno)
	}
}
