package eioclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/nodeserver"
)

const wait = 10 * time.Second

type msg struct {
	data   []byte
	binary bool
}

// client wraps a Conn whose messages land in a channel the test awaits.
type client struct {
	*eioclient.Conn
	msgs chan msg
}

func dial(t *testing.T, base string, opts eioclient.Options) *client {
	t.Helper()
	c := &client{msgs: make(chan msg, 4096)}
	opts.OnMessage = func(data []byte, binary bool) { c.msgs <- msg{data, binary} }
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := eioclient.Dial(ctx, base, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Conn = conn
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) recv(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.Done():
		// Deliveries that raced with the end are still valid.
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatalf("connection ended while waiting for a message: %v", c.Err())
	case <-time.After(wait):
		t.Fatal("timed out waiting for a message")
	}
	return msg{}
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	if err := c.Send([]byte(s), false); err != nil {
		t.Fatalf("Send(%.40q): %v", s, err)
	}
}

func (c *client) expectText(t *testing.T, want string) {
	t.Helper()
	m := c.recv(t)
	if m.binary || string(m.data) != want {
		t.Fatalf("got %.80q (binary=%v), want %.80q", m.data, m.binary, want)
	}
}

func awaitUpgrade(t *testing.T, c *client) {
	t.Helper()
	select {
	case <-c.Upgraded():
	case <-c.Done():
		t.Fatalf("connection ended before upgrading: %v", c.Err())
	case <-time.After(wait):
		t.Fatal("timed out waiting for the upgrade")
	}
}

type mode struct {
	name       string
	transports []string
	upgrade    bool
	deflate    bool
}

var modes = []mode{
	{name: "polling", transports: []string{"polling"}},
	{name: "websocket", transports: []string{"websocket"}},
	{name: "websocket+deflate", transports: []string{"websocket"}, deflate: true},
	{name: "upgrade", upgrade: true},
	{name: "upgrade+deflate", upgrade: true, deflate: true},
}

func (m mode) wantTransport() string {
	if len(m.transports) == 1 {
		return m.transports[0]
	}
	return "websocket"
}

func TestInterop(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			testID := strings.ReplaceAll(t.Name(), "/", "_")
			c := dial(t, base, eioclient.Options{
				Transports: m.transports,
				Deflate:    m.deflate,
				Header:     http.Header{"X-Test-Id": {testID}},
			})
			hs := c.Handshake()
			if hs.SID == "" || hs.PingInterval != 25000 || hs.PingTimeout != 20000 || hs.MaxPayload != 1e6 {
				t.Fatalf("handshake = %+v", hs)
			}
			if m.upgrade {
				awaitUpgrade(t, c)
			}

			c.send(t, "cmd:transport")
			c.expectText(t, "transport:"+m.wantTransport())

			c.send(t, "héllo wörld")
			c.expectText(t, "héllo wörld")

			bin := []byte{0, 1, 2, 0x1e, 0xff}
			if err := c.Send(bin, true); err != nil {
				t.Fatal(err)
			}
			if got := c.recv(t); !got.binary || !bytes.Equal(got.data, bin) {
				t.Fatalf("binary echo = %v (binary=%v)", got.data, got.binary)
			}

			c.send(t, "cmd:binary:3")
			for i := range 3 {
				got := c.recv(t)
				if !got.binary || !bytes.Equal(got.data, bytes.Repeat([]byte{byte(i)}, 3)) {
					t.Fatalf("binary %d = %v (binary=%v)", i, got.data, got.binary)
				}
			}

			c.send(t, "cmd:ext")
			switch {
			case m.wantTransport() == "polling":
				c.expectText(t, "ext:<none>")
			case m.deflate:
				c.expectText(t, "ext:permessage-deflate; client_max_window_bits")
			default:
				c.expectText(t, "ext:")
			}

			// Several ~20 KB near-identical messages: with deflate the server
			// compresses each against the previous ones (context takeover).
			const n = 8
			payload := string(nearIdentical(20 << 10))
			before := c.Stats().BytesRead
			c.send(t, fmt.Sprintf("cmd:repeat:%d:%s", n, payload))
			for i := range n {
				c.expectText(t, fmt.Sprintf("%d:%s", i, payload))
			}
			read := c.Stats().BytesRead - before
			if m.deflate && read > int64(n*len(payload)/4) {
				t.Errorf("read %d wire bytes for %d bytes of messages: not compressed?", read, n*len(payload))
			}
			if !m.deflate && read < int64(n*len(payload)) {
				t.Errorf("read %d wire bytes for %d bytes of uncompressed messages", read, n*len(payload))
			}

			// A big message the client compresses (when negotiated), twice so
			// the second one depends on the client's context takeover.
			big := payload + payload
			c.send(t, big)
			c.expectText(t, big)
			c.send(t, big[1:])
			c.expectText(t, big[1:])

			st := c.Stats()
			if st.MessagesRead == 0 || st.MessagesSent == 0 || st.FramesRead == 0 || st.FramesWritten == 0 || st.BytesWritten == 0 {
				t.Errorf("stats not counted: %+v", st)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(c.Err(), eioclient.ErrClosed) {
				t.Fatalf("Err after Close = %v", c.Err())
			}
			if err := c.Send([]byte("late"), false); err == nil {
				t.Fatal("Send after Close succeeded")
			}
		})
	}
}

