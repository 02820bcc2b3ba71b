package socketio

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"spectra-relay/engineio"
)

// testServer runs the CONFORMANCE §5 handlers plus a few for rooms,
// middleware and server-initiated acks, on 127.0.0.1.
type testServer struct {
	srv   *Server
	hs    *httptest.Server
	acks  chan string // results of server→client acks
	disc  chan string // disconnect reasons
	ready chan *Socket
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{acks: make(chan string, 8), disc: make(chan string, 64), ready: make(chan *Socket, 8)}
	ts.srv = NewServer(Config{
		Engine:         engineio.Config{PingInterval: 30 * time.Second, PingTimeout: 20 * time.Second},
		ConnectTimeout: 10 * time.Second,
	})
	for _, name := range []string{"/", "/custom"} {
		main := name == "/"
		ts.srv.Of(name).OnConnection(func(s *Socket) {
			_ = s.Emit("auth", s.Handshake().Auth)
			s.OnDisconnect(func(reason string) { ts.disc <- reason })
			if !main {
				return
			}
			s.On("message", func(s *Socket, e *Event) {
				_ = s.EmitRaw("message-back", e.Args, e.Attachments)
			})
			s.On("message-with-ack", func(s *Socket, e *Event) {
				_ = e.AckRaw(e.Args, e.Attachments)
			})
			s.On("join", func(s *Socket, e *Event) {
				room, _ := e.String(0)
				_ = s.Join(room)
				_ = e.Ack()
			})
			s.On("shout", func(s *Socket, e *Event) {
				room, _ := e.String(0)
				_, _ = s.To(room).Emit("shouted", e.Args[1])
			})
			s.On("ask", func(s *Socket, e *Event) {
				_ = s.EmitWithAck("question", 5*time.Second, func(args []RawJSON, _ [][]byte, err error) {
					if err != nil {
						ts.acks <- "error: " + err.Error()
						return
					}
					ts.acks <- string(args[0])
				}, 42)
			})
			s.On("kick", func(s *Socket, e *Event) { s.Disconnect(false) })
			s.On("echo-go", func(s *Socket, e *Event) {
				_ = e.Ack(e.Attachments[0], "text")
			})
			select {
			case ts.ready <- s:
			default: // tests that do not wait for it
			}
		})
	}
	ts.srv.Of("/private").Use(func(s *Socket, auth RawJSON) error {
		var a struct{ Token string }
		if err := sonic.Unmarshal(auth, &a); err != nil || a.Token != "secret" {
			return &ConnectError{Message: "not authorized", Data: map[string]string{"code": "E_AUTH"}}
		}
		return nil
	})
	ts.srv.Of("/private").OnConnection(func(s *Socket) { _ = s.Emit("welcome") })
	ts.hs = httptest.NewServer(ts.srv)
	t.Cleanup(func() {
		ts.srv.Close()
		ts.hs.Close()
	})
	return ts
}

type wsClient struct {
	t    *testing.T
	conn net.Conn
	rw   connRW
}

// connRW reads through the dialer's buffered reader (it may hold bytes
// past the handshake) and writes to the connection.
type connRW struct {
	br   *bufio.Reader
	conn net.Conn
}

func (c *connRW) Read(p []byte) (int, error)  { return c.br.Read(p) }
func (c *connRW) Write(p []byte) (int, error) { return c.conn.Write(p) }

func (ts *testServer) dial(t *testing.T) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(ts.hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &wsClient{t: t, conn: conn}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	c.rw = connRW{br: br, conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	if open := c.read(); !strings.HasPrefix(open, `0{"sid":`) {
		t.Fatalf("first frame %q, want the open packet", open)
	}
	return c
}

// readFrame returns the next data frame, answering pings.
func (c *wsClient) readFrame() (string, ws.OpCode, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		data, op, err := wsutil.ReadServerData(&c.rw)
		if err != nil {
			return "", 0, err
		}
		if op == ws.OpText && string(data) == "2" {
			_ = wsutil.WriteClientText(c.conn, []byte("3"))
			continue
		}
		return string(data), op, nil
	}
}

func (c *wsClient) read() string {
	c.t.Helper()
	s, op, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		c.t.Fatalf("read a binary frame %q, want text", s)
	}
	return s
}

