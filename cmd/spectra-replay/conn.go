package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"spectra-relay/socketio/sioclient"
)

// Reconnection as the real Spectra client's socket.io-client does it
// (reconnection on, reconnectionDelay 1000, reconnectionDelayMax 5000,
// randomization 0.5): after a lost connection the client comes back with
// its session (connection state recovery), without a logon, and the events
// emitted meanwhile are buffered and sent in order once it is back. A
// server disconnect (a refused logon, game_end) ends the client for good.
const (
	reconnectDelay    = time.Second
	reconnectDelayMax = 5 * time.Second
	// maxBuffered bounds the events held while disconnected (a whole match
	// is a few thousand); past it the oldest are dropped with a warning.
	maxBuffered = 100_000
)

// rconn is one logged-on client that reconnects.
type rconn struct {
	p    *player
	what string // for messages: "observer", "auxiliary client X"

	mu      sync.Mutex
	c       *sioclient.Client // the current connection
	down    bool              // lost, reconnecting; emits are buffered
	up      chan struct{}     // closed when the connection is back (replaced on each loss)
	buf     []bufferedEmit
	dropped int
	gone    bool
	err     error
	done    chan struct{} // closed when the client ended for good

	stop   context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	closed bool
}

type bufferedEmit struct {
	event, payload string
}

func newRConn(p *player, what string, c *sioclient.Client) *rconn {
	ctx, stop := context.WithCancel(context.Background())
	r := &rconn{p: p, what: what, c: c, up: make(chan struct{}), done: make(chan struct{}), ctx: ctx, stop: stop}
	close(r.up)
	r.wg.Add(1)
	go r.watch(c)
	return r
}

// Done is closed when the client ended for good (a server disconnect, or
// Close); a lost connection does not close it.
func (r *rconn) Done() <-chan struct{} { return r.done }

// Err says why the client ended.
func (r *rconn) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Emit sends an event now, or buffers it while the connection is down.
func (r *rconn) Emit(event, payload string) error {
	r.mu.Lock()
	if r.gone {
		err := r.err
		r.mu.Unlock()
		return err
	}
	if r.down {
		r.bufferLocked(event, payload)
		r.mu.Unlock()
		return nil
	}
	c := r.c
	r.mu.Unlock()
	if err := c.Emit(event, payload); err != nil {
		// The connection died under us: keep the event for the next one.
		r.mu.Lock()
		if !r.gone {
			r.bufferLocked(event, payload)
			err = nil
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

func (r *rconn) bufferLocked(event, payload string) {
	if len(r.buf) >= maxBuffered {
		r.buf = r.buf[1:]
		r.dropped++
	}
	r.buf = append(r.buf, bufferedEmit{event, payload})
}

// current waits (bounded by ctx) until the connection is up and returns
// it; nil when the client ended.
func (r *rconn) current(ctx context.Context) (*sioclient.Client, error) {
	r.mu.Lock()
	up, gone := r.up, r.gone
	r.mu.Unlock()
	if gone {
		return nil, nil
	}
	select {
	case <-up:
	case <-r.done:
		return nil, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for the connection to come back: %w", r.what, ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return nil, nil
	}
	return r.c, nil
}

// watch follows one connection: when it is lost, it reconnects with the
// session until it is back or the client is closed.
func (r *rconn) watch(c *sioclient.Client) {
	defer r.wg.Done()
	for {
		select {
		case <-c.Done():
		case <-r.ctx.Done():
			return
		}
		err := c.Err()
		if errors.Is(err, sioclient.ErrServerDisconnect) || errors.Is(err, sioclient.ErrClientDisconnect) || r.ctx.Err() != nil {
			r.end(err)
			return
		}
		r.mu.Lock()
		r.down = true
		r.up = make(chan struct{})
		r.mu.Unlock()
		r.p.warn("%s: connection lost (%v), reconnecting", r.what, err)
		next := r.reconnect(c.Session())
		if next == nil {
			return // closed meanwhile
		}
		c = next
	}
}

// reconnect dials until it is back, with socket.io-client's backoff.
func (r *rconn) reconnect(sess sioclient.Session) *sioclient.Client {
	for attempt := 0; ; attempt++ {
		d := min(reconnectDelay<<min(attempt, 8), reconnectDelayMax)
		d = time.Duration(float64(d) * (0.5 + rand.Float64())) // ±50 %
		d = min(d, reconnectDelayMax)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil
		}
		opts := r.p.clientOptions()
		opts.Session = sess
		c := sioclient.New(opts)
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
		err := c.Connect(ctx, r.p.cfg.ingest)
		cancel()
		if err != nil {
			c.Close()
			if r.ctx.Err() != nil {
				return nil
			}
			continue
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return nil
		}
		buf, dropped := r.buf, r.dropped
		r.buf, r.dropped = nil, 0
		r.c = c
		// Flushed before the connection counts as up: later emits follow.
		for _, e := range buf {
			_ = c.Emit(e.event, e.payload)
		}
		r.down = false
		close(r.up)
		r.mu.Unlock()
		note := "its session recovered"
		if !c.Recovered() {
			note = "as a new session: the server did not recover it, so it drops this client's events until it logs on again"
		}
		r.p.warn("%s: reconnected after %d attempt(s), %s; %d buffered events sent", r.what, attempt+1, note, len(buf))
		if dropped > 0 {
			r.p.warn("%s: %d events dropped while disconnected (more than %d buffered)", r.what, dropped, maxBuffered)
		}
		return c
	}
}

func (r *rconn) end(err error) {
	r.mu.Lock()
	if !r.gone {
		r.gone = true
		r.err = err
		close(r.done)
	}
	r.mu.Unlock()
}

// Close ends the client and its reconnection.
func (r *rconn) Close() {
	r.mu.Lock()
	r.closed = true
	c := r.c
	r.mu.Unlock()
	r.stop()
	c.Close()
	r.wg.Wait()
	r.end(sioclient.ErrClientDisconnect)
}
