package engineio

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"

	"spectra-relay/internal/recvbudget"
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
	conn  net.Conn // reads and writes; the TCP connection under outer when it has one
	outer net.Conn // as hijacked: closed through it, so a wrapping listener sees the close
	pre   []byte   // bytes read by the HTTP server past the handshake

	// wconn takes the bytes the writers make: conn, or for a fast-path TLS
	// connection (tt set, see tlsfast.go) the socket under it, which gets
	// the records sealed from conn. Set before any writer of the session
	// runs.
	wconn   net.Conn
	tt      *tlsTransport
	sealBuf *bytebufferpool.ByteBuffer // the in-flight inline/batch records (sealPooled); writer-owned

	deflate bool // permessage-deflate negotiated
	ctxOK   bool // the client keeps its window across messages

	live *atomic.Int64 // the server's count of open WebSocket connections

	// hold accounts the part of a message received while the reader waits
	// for the rest (Config.RecvBudget); owned by the reader.
	hold recvbudget.Holder

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
	wc := &wsConn{conn: conn, outer: conn, wconn: conn, deflate: deflate, ctxOK: ctxOK, live: &s.wsLive}
	s.wsLive.Add(1)
	tc := tcpConn(conn)
	if tc != nil {
		wc.conn, wc.wconn = tc, tc
	} else if s.cfg.TLSFastPath && tlsFastPathOS {
		if tlc, isTLS := conn.(*tls.Conn); isTLS {
			if tt, fast := tlc.NetConn().(*tlsTransport); fast {
				wc.tt, tc = tt, tt.tcp
			}
		}
	}
	if tc != nil {
		if n := s.cfg.SendBuffer; n > 0 {
			if err := tc.SetWriteBuffer(n); err != nil {
				s.log.Debug("engineio: SO_SNDBUF not set", "remote", r.RemoteAddr, "err", err)
			}
		}
		if wc.tt == nil {
			wc.setupInline(tc)
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
	if wc.tt != nil {
		// Before the session can be found: no writer runs yet.
		wc.tlsTakeOver()
	}
	so := s.newSocket(r, transportWebSocket)
	so.ws = wc
	wc.budgetFor(so)
	if s.onConnect != nil {
		s.onConnect(so)
	}
	so.startHeartbeat()
	if !s.add(so) {
		// Close began while the session was being built: it is ended
		// here, with the close packet and frame a shutdown sends.
		so.Close(ReasonServerShutdown)
		return
	}
	// The open packet goes out as its own write after the 101 response.
	if d := s.cfg.WebSocketOpenDelay; d > 0 {
		time.Sleep(d)
	}
	open := AppendText(nil, PacketOpen, s.handshake(so.id, false))
	if err := wc.writeNow(ws.OpText, open); err != nil {
		so.Close(ReasonTransportError)
		wc.shutdown(nil)
		return
	}
	so.mu.Lock()
	so.scheduleFlushLocked()
	so.mu.Unlock()
	so.startReading()
}

// budgetFor accounts wc's partial messages in the server's receive
// budget; an eviction closes so and the connection.
func (wc *wsConn) budgetFor(so *Socket) {
	s := so.srv
	if s.cfg.RecvBudget == nil {
		return
	}
	wc.hold.Init(s.cfg.RecvBudget, func() {
		s.stats.evictions.Add(1)
		so.Close(ReasonRecvBudget)
		// An upgrade probe's connection is not the session's yet.
		go wc.shutdown(s.poller)
	})
}

// tcpConn is the TCP connection under a hijacked conn, or nil: conn
// itself, or what a wrapping listener's connection gives from a
// TCPConn() *net.TCPConn method (connection accounting that still wants
// the netpoller, inline writes and writev). TLS connections have none.
func tcpConn(conn net.Conn) *net.TCPConn {
	switch c := conn.(type) {
	case *net.TCPConn:
		return c
	case interface{ TCPConn() *net.TCPConn }:
		return c.TCPConn()
	}
	return nil
}

// writeNow writes one frame at once, blocking: the open packet, before
// the session's writers start.
func (wc *wsConn) writeNow(op ws.OpCode, payload []byte) error {
	if wc.tt == nil {
		return writeRaw(wc.conn, op, payload)
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	b := make([]byte, headerSize(h)+len(payload))
	writeHeader(b, h)
	copy(b[headerSize(h):], payload)
	_, err := wc.wconn.Write(wc.seal(b))
	return err
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
	wc.budgetFor(so)
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
			if wc.tt != nil {
				// No writer of wc runs before so.ws is set below. Not
				// under so.mu: the takeover may read (non-blocking) what
				// crypto/tls holds of the stream.
				wc.tlsTakeOver()
			}
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