func (c *wsClient) readBinary() []byte {
	c.t.Helper()
	s, op, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != ws.OpBinary {
		c.t.Fatalf("read text %q, want a binary frame", s)
	}
	return []byte(s)
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := wsutil.WriteClientBinary(c.conn, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// expectClosed reads until the server ends the connection; only a close
// packet may come first.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	for {
		s, _, err := c.readFrame()
		if err != nil {
			var ce wsutil.ClosedError
			if errors.As(err, &ce) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset") {
				return
			}
			c.t.Fatalf("waiting for close: %v", err)
		}
		if s != "1" {
			c.t.Fatalf("got %q while waiting for the connection to close", s)
		}
	}
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *wsClient) expectPrefix(prefix string) string {
	c.t.Helper()
	got := c.read()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

// connectMain connects to "/" and consumes the reply and auth event.
func (c *wsClient) connectMain() {
	c.t.Helper()
	c.send("40")
	c.expectPrefix(`40{"sid":"`)
	c.expect(`42["auth",{}]`)
}

func TestConformanceExchanges(t *testing.T) {
	ts := newTestServer(t)
	type step struct {
		send   string
		bin    []byte
		expect string // exact, or a prefix when it ends in '*'
		binOut []byte
	}
	cases := []struct {
		name   string
		steps  []step
		closed bool
	}{
		{"connect main", []step{{send: "40", expect: `40{"sid":"*`}, {expect: `42["auth",{}]`}}, false},
		{"connect auth", []step{{send: `40{"token":"123"}`, expect: `40{"sid":"*`}, {expect: `42["auth",{"token":"123"}]`}}, false},
		{"connect custom", []step{{send: `40/custom,`, expect: `40/custom,{"sid":"*`}, {expect: `42/custom,["auth",{}]`}}, false},
		{"connect custom auth", []step{{send: `40/custom,{"token":"abc"}`, expect: `40/custom,{"sid":"*`}, {expect: `42/custom,["auth",{"token":"abc"}]`}}, false},
		{"connect custom no comma", []step{{send: `40/custom`, expect: `40/custom,{"sid":"*`}, {expect: `42/custom,["auth",{}]`}}, false},
		{"invalid namespace stays open", []step{
			{send: `40/random`, expect: `44/random,{"message":"Invalid namespace"}`},
			{send: `40`, expect: `40{"sid":"*`}, {expect: `42["auth",{}]`},
		}, false},
		{"message echo", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `42["message",1,"2",{"3":[true]}]`, expect: `42["message-back",1,"2",{"3":[true]}]`},
		}, false},
		{"message with ack", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `42456["message-with-ack",1,"2",{"3":[false]}]`, expect: `43456[1,"2",{"3":[false]}]`},
		}, false},
		{"binary echo", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
			{bin: []byte{1, 2, 3}}, {bin: []byte{4, 5, 6}},
			{expect: `452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
			{binOut: []byte{1, 2, 3}}, {binOut: []byte{4, 5, 6}},
		}, false},
		{"binary ack", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
			{bin: []byte{1, 2, 3}}, {bin: []byte{4, 5, 6}},
			{expect: `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
			{binOut: []byte{1, 2, 3}}, {binOut: []byte{4, 5, 6}},
		}, false},
		{"leave custom then main", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `40/custom`, expect: `40/custom,*`}, {expect: `42/custom,["auth",{}]`},
			{send: `41/custom`},
			{send: `42["message","message to main namespace"]`, expect: `42["message-back","message to main namespace"]`},
		}, false},
		{"leave main keeps engine", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: "41"},
			{send: "40", expect: `40{"sid":"*`}, {expect: `42["auth",{}]`},
		}, false},
		{"middleware refuses", []step{
			{send: `40/private,{"token":"nope"}`, expect: `44/private,{"message":"not authorized","data":{"code":"E_AUTH"}}`},
			{send: `40/private,{"token":"secret"}`, expect: `40/private,{"sid":"*`}, {expect: `42/private,["welcome"]`},
		}, false},
		{"go ack with binary", []step{
			{send: "40", expect: `40*`}, {expect: `42["auth",{}]`},
			{send: `451-5["echo-go",{"_placeholder":true,"num":0}]`}, {bin: []byte{9}},
			{expect: `461-5[{"_placeholder":true,"num":0},"text"]`}, {binOut: []byte{9}},
		}, false},
		{"unknown type first", []step{{send: "4abc"}}, true},
		{"unknown type after connect", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {send: "4abc"}}, true},
		{"payload not array", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {send: "42{}"}}, true},
		{"invalid ack id", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {send: `42abc["message-with-ack",1]`}}, true},
		{"event for unconnected namespace", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {send: `42/custom,["message"]`}}, true},
		{"second connect", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {send: "40"}}, true},
		{"binary without header", []step{{send: "40", expect: `40*`}, {expect: `42["auth",{}]`}, {bin: []byte{1}}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			for _, st := range tc.steps {
				switch {
				case st.send != "":
					c.send(st.send)
				case st.bin != nil:
					c.sendBinary(st.bin)
				}
				switch {
				case strings.HasSuffix(st.expect, "*"):
					c.expectPrefix(strings.TrimSuffix(st.expect, "*"))
				case st.expect != "":
					c.expect(st.expect)
				case st.binOut != nil:
					if got := c.readBinary(); string(got) != string(st.binOut) {
						t.Fatalf("binary %v, want %v", got, st.binOut)
					}
				}
			}
			if tc.closed {
				c.expectClosed()
				return
			}
			// Still open: a CONNECT to /custom (never used above on a
			// connection that stays connected to it) is answered.
			if !strings.Contains(tc.name, "custom") {
				c.send("40/custom,")
				c.expectPrefix(`40/custom,{"sid":"`)
			}
		})
	}
}

