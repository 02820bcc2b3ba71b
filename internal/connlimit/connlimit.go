// Package connlimit bounds what one client address can take from a public
// server: open TCP connections in total and per address, and the rate of
// new Engine.IO sessions (handshakes) per address.
//
// A Limiter wraps the server's listeners (Listen) and its Socket.IO
// handlers (Handler); one Limiter shared by several listeners counts their
// connections together. A refused connection is closed right after accept,
// before net/http sees it: no goroutine, no buffer, one RST. A refused
// handshake gets a bodiless 503.
//
// # Addresses
//
// A connection counts against its TCP peer's address; IPv6 peers are keyed
// by their /64 (one host usually has a whole /64 to pick addresses from)
// and IPv4-mapped IPv6 addresses as the IPv4 address they map.
//
// Behind a reverse proxy every connection comes from the proxy. When the
// peer is in Config.TrustedProxies its connections are not counted against
// the proxy's address (they still count in the total) and the client's
// address is taken from X-Forwarded-For: the right-most entry that is not
// itself a trusted proxy. With it:
//   - handshakes are rate-limited per client address;
//   - a WebSocket request moves its upstream connection's slot to the
//     client's address: a proxy gives each WebSocket a connection of its
//     own for as long as it lives, so the per-address cap holds for them;
//   - plain HTTP requests (long-polling) are not counted per address: a
//     proxy pools its upstream connections and one carries the requests of
//     many clients in turn, so a connection cannot be charged to one of
//     them. Those clients are bounded by the handshake rate and the total.
//
// X-Forwarded-For from a peer that is not trusted is ignored.
//
// # Bounded state
//
// The per-address connection counts exist only while an address has a
// connection open, so they are bounded by the open connections. The
// handshake buckets outlive connections; their table holds at most
// Config.MaxAddrs addresses: a full bucket carries no information and is
// dropped first (swept at most once a second), else an arbitrary entry
// (its address starts over with a full burst).
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Reason says why a connection or handshake was refused.
type Reason int

const (
	// ReasonMaxConns: the total of open connections is at Config.MaxConns.
	ReasonMaxConns Reason = iota
	// ReasonMaxConnsPerIP: the address has Config.MaxConnsPerIP open.
	ReasonMaxConnsPerIP
	// ReasonHandshakeRate: the address's handshake bucket is empty.
	ReasonHandshakeRate
	numReasons
)

var reasonNames = [numReasons]string{"max_conns", "max_conns_per_ip", "handshake_rate"}

// String is the reason's metric label.
func (r Reason) String() string {
	if r < 0 || r >= numReasons {
		return "unknown"
	}
	return reasonNames[r]
}

// Reasons lists every Reason.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// DefaultMaxAddrs bounds the handshake table when Config.MaxAddrs is 0:
// about 64 bytes an entry, so at most about 4 MiB.
const DefaultMaxAddrs = 1 << 16

// maxForwardedHops is how many X-Forwarded-For entries (empty ones
// included) are looked at from the right; a longer chain of trusted
// proxies is attributed to the last one looked at.
const maxForwardedHops = 32

// Config configures a Limiter. Zero values switch a limit off.
type Config struct {
	// MaxConns caps the open connections of every listener together.
	MaxConns int
	// MaxConnsPerIP caps the open connections of one address.
	MaxConnsPerIP int
	// HandshakeRate is the handshakes per second one address may open in
	// the long run; HandshakeBurst how many it may open at once (at least
	// 1; default 1 when HandshakeRate is set).
	HandshakeRate  float64
	HandshakeBurst int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MaxAddrs bounds the handshake table. Default DefaultMaxAddrs.
	MaxAddrs int
	// Logger receives the refusal summaries. Default slog.Default().
	Logger *slog.Logger

	clock func() time.Duration // tests; default time since New
}

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	Open      int                // connections open now (counted in the total)
	Refused   [numReasons]uint64 // refusals since New, by Reason
	ConnAddrs int                // addresses with a connection open
	RateAddrs int                // addresses in the handshake table
}