func nearIdentical(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz{}\",:0123456789"[(i*7+i/13)%41]
	}
	return b
}

// TestOrderAcrossUpgrade sends while the upgrade is in progress: every echo
// must come back exactly once and in order.
func TestOrderAcrossUpgrade(t *testing.T) {
	base := nodeserver.Start(t)
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			c := dial(t, base, eioclient.Options{Deflate: deflate})
			const n = 300
			go func() {
				for i := range n {
					if c.Send([]byte(fmt.Sprintf("m%d", i)), false) != nil {
						return
					}
				}
			}()
			for i := range n {
				c.expectText(t, fmt.Sprintf("m%d", i))
			}
			awaitUpgrade(t, c)
			c.send(t, "cmd:transport")
			c.expectText(t, "transport:websocket")
		})
	}
}

func TestServerClose(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := dial(t, base, eioclient.Options{Transports: m.transports, Deflate: m.deflate})
			if m.upgrade {
				awaitUpgrade(t, c)
			}
			c.send(t, "cmd:close")
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("connection not closed by the server")
			}
			if !errors.Is(c.Err(), eioclient.ErrServerClosed) {
				t.Fatalf("Err = %v, want ErrServerClosed", c.Err())
			}
		})
	}
}

// TestHeartbeat runs a server with a short ping interval: the client must
// answer enough pings to stay connected.
func TestHeartbeat(t *testing.T) {
	// Pings come fast so five arrive quickly; the pong deadline is generous
	// so a loaded machine (make test runs packages side by side) does not
	// time the session out.
	base := nodeserver.Start(t, "PING_INTERVAL=100", "PING_TIMEOUT=2000")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			pings := make(chan struct{}, 100)
			c := dial(t, base, eioclient.Options{
				Transports: m.transports,
				Deflate:    m.deflate,
				OnPing:     func() { pings <- struct{}{} },
			})
			for i := range 5 {
				select {
				case <-pings:
				case <-c.Done():
					t.Fatalf("connection ended after %d pings: %v", i, c.Err())
				case <-time.After(wait):
					t.Fatalf("timed out waiting for ping %d", i)
				}
			}
			c.send(t, "still here")
			c.expectText(t, "still here")
			if p := c.Stats().Pings; p < 5 {
				t.Fatalf("Stats().Pings = %d", p)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	base := nodeserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, tr := range []string{"polling", "websocket"} {
		// The Node server never answers a polling request on a foreign path,
		// so the context bounds that case.
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := eioclient.Dial(short, base, eioclient.Options{Transports: []string{tr}, Path: "/nope/"})
		cancel()
		if !errors.Is(err, eioclient.ErrHandshake) {
			t.Errorf("%s to a wrong path: err = %v, want ErrHandshake", tr, err)
		}
	}
	if _, err := eioclient.Dial(ctx, "ftp://x", eioclient.Options{}); err == nil {
		t.Error("Dial accepted an ftp URL")
	}
	if _, err := eioclient.Dial(ctx, base, eioclient.Options{Transports: []string{"carrier-pigeon"}}); err == nil {
		t.Error("Dial accepted an unknown transport")
	}
}

// SendNotify's callback runs once per message, before the message can have
// reached the server: by the time the echo is back it has run, and the
// echo cannot have left before it.
func TestSendNotify(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			testID := strings.ReplaceAll(t.Name(), "/", "_")
			c := dial(t, base, eioclient.Options{Transports: m.transports, Deflate: m.deflate, Header: http.Header{"X-Test-Id": {testID}}})
			for i := range 3 {
				calls := make(chan time.Time, 2)
				body := fmt.Sprintf("notify %d", i)
				if err := c.SendNotify([]byte(body), false, func() { calls <- time.Now() }); err != nil {
					t.Fatal(err)
				}
				c.expectText(t, body)
				echoed := time.Now()
				select {
				case at := <-calls:
					if at.After(echoed) {
						t.Fatalf("callback at %v, after the echo arrived at %v", at, echoed)
					}
				default:
					t.Fatal("the echo arrived but the callback did not run")
				}
				if len(calls) != 0 {
					t.Fatal("callback ran twice")
				}
			}
		})
	}
}
