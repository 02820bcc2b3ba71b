package engineio

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

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
	// batchWait bounds how long a submission waits for its completions
	// while the broadcaster holds the descriptors, the room lock and the
	// match's sendMu. Sends with MSG_DONTWAIT complete inside the
	// submission (microseconds), so this is a bound, not a timeout that
	// steers anything.
	batchWait = 50 * time.Millisecond
	// drainStep is how long a retired ring's drainer waits at a time
	// before it looks whether the server is closing.
	drainStep = 100 * time.Millisecond
	// cancelWait bounds the wait for the completions of cancelled sends
	// (they may need the submitting thread to run the kernel's task work).
	cancelWait = time.Second
)

// newRing makes a ring; tests replace it to take the fallback path.
var newRing = uring.New

// newAIORing makes a Linux AIO ring, the batch's backend where io_uring
// is refused (Docker's default seccomp profile allows it); tests replace
// it to take the write(2) path.
var newAIORing = uring.NewAIO

// batchPutHook, when set (tests only), runs inside putBatch between its
// check of uringClosed and its Store: where a concurrent closeUring is
// hardest to hit by chance. Atomic, as a drainer of an earlier test's
// server may still be putting its ring back.
var batchPutHook atomic.Pointer[func()]

// errSendLost: the send's completion never came (the ring was torn down
// first), so how much of it reached the socket is unknown and the
// socket's byte stream cannot go on.
var errSendLost = errors.New("engineio: io_uring send without a completion")

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
//
// A submission waits at most batchWait for its completions. Sends still
// in flight then (the kernel took them, their result is unknown) are
// never written again: the ring is retired, with those sends, to a
// drainer goroutine (drainer.run; at most one per ring, as the ring's
// slot stays empty meanwhile) that keeps their buffers referenced and
// their sockets marked as flushing until the completions arrive, then
// settles each socket with its send's real result and puts the ring back
// in its slot. The rest of the broadcast writes inline. Sends whose
// completion has not come within the stall limit, or by the time the
// server closes, are cancelled (Ring.Cancel, Linux 5.19): a cancelled
// send reports the bytes it had sent, so its socket goes on with the rest
// through its queue, or fails on -ECANCELED. Sends the kernel cannot
// cancel either are given up: the ring is closed first (the kernel tears
// them down), then their connections are closed as failed, since part of
// a frame may have reached the peer.
type Batch struct {
	srv  *Server
	slot int
	ring *uring.Ring // nil once retired: the rest of the broadcast writes inline
	ents []batchEnt
	cur  int // the entry whose descriptor hold is taking

	wait       time.Duration // a submission's wait (batchWait; tests shorten it)
	drainLimit time.Duration // how long a retired ring waits for late completions
	noCancel   bool          // tests: give late sends up without Ring.Cancel

	holdFn func(uintptr) bool
	reapFn func(uint64, int32)
	broken bool // the ring failed: closed instead of reused
}

type batchEnt struct {
	so   *Socket
	b    []byte
	fd   int
	err  error // the descriptor could not be held: the connection is closing
	res  int32 // the send's result: bytes or -errno
	done bool  // res is set
}

// setupUring makes the server's rings: io_uring, or else Linux AIO, or
// none; it logs once why not io_uring.
func (s *Server) setupUring() {
	mk := newRing
	if s.cfg.UringAIO {
		mk, s.uringAIO = newAIORing, true
	}
	for i := range s.batches {
		r, err := mk(batchEntries)
		if err != nil && i == 0 && s.cfg.UringAIO {
			s.log.Warn("engineio: Linux AIO unavailable, broadcasts write each socket with write(2)", "err", err)
			s.uringAIO = false
			s.uringReason = uringFailure(err)
			return
		}
		if err != nil && i == 0 && !s.uringAIO {
			err0 := err
			s.uringReason = uringFailure(err)
			r, err = newAIORing(batchEntries)
			if err == nil {
				mk, s.uringAIO = newAIORing, true
				s.log.Warn("engineio: io_uring unavailable, broadcasts batch their socket writes with Linux AIO (io_submit)",
					"err", err0, "reason", s.uringReason)
			} else {
				s.log.Warn("engineio: io_uring unavailable, broadcasts write each socket with write(2)",
					"err", err0, "reason", s.uringReason, "aioErr", err)
				return
			}
		}
		if err != nil {
			break
		}
		s.batches[i].Store(newBatch(s, i, r))
	}
	s.uring = true
}

