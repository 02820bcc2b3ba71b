package engineio

import (
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

type transportKind uint8

const (
	transportPolling transportKind = iota + 1
	transportWebSocket
)

// Socket is one Engine.IO session. Its methods are safe for concurrent use.
type Socket struct {
	id         string
	srv        *Server
	remoteAddr string
	header     http.Header
	query      url.Values

	handler Handler
	data    any

	// inMu serialises calls into the Handler.
	inMu sync.Mutex

	mu           sync.Mutex // guards everything below
	closed       bool
	transport    transportKind
	upgrading    bool
	upgradeDone  chan struct{} // open while an upgrade is under way
	awaitingPong bool
	timer        *time.Timer
	// pingDue is when the pending heartbeat step is due: the next ping, or
	// the pong deadline while awaitingPong. Deadlines are computed from it,
	// not from when a timer callback happens to run, so a late callback on
	// a busy machine does not stretch the timeout.
	pingDue time.Time

	queue      []outItem
	spare      []outItem
	queueBytes int
	// pongAt is 1 + the index in queue of the WebSocket pong waiting
	// there, 0 for none: a new ping's pong replaces it (queuePongLocked).
	pongAt int

	// polling: the pending GET, woken through pollWake.
	pollPending bool
	pollWake    chan struct{}
	pollClose   []byte // set when the pending GET must answer this and end

	// websocket
	ws       *wsConn
	flushing bool

	// Method values made once: scheduling them then allocates nothing.
	flushFn, readFn func()
}

// outItem is one queued packet: a message Frame, an Engine.IO control
// packet, or (raw) a WebSocket control frame.
type outItem struct {
	frame *Frame
	ctrl  PacketType
	data  string // control packet data, e.g. "probe"
	raw   []byte
}

func (it outItem) size() int {
	switch {
	case it.frame != nil:
		return it.frame.messageLen()
	case it.raw != nil:
		return len(it.raw)
	}
	return 1 + len(it.data)
}

// ID is the session id.
func (so *Socket) ID() string { return so.id }

// RemoteAddr is the remote address of the request that opened the session.
func (so *Socket) RemoteAddr() string { return so.remoteAddr }

// Header is the header of the request that opened the session (nil with
// Config.ForgetRequest).
func (so *Socket) Header() http.Header { return so.header }

// Query is the query of the request that opened the session (nil with
// Config.ForgetRequest).
func (so *Socket) Query() url.Values { return so.query }

// SetHandler sets the receiver of the socket's events. Call it from the
// Server's onConnect callback only: the session is published to other
// goroutines (Close, requests by sid) after onConnect returns, which is
// what makes this write safe without a lock.
func (so *Socket) SetHandler(h Handler) { so.handler = h }

// SetData attaches a value for the application.
func (so *Socket) SetData(v any) { so.mu.Lock(); so.data = v; so.mu.Unlock() }

// Data returns the value set by SetData.
func (so *Socket) Data() any { so.mu.Lock(); defer so.mu.Unlock(); return so.data }

// Transport is "polling" or "websocket".
func (so *Socket) Transport() string {
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.transport == transportWebSocket {
		return "websocket"
	}
	return "polling"
}

// Send queues one message. The socket keeps data; the caller must not
// modify it afterwards.
func (so *Socket) Send(data []byte, binary bool) error {
	f := &Frame{binary: binary, payload: data, level: so.srv.cfg.Deflate.Level, threshold: so.srv.cfg.Deflate.Threshold}
	return so.SendFrames(f)
}

// SendFrames queues frames to go out together and in order. It fails
// with ErrClosed on a closed socket and closes the socket (as a slow
// consumer) when the queue would exceed MaxQueueBytes.
func (so *Socket) SendFrames(frames ...*Frame) error { return so.sendFrames(nil, frames) }

// SendFramesBatch is SendFrames for one recipient of a broadcast: where
// the socket is idle, its write joins b's next io_uring submission instead
// of a write(2) of its own. A nil b makes it SendFrames.
func (so *Socket) SendFramesBatch(b *Batch, frames ...*Frame) error { return so.sendFrames(b, frames) }

func (so *Socket) sendFrames(b *Batch, frames []*Frame) error {
	so.mu.Lock()
	if so.closed {
		so.mu.Unlock()
		return ErrClosed
	}
	for _, f := range frames {
		if f.stream != nil && f.stream.coalesce && so.replaceLocked(f) {
			continue
		}
		it := outItem{frame: f}
		so.queue = append(so.queue, it)
		so.queueBytes += it.size()
	}
	if so.queueBytes > so.srv.cfg.MaxQueueBytes {
		so.closeLocked(ReasonSlowConsumer)
		so.mu.Unlock()
		return ErrSlowConsumer
	}
	if so.transport == transportWebSocket && !so.flushing && len(so.queue) == 1 && so.ws.canWriteInline() {
		// Fast path: the socket is idle, so try the write right here with
		// one non-blocking syscall instead of waking a worker.
		so.flushing = true
		items := so.takeQueueLocked()
		so.mu.Unlock()
		if b != nil {
			b.add(so, items)
		} else {
			so.writeInline(items)
		}
		return nil
	}
	so.kickLocked()
	so.mu.Unlock()
	return nil
}

// replaceLocked puts f in place of a queued frame of the same stream.
func (so *Socket) replaceLocked(f *Frame) bool {
	for i := len(so.queue) - 1; i >= 0; i-- {
		old := so.queue[i].frame
		if old != nil && old.stream == f.stream {
			so.queueBytes += f.messageLen() - old.messageLen()
			so.queue[i].frame = f
			return true
		}
	}
	return false
}

// queuePongLocked queues the answer to a client's WebSocket ping. Only
// the latest pending pong is kept (RFC 6455 §5.5.3): a new one takes the
// place of one still queued, reusing its bytes, so a client that floods
// pings and never reads holds one pong here, not one per ping. Pongs
// count against MaxQueueBytes like any queued data. It reports false when
// the session ended as a slow consumer.
func (so *Socket) queuePongLocked(payload []byte) bool {
	if i := so.pongAt - 1; i >= 0 {
		it := &so.queue[i]
		old := len(it.raw)
		it.raw = appendPongFrame(it.raw[:0], payload)
		so.queueBytes += len(it.raw) - old
		return true
	}
	it := outItem{raw: appendPongFrame(nil, payload)}
	so.queue = append(so.queue, it)
	so.pongAt = len(so.queue)
	so.queueBytes += it.size()
	if so.queueBytes > so.srv.cfg.MaxQueueBytes {
		so.closeLocked(ReasonSlowConsumer)
		return false
	}
	so.scheduleFlushLocked()
	return true
}

// appendPongFrame appends an unmasked pong frame carrying payload (at
// most 125 bytes, a control frame's limit) to b.
func appendPongFrame(b, payload []byte) []byte {
	return append(append(b, 0x80|byte(ws.OpPong), byte(len(payload))), payload...)
}

func (so *Socket) sendCtrlLocked(t PacketType, data string) {
	it := outItem{ctrl: t, data: data}
	so.queue = append(so.queue, it)
	so.queueBytes += it.size()
	so.kickLocked()
}

// kickLocked starts delivery of the queue on the current transport.
func (so *Socket) kickLocked() {
	switch so.transport {
	case transportPolling:
		if so.pollPending && !so.upgrading {
			so.wakePollLocked()
		}
	case transportWebSocket:
		so.scheduleFlushLocked()
	}
}

// takeQueueLocked removes and returns everything queued. The queue's
// two slices are swapped rather than reallocated: recycleQueue hands the
// taken one back once it has been written.
func (so *Socket) takeQueueLocked() []outItem {
	q := so.queue
	so.queue = so.spare
	so.spare = nil
	so.queueBytes = 0
	so.pongAt = 0
	return q
}

// recycleQueue keeps a written queue slice for reuse, small ones only.
func (so *Socket) recycleQueue(q []outItem) {
	if q == nil || cap(q) > 256 {
		return
	}
	clear(q)
	so.mu.Lock()
	if so.spare == nil {
		so.spare = q[:0]
	}
	so.mu.Unlock()
}

// Close ends the session for the given reason. It is idempotent.
func (so *Socket) Close(reason CloseReason) {
	so.mu.Lock()
	so.closeLocked(reason)
	so.mu.Unlock()
}

// closeLocked ends the session: the transport is told (close packet where
// the reason wants one), the session is unregistered, and OnClose is
// delivered from another goroutine so that no lock is held across it.
func (so *Socket) closeLocked(reason CloseReason) {
	if so.closed {
		return
	}
	so.closed = true
	so.srv.stats.sessionClosed(so.transport, reason)
	so.srv.log.Debug("engineio: session closed", "sid", so.id, "reason", reason.String())
	if so.timer != nil {
		so.timer.Stop()
	}
	switch so.transport {
	case transportPolling:
		so.closePollingLocked(reason)
	case transportWebSocket:
		so.closeWebSocketLocked(reason)
	}
	if so.pollClose != nil {
		// A GET still has to be answered (the pending one, or one sent
		// together with the client's close, or the next one after a server
		// close): the GET that delivers the close forgets the session, or
		// this timer does.
		time.AfterFunc(lingerAfterClose, func() { so.srv.remove(so) })
	} else {
		so.srv.remove(so)
	}
	go so.deliverClose(reason)
}

func (so *Socket) deliverClose(reason CloseReason) {
	so.inMu.Lock()
	defer so.inMu.Unlock()
	if so.handler != nil {
		so.handler.OnClose(so, reason)
	}
}

func (so *Socket) isClosed() bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.closed
}

