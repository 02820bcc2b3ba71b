// Command conformance serves the project's Engine.IO/Socket.IO stack the
// way the official protocol test suites expect (shared/CONFORMANCE.md):
// a bare Engine.IO echo on /engine.io/ and the reference Socket.IO handlers
// on /socket.io/. With -tls-dir it serves https:// and wss:// instead,
// TLS WebSockets on the engine's fast path as spectra-server runs them, so
// the same suites check the TLS transport.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"spectra-relay/engineio"
	"spectra-relay/internal/tlspair"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	verbose := flag.Bool("v", false, "debug logging")
	tlsDir := flag.String("tls-dir", "", "serve https/wss with the pair server.key, server.crt in this folder (a self-signed pair for localhost is written where missing); empty: plain http/ws")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	mux := http.NewServeMux()
	eio := newEngineEcho(log)
	mux.Handle("/engine.io/", eio)
	sio := newSocketIO(log)
	mux.Handle("/socket.io/", sio)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	scheme := "http"
	if *tlsDir != "" {
		cert, _, err := tlspair.LoadOrCreate(filepath.Join(*tlsDir, "server.key"), filepath.Join(*tlsDir, "server.crt"))
		if err != nil {
			log.Error("tls", "dir", *tlsDir, "err", err)
			os.Exit(1)
		}
		ln = engineio.NewTLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// The resolved address on stdout lets tests use port 0.
	os.Stdout.WriteString("listening " + ln.Addr().String() + " " + scheme + "\n")
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = eio.Shutdown(sctx)
		_ = sio.Shutdown(sctx)
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

func engineConfig(log *slog.Logger) engineio.Config {
	return engineio.Config{
		PingInterval:       300 * time.Millisecond,
		PingTimeout:        200 * time.Millisecond,
		MaxPayload:         1000000,
		WebSocketOpenDelay: 5 * time.Millisecond,
		TLSFastPath:        true, // used only by connections of -tls-dir's listener
		Logger:             log,
	}
}

// engineEcho sends every message back unchanged on the active transport.
type engineEcho struct{}

func (engineEcho) OnMessage(s *engineio.Socket, m engineio.Message) {
	_ = s.Send(append([]byte(nil), m.Data...), m.Binary)
}

func (engineEcho) OnClose(*engineio.Socket, engineio.CloseReason) {}

func newEngineEcho(log *slog.Logger) *engineio.Server {
	return engineio.NewServer(engineConfig(log), func(s *engineio.Socket) { s.SetHandler(engineEcho{}) })
}
