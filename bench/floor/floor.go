// Package floor is the bench's "floor" server: the least a Spectra relay
// must do for the bench's clients, so that spectra-server can be measured
// beside it on the same machine in the same run.
//
// It speaks just enough Engine.IO v4 / Socket.IO v5 over WebSocket: the open
// packet, the main namespace CONNECT (other namespaces are refused, which is
// what sioclient's Barrier waits for), obs_logon / aux_logon with their
// acks, obs_data / aux_data, logon → logon_success, and pings. There are no
// Engine.IO sessions, no polling, no rooms, no game rules.
//
// Per match, a goroutine sends the state when an event changed it, at most
// every 100 ms (at once if the last send is older: leading edge, like
// spectra-server). It encodes the state once, compresses the frame once
// with the match's shared deflate context (context takeover, as
// engineio.Stream does) and writes it to each overlay with one
// non-blocking write(2). An overlay whose window does not hold the match's
// recent frames (it logged on late or missed one) gets the frame compressed
// without context, built at most once per frame, until it has received 32
// KiB of consecutive frames. That is the physically necessary work per send.
//
// The state is a real match state (the last checkpoint of a golden file,
// BaseState) patched per event like the Node baseline does (bench/baseline),
// so the payload has the size and shape of spectra-server's.
package floor

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

// Config configures a Server.
type Config struct {
	// BaseState is a golden checkpoints file whose last state seeds every
	// match; empty: a small stub state.
	BaseState string
	// Level is the deflate level; 0: 6, spectra-server's default.
	Level int
	// PingInterval between Engine.IO pings; 0: 25 s.
	PingInterval time.Duration
	// SendInterval is the least time between two sends of a match; 0: 100 ms.
	SendInterval time.Duration
	Log          *slog.Logger
}

// Server is a floor server. Its zero value is not usable: see New.
type Server struct {
	cfg  Config
	base []byte // the seed state as JSON
	log  *slog.Logger

	mu      sync.Mutex
	matches map[string]*match // by group code
	closed  bool
	lns     []net.Listener
	done    chan struct{}
	wg      sync.WaitGroup
}