func newBatch(s *Server, slot int, r *uring.Ring) *Batch {
	b := &Batch{srv: s, slot: slot, ring: r, ents: make([]batchEnt, 0, min(batchEntries, r.Entries())),
		wait: batchWait, drainLimit: stallLimit}
	b.holdFn, b.reapFn = b.hold, b.reaped
	return b
}

// closeUring closes the rings in their slots and makes every other ring
// be closed by its holder: a ring is owned by whoever took it out of its
// slot (a broadcast between BeginBatch and End, or a drainer), so it is
// never closed while a submission on it runs, and each ring is closed
// once (see putBatch).
func (s *Server) closeUring() {
	s.uringClosed.Store(true)
	for i := range s.batches {
		if b := s.batches[i].Swap(nil); b != nil {
			_ = b.ring.Close()
		}
	}
}

// putBatch frees b, whose ring has nothing in flight, for the next
// broadcast; once closeUring has run it closes the ring instead.
func (s *Server) putBatch(b *Batch) {
	if s.uringClosed.Load() {
		_ = b.ring.Close()
		return
	}
	if hook := batchPutHook.Load(); hook != nil {
		(*hook)()
	}
	s.batches[b.slot].Store(b)
	// closeUring may have swept the slots between the check and the
	// Store. Then it set the flag before the sweep, so it is seen here,
	// and b is closed by whichever of this and the sweep takes it out of
	// the slot (or by the broadcast that took it meanwhile, at its End).
	if s.uringClosed.Load() && s.batches[b.slot].CompareAndSwap(b, nil) {
		_ = b.ring.Close()
	}
}

