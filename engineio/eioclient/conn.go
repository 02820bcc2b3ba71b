// Over 600 lines on purpose: dial, send queue, write loop and upgrade all work on Conn's one lock and state; the transports live in polling.go and websocket.go.

// Package eioclient is an Engine.IO v4 client: HTTP long-polling, WebSocket
// (optionally with permessage-deflate) and the polling→websocket upgrade that
// socket.io-client performs by default.
//
// It imports no server package of this module, only the wire codec it
// shares with the server (eiopacket), so that tests and load generators
// exercise the server the way real browsers and Node clients do.
package eioclient

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport names, as used on the wire.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Errors that end a connection. Conn.Err wraps one of them when the cause is
// known.
var (
	ErrClosed        = errors.New("eioclient: connection closed by client")
	ErrServerClosed  = errors.New("eioclient: connection closed by server")
	ErrPingTimeout   = errors.New("eioclient: ping timeout")
	ErrTransport     = errors.New("eioclient: transport error")
	ErrHandshake     = errors.New("eioclient: handshake failed")
	ErrMessageTooBig = errors.New("eioclient: message too big")
)

// Options configure Dial. The zero value connects like socket.io-client with
// default options, without compression.
type Options struct {
	// Transports lists the transports to use, in order. The first one opens
	// the session; when it is polling and websocket is also listed (and the
	// server offers it), the connection upgrades. Default: polling then
	// websocket.
	Transports []string
	// NoUpgrade keeps the session on its first transport.
	NoUpgrade bool
	// Path is the Engine.IO endpoint, default "/engine.io/". A non-root path
	// in the Dial URL is used when Path is empty.
	Path string
	// Query holds extra query parameters for every request.
	Query url.Values
	// Header holds extra HTTP headers for every request and the WebSocket
	// handshake.
	Header http.Header
	// Deflate offers permessage-deflate on WebSocket connections.
	Deflate bool
	// DeflateLevel is the compress/flate level for outgoing messages;
	// default 1 (a load generator should spend its CPU on the server).
	DeflateLevel int
	// DeflateThreshold: outgoing messages shorter than this are sent
	// uncompressed. Default 1024; negative disables outgoing compression.
	DeflateThreshold int
	// OnMessage receives every message in order, from one goroutine at a
	// time. data is owned by the callee. A slow callback slows reading down
	// (TCP back-pressure) rather than dropping anything; it also delays
	// pongs, so it must not block for a ping timeout.
	OnMessage func(data []byte, binary bool)
	// OnPing is called after each server ping has been answered.
	OnPing func()
	// MaxMessageSize bounds one received message (after decompression) and
	// one polling response. Default 64 MiB.
	MaxMessageSize int64
	// MaxQueueBytes bounds the send queue; Send blocks while it is full.
	// Default 8 MiB.
	MaxQueueBytes int
	// HTTPClient carries the polling requests. Default: a shared client with
	// a large idle pool.
	HTTPClient *http.Client
	// TLSConfig is used for https/wss when HTTPClient is nil and for the
	// WebSocket dial.
	TLSConfig *tls.Config
	// LocalAddr, when set, is the local address every connection is
	// dialled from (the WebSocket dial, and the polling requests when
	// HTTPClient is nil): e.g. 127.0.0.2 to be a second client address on
	// loopback.
	LocalAddr *net.TCPAddr
	// WriteTimeout bounds one WebSocket write. Default 10s.
	WriteTimeout time.Duration
	// Logger receives debug diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// Handshake holds the values of the server's open packet.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// Stats are cumulative counters of one connection.
type Stats struct {
	// BytesRead / BytesWritten count WebSocket bytes as they cross the socket
	// (compressed, with frame headers and the upgrade handshake), and
	// polling HTTP bodies.
	BytesRead    int64
	BytesWritten int64
	// FramesRead / FramesWritten count WebSocket frames and polling records.
	FramesRead    int64
	FramesWritten int64
	// MessagesRead / MessagesSent count Engine.IO message packets.
	MessagesRead int64
	MessagesSent int64
	// Pings counts server pings.
	Pings int64
}

type counters struct {
	bytesRead, bytesWritten, framesRead, framesWritten atomic.Int64
	msgsRead, msgsSent, pings                          atomic.Int64
}

// outItem is one entry of the send queue: an Engine.IO packet, or a
// WebSocket control frame that has to be serialised with the data frames.
type outItem struct {
	pkt     packet
	control byte // 0 for an Engine.IO packet, else a WebSocket opcode
	payload []byte
	writing func() // SendNotify's callback, or nil
}

func (o outItem) size() int { return len(o.pkt.Data) + len(o.payload) + 1 }

// transport is the active carrier of the send queue.
type transport interface {
	name() string
	write(batch []outItem) error
	// abort tears the transport down without any goodbye.
	abort()
}

// Conn is an Engine.IO client connection. Its methods are safe for
// concurrent use.
type Conn struct {
	opts   Options
	base   *url.URL // http(s) URL of the endpoint, with EIO=4 and extra query
	httpc  *http.Client
	hs     Handshake
	log    *slog.Logger
	ctx    context.Context // lives as long as the connection
	cancel context.CancelFunc
	stats  counters

	mu        sync.Mutex
	cond      *sync.Cond
	out       []outItem
	outBytes  int
	writing   bool // the writer owns a batch
	paused    bool // an upgrade is switching transports
	closing   bool // Close queued the close packet
	closed    bool
	tr        transport
	err       error
	done      chan struct{}
	upgraded  chan struct{}
	pingTimer *time.Timer
}

var defaultHTTPClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConns:        0,
	MaxIdleConnsPerHost: 4096,
	IdleConnTimeout:     90 * time.Second,
	ForceAttemptHTTP2:   false,
}}

