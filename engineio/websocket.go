package engineio

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"
)

const (
	// midFrameReadTimeout bounds how long a started frame may take to
	// arrive whole once the netpoller said data is there.
	midFrameReadTimeout = 10 * time.Second
	// upgradeTimeout bounds the probe/upgrade exchange.
	upgradeTimeout = 10 * time.Second
	// stallLimit: a socket whose writes make no progress for this long is
	// closed as a slow consumer.
	stallLimit = 10 * time.Second
	// retryDelay is the pause before retrying a write that timed out.
	retryDelay = 50 * time.Millisecond
	// windowSize is the deflate window: a client decompressor holding the
	// last windowSize bytes of a stream can decode its context frames.
	windowSize = 1 << 15
)

// wsConn is the WebSocket side of a session.
type wsConn struct {
	conn net.Conn
	pre  []byte // bytes read by the HTTP server past the handshake

	deflate bool // permessage-deflate negotiated
	ctxOK   bool // the client keeps its window across messages

	live *atomic.Int64 // the server's count of open WebSocket connections

	mu         sync.Mutex // guards fd, registered and stopped
	fd         int
	registered bool
	stopped    bool

	// Write-side state, owned by the single running flush.
	pending net.Buffers // the unwritten rest of a flush that timed out

	// Inline (non-blocking) writes from the sender's goroutine; nil raw
	// (TLS) means every write goes through a worker.
	raw       syscall.RawConn
	inlineFn  func(fd uintptr) bool
	inlineBuf []byte
	inlineN   int
	inlineErr error
	vec       [][]byte // reused vector for multi-frame writes
	stallFrom time.Time
	closeWith CloseReason // set under Socket.mu: write a close frame, then end

	// Stream sync: which stream's history the client's window holds.
	lastStream *Stream
	lastSeq    uint64
	contig     int  // bytes of consecutive stream frames received
	fromStart  bool // the client has every compressed frame of the stream
}

// negotiateDeflate accepts a permessage-deflate offer this server can honour.
// The answer always carries client_no_context_takeover so that client
// messages decompress without a per-connection window.
func negotiateDeflate(offer httphead.Option) (resp httphead.Option, ctxOK, ok bool) {
	if !bytes.Equal(offer.Name, []byte("permessage-deflate")) {
		return resp, false, false
	}
	params := map[string]string{"client_no_context_takeover": ""}
	ctxOK = true
	valid := true
	offer.Parameters.ForEach(func(k, v []byte) bool {
		switch string(k) {
		case "server_no_context_takeover":
			ctxOK = false
			params["server_no_context_takeover"] = ""
		case "client_no_context_takeover":
		case "server_max_window_bits":
			// compress/flate always uses a 32 KiB window.
			if len(v) > 0 && string(v) != "15" {
				valid = false
				return false
			}
			params["server_max_window_bits"] = "15"
		case "client_max_window_bits":
		default:
			valid = false
			return false
		}
		return true
	})
	if !valid {
		return resp, false, false
	}
	return httphead.NewOption("permessage-deflate", params), ctxOK, true
}

// serveWebSocket upgrades the request. so is nil for a new session, or the
// polling session being upgraded.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, so *Socket) {
	var deflate, ctxOK bool
	up := ws.HTTPUpgrader{}
	if s.cfg.Deflate.Enabled {
		up.Negotiate = func(opt httphead.Option) (httphead.Option, error) {
			if deflate {
				return httphead.Option{}, nil
			}
			resp, c, ok := negotiateDeflate(opt)
			if ok {
				deflate, ctxOK = true, c
			}
			return resp, nil
		}
	}
	conn, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		s.log.Debug("engineio: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	wc := &wsConn{conn: conn, deflate: deflate, ctxOK: ctxOK, live: &s.wsLive}
	s.wsLive.Add(1)
	if tc, ok := conn.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			wc.raw = raw
			wc.inlineFn = wc.tryWrite
		}
	}
	if rw != nil && rw.Reader.Buffered() > 0 {
		wc.pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		wc.pre = append([]byte(nil), wc.pre...)
	}
	if so == nil {
		s.openWebSocket(r, wc)
		return
	}
	so.upgradeTo(wc)
}

