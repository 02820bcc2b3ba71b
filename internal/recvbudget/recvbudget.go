// Package recvbudget bounds the memory a server holds for client data
// still arriving: the received part of WebSocket messages and request
// bodies that are not complete yet. Every connection accounts what it holds
// through a Holder; when the total passes the Budget's limit, the holder
// with the most is evicted (its connection closed) first, until the total
// is back under the limit.
//
// The common path costs nothing: a message that arrives whole is never
// accounted, and a Holder whose amount has not changed takes no lock. Only
// a connection that waits for more of a message takes the Budget's lock,
// once per wait. An eviction walks the listed holders once (O(n)); the
// holders it evicts stop counting at once, so the next eviction needs the
// total to pass the limit again by new bytes received.
package recvbudget

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrEvicted is returned to a holder that was evicted: its connection is
// being closed and what it received must be dropped.
var ErrEvicted = errors.New("recvbudget: evicted, the receive budget is spent")

// Budget is the limit shared by every holder made from it. A nil *Budget
// is no limit.
type Budget struct {
	limit     int64
	used      atomic.Int64 // written under mu; read by Used without it
	evictions atomic.Uint64

	mu      sync.Mutex
	holders []*Holder // holders with held > 0, each at its idx-1
}

// New makes a budget of limit bytes; limit <= 0 gives nil, no limit.
func New(limit int64) *Budget {
	if limit <= 0 {
		return nil
	}
	return &Budget{limit: limit}
}

// Limit is the budget in bytes (0 for nil).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Used is the number of bytes held now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Evictions counts the holders evicted so far.
func (b *Budget) Evictions() uint64 {
	if b == nil {
		return 0
	}
	return b.evictions.Load()
}

// Holder accounts one connection's bytes. One goroutine at a time owns it
// (the connection's reader); only eviction touches it from elsewhere, under
// the Budget's lock. The zero Holder, or one set up with a nil Budget,
// accounts nothing.
type Holder struct {
	b     *Budget
	evict func()
	held  int64 // written by the owner only, under b.mu
	idx   int   // 1 + index in b.holders; 0 = not listed; under b.mu
	// evicted is set under b.mu by an eviction, which then no longer
	// counts held in the total; the owner reads it without the lock.
	evicted atomic.Bool
}

// Init ties h to b. evict is called, under the Budget's lock, when h is
// evicted: it must close the connection (so that its reader stops) and
// must not call into the budget or wait for anything that does.
func (h *Holder) Init(b *Budget, evict func()) {
	h.b, h.evict = b, evict
}

// Hold sets the bytes h holds to n: the owner calls it before it waits
// for more data, with what it has received of the message so far. It fails
// with ErrEvicted when h has been evicted, by this call (the total passed
// the limit and h held the most) or earlier.
func (h *Holder) Hold(n int64) error {
	b := h.b
	if b == nil || (n == h.held && !h.evicted.Load()) {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.evicted.Load() {
		return ErrEvicted
	}
	grew := n > h.held
	b.setLocked(h, n)
	if grew && b.used.Load() > b.limit {
		b.evictLocked()
	}
	if h.evicted.Load() {
		return ErrEvicted
	}
	return nil
}

// Release ends h's holding (the message is complete, or its connection
// ended); an evicted holder becomes usable again, which only matters to
// tests. It is cheap when h holds nothing.
func (h *Holder) Release() {
	b := h.b
	if b == nil || (h.held == 0 && !h.evicted.Load()) {
		return
	}
	b.mu.Lock()
	if h.evicted.Load() {
		h.held = 0 // no longer in the total since the eviction
		h.evicted.Store(false)
	} else {
		b.setLocked(h, 0)
	}
	b.mu.Unlock()
}

// setLocked changes h's amount, listing or unlisting it.
func (b *Budget) setLocked(h *Holder, n int64) {
	b.used.Add(n - h.held)
	h.held = n
	switch {
	case n > 0 && h.idx == 0:
		b.holders = append(b.holders, h)
		h.idx = len(b.holders)
	case n == 0 && h.idx != 0:
		b.unlistLocked(h)
	}
}

func (b *Budget) unlistLocked(h *Holder) {
	i := h.idx - 1
	last := len(b.holders) - 1
	if i != last {
		b.holders[i] = b.holders[last]
		b.holders[i].idx = i + 1
	}
	b.holders[last] = nil
	b.holders = b.holders[:last]
	h.idx = 0
}

// evictLocked evicts the largest holders until the total is within the
// limit. Each pass walks the list once; every pass removes one holder.
func (b *Budget) evictLocked() {
	for b.used.Load() > b.limit && len(b.holders) > 0 {
		top := b.holders[0]
		for _, h := range b.holders[1:] {
			if h.held > top.held {
				top = h
			}
		}
		b.used.Add(-top.held)
		top.evicted.Store(true)
		b.unlistLocked(top)
		b.evictions.Add(1)
		if top.evict != nil {
			top.evict()
		}
	}
	if len(b.holders) == 0 && cap(b.holders) > 1024 {
		b.holders = nil // let a past flood's list go
	}
}
