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
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

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

	// m is the match it logged on to (overlays) or reports to (observers);
	// atomic because close may run on a writer's goroutine.
	m atomic.Pointer[match]

	fd        int // watched by Server.ep when polled
	polled    bool
	closeOnce sync.Once
	msg       []byte // a fragmented message's first frames

	// Stream sync, guarded by wmu: which frames of m its inflate window holds.
	lastSeq   uint64
	contig    int
	fromStart bool
}

const windowSize = 32 << 10

func (s *Server) handle(nc net.Conn, output bool) {
	c := &conn{s: s, conn: nc, output: output, fd: -1}
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
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	sid := newID()
	c.write(textFrame(nil, []byte(`0{"sid":"`+sid+`","upgrades":[],"pingInterval":`+
		fmt.Sprint(s.cfg.PingInterval.Milliseconds())+`,"pingTimeout":20000,"maxPayload":1000000}`)))
	if output && s.ep != nil && c.raw != nil {
		if err := c.register(); err == nil {
			return // the poller reads it from now on
		}
	}
	var r io.Reader = nc
	if !output {
		r = bufio.NewReaderSize(nc, 16<<10)
		stop := c.pinger()
		defer stop()
	}
	var err error
	for err == nil {
		err = c.next(r)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("floor: connection ended", "err", err)
	}
	c.close()
}

// register hands an overlay to the poller. The descriptor is used as is (a
// dup would double the descriptors); close removes it from the epoll set
// before closing it, so that a reused number is never watched by mistake.
func (c *conn) register() error {
	fd := -1
	if err := c.raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	c.fd = fd
	if err := s.ep.Add(fd, func() { go c.readReady() }); err != nil {
		c.fd = -1
		return err
	}
	c.polled = true
	s.polled[c] = struct{}{}
	return nil
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readReady reads what has arrived, then re-arms the event. An idle overlay
// holds no goroutine and no buffer.
func (c *conn) readReady() {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c.conn)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	for {
		// A frame cut in two by the network: wait a little for its rest.
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.next(br); err != nil {
			c.close()
			return
		}
		if br.Buffered() == 0 {
			break
		}
	}
	c.s.mu.Lock()
	if c.polled {
		c.s.ep.Rearm(c.fd)
	}
	c.s.mu.Unlock()
}

// close ends the connection once: out of the epoll set, closed, out of its
// match. Never called with wmu held (match.join takes mu, then wmu).
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.s.mu.Lock()
		if c.polled {
			c.s.ep.Del(c.fd)
			c.polled = false
			delete(c.s.polled, c)
		}
		c.s.mu.Unlock()
		c.wmu.Lock()
		c.dead = true
		c.wmu.Unlock()
		c.conn.Close()
		if m := c.m.Load(); m != nil {
			m.remove(c)
		}
	})
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

// next reads one frame and handles it (a message once complete).
func (c *conn) next(r io.Reader) error {
	var hbuf [ws.MaxHeaderSize]byte
	h, err := ws.ReadHeaderBuffer(r, hbuf[:])
	if err != nil {
		return err
	}
	if h.Length > maxMessage || int64(len(c.msg))+h.Length > maxMessage {
		return errors.New("message too big")
	}
	if h.OpCode.IsControl() {
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			c.write(ws.CompiledClose)
			return io.EOF
		case ws.OpPing:
			c.write(ws.MustCompileFrame(ws.NewPongFrame(p)))
		}
		return nil
	}
	start := len(c.msg)
	c.msg = append(c.msg, make([]byte, h.Length)...)
	if _, err := io.ReadFull(r, c.msg[start:]); err != nil {
		return err
	}
	if h.Masked {
		ws.Cipher(c.msg[start:], h.Mask, 0)
	}
	if !h.Fin {
		return nil
	}
	msg := c.msg
	c.msg = nil
	if h.Rsv1() {
		// The bench's clients never compress what they send; a compressed
		// message is not worth a decompressor here.
		return nil
	}
	return c.onMessage(msg)
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
		if name != "logon" || c.m.Load() != nil {
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
		if c.m.Load() != nil {
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
		c.m.Store(m)
		c.write(eventFrame("obs_logon_ack", []byte(`{"type":"authenticate","value":true,"reason":"`+m.secret+`"}`)))
	case "aux_logon":
		if c.m.Load() != nil {
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
			c.m.Store(m)
			c.write(eventFrame("aux_logon_ack", []byte(`{"type":"aux_authenticate","value":true}`)))
			return
		}
		reason, _ := json.Marshal("Game with Match ID " + l.MatchID + " not found.")
		c.write(eventFrame("aux_logon_ack", []byte(`{"type":"authenticate","value":false,"reason":`+string(reason)+`}`)))
	case "obs_data", "aux_data":
		if c.m.Load() == nil {
			return
		}
		var ev event
		if json.Unmarshal(arg, &ev) != nil || ev.Type == "" || ev.Data == nil {
			return
		}
		c.m.Load().apply(&ev)
	}
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
		go c.close() // not under wmu
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
			c.close()
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