// BeginBatch returns a free Batch for one broadcast, or nil when io_uring
// is off or unavailable or every batch is in use; the sends then write one
// socket at a time as without it.
func (s *Server) BeginBatch() *Batch {
	if s == nil || !s.uring || s.uringClosed.Load() {
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
	switch {
	case b.ring == nil:
		// Retired: its drainer owns the ring now.
	case b.broken:
		_ = b.ring.Close()
	default:
		b.srv.putBatch(b)
	}
}

// add takes the single queued item of a socket that SendFramesBatch
// marked as flushing; the caller holds no lock.
func (b *Batch) add(so *Socket, items []outItem) {
	if b.ring == nil {
		so.writeInline(items)
		return
	}
	buf := so.ws.wireInline(items[0])
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
	short, late := 0, 0
	for i := range b.ents {
		e := &b.ents[i]
		if e.err == nil && !e.done {
			// In flight: settled by the drainer when it completes.
			late++
			continue
		}
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
	if late > 0 {
		b.retire()
		return
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

// submit runs every held send through the ring and collects the results
// that arrive within b.wait.
func (b *Batch) submit() {
	prepped := 0
	for i := range b.ents {
		e := &b.ents[i]
		if e.err != nil {
			continue
		}
		if !b.ring.PrepSend(e.fd, e.b, uint64(i)) {
			// Not sent at all: the whole frame goes through the queue.
			e.res, e.done = -int32(syscall.EAGAIN), true
			continue
		}
		prepped++
	}
	taken, err := b.ring.Submit(b.wait)
	b.ring.Reap(b.reapFn)
	if taken < prepped {
		b.withdrawn(taken)
	}
	if err != nil {
		if !errors.Is(err, uring.ErrTimeout) {
			b.broken = true
		}
		b.srv.uringProblem("engineio: io_uring submission did not finish", "err", err, "in_flight", b.ring.Pending())
	}
}

// withdrawn marks the prepared sends after the first taken ones as not
// sent: the kernel never saw them (Ring.Submit withdrew them), so their
// whole frame goes through the socket's queue. PrepSend refuses only
// once the ring is full, so the prepared sends are the first ones
// without an error.
func (b *Batch) withdrawn(taken int) {
	for i := range b.ents {
		e := &b.ents[i]
		if e.err != nil || e.done {
			continue
		}
		if taken > 0 {
			taken--
			continue
		}
		e.res, e.done = -int32(syscall.EAGAIN), true
	}
}

func (b *Batch) reaped(ud uint64, res int32) {
	if ud < uint64(len(b.ents)) {
		e := &b.ents[ud]
		e.res, e.done = res, true
	}
}

// retire hands the ring, with sends in flight, to a drainer goroutine;
// the rest of this broadcast writes inline and End leaves the ring alone.
// The entries go with it: they keep the buffers the kernel may still read
// referenced, and the sockets to settle.
func (b *Batch) retire() {
	for i := range b.ents {
		if e := &b.ents[i]; e.err != nil || e.done {
			b.ents[i] = batchEnt{} // settled already
		}
	}
	d := &drainer{srv: b.srv, slot: b.slot, ring: b.ring, ents: b.ents, broken: b.broken, limit: b.drainLimit, cancel: !b.noCancel}
	b.ring, b.ents = nil, nil
	go d.run()
}

// drainer waits for the late completions of a retired ring.
type drainer struct {
	srv    *Server
	slot   int
	ring   *uring.Ring
	ents   []batchEnt // the in-flight sends by user data; settled ones are zero
	broken bool
	limit  time.Duration
	cancel bool // cancel what is still in flight at the limit
	late   int
}

func (d *drainer) run() {
	s := d.srv
	deadline := time.Now().Add(d.limit)
	var err error
	for d.ring.Pending() > 0 && err == nil {
		wait := min(drainStep, time.Until(deadline))
		if wait <= 0 || s.closing.Load() || s.uringClosed.Load() {
			break
		}
		if werr := d.ring.Wait(wait); werr != nil && !errors.Is(werr, uring.ErrTimeout) {
			err = werr
		}
		d.ring.Reap(d.reaped)
	}
	d.ring.Reap(d.reaped) // what arrived before a break
	if d.ring.Pending() > 0 && d.cancel {
		if cerr := d.ring.Cancel(cancelWait); cerr != nil && err == nil && !errors.Is(cerr, uring.ErrTimeout) {
			err = cerr
		}
		d.ring.Reap(d.reaped)
	}
	s.uringLate.Add(int64(d.late))
	if d.ring.Pending() == 0 && err == nil && !d.broken {
		clear(d.ents)
		s.putBatch(newBatch(s, d.slot, d.ring))
		return
	}
	// Give up: tear the ring down first, so that the kernel cancels what
	// is still in flight, then fail the connections whose send has no
	// result. Their buffers are dropped with the entries.
	_ = d.ring.Close()
	lost := 0
	for i := range d.ents {
		e := &d.ents[i]
		if e.so == nil || e.done {
			continue
		}
		lost++
		e.so.finishInline(e.b, 0, errSendLost)
		// A session already closing gracefully waits for a flush that a
		// failed writer does not start: close the connection itself.
		e.so.ws.shutdown(s.poller)
	}
	clear(d.ents)
	s.uringLost.Add(int64(lost))
	// Not rate-limited: at most one per ring and drain limit.
	s.log.Warn("engineio: io_uring ring closed with sends still in flight; their connections are closed", "lost", lost, "err", err)
}

// reaped settles the socket of one late (or cancelled) completion with
// its real result.
func (d *drainer) reaped(ud uint64, res int32) {
	if ud >= uint64(len(d.ents)) {
		return
	}
	e := &d.ents[ud]
	if e.so == nil || e.done {
		return
	}
	e.res, e.done = res, true
	n, err := e.result()
	e.so.finishInline(e.b, n, err)
	d.late++
}

// uringProblem logs a ring's trouble at most once a second.
func (s *Server) uringProblem(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := s.uringLogAt.Load()
	if now-last < int64(time.Second) || !s.uringLogAt.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn(msg, args...)
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