// openWebSocket starts a session that begins on WebSocket.
func (s *Server) openWebSocket(r *http.Request, wc *wsConn) {
	so := s.newSocket(r, transportWebSocket)
	so.ws = wc
	if s.onConnect != nil {
		s.onConnect(so)
	}
	so.startHeartbeat()
	// The open packet goes out as its own write after the 101 response.
	if d := s.cfg.WebSocketOpenDelay; d > 0 {
		time.Sleep(d)
	}
	open := AppendText(nil, PacketOpen, s.handshake(so.id, false))
	if err := writeRaw(wc.conn, ws.OpText, open); err != nil {
		so.Close(ReasonTransportError)
		wc.shutdown(nil)
		return
	}
	so.mu.Lock()
	so.scheduleFlushLocked()
	so.mu.Unlock()
	so.startReading()
}

func writeRaw(conn net.Conn, op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	hl := headerSize(h)
	b := make([]byte, hl+len(payload))
	writeHeader(b, h)
	copy(b[hl:], payload)
	_, err := conn.Write(b)
	return err
}

// upgradeTo runs the probe exchange on a new WebSocket for a polling
// session: "2probe" → "3probe", then "5" moves the session over.
func (so *Socket) upgradeTo(wc *wsConn) {
	so.mu.Lock()
	ok := !so.closed && so.transport == transportPolling && !so.upgrading
	if ok {
		so.upgrading = true
		so.upgradeDone = make(chan struct{})
	}
	so.mu.Unlock()
	if !ok {
		// A second upgrade for the same session: accepted, then closed.
		wc.closeWith = ReasonUpgradeReplaced
		_, _ = wc.conn.Write(ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
		wc.shutdown(nil)
		return
	}
	fail := func() {
		so.mu.Lock()
		so.upgrading = false
		so.endUpgradeLocked()
		so.kickLocked()
		so.mu.Unlock()
		wc.shutdown(nil)
	}
	br := newFrameReader(wc.reader(), 512)
	_ = wc.conn.SetReadDeadline(time.Now().Add(upgradeTimeout))
	probed := false
	for {
		msg, err := so.srv.readMessage(br, wc)
		if err != nil {
			if r := readErrorReason(err); r == ReasonParseError || r == ReasonInvalidPayload {
				// The polling session lives on; only this WebSocket is
				// refused, with the status its frame earned.
				_ = wc.conn.SetWriteDeadline(time.Now().Add(so.srv.cfg.WriteTimeout))
				_, _ = wc.conn.Write(closeFrameFor(r))
			}
			fail()
			return
		}
		if msg.ctrl {
			continue
		}
		p, err := DecodeText(msg.data)
		isProbe := err == nil && p.Type == PacketPing && string(p.Data) == "probe"
		isUpgrade := err == nil && p.Type == PacketUpgrade
		msg.release()
		if err != nil || msg.binary {
			fail()
			return
		}
		switch {
		case isProbe && !probed:
			probed = true
			if err := writeRaw(wc.conn, ws.OpText, []byte("3probe")); err != nil {
				fail()
				return
			}
			so.mu.Lock()
			so.wakePollLocked() // the pending GET answers noop
			so.mu.Unlock()
		case isUpgrade && probed:
			if br.Buffered() > 0 {
				rest, _ := br.Peek(br.Buffered())
				wc.pre = append([]byte(nil), rest...)
			}
			_ = wc.conn.SetReadDeadline(time.Time{})
			so.mu.Lock()
			if so.closed {
				so.mu.Unlock()
				wc.shutdown(nil)
				return
			}
			so.transport = transportWebSocket
			so.srv.stats.sessionUpgraded()
			so.upgrading = false
			so.endUpgradeLocked()
			so.ws = wc
			so.wakePollLocked()
			so.scheduleFlushLocked()
			so.mu.Unlock()
			so.startReading()
			return
		default:
			fail()
			return
		}
	}
}

func (so *Socket) endUpgradeLocked() {
	if so.upgradeDone != nil {
		close(so.upgradeDone)
		so.upgradeDone = nil
	}
}

// reader is the connection with any bytes read ahead during the handshake
// in front; it consumes them.
func (wc *wsConn) reader() io.Reader {
	if len(wc.pre) == 0 {
		return wc.conn
	}
	pre := wc.pre
	wc.pre = nil
	return io.MultiReader(bytes.NewReader(pre), wc.conn)
}

// inMessage is one WebSocket message read from a client.
type inMessage struct {
	data   []byte
	binary bool
	ctrl   bool // a control frame that was handled
	buf    *bytebufferpool.ByteBuffer
}

func (m *inMessage) release() {
	if m.buf != nil {
		bytebufferpool.Put(m.buf)
		m.buf = nil
	}
}

var (
	errPeerClosed    = errors.New("engineio: websocket closed by peer")
	errFrameTooLarge = errors.New("engineio: websocket message too large")
	errBadFrame      = errors.New("engineio: websocket protocol error")
	errInvalidUTF8   = errors.New("engineio: websocket text message is not UTF-8")
)

// readMessage reads one whole message (all fragments) from br. Control
// frames are handled here: a ping is answered and reported as ctrl, a
// close frame ends with errPeerClosed.
func (s *Server) readMessage(br *frameReader, wc *wsConn) (inMessage, error) {
	var msg inMessage
	var compressed, started bool
	for {
		h, err := ws.ReadHeaderBuffer(br, br.hdr[:])
		if err != nil {
			msg.release()
			return inMessage{}, err
		}
		// RSV2 and RSV3 belong to no extension this server negotiates;
		// RSV1 is permessage-deflate's and checked below (RFC 6455 §5.2).
		if !h.Masked || h.Length < 0 || h.Rsv2() || h.Rsv3() {
			msg.release()
			return inMessage{}, errBadFrame
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > 125 || h.Rsv != 0 {
				msg.release()
				return inMessage{}, errBadFrame
			}
			var cb [125]byte
			body := cb[:h.Length]
			if _, err := io.ReadFull(br, body); err != nil {
				msg.release()
				return inMessage{}, err
			}
			ws.Cipher(body, h.Mask, 0)
			switch h.OpCode {
			case ws.OpClose:
				msg.release()
				return inMessage{}, errPeerClosed
			case ws.OpPing:
				if !started {
					return inMessage{ctrl: true, data: append([]byte(nil), body...)}, nil
				}
			}
			continue
		}
		if started != (h.OpCode == ws.OpContinuation) {
			msg.release()
			return inMessage{}, errBadFrame
		}
		if !started {
			started = true
			msg.binary = h.OpCode == ws.OpBinary
			compressed = h.Rsv1()
			if compressed && !wc.deflate {
				msg.release()
				return inMessage{}, errBadFrame
			}
			msg.buf = bytebufferpool.Get()
		} else if h.Rsv != 0 {
			msg.release()
			return inMessage{}, errBadFrame
		}
		if int64(len(msg.buf.B))+h.Length > s.cfg.MaxPayload {
			msg.release()
			return inMessage{}, errFrameTooLarge
		}
		start := len(msg.buf.B)
		msg.buf.B = append(msg.buf.B, make([]byte, h.Length)...)
		if _, err := io.ReadFull(br, msg.buf.B[start:]); err != nil {
			msg.release()
			return inMessage{}, err
		}
		ws.Cipher(msg.buf.B[start:], h.Mask, 0)
		if h.Fin {
			break
		}
	}
	if compressed {
		out, err := s.inflate(msg.buf.B)
		if err != nil {
			msg.release()
			return inMessage{}, err
		}
		msg.buf.B = append(msg.buf.B[:0], out.B...)
		bytebufferpool.Put(out)
	}
	msg.data = msg.buf.B
	// Checked on the whole message, after inflating: a code point may be
	// split across fragments (RFC 6455 §8.1).
	if !msg.binary && !utf8.Valid(msg.data) {
		msg.release()
		return inMessage{}, errInvalidUTF8
	}
	return msg, nil
}

var flateReaders sync.Pool

// inflate decompresses one client message. The answer to the offer told
// the client not to keep context, so every message stands alone.
func (s *Server) inflate(in []byte) (*bytebufferpool.ByteBuffer, error) {
	src := io.MultiReader(bytes.NewReader(in), bytes.NewReader(deflateTail))
	fr, _ := flateReaders.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	defer flateReaders.Put(fr)
	out := bytebufferpool.Get()
	n, err := out.ReadFrom(io.LimitReader(fr, s.cfg.MaxPayload+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		bytebufferpool.Put(out)
		return nil, fmt.Errorf("engineio: inflate: %w", err)
	}
	if n > s.cfg.MaxPayload {
		bytebufferpool.Put(out)
		return nil, errFrameTooLarge
	}
	return out, nil
}

// frameReader is a connection's buffered reader with the frame header
// buffer next to it: ws.ReadHeader would allocate one per frame. It comes
// from readerPool for a netpoll read, so it is never shared by two reads.
type frameReader struct {
	*bufio.Reader
	hdr [ws.MaxHeaderSize - 2]byte
}

func newFrameReader(r io.Reader, size int) *frameReader {
	return &frameReader{Reader: bufio.NewReaderSize(r, size)}
}

var readerPool = sync.Pool{New: func() any { return newFrameReader(nil, 4096) }}

// startReading hands the connection to the netpoller (or, for TLS and
// when netpoll is off, to a reader goroutine).
func (so *Socket) startReading() {
	wc := so.ws
	s := so.srv
	if len(wc.pre) == 0 && !s.cfg.DisableNetpoll {
		if tc, ok := wc.conn.(*net.TCPConn); ok {
			if ep := s.poller; ep != nil {
				err := so.registerNetpoll(ep, tc)
				if err == nil {
					return
				}
				s.log.Debug("engineio: netpoll unavailable, using a reader goroutine", "err", err)
			}
		}
	}
	go so.readLoop(newFrameReader(wc.reader(), 4096))
}

// registerNetpoll watches the connection's descriptor. The descriptor is
// used as is, not duplicated and not wrapped in an os.File (whose finalizer
// would close a number that may since belong to another connection);
// wsConn.shutdown removes it from the epoll set before the connection is
// closed, so a reused number is never watched for a dead connection.
func (so *Socket) registerNetpoll(ep *poller, tc *net.TCPConn) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	wc := so.ws
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.stopped {
		return nil
	}
	err = ep.add(fd, func() { so.srv.work.schedule(so.readFn) })
	if err != nil {
		return err
	}
	wc.fd, wc.registered = fd, true
	return nil
}

// readReady reads every message that has arrived, then re-arms the
// one-shot event. An idle connection therefore holds no goroutine and no
// read buffer.
func (so *Socket) readReady() {
	wc := so.ws
	br := readerPool.Get().(*frameReader)
	br.Reset(wc.conn)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	for {
		_ = wc.conn.SetReadDeadline(time.Now().Add(midFrameReadTimeout))
		if !so.handleNext(br) {
			return
		}
		if br.Buffered() == 0 {
			break
		}
	}
	wc.resume(so.srv.poller)
}

// readLoop is the goroutine reader for connections netpoll cannot watch.
func (so *Socket) readLoop(br *frameReader) {
	for so.handleNext(br) {
	}
}

// handleNext reads and handles one message; false means the session ended.
func (so *Socket) handleNext(br *frameReader) bool {
	wc := so.ws
	msg, err := so.srv.readMessage(br, wc)
	if err != nil {
		so.srv.log.Debug("engineio: websocket read ended", "sid", so.id, "err", err)
		so.Close(readErrorReason(err))
		return false
	}
	if msg.ctrl {
		so.mu.Lock()
		if !so.closed {
			pong := ws.MustCompileFrame(ws.NewPongFrame(msg.data))
			so.queue = append(so.queue, outItem{raw: pong})
			so.scheduleFlushLocked()
		}
		so.mu.Unlock()
		return true
	}
	defer msg.release()
	if msg.binary {
		return so.onPacket(Packet{Type: PacketMessage, Data: msg.data, Binary: true})
	}
	p, err := DecodeText(msg.data)
	if err != nil {
		so.Close(ReasonParseError)
		return false
	}
	return so.onPacket(p)
}

func readErrorReason(err error) CloseReason {
	switch {
	case errors.Is(err, errPeerClosed):
		return ReasonClientClose
	case errors.Is(err, errFrameTooLarge):
		return ReasonPayloadTooLarge
	case errors.Is(err, errInvalidUTF8):
		return ReasonInvalidPayload
	case errors.Is(err, errBadFrame), errors.Is(err, ws.ErrHeaderLengthUnexpected), errors.Is(err, ws.ErrProtocolOpCodeReserved):
		return ReasonParseError
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return ReasonTransportClose
	}
	return ReasonTransportError
}

func (wc *wsConn) resume(ep *poller) {
	wc.mu.Lock()
	if !wc.stopped && wc.registered {
		_ = ep.rearm(wc.fd)
	}
	wc.mu.Unlock()
}

// shutdown stops watching the descriptor and closes the connection.
func (wc *wsConn) shutdown(ep *poller) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.stopped {
		return
	}
	wc.stopped = true
	wc.live.Add(-1)
	if wc.registered {
		_ = ep.del(wc.fd)
	}
	_ = wc.conn.Close()
}

