package engineio

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"

	"spectra-relay/internal/epollset"
	"spectra-relay/internal/recvbudget"
)

// inMessage is one WebSocket message read from a client.
type inMessage struct {
	data   []byte
	binary bool
	ctrl   bool // a control frame that was handled
	buf    *bytebufferpool.ByteBuffer
}

func (m *inMessage) release() {
	if m.buf != nil {
		if cap(m.buf.B) > maxPooledMessage {
			// A rare large message's buffer goes to the collector, not
			// the pool, where it would stay resident for a while: after a
			// flood of large partial messages (evicted by the receive
			// budget) the pool would hold all of them.
			m.buf.B = nil
		}
		bytebufferpool.Put(m.buf)
		m.buf = nil
	}
}

// maxPooledMessage is the largest message buffer kept for reuse.
const maxPooledMessage = 64 << 10

var (
	errPeerClosed    = errors.New("engineio: websocket closed by peer")
	errFrameTooLarge = errors.New("engineio: websocket message too large")
	errBadFrame      = errors.New("engineio: websocket protocol error")
	errInvalidUTF8   = errors.New("engineio: websocket text message is not UTF-8")
)

// readMessage reads one whole message (all fragments) from br. Control
// frames are handled here: a ping is answered and reported as ctrl, a
// close frame ends with errPeerClosed.
//
// The message's buffer grows as its bytes arrive, never by the length a
// frame header announces: a client that announces a large frame and sends
// little costs little. Whenever the read has to wait for the network with
// part of a message received, that part is accounted in the receive budget
// (wc.hold), as the capacity of its buffer, which trimHeld keeps within
// about twice what arrived; a message that arrives whole is not accounted
// and takes no lock.
func (s *Server) readMessage(br *frameReader, wc *wsConn) (inMessage, error) {
	msg, err := s.readMessageParts(br, wc)
	wc.hold.Release()
	return msg, err
}

func (s *Server) readMessageParts(br *frameReader, wc *wsConn) (inMessage, error) {
	var msg inMessage
	var compressed, started bool
	for {
		if started && br.Buffered() < ws.MaxHeaderSize {
			// The next frame's header may not be here yet.
			msg.buf.B = trimHeld(msg.buf.B)
			if err := wc.hold.Hold(int64(cap(msg.buf.B))); err != nil {
				msg.release()
				return inMessage{}, err
			}
		}
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
			if started && br.Buffered() < len(body) {
				msg.buf.B = trimHeld(msg.buf.B)
				if err := wc.hold.Hold(int64(cap(msg.buf.B))); err != nil {
					msg.release()
					return inMessage{}, err
				}
			}
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
		msg.buf.B, err = readPayload(br, msg.buf.B, int(h.Length), &wc.hold)
		if err != nil {
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

// readPayload appends n bytes from br to b. b grows only by what has
// arrived (doubling at most), so a frame announced large but sent slowly
// holds about what was sent. Before each wait for the network the
// capacity held so far is accounted in hold.
func readPayload(br *frameReader, b []byte, n int, hold *recvbudget.Holder) ([]byte, error) {
	for n > 0 {
		if br.Buffered() == 0 {
			b = trimHeld(b)
			if err := hold.Hold(int64(cap(b))); err != nil {
				return b, err
			}
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return b, err
			}
		}
		p, _ := br.Peek(min(br.Buffered(), n))
		if len(b)+len(p) > cap(b) {
			// Double rather than append's 1.25: a large message arriving
			// in reader-sized pieces is copied about once, not four times,
			// and the budget counts the capacity, so the slack is held to
			// account.
			nb := make([]byte, len(b), max(2*cap(b), len(b)+len(p)))
			copy(nb, b)
			b = nb
		}
		b = append(b, p...)
		_, _ = br.Discard(len(p))
		n -= len(p)
	}
	return b, nil
}

// minHeld is the smallest buffer trimHeld leaves a waiting reader.
const minHeld = 4096

// trimHeld is called before a reader waits with b, part of a message or
// body, received: a pooled buffer far larger than what arrived is swapped
// for one about twice as large, so that a waiting connection holds, and is
// accounted for, no more than about twice what it received.
func trimHeld(b []byte) []byte {
	if c := max(2*len(b), minHeld); cap(b) > c {
		nb := make([]byte, len(b), c)
		copy(nb, b)
		return nb
	}
	return b
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
	// crypto/tls may hold records read with the upgrade request.
	tlsIdle := wc.tt != nil && len(wc.pre) == 0 && wc.tlsBuffered()
	if len(wc.pre) == 0 && !s.cfg.DisableNetpoll && (wc.tt == nil || tlsIdle) {
		tc, ok := wc.conn.(*net.TCPConn)
		if !ok && wc.tt != nil && wc.raw != nil {
			tc, ok = wc.tt.tcp, true
		}
		if ok {
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
func (so *Socket) registerNetpoll(ep *epollset.Set, tc *net.TCPConn) error {
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
	err = ep.Add(fd, func() { so.srv.work.schedule(so.readFn) })
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
		// TLS: a record that carries no data (a KeyUpdate, a warning
		// alert) also wakes the descriptor; only a message's bytes may
		// start the read that waits for the rest of it.
		if wc.tt != nil && br.Buffered() == 0 && !so.tlsMore(br) {
			break
		}
		_ = wc.conn.SetReadDeadline(time.Now().Add(midFrameReadTimeout))
		if !so.handleNext(br) {
			return
		}
		if wc.tt == nil && br.Buffered() == 0 {
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
	so.tlsSendAnswers()
	if err != nil {
		so.srv.log.Debug("engineio: websocket read ended", "sid", so.id, "err", err)
		so.Close(readErrorReason(err))
		return false
	}
	if msg.ctrl {
		so.mu.Lock()
		alive := !so.closed && so.queuePongLocked(msg.data)
		so.mu.Unlock()
		return alive
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
	case errors.Is(err, recvbudget.ErrEvicted):
		return ReasonRecvBudget
	case errors.Is(err, errInvalidUTF8):
		return ReasonInvalidPayload
	case errors.Is(err, errBadFrame), errors.Is(err, ws.ErrHeaderLengthUnexpected), errors.Is(err, ws.ErrProtocolOpCodeReserved):
		return ReasonParseError
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return ReasonTransportClose
	}
	return ReasonTransportError
}

func (wc *wsConn) resume(ep *epollset.Set) {
	wc.mu.Lock()
	if !wc.stopped && wc.registered {
		_ = ep.Rearm(wc.fd)
	}
	wc.mu.Unlock()
}

// shutdown stops watching the descriptor and closes the connection.
func (wc *wsConn) shutdown(ep *epollset.Set) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.stopped {
		return
	}
	wc.stopped = true
	wc.live.Add(-1)
	if wc.registered {
		_ = ep.Del(wc.fd)
	}
	_ = wc.outer.Close()
}
