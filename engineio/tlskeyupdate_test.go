package engineio

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"spectra-relay/internal/testenv"
)

// TestTLSFastPathKeyUpdate: a TLS 1.3 client (openssl s_client, whose "K"
// command sends a KeyUpdate asking for one back, "k" one that does not)
// updates its keys in the middle of a WebSocket session on the fast path,
// for each TLS 1.3 suite. The record layer (the engine's own for AES-GCM,
// crypto/tls for ChaCha20) answers while reading, into the transport's
// buffer, and switches its own write keys: the answer is flushed on its
// own, and the echo after it decrypts at the client only if that answer
// was sent first.
func TestTLSFastPathKeyUpdate(t *testing.T) {
	if !tlsFastPathOS {
		t.Skip("the TLS fast path is built on Linux only")
	}
	openssl := testenv.NeedTool(t, "openssl")
	for _, tc := range []struct {
		suite string
		own   bool
	}{
		{"TLS_AES_128_GCM_SHA256", true},
		{"TLS_AES_256_GCM_SHA384", true},
		{"TLS_CHACHA20_POLY1305_SHA256", false},
	} {
		t.Run(tc.suite, func(t *testing.T) { keyUpdateWith(t, openssl, tc.suite, tc.own) })
	}
}

func keyUpdateWith(t *testing.T, openssl, suite string, own bool) {
	rec := newRecorder()
	rec.onMsg = echo
	_, base := startTLSServer(t, Config{TLSFastPath: true}, rec)
	host := strings.TrimPrefix(strings.SplitN(base, "/engine.io/", 2)[0], "https://")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", host, "-tls1_3", "-ciphersuites", suite, "-no_ign_eof")
	var out, errOut testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = cmd.Wait()
	}()
	waitOut := func(what string, buf *testenv.Buffer) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; !strings.Contains(buf.String(), what); i++ {
			if time.Now().After(deadline) || i > 10000 {
				t.Fatalf("no %q from s_client:\nstdout: %q\nstderr: %s", what, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write := func(b []byte) {
		t.Helper()
		if _, err := in.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	frame := func(text string) []byte {
		var b bytes.Buffer
		if err := ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte(text)))); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	waitOut("Verify return code", &out) // handshake done
	write([]byte("GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: spectra\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	waitOut(`"sid"`, &out) // the open packet
	write(frame("4before the key update"))
	waitOut("4before the key update", &out)
	so := await(t, rec.sockets, "socket")
	so.mu.Lock()
	wc := so.ws
	so.mu.Unlock()
	if _, isOwn := wc.conn.(*tls13Conn); isOwn != own {
		t.Fatalf("%s: the engine's record layer %v (%T), want %v", suite, isOwn, wc.conn, own)
	}
	for i, cmd := range []string{"K", "k", "K"} {
		write([]byte(cmd + "\n"))
		waitFor(t, func() bool { return strings.Count(errOut.String(), "KEYUPDATE") > i }, "s_client's KEYUPDATE "+cmd)
		// The answer leaves without waiting for a message to carry it.
		waitFor(t, func() bool { return wc.tt != nil && wc.tt.sealed.Load() && !wc.tlsOutPending() }, "the KeyUpdate answer flushed")
		after := fmt.Sprintf("4after key update %d", i)
		write(frame(after))
		waitOut(after, &out)
	}
}
