package engineio

import "sync/atomic"

// serverStats are the server's running counters. Every update is one
// atomic add on a session transition or a compression; nothing is counted
// per recipient of a broadcast, so the write path pays nothing extra.
type serverStats struct {
	open       [transportWebSocket + 1]atomic.Int64  // sessions open now, by current transport
	opened     [transportWebSocket + 1]atomic.Uint64 // sessions opened, by first transport
	upgrades   atomic.Uint64
	closes     [closeReasonCount]atomic.Uint64
	deflateIn  [deflateModes]atomic.Uint64
	deflateOut [deflateModes]atomic.Uint64
	deflated   [deflateModes]atomic.Uint64 // frames compressed
	evictions  atomic.Uint64               // connections closed by the receive budget
}

// closeReasonCount bounds CloseReason values: Stats.Closes is indexed by
// reason.
const closeReasonCount = len(reasonNames)

// Deflate modes of a compressed frame.
const (
	deflateStandalone = iota // compressed on its own, decodable by any client
	deflateContext           // compressed with its stream's shared context
	deflateModes
)

func (st *serverStats) sessionOpened(tr transportKind) {
	st.open[tr].Add(1)
	st.opened[tr].Add(1)
}

// sessionUpgraded moves a session from polling to WebSocket; called under
// the socket's lock together with the transport switch.
func (st *serverStats) sessionUpgraded() {
	st.open[transportPolling].Add(-1)
	st.open[transportWebSocket].Add(1)
	st.upgrades.Add(1)
}

// sessionClosed is called once per session, under its lock, with the
// transport it was on.
func (st *serverStats) sessionClosed(tr transportKind, r CloseReason) {
	st.open[tr].Add(-1)
	if int(r) < closeReasonCount {
		st.closes[r].Add(1)
	}
}

// compressed counts one deflated frame: in is the message length, frame
// the WebSocket frame made of it.
func (st *serverStats) compressed(mode int, in int, frame []byte) {
	if st == nil {
		return
	}
	st.deflateIn[mode].Add(uint64(in))
	st.deflateOut[mode].Add(uint64(framePayloadLen(frame)))
	st.deflated[mode].Add(1)
}

// framePayloadLen is the payload length of a server (unmasked) frame.
func framePayloadLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	hl := 2
	switch b[1] & 0x7f {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	return max(len(b)-hl, 0)
}

// Stats is a snapshot of a Server's counters. Counters (Opened, Upgrades,
// Closes, Deflate*) only grow; PollingOpen and WebSocketOpen are the
// sessions open at the time of the snapshot.
type Stats struct {
	// Sessions open now, by the transport they are on.
	PollingOpen, WebSocketOpen int64
	// Sessions opened since start, by the transport they started on.
	PollingOpened, WebSocketOpened uint64
	// Upgrades counts sessions moved from polling to WebSocket.
	Upgrades uint64
	// Closes counts ended sessions by reason, indexed by CloseReason
	// (index 0 is unused).
	Closes []uint64
	// Deflate counts the frames of broadcast Streams (made with
	// Server.NewStream) compressed for WebSocket clients with
	// permessage-deflate: each frame is compressed at most once per mode,
	// whatever the number of recipients.
	DeflateStandalone, DeflateContext DeflateStats
	// RecvBudgetEvictions counts this server's connections closed because
	// the receive budget (Config.RecvBudget) was spent and they held the
	// most of it (WebSocket sessions, polling POSTs, upgrade probes).
	RecvBudgetEvictions uint64
}

// DeflateStats are the byte counts of one compression mode.
type DeflateStats struct {
	Frames   uint64
	BytesIn  uint64 // message bytes before compression
	BytesOut uint64 // compressed frame payload bytes
}

// Stats returns a snapshot of the server's counters. It is cheap (a few
// dozen atomic loads) and safe to call at any time.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		PollingOpen:         st.open[transportPolling].Load(),
		WebSocketOpen:       st.open[transportWebSocket].Load(),
		PollingOpened:       st.opened[transportPolling].Load(),
		WebSocketOpened:     st.opened[transportWebSocket].Load(),
		Upgrades:            st.upgrades.Load(),
		RecvBudgetEvictions: st.evictions.Load(),
		Closes:              make([]uint64, closeReasonCount),
	}
	for i := range st.closes {
		out.Closes[i] = st.closes[i].Load()
	}
	mode := func(m int) DeflateStats {
		return DeflateStats{Frames: st.deflated[m].Load(), BytesIn: st.deflateIn[m].Load(), BytesOut: st.deflateOut[m].Load()}
	}
	out.DeflateStandalone = mode(deflateStandalone)
	out.DeflateContext = mode(deflateContext)
	return out
}

// CloseReasons lists every reason a session can end with, for callers that
// export Stats.Closes with names.
func CloseReasons() []CloseReason {
	rs := make([]CloseReason, 0, closeReasonCount-1)
	for i := 1; i < closeReasonCount; i++ {
		rs = append(rs, CloseReason(i))
	}
	return rs
}

// NewStream makes a Stream whose compression is counted in the server's
// Stats. Use it for broadcasts served by this server.
func (s *Server) NewStream(o StreamOptions) *Stream {
	st := NewStream(o)
	st.stats = &s.stats
	return st
}