// Dial opens an Engine.IO session at rawURL (http, https, ws or wss). It
// returns once the server's open packet has arrived; an upgrade, if any,
// continues in the background (see Upgraded).
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	c, err := newConn(rawURL, opts)
	if err != nil {
		return nil, err
	}
	first := c.opts.Transports[0]
	var tr transport
	switch first {
	case TransportPolling:
		tr, err = c.openPolling(ctx)
	case TransportWebSocket:
		tr, err = c.openWebSocket(ctx)
	}
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.mu.Lock()
	c.tr = tr
	c.mu.Unlock()
	c.resetPingTimer()
	go c.writeLoop()
	switch t := tr.(type) {
	case *pollingTransport:
		go t.pollLoop()
		if c.canUpgrade() {
			go c.upgrade()
		}
	case *wsTransport:
		go t.readLoop()
	}
	return c, nil
}

func newConn(rawURL string, opts Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("eioclient: parse url %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("eioclient: url %q: unsupported scheme %q", rawURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("eioclient: url %q has no host", rawURL)
	}
	if len(opts.Transports) == 0 {
		opts.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range opts.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return nil, fmt.Errorf("eioclient: unknown transport %q", t)
		}
	}
	switch {
	case opts.Path != "":
		u.Path = opts.Path
	case u.Path == "" || u.Path == "/":
		u.Path = "/engine.io/"
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	q := u.Query()
	for k, vs := range opts.Query {
		q[k] = slices.Clone(vs)
	}
	q.Set("EIO", "4")
	u.RawQuery = q.Encode()
	u.Fragment = ""

	if opts.DeflateLevel == 0 {
		opts.DeflateLevel = 1
	}
	if opts.DeflateThreshold == 0 {
		opts.DeflateThreshold = 1024
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 64 << 20
	}
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = 8 << 20
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	httpc := opts.HTTPClient
	if httpc == nil {
		httpc = defaultHTTPClient
		if opts.TLSConfig != nil || opts.LocalAddr != nil {
			t := defaultHTTPClient.Transport.(*http.Transport).Clone()
			t.TLSClientConfig = opts.TLSConfig
			if opts.LocalAddr != nil {
				t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: opts.LocalAddr}).DialContext
			}
			httpc = &http.Client{Transport: t}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		opts:     opts,
		base:     u,
		httpc:    httpc,
		log:      opts.Logger,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		upgraded: make(chan struct{}),
	}
	c.cond = sync.NewCond(&c.mu)
	return c, nil
}