// lingerAfterClose is how long a closed polling session still answers one
// GET: one sent together with the client's close, or the one that fetches
// a server close.
const lingerAfterClose = time.Second

// startHeartbeat arms the ping timer. One timer serves both phases:
// waiting to send the next ping, and waiting for its pong.
func (so *Socket) startHeartbeat() {
	so.mu.Lock()
	so.pingDue = time.Now().Add(so.srv.cfg.PingInterval)
	so.timer = time.AfterFunc(so.srv.cfg.PingInterval, so.onHeartbeat)
	so.mu.Unlock()
}

func (so *Socket) onHeartbeat() {
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.closed {
		return
	}
	if so.awaitingPong {
		so.closeLocked(ReasonPingTimeout)
		return
	}
	so.awaitingPong = true
	so.sendCtrlLocked(PacketPing, "")
	so.pingDue = so.pingDue.Add(so.srv.cfg.PingTimeout)
	so.timer.Reset(time.Until(so.pingDue))
}

// pongOverdueLocked closes the session if its pong deadline has passed
// but the timer has not run yet; requests check it so that an overdue
// session is never served.
func (so *Socket) pongOverdueLocked() bool {
	if so.awaitingPong && !so.closed && time.Now().After(so.pingDue) {
		so.closeLocked(ReasonPingTimeout)
	}
	return so.closed
}

func (so *Socket) onPong() {
	so.mu.Lock()
	if so.awaitingPong && !so.pongOverdueLocked() {
		so.awaitingPong = false
		so.pingDue = time.Now().Add(so.srv.cfg.PingInterval)
		so.timer.Reset(so.srv.cfg.PingInterval)
	}
	so.mu.Unlock()
}

// onPacket handles one decoded packet from the client, on any transport.
// It returns false when the session ended.
func (so *Socket) onPacket(p Packet) bool {
	switch p.Type {
	case PacketMessage:
		so.inMu.Lock()
		if !so.isClosed() && so.handler != nil {
			so.handler.OnMessage(so, Message{Data: p.Data, Binary: p.Binary})
		}
		so.inMu.Unlock()
		return !so.isClosed()
	case PacketPong:
		so.onPong()
		return true
	case PacketClose:
		so.Close(ReasonClientClose)
		return false
	case PacketNoop:
		return true
	default:
		// A client ping outside an upgrade probe, an open or an upgrade
		// packet here are protocol errors.
		so.Close(ReasonParseError)
		return false
	}
}