// Limiter enforces one Config; safe for concurrent use.
type Limiter struct {
	cfg   Config
	burst float64
	log   *slog.Logger
	clock func() time.Duration

	mu    sync.Mutex // guards open, conns and every Conn's key, counted, closed
	open  int
	conns map[netip.Addr]int32

	hmu       sync.Mutex // guards buckets, lastSweep
	buckets   map[netip.Addr]bucket
	lastSweep time.Duration

	refused [numReasons]atomic.Uint64
	pending [numReasons]atomic.Uint64 // refused since the last log line
	armed   atomic.Bool               // a summary line is scheduled
	lastLog atomic.Int64              // clock of the last summary line
}

type bucket struct {
	tokens float64
	last   time.Duration
}

// New returns a Limiter for cfg.
func New(cfg Config) *Limiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAddrs <= 0 {
		cfg.MaxAddrs = DefaultMaxAddrs
	}
	if cfg.HandshakeRate > 0 && cfg.HandshakeBurst < 1 {
		cfg.HandshakeBurst = 1
	}
	l := &Limiter{cfg: cfg, burst: float64(cfg.HandshakeBurst), log: cfg.Logger, clock: cfg.clock,
		conns: map[netip.Addr]int32{}, buckets: map[netip.Addr]bucket{}}
	if l.clock == nil {
		start := time.Now()
		l.clock = func() time.Duration { return time.Since(start) }
	}
	l.lastLog.Store(int64(-time.Hour))
	return l
}

// Stats returns the current counters.
func (l *Limiter) Stats() Stats {
	var st Stats
	for i := range st.Refused {
		st.Refused[i] = l.refused[i].Load()
	}
	l.mu.Lock()
	st.Open, st.ConnAddrs = l.open, len(l.conns)
	l.mu.Unlock()
	l.hmu.Lock()
	st.RateAddrs = len(l.buckets)
	l.hmu.Unlock()
	return st
}