// parseOpen decodes the open packet's JSON.
func parseOpen(data []byte) (Handshake, error) {
	var hs Handshake
	if err := json.Unmarshal(data, &hs); err != nil {
		return hs, fmt.Errorf("%w: bad open packet %q: %v", ErrHandshake, truncate(data, 200), err)
	}
	if hs.SID == "" {
		return hs, fmt.Errorf("%w: open packet without sid: %q", ErrHandshake, truncate(data, 200))
	}
	if hs.PingInterval <= 0 || hs.PingTimeout <= 0 {
		return hs, fmt.Errorf("%w: open packet with bad ping values: %q", ErrHandshake, truncate(data, 200))
	}
	return hs, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

func (c *Conn) canUpgrade() bool {
	return !c.opts.NoUpgrade &&
		slices.Contains(c.opts.Transports, TransportWebSocket) &&
		slices.Contains(c.hs.Upgrades, TransportWebSocket)
}

// Handshake returns the values of the server's open packet.
func (c *Conn) Handshake() Handshake { return c.hs }

// SID returns the session id.
func (c *Conn) SID() string { return c.hs.SID }

// Transport returns the name of the transport currently carrying messages.
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		return ""
	}
	return c.tr.name()
}

// Upgraded is closed once the session has moved to WebSocket. It is never
// closed for a session that stays on polling.
func (c *Conn) Upgraded() <-chan struct{} { return c.upgraded }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns a snapshot of the connection's counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		BytesRead:     s.bytesRead.Load(),
		BytesWritten:  s.bytesWritten.Load(),
		FramesRead:    s.framesRead.Load(),
		FramesWritten: s.framesWritten.Load(),
		MessagesRead:  s.msgsRead.Load(),
		MessagesSent:  s.msgsSent.Load(),
		Pings:         s.pings.Load(),
	}
}

// Send queues one message. It blocks while the send queue is full and fails
// only once the connection is closing. data may be reused after Send returns.
func (c *Conn) Send(data []byte, binary bool) error {
	return c.SendNotify(data, binary, nil)
}

// SendNotify is Send that calls writing (unless nil) on the writer goroutine just
// before the message's write to the transport starts: the moment it
// leaves this process, for a sender that timestamps it (a latency probe
// must not count the time the message waited in this process's queue).
func (c *Conn) SendNotify(data []byte, binary bool, writing func()) error {
	return c.enqueue(outItem{pkt: packet{Type: typeMessage, Data: slices.Clone(data), Binary: binary}, writing: writing}, true)
}

func (c *Conn) enqueue(it outItem, wait bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for wait && !c.closed && !c.closing && c.outBytes >= c.opts.MaxQueueBytes {
		c.cond.Wait()
	}
	if c.closed || c.closing {
		if c.err != nil {
			return c.err
		}
		return ErrClosed
	}
	c.out = append(c.out, it)
	c.outBytes += it.size()
	c.cond.Broadcast()
	return nil
}

// enqueueControl queues a packet the client owes the server (pong, close
// frame); it bypasses back-pressure so that the reader never blocks on it.
func (c *Conn) enqueueControl(it outItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.out = append(c.out, it)
	c.outBytes += it.size()
	c.cond.Broadcast()
}

// Flush waits until everything queued so far has been handed to the network
// (written to the socket, or accepted by the server's polling endpoint).
func (c *Conn) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && (len(c.out) > 0 || c.writing) {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.cond.Wait()
	}
	if c.closed && c.err != nil && !errors.Is(c.err, ErrClosed) {
		return c.err
	}
	return nil
}

// Close sends the close packet, waits briefly for it to leave and tears the
// connection down. It is safe to call more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	c.out = append(c.out, outItem{pkt: packet{Type: typeClose}})
	c.cond.Broadcast()
	c.mu.Unlock()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.fail(ErrClosed)
	}
	return nil
}

// fail ends the connection once with err.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.closing {
		// Whatever ends the connection after Close (the server dropping
		// the session, a poll answered 400) is the close we asked for.
		err = ErrClosed
	}
	c.err = err
	tr := c.tr
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel()
	if tr != nil {
		tr.abort()
	}
	close(c.done)
	if !errors.Is(err, ErrClosed) {
		c.log.Debug("eioclient: connection ended", "sid", c.hs.SID, "err", err)
	}
}

