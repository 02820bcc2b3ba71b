package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"spectra-relay/engineio"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Engine configures the Engine.IO layer (its defaults apply).
	Engine engineio.Config
	// ConnectTimeout closes an Engine.IO connection that has not connected
	// to any namespace this long after it opened. Default 45s.
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one received packet.
	// Default DefaultMaxAttachments.
	MaxAttachments int
	// Logger receives diagnostics. Default Engine.Logger, else
	// slog.Default().
	Logger *slog.Logger
}

// Server is a Socket.IO v5 server: an http.Handler for the Socket.IO path
// (e.g. "/socket.io/").
type Server struct {
	cfg Config
	eio *engineio.Server
	log *slog.Logger

	mu   sync.RWMutex
	nsps map[string]*Namespace
}

// newStream makes a broadcast stream compressed like the engine's own
// frames (its configured deflate level and threshold) and counted in the
// engine's Stats.
func (s *Server) newStream(coalesce bool) *engineio.Stream {
	d := s.cfg.Engine.Deflate
	return s.eio.NewStream(engineio.StreamOptions{Coalesce: coalesce, Level: d.Level, Threshold: d.Threshold, Flate: d.StreamFlate})
}

// NewServer makes a Server with the main namespace "/" already defined.
func NewServer(cfg Config) *Server {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.MaxAttachments <= 0 {
		cfg.MaxAttachments = DefaultMaxAttachments
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Engine.Logger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	s.eio = engineio.NewServer(cfg.Engine, s.onEngineConnect)
	s.Of("/")
	return s
}

// ServeHTTP serves the Engine.IO transports.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Engine is the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.eio }

// Close ends every connection (clients get a close packet); each socket's
// disconnect handlers run with reason "server shutting down".
func (s *Server) Close() { s.eio.Close() }

// Shutdown is Close, then a wait until the transports have flushed or ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.eio.Shutdown(ctx) }

// Of returns the namespace with the given name, creating it. Names are
// normalised to start with "/".
func (s *Server) Of(name string) *Namespace {
	name = normalizeNsp(name)
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n = s.nsps[name]; n == nil {
		n = newNamespace(s, name)
		s.nsps[name] = n
	}
	return n
}

func (s *Server) lookupNsp(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

func normalizeNsp(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

func (s *Server) onEngineConnect(es *engineio.Socket) {
	c := s.newConn(es, es.ID(), es.RemoteAddr(), es.Header(), es.Query())
	es.SetHandler(c)
}

// transport is what a connection needs from its Engine.IO socket; an
// interface so that tests and benchmarks can stand in for the network.
type transport interface {
	SendFrames(frames ...*engineio.Frame) error
	// SendFramesBatch is SendFrames for one recipient of a broadcast, whose
	// write may join the broadcast's io_uring batch (nil: none).
	SendFramesBatch(b *engineio.Batch, frames ...*engineio.Frame) error
	Close(reason engineio.CloseReason)
}

// conn is one Engine.IO connection and the namespace sockets on it.
type conn struct {
	srv    *Server
	tr     transport
	eid    string
	addr   string
	header http.Header
	query  url.Values
	opened time.Time

	dec   Decoder // touched only from the engine's serialised callbacks
	timer *time.Timer

	mu sync.Mutex
	// sockets: one per connected namespace, nearly always just one; a
	// slice costs a fraction of a map's memory on every connection.
	sockets   []*Socket
	connected bool // some namespace has connected once
	closed    bool
	broken    bool // a protocol error closed the connection
}

func (s *Server) newConn(tr transport, eid, addr string, h http.Header, q url.Values) *conn {
	c := &conn{
		srv: s, tr: tr, eid: eid, addr: addr, header: h, query: q,
		opened: time.Now(),
		dec:    Decoder{MaxAttachments: s.cfg.MaxAttachments},
	}
	c.mu.Lock()
	c.timer = time.AfterFunc(s.cfg.ConnectTimeout, c.onConnectTimeout)
	c.mu.Unlock()
	return c
}

func (c *conn) onConnectTimeout() {
	c.mu.Lock()
	late := !c.connected && !c.closed
	c.mu.Unlock()
	if late {
		c.srv.log.Debug("socketio: no namespace connected in time", "eio", c.eid)
		c.tr.Close(engineio.ReasonServerClose)
	}
}

// OnMessage implements engineio.Handler.
func (c *conn) OnMessage(_ *engineio.Socket, m engineio.Message) { c.handleMessage(m.Data, m.Binary) }

// OnClose implements engineio.Handler.
func (c *conn) OnClose(_ *engineio.Socket, r engineio.CloseReason) { c.handleClose(r) }

func (c *conn) handleMessage(data []byte, binary bool) {
	if c.broken {
		return
	}
	p, err := c.dec.Add(data, binary)
	if err != nil {
		c.protocolError(err)
		return
	}
	if p != nil {
		c.handlePacket(p)
	}
}

// protocolError closes the whole connection: after a malformed packet the
// stream cannot be trusted, which is also what the reference server does.
func (c *conn) protocolError(err error) {
	c.broken = true
	c.srv.log.Debug("socketio: closing connection on protocol error", "eio", c.eid, "remote", c.addr, "err", err)
	c.tr.Close(engineio.ReasonParseError)
}

func (c *conn) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socketLocked(nsp)
}

func (c *conn) socketLocked(nsp string) *Socket {
	for _, so := range c.sockets {
		if so.nsp.name == nsp {
			return so
		}
	}
	return nil
}

func (c *conn) handlePacket(p *Packet) {
	if p.Type == PacketConnect {
		c.connect(p)
		return
	}
	so := c.socket(p.Nsp)
	if so == nil {
		c.protocolError(errors.New("socketio: packet for a namespace that is not connected: " + echoNsp(p.Nsp)))
		return
	}
	switch p.Type {
	case PacketDisconnect:
		c.detach(so)
		so.cleanup("client namespace disconnect")
	case PacketEvent, PacketBinaryEvent:
		if err := so.dispatch(p); err != nil {
			c.protocolError(err)
		}
	case PacketAck, PacketBinaryAck:
		if err := so.onAck(p); err != nil {
			c.protocolError(err)
		}
	default:
		c.protocolError(errors.New("socketio: unexpected " + p.Type.String() + " from client"))
	}
}

// connect runs the namespace's middleware and, if it passes, registers the
// socket, replies CONNECT and calls the connection handlers, all within the
// message callback, so handlers registered there see the next packet.
func (c *conn) connect(p *Packet) {
	nsp := c.srv.lookupNsp(p.Nsp)
	if nsp == nil {
		c.send(encodeConnectError(echoNsp(p.Nsp), "Invalid namespace", nil))
		return
	}
	c.mu.Lock()
	dup := c.socketLocked(p.Nsp) != nil
	c.mu.Unlock()
	if dup {
		c.protocolError(errors.New("socketio: second CONNECT for " + p.Nsp))
		return
	}
	auth := RawJSON(p.Data)
	if auth == nil {
		auth = RawJSON("{}")
	}
	so := newSocket(nsp, c, auth)
	if r := nsp.rec.Load(); r != nil {
		c.recoverInto(nsp, r, so, auth)
	}
	if err := nsp.runMiddleware(so, auth); err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) {
			c.send(encodeConnectError(p.Nsp, ce.Message, ce.Data))
		} else {
			c.send(encodeConnectError(p.Nsp, err.Error(), nil))
		}
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets = append(c.sockets, so)
	c.connected = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil // its memory outlives Stop while referenced
	}
	c.mu.Unlock()
	nsp.add(so)
	c.send(encodeConnectOK(p.Nsp, so.id, so.PID()))
	nsp.connected(so)
}

