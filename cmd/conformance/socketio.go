package main

import (
	"log/slog"
	"time"

	"spectra-relay/socketio"
)

// authDelay separates the "auth" event from the CONNECT reply: the
// suite's ws@8.5.0 loses the second of two frames read in one chunk
// (CONFORMANCE.md §6.1).
const authDelay = 15 * time.Millisecond

// newSocketIO is the reference server of the socket.io-protocol README:
// namespaces "/" and "/custom" echo their auth payload; "/" echoes
// "message" and acknowledges "message-with-ack".
func newSocketIO(log *slog.Logger) *socketio.Server {
	srv := socketio.NewServer(socketio.Config{
		Engine:         engineConfig(log),
		ConnectTimeout: time.Second,
	})
	emitAuth := func(s *socketio.Socket) {
		auth := s.Handshake().Auth
		time.AfterFunc(authDelay, func() { _ = s.Emit("auth", auth) })
	}
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		emitAuth(s)
		s.On("message", func(s *socketio.Socket, e *socketio.Event) {
			_ = s.EmitRaw("message-back", e.Args, e.Attachments)
		})
		s.On("message-with-ack", func(s *socketio.Socket, e *socketio.Event) {
			_ = e.AckRaw(e.Args, e.Attachments)
		})
	})
	srv.Of("/custom").OnConnection(emitAuth)
	return srv
}
