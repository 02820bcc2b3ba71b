package engineio

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/valyala/bytebufferpool"

	"spectra-relay/internal/recvbudget"
)

var (
	// ErrClosed is returned when sending on a closed socket.
	ErrClosed = errors.New("engineio: socket closed")
	// ErrSlowConsumer is returned when a send overflowed the socket's queue;
	// the socket is closed.
	ErrSlowConsumer = errors.New("engineio: outbound queue full, slow consumer closed")
)

// openPolling answers a polling handshake.
func (s *Server) openPolling(w http.ResponseWriter, r *http.Request) {
	so := s.newSocket(r, transportPolling)
	if s.onConnect != nil {
		s.onConnect(so)
	}
	so.startHeartbeat()
	if !s.add(so) {
		so.Close(ReasonServerShutdown)
		s.httpError(w, r, errCodeForbidden)
		return
	}
	body := append([]byte{byte(PacketOpen)}, s.handshake(so.id, !s.cfg.DisableUpgrades)...)
	s.writePollBody(w, r, body)
}

func (s *Server) writePollBody(w http.ResponseWriter, r *http.Request, body []byte) {
	s.writeCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// servePollGet answers a long-poll: at once with whatever is queued, or
// when something is queued, the session ends, or the transport changes.
func (so *Socket) servePollGet(w http.ResponseWriter, r *http.Request) {
	s := so.srv
	so.mu.Lock()
	so.pongOverdueLocked()
	switch {
	case so.closed && so.pollClose != nil:
		so.answerClosedLocked(w, r)
		return
	case so.closed:
		so.mu.Unlock()
		s.httpError(w, r, errCodeUnknownSID)
		return
	case so.transport != transportPolling:
		so.mu.Unlock()
		s.httpError(w, r, errCodeBadRequest)
		return
	case so.pollPending:
		// Two GETs at once: the protocol forbids it. The pending one is
		// told the session closed; this one is refused.
		so.closeLocked(ReasonDuplicatePoll)
		so.mu.Unlock()
		s.httpError(w, r, errCodeBadRequest)
		return
	}
	woken := false
	for {
		if so.pollClose != nil {
			so.answerClosedLocked(w, r)
			return
		}
		if so.upgradeDone != nil && !woken {
			// A new GET while a WebSocket upgrade is under way: the client
			// may have sent "5" already, on the other connection. Give the
			// upgrade a moment to finish before answering.
			done := so.upgradeDone
			so.mu.Unlock()
			t := time.NewTimer(upgradeGrace)
			select {
			case <-done:
			case <-t.C:
			case <-r.Context().Done():
			}
			t.Stop()
			so.mu.Lock()
			woken = true
			if so.transport != transportPolling || so.closed {
				so.mu.Unlock()
				s.httpError(w, r, errCodeBadRequest)
				return
			}
			continue
		}
		if so.upgrading || so.transport != transportPolling {
			so.mu.Unlock()
			s.writePollBody(w, r, noopBody)
			return
		}
		if len(so.queue) > 0 {
			items := so.takeQueueLocked()
			so.mu.Unlock()
			so.writePollItems(w, r, items)
			return
		}
		if so.closed {
			so.mu.Unlock()
			s.httpError(w, r, errCodeUnknownSID)
			return
		}
		wake := make(chan struct{})
		so.pollPending = true
		so.pollWake = wake
		so.mu.Unlock()
		select {
		case <-wake:
			so.mu.Lock()
			so.pollPending = false
			woken = true
		case <-r.Context().Done():
			// The client went away mid-poll: the session cannot be served
			// any more, as in the reference implementation.
			so.mu.Lock()
			so.pollPending = false
			so.pollWake = nil
			so.closeLocked(ReasonTransportClose)
			so.mu.Unlock()
			return
		}
	}
}

// upgradeGrace is how long a GET that arrives during an upgrade waits for
// it; the reference implementation answers such GETs with noop on a 100 ms
// cycle.
const upgradeGrace = 100 * time.Millisecond

var noopBody = []byte{byte(PacketNoop)}
var closeBody = []byte{byte(PacketClose)}

func (so *Socket) wakePollLocked() {
	if so.pollWake != nil {
		close(so.pollWake)
		so.pollWake = nil
	}
}

// closePollingLocked answers a pending GET as the session ends. A close
// the client must be told of (sendsClosePacket) is kept for the next GET
// when none is pending, as the reference server does, instead of leaving
// that GET a "Session ID unknown" error.
func (so *Socket) closePollingLocked(reason CloseReason) {
	if !so.pollPending {
		if reason == ReasonClientClose {
			so.pollClose = noopBody
		} else if reason.sendsClosePacket() {
			so.pollClose = closeBody
		}
		return
	}
	if reason == ReasonClientClose {
		so.pollClose = noopBody
	} else {
		so.pollClose = closeBody
	}
	so.wakePollLocked()
}

// answerClosedLocked answers a GET of a closed session; so.mu is held on
// entry and released. Packets queued before a server-side close go out
// first, in a response of their own, and the close packet answers the next
// GET, as with the reference server: socket.io-client handles a decoded
// packet on the next tick but the close packet at once, so a DISCONNECT
// and the close packet in one payload would reach it in the wrong order.
// The session is forgotten once the close (or noop) is delivered.
func (so *Socket) answerClosedLocked(w http.ResponseWriter, r *http.Request) {
	if len(so.queue) > 0 && bytes.Equal(so.pollClose, closeBody) {
		items := so.takeQueueLocked()
		so.mu.Unlock()
		so.writePollItems(w, r, items)
		return
	}
	body := so.pollClose
	so.pollClose = nil
	so.takeQueueLocked()
	so.mu.Unlock()
	so.srv.remove(so)
	so.srv.writePollBody(w, r, body)
}

func (so *Socket) writePollItems(w http.ResponseWriter, r *http.Request, items []outItem) {
	buf := bytebufferpool.Get()
	for i, it := range items {
		if i > 0 {
			_ = buf.WriteByte(RecordSeparator)
		}
		if it.frame != nil {
			_, _ = buf.Write(it.frame.pollingBytes())
		} else if it.raw == nil {
			_ = buf.WriteByte(byte(it.ctrl))
			_, _ = buf.WriteString(it.data)
		}
	}
	so.srv.writePollBody(w, r, buf.B)
	bytebufferpool.Put(buf)
	so.recycleQueue(items)
}

// servePollPost takes a payload of packets from the client. Packets are
// handled before "ok" is answered, so replies they cause are queued by then.
func (so *Socket) servePollPost(w http.ResponseWriter, r *http.Request) {
	s := so.srv
	so.mu.Lock()
	if so.closed || so.transport != transportPolling {
		so.mu.Unlock()
		s.httpError(w, r, errCodeBadRequest)
		return
	}
	so.mu.Unlock()

	buf := bytebufferpool.Get()
	defer func() {
		if cap(buf.B) > maxPooledMessage {
			buf.B = nil // as inMessage.release: a large body is not kept
		}
		bytebufferpool.Put(buf)
	}()
	// ServeHTTP set the body deadline. It is per request: net/http resets
	// the connection's read deadline before reading the next request's
	// headers, and it is cleared once the whole body is in, so neither the
	// background read net/http runs while this handler works nor a later
	// long-poll GET on the same keep-alive connection can trip over it.
	// After a failed or oversized read it stays, which bounds net/http's
	// drain of the unread rest too.
	rc := http.NewResponseController(w)
	var n int64
	var err error
	if r.ContentLength <= s.cfg.MaxPayload {
		var hold recvbudget.Holder
		if s.cfg.RecvBudget != nil {
			hold.Init(s.cfg.RecvBudget, func() {
				s.stats.evictions.Add(1)
				so.Close(ReasonRecvBudget)
				_ = rc.SetReadDeadline(time.Now()) // ends the read below
			})
		}
		buf.B, err = readBody(r.Body, buf.B[:0], r.ContentLength, s.cfg.MaxPayload+1, &hold)
		hold.Release()
		n = int64(len(buf.B))
	} else {
		n = r.ContentLength // announced too large: refused unread
	}
	if err == nil && n <= s.cfg.MaxPayload {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil { // an eviction has closed the session already

		so.Close(ReasonTransportError)
		s.httpError(w, r, errCodeBadRequest)
		return
	}
	if n > s.cfg.MaxPayload {
		so.Close(ReasonPayloadTooLarge)
		s.writeCORS(w, r)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	alive := true
	err = DecodePayload(buf.B, func(p Packet) error {
		if alive {
			alive = so.onPacket(p)
		}
		return nil
	})
	if err != nil {
		so.Close(ReasonParseError)
		s.httpError(w, r, errCodeBadRequest)
		return
	}
	s.writeCORS(w, r)
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write(okBody)
}

var okBody = []byte("ok")

// readBody appends a request body to b, up to limit bytes (a body longer
// than limit is cut there: the caller refuses it). b grows as bytes
// arrive, at most doubling, never by the announced length; before each
// read that may wait, the buffer's capacity (trimHeld: about twice what
// arrived at most) is accounted in hold. A body whose announced length
// has arrived is not read again, so a body that comes in one piece takes
// no lock of the budget.
func readBody(r io.Reader, b []byte, announced, limit int64, hold *recvbudget.Holder) ([]byte, error) {
	if announced >= 0 && announced < limit {
		limit = announced // net/http's body ends there anyway
	}
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, max(len(b), 512))
		}
		b = trimHeld(b)
		if err := hold.Hold(int64(cap(b))); err != nil {
			return b, err
		}
		room := b[len(b):cap(b)]
		if rest := limit - int64(len(b)); int64(len(room)) > rest {
			room = room[:rest]
		}
		k, err := r.Read(room)
		b = b[:len(b)+k]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}
