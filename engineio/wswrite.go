package engineio

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// closeWebSocketLocked ends the WebSocket side. Orderly reasons flush the
// queue, then a close packet and a close frame; the others cut at once.
func (so *Socket) closeWebSocketLocked(reason CloseReason) {
	wc := so.ws
	if wc == nil {
		return
	}
	switch reason {
	case ReasonSlowConsumer, ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonRecvBudget:
		so.queue = nil
		so.queueBytes = 0
		so.pongAt = 0
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
	if len(so.queue) == 0 && len(so.ws.pending) == 0 && so.ws.closeWith == 0 && !so.ws.tlsOutPending() {
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
		if wc.tlsOutPending() {
			// Records crypto/tls's reader made; taken under Socket.mu so
			// that one made after this is scheduled again (handleNext).
			wc.pending = append(wc.pending, wc.tt.takeOut())
		}
		wconn := wc.wconn
		if len(items) == 0 && len(wc.pending) == 0 && closeWith == 0 {
			if deadline {
				// writeInline's raw write honours the conn's deadline: an
				// expired one left here would fail it with a timeout.
				_ = wconn.SetWriteDeadline(time.Time{})
			}
			so.flushing = false
			so.mu.Unlock()
			return
		}
		so.mu.Unlock()
		deadline = true

		if len(items) == 0 && len(wc.pending) == 0 && closeWith != 0 {
			b := wc.closeBytes(closeWith)
			_ = wconn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			_, _ = wconn.Write(b)
			wc.shutdown(s.poller)
			so.mu.Lock()
			so.flushing = false
			so.mu.Unlock()
			return
		}
		_ = wconn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		var bufs net.Buffers
		var err error
		if len(wc.pending) == 0 && len(items) == 1 {
			// The common broadcast case: one frame, one write, no vector.
			b := wc.wire(items[0])
			var n int
			n, err = wconn.Write(b)
			if err != nil {
				bufs = net.Buffers{b[n:]}
			}
		} else {
			vec := append(wc.vec[:0], wc.pending...)
			for _, it := range items {
				vec = append(vec, wc.wire(it))
			}
			bufs = vec
			_, err = bufs.WriteTo(wconn)
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

// writeInline writes one queued item without blocking. What the kernel
// does not take at once is left to a worker's flush. The caller has set
// the flushing flag, which makes this the socket's only writer.
func (so *Socket) writeInline(items []outItem) {
	wc := so.ws
	b := wc.wireInline(items[0])
	so.recycleQueue(items)
	wc.inlineBuf, wc.inlineN, wc.inlineErr = b, 0, nil
	err := wc.raw.Write(wc.inlineFn)
	n, werr := wc.inlineN, wc.inlineErr
	wc.inlineBuf = nil
	if err == nil {
		err = werr
	}
	so.finishInline(b, n, err)
}

// finishInline settles an inline write of b that wrote n bytes: the rest
// goes to a worker's flush, an error closes the session. It ends the
// writer's turn the caller took with the flushing flag.
func (so *Socket) finishInline(b []byte, n int, err error) {
	wc := so.ws
	wc.releaseSeal(err == nil && n == len(b))
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