// recoverInto gives a new socket its pid: the lost session's, with its
// sid, when the CONNECT payload recovers one, else a fresh pid. A socket
// of the namespace that still holds the recovered sid (its connection died
// without the server noticing yet) is disconnected first: the pid proves
// the client is the same one.
func (c *conn) recoverInto(nsp *Namespace, r *recovery, so *Socket, auth RawJSON) {
	pid, sid, off, out, tried := r.restore(auth, time.Now())
	if tried && r.cfg.Observe != nil {
		r.cfg.Observe(out)
	}
	if out != RecoveryRestored {
		so.rs = &socketRecovery{pid: newPID()}
		return
	}
	if old := nsp.Socket(sid); old != nil {
		old.conn.detach(old)
		old.cleanup("replaced by a recovered connection")
		old.conn.tr.Close(engineio.ReasonServerClose)
	}
	so.id = sid
	so.rs = &socketRecovery{pid: pid, recovered: true}
	so.rs.offset.Store(off)
}

// detach removes so from the connection's namespace table.
func (c *conn) detach(so *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, so); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
	}
	c.mu.Unlock()
}

func (c *conn) handleClose(r engineio.CloseReason) {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	all := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	reason := disconnectReason(r)
	for _, so := range all {
		so.cleanup(reason)
	}
}