// Key is the address a client is counted under: IPv4 as is (IPv4-mapped
// IPv6 as its IPv4 address), IPv6 by its /64, without zone.
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// trusted reports whether a (unmapped) is a trusted proxy.
func (l *Limiter) trusted(a netip.Addr) bool {
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// admit takes a slot for a new connection from key (a per-address slot
// only when perAddr); ok false with the reason when a cap is reached.
func (l *Limiter) admit(key netip.Addr, perAddr bool) (Reason, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if perAddr && l.cfg.MaxConnsPerIP > 0 && int(l.conns[key]) >= l.cfg.MaxConnsPerIP {
		return ReasonMaxConnsPerIP, false
	}
	if l.cfg.MaxConns > 0 && l.open >= l.cfg.MaxConns {
		return ReasonMaxConns, false
	}
	l.open++
	if perAddr {
		l.conns[key]++
	}
	return 0, true
}

// dropAddrLocked gives back key's per-address slot. l.mu held.
func (l *Limiter) dropAddrLocked(key netip.Addr) {
	if n := l.conns[key] - 1; n > 0 {
		l.conns[key] = n
	} else {
		delete(l.conns, key)
	}
}

// release gives back c's slots, once.
func (l *Limiter) release(c *Conn) {
	l.mu.Lock()
	if !c.closed {
		c.closed = true
		l.open--
		if c.counted {
			l.dropAddrLocked(c.key)
		}
	}
	l.mu.Unlock()
}

// attribute moves c's per-address slot to key (a client behind a trusted
// proxy); false when key is at its cap.
func (l *Limiter) attribute(c *Conn, key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed || (c.counted && c.key == key) {
		return true
	}
	if l.cfg.MaxConnsPerIP > 0 && int(l.conns[key]) >= l.cfg.MaxConnsPerIP {
		return false
	}
	if c.counted {
		l.dropAddrLocked(c.key)
	}
	c.key, c.counted = key, true
	l.conns[key]++
	return true
}

// allowHandshake takes a token from key's bucket.
func (l *Limiter) allowHandshake(key netip.Addr) bool {
	if l.cfg.HandshakeRate <= 0 {
		return true
	}
	now := l.clock()
	l.hmu.Lock()
	defer l.hmu.Unlock()
	b, ok := l.buckets[key]
	if ok {
		b.tokens = l.refill(b, now)
	} else {
		if len(l.buckets) >= l.cfg.MaxAddrs {
			l.makeRoomLocked(now)
		}
		b.tokens = l.burst
	}
	b.last = now
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	l.buckets[key] = b
	return allowed
}

// refill is b's token count at now.
func (l *Limiter) refill(b bucket, now time.Duration) float64 {
	return min(l.burst, b.tokens+(now-b.last).Seconds()*l.cfg.HandshakeRate)
}

// makeRoomLocked frees at least one entry of the full handshake table.
// l.hmu held.
func (l *Limiter) makeRoomLocked(now time.Duration) {
	if now-l.lastSweep >= time.Second {
		l.lastSweep = now
		for k, b := range l.buckets {
			if l.refill(b, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.cfg.MaxAddrs {
			break
		}
		delete(l.buckets, k)
	}
}

// refuse counts one refusal and makes sure a summary line follows within
// a second.
func (l *Limiter) refuse(r Reason) {
	l.refused[r].Add(1)
	l.pending[r].Add(1)
	if !l.armed.CompareAndSwap(false, true) {
		return
	}
	wait := time.Duration(l.lastLog.Load()) + time.Second - l.clock()
	time.AfterFunc(max(wait, 0), l.logSummary)
}

// logSummary writes one line with the refusals since the last one.
func (l *Limiter) logSummary() {
	l.lastLog.Store(int64(l.clock()))
	l.armed.Store(false)
	var n [numReasons]uint64
	total := uint64(0)
	for i := range n {
		n[i] = l.pending[i].Swap(0)
		total += n[i]
	}
	if total == 0 {
		return
	}
	attrs := make([]any, 0, 2*(len(n)+1))
	attrs = append(attrs, "refused", total)
	for i, c := range n {
		if c > 0 {
			attrs = append(attrs, Reason(i).String(), c)
		}
	}
	l.log.Warn("connlimit: connections refused since the last line", attrs...)
}

// ---------------------------------------------------------------- listener

// Conn is an accepted connection holding its slots until Close.
type Conn struct {
	net.Conn
	l    *Limiter
	peer netip.Addr // the TCP peer, unmapped
	via  bool       // the peer is a trusted proxy

	// Under l.mu.
	key     netip.Addr
	counted bool // holds a per-address slot under key
	closed  bool
}

// Close gives the connection's slots back and closes it.
func (c *Conn) Close() error {
	c.l.release(c)
	return c.Conn.Close()
}

// CloseWrite half-closes the connection where it can (net/http does
// before closing a connection after its last response, so that the
// client reads that response rather than a reset).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// TCPConn is the TCP connection under c, or nil. Code that reads and
// writes the descriptor directly (engineio's netpoller and inline writes)
// uses it, and still closes through c.
func (c *Conn) TCPConn() *net.TCPConn {
	tc, _ := c.Conn.(*net.TCPConn)
	return tc
}

type listener struct {
	net.Listener
	l *Limiter
}

// Listen wraps ln: connections over a cap are closed as they are accepted
// and never returned; the others are *Conn.
func (l *Limiter) Listen(ln net.Listener) net.Listener {
	return &listener{Listener: ln, l: l}
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := addrOf(c.RemoteAddr())
		via := ln.l.trusted(peer)
		key := Key(peer)
		if r, ok := ln.l.admit(key, !via); !ok {
			ln.l.refuse(r)
			if tc, isTCP := c.(*net.TCPConn); isTCP {
				_ = tc.SetLinger(0) // RST: no FIN_WAIT/TIME_WAIT kept for it
			}
			_ = c.Close()
			continue
		}
		return &Conn{Conn: c, l: ln.l, peer: peer, via: via, key: key, counted: !via}, nil
	}
}

// addrOf is a's IP, unmapped; the zero Addr when it has none.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