func TestRoomsOverWebSocket(t *testing.T) {
	ts := newTestServer(t)
	clients := make([]*wsClient, 3)
	for i := range clients {
		clients[i] = ts.dial(t)
		clients[i].connectMain()
		<-ts.ready
	}
	clients[0].send(`420["join","lobby"]`)
	clients[0].expect(`430[]`)
	clients[1].send(`421["join","lobby"]`)
	clients[1].expect(`431[]`)

	// Client 2 (not a member) shouts to the room: both members hear it.
	clients[2].send(`42["shout","lobby",{"hi":1}]`)
	clients[0].expect(`42["shouted",{"hi":1}]`)
	clients[1].expect(`42["shouted",{"hi":1}]`)
	// A member shouting is left out itself.
	clients[0].send(`42["shout","lobby","again"]`)
	clients[1].expect(`42["shouted","again"]`)
	// Nothing else reached client 0 or 2: their next frames are these echoes.
	for _, i := range []int{0, 2} {
		clients[i].send(`42["message","sync"]`)
		clients[i].expect(`42["message-back","sync"]`)
	}
}

func TestServerAckAndDisconnect(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	c.connectMain()
	<-ts.ready

	c.send(`42["ask"]`)
	c.expect(`420["question",42]`)
	c.send(`430["forty-two"]`)
	if got := <-ts.acks; got != `"forty-two"` {
		t.Fatalf("ack handler got %s", got)
	}

	// Client leaves the namespace: handler sees the reason, engine stays.
	c.send("41")
	if got := <-ts.disc; got != "client namespace disconnect" {
		t.Fatalf("disconnect reason %q", got)
	}
	c.connectMain()
	<-ts.ready

	// A pending ack fails when the socket goes away.
	c.send(`42["ask"]`)
	c.expect(`420["question",42]`) // ack ids are per namespace socket
	c.send(`42["kick"]`)
	c.expect("41")
	if got := <-ts.acks; got != "error: "+ErrDisconnected.Error() {
		t.Fatalf("pending ack after kick got %q", got)
	}
	if got := <-ts.disc; got != "server namespace disconnect" {
		t.Fatalf("disconnect reason %q", got)
	}

	// Closing the transport disconnects every namespace socket.
	c.connectMain()
	<-ts.ready
	_ = c.conn.Close()
	if got := <-ts.disc; got != "transport close" {
		t.Fatalf("disconnect reason on transport close %q", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	srv := NewServer(Config{ConnectTimeout: 50 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ts := &testServer{srv: srv, hs: hs}
	c := ts.dial(t)
	c.expectClosed()
}