// closeWebSocketLocked ends the WebSocket side. Orderly reasons flush the
// queue, then a close packet and a close frame; the others cut at once.
func (so *Socket) closeWebSocketLocked(reason CloseReason) {
	wc := so.ws
	if wc == nil {
		return
	}
	switch reason {
	case ReasonSlowConsumer, ReasonTransportClose, ReasonTransportError, ReasonPingTimeout:
		so.queue = nil
		so.queueBytes = 0
		go wc.shutdown(so.srv.poller)
		return
	}
	if reason.sendsClosePacket() {
		so.queue = append(so.queue, outItem{ctrl: PacketClose})
	}
	wc.closeWith = reason
	so.scheduleFlushLocked()
}

// scheduleFlushLocked starts a flush of the queue if none is running.
func (so *Socket) scheduleFlushLocked() {
	if so.flushing || so.ws == nil || so.transport != transportWebSocket {
		return
	}
	if len(so.queue) == 0 && len(so.ws.pending) == 0 && so.ws.closeWith == 0 {
		return
	}
	so.flushing = true
	so.srv.work.schedule(so.flushFn)
}

var (
	closeFrames sync.Map // ws.StatusCode → []byte
)

func closeFrameFor(reason CloseReason) []byte {
	code := reason.wsStatus()
	if b, ok := closeFrames.Load(code); ok {
		return b.([]byte)
	}
	b := ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
	closeFrames.Store(code, b)
	return b
}

