package engineio

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countedConn is what an accounting listener hands out: a wrapper with a
// TCPConn method that wants to see the close.
type countedConn struct {
	net.Conn
	closes *atomic.Int32
}

func (c *countedConn) TCPConn() *net.TCPConn { tc, _ := c.Conn.(*net.TCPConn); return tc }
func (c *countedConn) Close() error {
	c.closes.Add(1)
	return c.Conn.Close()
}

type countingListener struct {
	net.Listener
	closes *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, closes: l.closes}, nil
}

// TestWrappedConnKeepsFastPath: a WebSocket over a wrapped connection with
// a TCPConn method is still read through the netpoller and written inline,
// and its close goes through the wrapper (where a listener releases what
// it counted).
func TestWrappedConnKeepsFastPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		netpoll bool
	}{{"netpoll", true}, {"reader goroutine", false}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			rec.onMsg = echo
			srv := NewServer(Config{DisableNetpoll: !tc.netpoll}, func(s *Socket) {
				s.SetHandler(rec)
				rec.sockets <- s
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var closes atomic.Int32
			hs := httptest.NewUnstartedServer(srv)
			hs.Listener.Close()
			hs.Listener = countingListener{Listener: ln, closes: &closes}
			hs.Start()
			t.Cleanup(func() {
				srv.Close()
				hs.Close()
			})
			c := dialWS(t, hs.URL+"/engine.io/?EIO=4&transport=websocket", false)
			c.next() // open
			so := await(t, rec.sockets, "socket")
			wc := so.ws
			if _, isTCP := wc.conn.(*net.TCPConn); !isTCP || wc.raw == nil {
				t.Fatalf("reads and writes not on the TCP connection: conn %T, inline %v", wc.conn, wc.raw != nil)
			}
			c.send("4ping")
			if m, _, _ := c.next(); string(m) != "4ping" {
				t.Fatalf("echo %q", m)
			}
			// Read after the echo: the session is published before its
			// reading starts (and registers with the netpoller), so only a
			// message answered proves the read path is in place.
			wc.mu.Lock()
			registered := wc.registered
			wc.mu.Unlock()
			if registered != tc.netpoll {
				t.Fatalf("netpoll registered = %v, want %v", registered, tc.netpoll)
			}
			so.Close(ReasonServerShutdown)
			await(t, rec.closed, "close")
			waitFor(t, func() bool { return closes.Load() == 1 }, "the close through the wrapper")
			if code, _, _ := httpDo(t, http.MethodGet, hs.URL+"/engine.io/?EIO=4&transport=polling", ""); code != http.StatusOK {
				t.Fatalf("polling handshake over the wrapping listener: %d", code)
			}
		})
	}
}