// disconnectReason names an engine close the way Socket.IO servers report
// it to disconnect handlers.
func disconnectReason(r engineio.CloseReason) string {
	switch r {
	case engineio.ReasonServerClose:
		return "forced close"
	case engineio.ReasonClientClose, engineio.ReasonTransportClose, engineio.ReasonUpgradeReplaced:
		return "transport close"
	case engineio.ReasonDuplicatePoll:
		return "transport error"
	}
	return r.String()
}

// send queues one text packet; the frame keeps b.
func (c *conn) send(b []byte) error {
	return c.tr.SendFrames(engineio.NewTextFrame(b))
}

// sendWithAttachments queues a packet and its binary attachments as one
// atomic, ordered group so that no other packet can fall between them.
func (c *conn) sendWithAttachments(b []byte, bins [][]byte) error {
	if len(bins) == 0 {
		return c.send(b)
	}
	frames := make([]*engineio.Frame, 0, 1+len(bins))
	frames = append(frames, engineio.NewTextFrame(b))
	for _, a := range bins {
		frames = append(frames, engineio.NewBinaryFrame(a))
	}
	return c.tr.SendFrames(frames...)
}

// ConnectError is returned by middleware to refuse a connection with a
// message and optional data, sent as {"message":...,"data":...}.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

func encodeConnectError(nsp, msg string, data any) []byte {
	b := appendHeader(make([]byte, 0, 32+len(nsp)+len(msg)), PacketConnectError, 0, nsp, NoID)
	b = append(b, `{"message":`...)
	b = AppendString(b, msg)
	if data != nil {
		if d, err := AppendValue(nil, data); err == nil {
			b = append(b, `,"data":`...)
			b = append(b, d...)
		}
	}
	return append(b, '}')
}

// maxEchoNsp bounds the namespace name echoed in an unknown-namespace
// CONNECT_ERROR: the client chooses it, up to MaxPayload bytes.
const maxEchoNsp = 64

// echoNsp is nsp as an unknown-namespace reply may repeat it: control
// characters dropped and cut to maxEchoNsp bytes on a rune boundary. An
// ordinary name comes back unchanged, which the client needs to match the
// reply to its namespace.
func echoNsp(nsp string) string {
	clean := len(nsp) <= maxEchoNsp
	for i := 0; clean && i < len(nsp); i++ {
		clean = nsp[i] >= 0x20 && nsp[i] < 0x7f
	}
	if clean {
		return nsp
	}
	b := make([]byte, 0, maxEchoNsp)
	for _, r := range nsp {
		if unicode.IsControl(r) {
			continue
		}
		if len(b)+utf8.RuneLen(r) > maxEchoNsp {
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// encodeConnectOK is the CONNECT reply; pid is left out when empty
// (recovery off), as the protocol's conformance suite expects.
func encodeConnectOK(nsp, sid, pid string) []byte {
	b := appendHeader(make([]byte, 0, 24+len(nsp)+len(sid)+len(pid)), PacketConnect, 0, nsp, NoID)
	b = append(b, `{"sid":`...)
	b = AppendString(b, sid)
	if pid != "" {
		b = append(b, `,"pid":`...)
		b = AppendString(b, pid)
	}
	return append(b, '}')
}

func newID() string {
	var b [15]byte
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