// Pre-built control packets as WebSocket frames.
var ctrlFrames = func() map[PacketType][]byte {
	m := make(map[PacketType][]byte)
	for _, t := range []PacketType{PacketClose, PacketPing, PacketPong, PacketNoop} {
		m[t] = ws.MustCompileFrame(ws.NewTextFrame([]byte{byte(t)}))
	}
	return m
}()

// flush writes the queue to the connection. Only one flush runs per
// socket at a time (the flushing flag), so the write-side state of wsConn
// is touched by one goroutine only. No lock is held while writing.
func (so *Socket) flush() {
	s := so.srv
	deadline := false
	for {
		so.mu.Lock()
		wc := so.ws
		items := so.takeQueueLocked()
		closeWith := wc.closeWith
		if len(items) == 0 && len(wc.pending) == 0 && closeWith == 0 {
			if deadline {
				// writeInline's raw write honours the conn's deadline: an
				// expired one left here would fail it with a timeout.
				_ = wc.conn.SetWriteDeadline(time.Time{})
			}
			so.flushing = false
			so.mu.Unlock()
			return
		}
		so.mu.Unlock()
		deadline = true

		if len(items) == 0 && len(wc.pending) == 0 && closeWith != 0 {
			_ = wc.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			_, _ = wc.conn.Write(closeFrameFor(closeWith))
			wc.shutdown(s.poller)
			so.mu.Lock()
			so.flushing = false
			so.mu.Unlock()
			return
		}
		_ = wc.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		var bufs net.Buffers
		var err error
		if len(wc.pending) == 0 && len(items) == 1 {
			// The common broadcast case: one frame, one write, no vector.
			b := wc.bytesFor(items[0])
			var n int
			n, err = wc.conn.Write(b)
			if err != nil {
				bufs = net.Buffers{b[n:]}
			}
		} else {
			vec := append(wc.vec[:0], wc.pending...)
			for _, it := range items {
				vec = append(vec, wc.bytesFor(it))
			}
			bufs = vec
			_, err = bufs.WriteTo(wc.conn)
			if err != nil {
				// bufs still points into vec, which is cleared next.
				bufs = append(net.Buffers(nil), bufs...)
			}
			clear(vec)
			if cap(vec) <= 64 {
				wc.vec = vec[:0]
			}
		}
		so.recycleQueue(items)
		if err == nil {
			wc.pending = nil
			wc.stallFrom = time.Time{}
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && closeWith == 0 {
			// The peer reads slower than we write: keep the rest and come
			// back later instead of holding a worker.
			if wc.stallFrom.IsZero() {
				wc.stallFrom = time.Now()
			} else if time.Since(wc.stallFrom) > stallLimit {
				so.Close(ReasonSlowConsumer)
				so.mu.Lock()
				so.flushing = false
				so.mu.Unlock()
				return
			}
			wc.pending = bufs
			time.AfterFunc(retryDelay, func() { s.work.schedule(so.flushFn) })
			return
		}
		wc.pending = nil
		s.log.Debug("engineio: websocket write failed", "sid", so.id, "err", err)
		so.Close(ReasonTransportError)
		wc.shutdown(s.poller)
		so.mu.Lock()
		so.flushing = false
		so.mu.Unlock()
		return
	}
}

func (wc *wsConn) canWriteInline() bool {
	return wc.raw != nil && len(wc.pending) == 0 && wc.closeWith == 0
}

// tryWrite is one write(2) attempt; it never waits for writability.
func (wc *wsConn) tryWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), wc.inlineBuf[wc.inlineN:])
		if n > 0 {
			wc.inlineN += n
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil && err != syscall.EAGAIN {
			wc.inlineErr = err
		}
		if err != nil || wc.inlineN == len(wc.inlineBuf) || n <= 0 {
			return true
		}
	}
}

