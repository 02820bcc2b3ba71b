// Package engineio implements the server side of the Engine.IO v4 protocol:
// HTTP long-polling and WebSocket transports, the polling→websocket upgrade,
// the heartbeat and a write path built for broadcast fan-out.
//
// The package knows nothing about Socket.IO: a message is an opaque text or
// binary payload. Upper layers hand it pre-encoded Frames so that a payload
// sent to many sockets is framed and compressed once.
package engineio

import (
	"log/slog"
	"time"

	"spectra-relay/internal/recvbudget"
)

// Config configures a Server. The zero value is usable: every field documents
// its default, applied by NewServer.
type Config struct {
	// PingInterval is the time between server pings. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take after a ping. Default 20s.
	PingTimeout time.Duration
	// MaxPayload bounds one polling POST body and one WebSocket message, in
	// bytes. Default 1e6. Memory follows the bytes that arrive, not the
	// announced length: a message's buffer grows as its payload comes in.
	MaxPayload int64
	// RecvBudget bounds the bytes held, over every server sharing it, in
	// messages and polling bodies still arriving; past it the connection
	// holding the most is closed (ReasonRecvBudget). Nil: no budget.
	RecvBudget *recvbudget.Budget
	// CORSOrigin is sent as Access-Control-Allow-Origin on polling
	// responses. Default "*". Set to "-" to send no CORS headers.
	CORSOrigin string
	// BodyTimeout bounds reading one polling POST body (and net/http's
	// drain of any other request's unread body); long-poll GETs are not
	// affected. Default 10s.
	BodyTimeout time.Duration
	// DisableUpgrades advertises no upgrades in the polling handshake.
	DisableUpgrades bool
	// Deflate configures permessage-deflate on WebSocket connections.
	Deflate DeflateConfig
	// MaxQueueBytes bounds each socket's outbound queue. A socket whose
	// unsent data would exceed it is closed as a slow consumer. Default 4 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds one flush of a socket's queue to the network
	// before the rest is retried later. Default 200ms.
	WriteTimeout time.Duration
	// DisableNetpoll makes every WebSocket connection use a reader
	// goroutine instead of the epoll netpoller (also the case for TLS
	// without TLSFastPath).
	DisableNetpoll bool
	// SendBuffer sets SO_SNDBUF on accepted WebSocket connections, in
	// bytes (the kernel doubles it for its bookkeeping and then no longer
	// autotunes it). Zero keeps the kernel's default and autotuning.
	SendBuffer int
	// Uring batches the inline writes of one broadcast (the same frame to
	// many idle sockets) into io_uring submissions instead of one write(2)
	// per socket. Where io_uring cannot be set up (old kernel, seccomp,
	// kernel.io_uring_disabled) the server logs it once and batches them
	// through Linux AIO (io_submit) instead, or, where that is refused
	// too, writes as without it.
	Uring bool
	// UringAIO, with Uring, batches through Linux AIO without trying
	// io_uring: io_uring's kernel surface avoided, the batching kept.
	UringAIO bool
	// TLSFastPath puts TLS connections accepted through NewTLSListener on
	// the same path as plain ones once they are WebSocket sessions: read
	// through the epoll set (no goroutine per idle connection), written
	// inline or in the io_uring batch (see tlsfast.go). Off: such a
	// connection is read by its own goroutine and written by workers.
	TLSFastPath bool
	// WebSocketOpenDelay is a pause between the 101 response and the open
	// packet of a session that starts on WebSocket. Zero in production; a
	// few ms keeps clients that lose frames coalesced with the 101 (the
	// protocol suite's ws@8.5.0) from missing the open packet.
	WebSocketOpenDelay time.Duration
	// ForgetRequest keeps neither the headers nor the query of the request
	// that opened a session: Socket.Header and Socket.Query return nil.
	// They are the biggest part of an idle session (about 1.3 KiB of a
	// browser's upgrade request), worth dropping for a server that never
	// reads them.
	ForgetRequest bool
	// Logger receives diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// DeflateConfig configures permessage-deflate (RFC 7692).
type DeflateConfig struct {
	// Enabled accepts a client's permessage-deflate offer.
	Enabled bool
	// Level is the compress/flate level of messages compressed on their
	// own. Default 6 (see defaultDeflateLevel for why not the existing
	// server's 3). A Stream's context-takeover frames use it only with
	// StreamFlate; by default they come from deltaflate (see Stream),
	// which has one fast setting.
	Level int
	// Threshold: messages shorter than this many bytes are sent
	// uncompressed. Default 1024.
	Threshold int
	// StreamFlate compresses a Stream's context frames with compress/flate
	// at Level, as servers built on zlib do, instead of deltaflate: frames
	// about 40% smaller for about eight times the CPU per frame and 800 KB
	// instead of about 57 KB per stream. For links where bytes cost more than
	// the server's core.
	StreamFlate bool
}

// Message is one Engine.IO message received from a client. Data is only
// valid during the callback that receives it.
type Message struct {
	Data   []byte
	Binary bool
}

// Handler receives a socket's events. Calls for one socket are serialised:
// OnMessage is never called concurrently with itself or OnClose for the
// same socket, and nothing is called after OnClose.
type Handler interface {
	OnMessage(s *Socket, m Message)
	OnClose(s *Socket, reason CloseReason)
}