func (c *Conn) resetPingTimer() {
	d := time.Duration(c.hs.PingInterval+c.hs.PingTimeout) * time.Millisecond
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.pingTimer == nil {
		c.pingTimer = time.AfterFunc(d, func() { c.fail(ErrPingTimeout) })
		return
	}
	c.pingTimer.Reset(d)
}

// handle processes one received packet. It is called by one reader at a time.
func (c *Conn) handle(p packet) error {
	switch p.Type {
	case typeMessage:
		c.stats.msgsRead.Add(1)
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(p.Data, p.Binary)
		}
	case typePing:
		c.stats.pings.Add(1)
		c.resetPingTimer()
		c.enqueueControl(outItem{pkt: packet{Type: typePong, Data: slices.Clone(p.Data)}})
		if c.opts.OnPing != nil {
			c.opts.OnPing()
		}
	case typeClose:
		return ErrServerClosed
	case typeNoop, typePong, typeOpen, typeUpgrade:
		// Nothing to do: noop releases a poll during upgrade; the others are
		// not expected here and harmless.
	}
	return nil
}

// writeLoop drains the send queue into whichever transport is active,
// batching everything queued while the previous write was in flight.
func (c *Conn) writeLoop() {
	var spare []outItem
	for {
		c.mu.Lock()
		for !c.closed && (len(c.out) == 0 || c.paused) {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		batch := c.out
		c.out = spare[:0]
		c.outBytes = 0
		c.writing = true
		tr := c.tr
		c.cond.Broadcast()
		c.mu.Unlock()

		for _, it := range batch {
			if it.writing != nil {
				it.writing()
			}
		}
		err := tr.write(batch)
		closing := false
		for _, it := range batch {
			if it.control == 0 && it.pkt.Type == typeClose {
				closing = true
			}
			if it.control == 0 && it.pkt.Type == typeMessage {
				c.stats.msgsSent.Add(1)
			}
		}
		clear(batch)
		spare = batch

		c.mu.Lock()
		c.writing = false
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			c.fail(fmt.Errorf("%w: write over %s: %v", ErrTransport, tr.name(), err))
			return
		}
		if closing {
			if w, ok := tr.(*wsTransport); ok {
				w.awaitClose(2 * time.Second)
			}
			c.fail(ErrClosed)
			return
		}
	}
}

// upgrade probes a WebSocket for a polling session and switches to it, like
// socket.io-client: 2probe/3probe, pause polling, then the upgrade packet.
// A failed probe leaves the session on polling.
func (c *Conn) upgrade() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	ws, err := c.dialWebSocket(ctx, c.hs.SID)
	if err != nil {
		c.log.Debug("eioclient: upgrade probe failed to connect", "sid", c.hs.SID, "err", err)
		return
	}
	if err := ws.probe(ctx); err != nil {
		ws.abort()
		c.log.Debug("eioclient: upgrade probe failed", "sid", c.hs.SID, "err", err)
		return
	}

	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		ws.abort()
		return
	}
	poll, _ := c.tr.(*pollingTransport)
	c.paused = true
	for c.writing && !c.closed {
		c.cond.Wait()
	}
	c.mu.Unlock()

	if poll != nil {
		// The server answers the probe by releasing the pending poll with a
		// noop, so this returns promptly.
		select {
		case <-poll.pause():
		case <-c.done:
		}
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ws.abort()
		return
	}
	c.mu.Unlock()
	if err := ws.writeNow(outItem{pkt: packet{Type: typeUpgrade}}); err != nil {
		ws.abort()
		c.fail(fmt.Errorf("%w: sending upgrade packet: %v", ErrTransport, err))
		return
	}
	c.mu.Lock()
	c.tr = ws
	c.paused = false
	c.cond.Broadcast()
	c.mu.Unlock()
	if poll != nil {
		poll.abort()
	}
	close(c.upgraded)
	go ws.readLoop()
}

// endpoint returns the endpoint URL with the given extra query values.
func (c *Conn) endpoint(kv ...string) *url.URL {
	u := *c.base
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return &u
}

var cacheBuster atomic.Uint64

func nextT() string {
	return strconv.FormatUint(uint64(time.Now().UnixMilli())<<8+cacheBuster.Add(1)&0xff, 36)
}
