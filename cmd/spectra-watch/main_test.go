package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"spectra-relay/relay"

	"spectra-relay/internal/testenv"
)

// relayOutput serves a real relay's output port, over TLS or not.
func relayOutput(t *testing.T, useTLS bool) *httptest.Server {
	t.Helper()
	srv := relay.NewServer(relay.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var hs *httptest.Server
	if useTLS {
		hs = httptest.NewTLSServer(srv.OutputHandler())
	} else {
		hs = httptest.NewServer(srv.OutputHandler())
	}
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return hs
}

// hostPort is the server's address without its scheme.
func hostPort(hs *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(hs.URL, "https://"), "http://")
}

func TestConnectFailureHints(t *testing.T) {
	tlsSrv := relayOutput(t, true)
	plainSrv := relayOutput(t, false)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"http URL, TLS server", []string{"-url", "http://" + hostPort(tlsSrv)},
			[]string{"the server speaks TLS: use https://" + hostPort(tlsSrv), "-insecure-tls"}},
		{"bare host, TLS server", []string{"-url", hostPort(tlsSrv), "-transport", "websocket"},
			[]string{"use https://" + hostPort(tlsSrv)}},
		{"ws URL, TLS server, -insecure-tls given", []string{"-url", "ws://" + hostPort(tlsSrv), "-insecure-tls"},
			[]string{"the server speaks TLS: use wss://" + hostPort(tlsSrv) + ")"}},
		{"https URL, plain server", []string{"-url", "https://" + hostPort(plainSrv)},
			[]string{"speaks plain HTTP, not TLS: use http://" + hostPort(plainSrv)}},
		{"wss URL, plain server", []string{"-url", "wss://" + hostPort(plainSrv), "-transport", "websocket"},
			[]string{"use ws://" + hostPort(plainSrv)}},
		{"https URL, self-signed certificate", []string{"-url", "https://" + hostPort(tlsSrv)},
			[]string{"add -insecure-tls"}},
		{"nothing listening", []string{"-url", "http://" + refused},
			[]string{"is the server running? `make run` starts one"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			args := append([]string{"-group-code", "GU3Z72", "-connect-timeout", "5s"}, tc.args...)
			if code := run(args, io.Discard, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
			if strings.Contains(errOut.String(), "speaks") && strings.Contains(errOut.String(), "make run") {
				t.Errorf("both a protocol hint and the not-running hint:\n%s", errOut.String())
			}
		})
	}
}

// The right scheme and -insecure-tls log on to the TLS relay.
func TestWatchOverTLS(t *testing.T) {
	tlsSrv := relayOutput(t, true)
	for _, transport := range []string{"default", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errOut := &testenv.Buffer{}
			done := make(chan error, 1)
			cfg := config{url: tlsSrv.URL, groupCode: "GU3Z72", transport: transport, insecureTLS: true, timeout: 5 * time.Second}
			go func() { done <- watch(ctx, cfg, io.Discard, errOut) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(errOut.String(), "logged on to "+tlsSrv.URL) {
				select {
				case err := <-done:
					t.Fatalf("watch ended: %v\n%s", err, errOut.String())
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("no logon within 10s:\n%s", errOut.String())
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("watch after cancel: %v", err)
			}
		})
	}
}