// New reads the base state and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Level == 0 {
		cfg.Level = 6
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.SendInterval <= 0 {
		cfg.SendInterval = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: cfg.Log, matches: map[string]*match{}, done: make(chan struct{})}
	s.base = []byte(stubState)
	if cfg.BaseState != "" {
		b, err := os.ReadFile(cfg.BaseState)
		if err != nil {
			return nil, fmt.Errorf("floor: base state: %w", err)
		}
		var doc struct {
			Checkpoints []struct {
				Data json.RawMessage `json:"data"`
			} `json:"checkpoints"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("floor: base state %s: %w", cfg.BaseState, err)
		}
		if n := len(doc.Checkpoints); n > 0 && len(doc.Checkpoints[n-1].Data) > 2 {
			s.base = doc.Checkpoints[n-1].Data
		}
	}
	var probe map[string]any
	if err := json.Unmarshal(s.base, &probe); err != nil {
		return nil, fmt.Errorf("floor: base state is not a JSON object: %w", err)
	}
	return s, nil
}

const stubState = `{"matchId":"","matchType":"bomb","groupCode":"","isRunning":true,"roundNumber":0,"roundPhase":"shopping",` +
	`"teams":[{"teamName":"L","roundsWon":0,"players":[]},{"teamName":"R","roundsWon":0,"players":[]}],` +
	`"toastInfo":{"active":false,"title":"","message":"","duration":null,"eventLogoEnabled":true}}`

// ServeIngest accepts observers and auxiliary clients on ln until Close.
func (s *Server) ServeIngest(ln net.Listener) error { return s.serve(ln, false) }

// ServeOutput accepts overlays on ln until Close.
func (s *Server) ServeOutput(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, output bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: wait for some to close instead of spinning.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c, output)
		}()
	}
}

// Close stops the listeners, the match loops and every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, ln := range s.lns {
		ln.Close()
	}
	var conns []net.Conn
	for _, m := range s.matches {
		m.mu.Lock()
		for _, o := range m.overlays {
			conns = append(conns, o.conn)
		}
		for c := range m.ingest {
			conns = append(conns, c)
		}
		m.mu.Unlock()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}

// conn is one WebSocket connection, ingest or output.
type conn struct {
	s       *Server
	conn    net.Conn
	raw     syscall.RawConn
	output  bool
	deflate bool // the overlay negotiated permessage-deflate with context takeover

	// wmu orders writes: the match loop's broadcasts and this connection's
	// own answers. pending is an unwritten tail; while it is set a
	// goroutine drains it and broadcasts skip the connection.
	wmu     sync.Mutex
	pending []byte
	dead    bool

	m *match // the match it logged on to (overlays) or reports to (observers)

	// Stream sync, guarded by wmu: which frames of m its inflate window holds.
	lastSeq   uint64
	contig    int
	fromStart bool

	// The reader's buffer; only observers get one (overlays send a pong
	// every 25 s, and a buffer per overlay would be most of its memory).
	br *bufio.Reader
}

const windowSize = 32 << 10

func (s *Server) handle(nc net.Conn, output bool) {
	defer nc.Close()
	c := &conn{s: s, conn: nc, output: output}
	if tc, ok := nc.(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn()
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	path := false
	up := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			// Only the direct WebSocket transport: polling is not offered.
			if bytes.HasPrefix(uri, []byte("/socket.io/")) && bytes.Contains(uri, []byte("transport=websocket")) {
				path = true
				return nil
			}
			return ws.RejectConnectionError(ws.RejectionStatus(400))
		},
	}
	if output {
		up.Negotiate = func(opt httphead.Option) (httphead.Option, error) {
			if c.deflate || string(opt.Name) != "permessage-deflate" {
				return httphead.Option{}, nil
			}
			ok := true
			opt.Parameters.ForEach(func(k, v []byte) bool {
				switch string(k) {
				case "client_max_window_bits", "client_no_context_takeover":
				case "server_max_window_bits":
					ok = len(v) == 0 || string(v) == "15"
				default:
					// server_no_context_takeover among them: the shared
					// context is the point of this server.
					ok = false
				}
				return ok
			})
			if !ok {
				return httphead.Option{}, nil
			}
			c.deflate = true
			// Client messages are tiny; no window for them.
			return httphead.NewOption("permessage-deflate", map[string]string{"client_no_context_takeover": ""}), nil
		}
	}
	if _, err := up.Upgrade(nc); err != nil || !path {
		return
	}
	nc.SetDeadline(time.Time{})
	if !output {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	}
	sid := newID()
	c.write(textFrame(nil, []byte(`0{"sid":"`+sid+`","upgrades":[],"pingInterval":`+
		fmt.Sprint(s.cfg.PingInterval.Milliseconds())+`,"pingTimeout":20000,"maxPayload":1000000}`)))
	if !output {
		stop := c.pinger()
		defer stop()
	}
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("floor: connection ended", "err", err)
	}
	if c.m != nil {
		c.m.remove(c)
	}
}

// pinger sends Engine.IO pings to an ingest connection (overlays get theirs
// from their match loop).
func (c *conn) pinger() (stop func()) {
	t := time.NewTicker(c.s.cfg.PingInterval)
	quit := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.write(pingFrame)
			case <-quit:
				return
			case <-c.s.done:
				return
			}
		}
	}()
	return func() { close(quit) }
}

var pingFrame = textFrame(nil, []byte("2"))

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// maxMessage bounds a client message (an observer's event is a few KB).
const maxMessage = 1 << 20

func (c *conn) readLoop() error {
	var r io.Reader = c.conn
	if c.br != nil {
		r = c.br
	}
	var msg []byte
	var hbuf [ws.MaxHeaderSize]byte
	for {
		h, err := ws.ReadHeaderBuffer(r, hbuf[:])
		if err != nil {
			return err
		}
		if h.Length > maxMessage || int64(len(msg))+h.Length > maxMessage {
			return errors.New("message too big")
		}
		start := len(msg)
		if h.OpCode.IsControl() {
			start = 0
		}
		buf := msg
		if h.OpCode.IsControl() {
			buf = make([]byte, 0, h.Length)
		}
		buf = append(buf, make([]byte, h.Length)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(buf[start:], h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			c.write(ws.CompiledClose)
			return io.EOF
		case ws.OpPing:
			c.write(ws.MustCompileFrame(ws.NewPongFrame(buf)))
			continue
		case ws.OpPong:
			continue
		}
		msg = buf
		if !h.Fin {
			continue
		}
		if h.Rsv1() {
			// The bench's clients never compress what they send; a
			// compressed message is not worth a decompressor here.
			msg = msg[:0]
			continue
		}
		if err := c.onMessage(msg); err != nil {
			return err
		}
		msg = msg[:0]
	}
}

// onMessage handles one Engine.IO text message.
func (c *conn) onMessage(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '1':
		return io.EOF
	case '2':
		c.write(textFrame(nil, []byte("3")))
		return nil
	case '4':
	default:
		return nil // pong, noop, upgrade
	}
	b = b[1:]
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '0': // CONNECT
		if len(b) > 1 && b[1] == '/' {
			nsp, _, _ := bytes.Cut(b[1:], []byte(","))
			c.write(textFrame(nil, []byte(`44`+string(nsp)+`,{"message":"Invalid namespace"}`)))
			return nil
		}
		c.write(textFrame(nil, []byte(`40{"sid":"`+newID()+`"}`)))
	case '1': // DISCONNECT
		if len(b) == 1 {
			return io.EOF
		}
	case '2': // EVENT, possibly with an ack id
		b = b[1:]
		for len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
			b = b[1:]
		}
		var args []json.RawMessage
		if err := json.Unmarshal(b, &args); err != nil || len(args) < 1 {
			return nil
		}
		var name, arg string
		json.Unmarshal(args[0], &name)
		if len(args) > 1 {
			// Spectra clients send their payload as a JSON string.
			if json.Unmarshal(args[1], &arg) != nil {
				arg = string(args[1])
			}
		}
		c.onEvent(name, []byte(arg))
	}
	return nil
}

func (c *conn) onEvent(name string, arg []byte) {
	s := c.s
	if c.output {
		if name != "logon" || c.m != nil {
			return
		}
		var l struct {
			GroupCode string `json:"groupCode"`
		}
		if json.Unmarshal(arg, &l) != nil || l.GroupCode == "" {
			return
		}
		inner, _ := json.Marshal(map[string]string{"groupCode": l.GroupCode, "msg": "Logon succeeded for group code " + l.GroupCode})
		ack := eventFrame("logon_success", inner)
		s.match(l.GroupCode).join(c, ack)
		return
	}
	switch name {
	case "obs_logon":
		if c.m != nil {
			return
		}
		var l struct {
			Type      string `json:"type"`
			GroupCode string `json:"groupCode"`
		}
		if json.Unmarshal(arg, &l) != nil || l.Type != "authenticate" || l.GroupCode == "" {
			c.write(eventFrame("obs_logon_ack", []byte(`{"type":"authenticate","value":false,"reason":"Invalid packet."}`)))
			return
		}
		m := s.match(l.GroupCode)
		m.mu.Lock()
		m.ingest[c.conn] = struct{}{}
		m.mu.Unlock()
		c.m = m
		c.write(eventFrame("obs_logon_ack", []byte(`{"type":"authenticate","value":true,"reason":"`+m.secret+`"}`)))
	case "aux_logon":
		if c.m != nil {
			return
		}
		var l struct {
			MatchID string `json:"matchId"`
		}
		json.Unmarshal(arg, &l)
		if m := s.byMatchID(l.MatchID); m != nil {
			m.mu.Lock()
			m.ingest[c.conn] = struct{}{}
			m.mu.Unlock()
			c.m = m
			c.write(eventFrame("aux_logon_ack", []byte(`{"type":"aux_authenticate","value":true}`)))
			return
		}
		reason, _ := json.Marshal("Game with Match ID " + l.MatchID + " not found.")
		c.write(eventFrame("aux_logon_ack", []byte(`{"type":"authenticate","value":false,"reason":`+string(reason)+`}`)))
	case "obs_data", "aux_data":
		if c.m == nil {
			return
		}
		var ev event
		if json.Unmarshal(arg, &ev) != nil || ev.Type == "" || ev.Data == nil {
			return
		}
		c.m.apply(&ev)
	}
}

// match returns the match of a group code, making it (and its loop) if new.
func (s *Server) match(groupCode string) *match {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.matches[groupCode]; m != nil {
		return m
	}
	m := newMatch(s, groupCode)
	s.matches[groupCode] = m
	if !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			m.loop()
		}()
	}
	return m
}

func (s *Server) byMatchID(id string) *match {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.matches {
		m.mu.Lock()
		ok := m.matchID == id
		m.mu.Unlock()
		if ok {
			return m
		}
	}
	return nil
}

// write sends b with one write(2) on the non-blocking socket; what the
// socket does not take is drained by a goroutine, in order.
func (c *conn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) {
	if c.dead {
		return
	}
	if c.pending != nil {
		c.pending = append(c.pending, b...)
		return
	}
	n, err := c.rawWrite(b)
	if err != nil {
		c.dead = true
		c.conn.Close()
		return
	}
	if n < len(b) {
		c.pending = append([]byte(nil), b[n:]...)
		go c.drain()
	}
}

// rawWrite is one write(2), without waiting for the socket to be writable.
func (c *conn) rawWrite(b []byte) (int, error) {
	if c.raw == nil {
		return c.conn.Write(b)
	}
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				break
			}
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}

// drain writes the pending tail through the netpoller (it waits for the
// socket), then lets broadcasts at the connection again.
func (c *conn) drain() {
	for {
		c.wmu.Lock()
		b := c.pending
		if len(b) == 0 || c.dead {
			c.pending = nil
			c.wmu.Unlock()
			return
		}
		c.pending = c.pending[len(b):]
		c.wmu.Unlock()
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.conn.Write(b); err != nil {
			c.wmu.Lock()
			c.dead = true
			c.pending = nil
			c.wmu.Unlock()
			c.conn.Close()
			return
		}
		c.conn.SetWriteDeadline(time.Time{})
	}
}

// textFrame appends an unmasked, uncompressed text frame.
func textFrame(dst, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x81)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 65536:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, payload...)
}

// eventFrame is a Socket.IO EVENT with one JSON-string argument, as Spectra
// sends everything.
func eventFrame(name string, inner []byte) []byte {
	arg, _ := json.Marshal(string(inner))
	return textFrame(nil, []byte(`42["`+name+`",`+string(arg)+`]`))
}

// compressedFrame wraps a sync-flushed deflate block (its 00 00 ff ff tail
// dropped, RFC 7692) as a text frame with RSV1.
func compressedFrame(deflated []byte) []byte {
	deflated = bytes.TrimSuffix(deflated, []byte{0, 0, 0xff, 0xff})
	f := textFrame(make([]byte, 0, len(deflated)+10), deflated)
	f[0] |= 0x40
	return f
}