// writeInline writes one queued item without blocking. What the kernel
// does not take at once is left to a worker's flush. The caller has set
// the flushing flag, which makes this the socket's only writer.
func (so *Socket) writeInline(items []outItem) {
	wc := so.ws
	b := wc.bytesFor(items[0])
	so.recycleQueue(items)
	wc.inlineBuf, wc.inlineN, wc.inlineErr = b, 0, nil
	err := wc.raw.Write(wc.inlineFn)
	n, werr := wc.inlineN, wc.inlineErr
	wc.inlineBuf = nil
	if err == nil {
		err = werr
	}
	if err != nil {
		so.srv.log.Debug("engineio: websocket write failed", "sid", so.id, "err", err)
		so.Close(ReasonTransportError)
		so.mu.Lock()
		so.flushing = false
		so.mu.Unlock()
		return
	}
	so.mu.Lock()
	if n < len(b) {
		wc.pending = net.Buffers{b[n:]}
	}
	so.flushing = false
	so.scheduleFlushLocked()
	so.mu.Unlock()
}

// bytesFor picks the wire form of one queued item for this connection and
// advances the stream-sync state.
func (wc *wsConn) bytesFor(it outItem) []byte {
	switch {
	case it.raw != nil:
		return it.raw
	case it.frame == nil:
		if it.data == "" {
			if b, ok := ctrlFrames[it.ctrl]; ok {
				return b
			}
		}
		return ws.MustCompileFrame(ws.NewTextFrame(append([]byte{byte(it.ctrl)}, it.data...)))
	}
	f := it.frame
	if !wc.deflate || !f.compressible() {
		return f.wsPlain()
	}
	if f.stream == nil || f.seq == 0 {
		wc.lastStream = nil
		return f.wsFlate()
	}
	var out []byte
	next := wc.lastStream == f.stream && wc.lastSeq+1 == f.seq
	synced := next && (wc.fromStart || wc.contig >= windowSize)
	if wc.ctxOK && (f.epochStart || synced) {
		out = f.stream.contextFrame(f)
	}
	if out == nil {
		out = f.wsFlate()
	}
	switch {
	case f.epochStart:
		wc.lastStream, wc.contig, wc.fromStart = f.stream, f.messageLen(), true
	case next:
		wc.contig += f.messageLen()
	default:
		wc.lastStream, wc.contig, wc.fromStart = f.stream, f.messageLen(), false
	}
	wc.lastSeq = f.seq
	return out
}
