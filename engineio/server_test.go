package engineio

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

func parseOptions(s string) ([]httphead.Option, bool) {
	return httphead.ParseOptions([]byte(s), nil)
}

// recorder is a Handler that records what a test needs to await.
type recorder struct {
	mu      sync.Mutex
	msgs    []Message
	gotMsg  chan struct{}
	closed  chan CloseReason
	onMsg   func(s *Socket, m Message)
	sockets chan *Socket
}

func newRecorder() *recorder {
	return &recorder{gotMsg: make(chan struct{}, 1024), closed: make(chan CloseReason, 64), sockets: make(chan *Socket, 1024)}
}

func (r *recorder) OnMessage(s *Socket, m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, Message{Data: append([]byte(nil), m.Data...), Binary: m.Binary})
	r.mu.Unlock()
	if r.onMsg != nil {
		r.onMsg(s, m)
	}
	r.gotMsg <- struct{}{}
}

func (r *recorder) OnClose(s *Socket, reason CloseReason) { r.closed <- reason }

func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func startServer(t testing.TB, cfg Config, rec *recorder) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv := NewServer(cfg, func(s *Socket) {
		s.SetHandler(rec)
		rec.sockets <- s
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, hs.URL + "/engine.io/"
}

func echo(s *Socket, m Message) { _ = s.Send(append([]byte(nil), m.Data...), m.Binary) }

func httpDo(t testing.TB, method, url, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

type handshakeInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func openPolling(t testing.TB, base string) string {
	t.Helper()
	code, body, h := httpDo(t, "GET", base+"?EIO=4&transport=polling", "")
	if code != 200 || !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("handshake CORS header = %q", h.Get("Access-Control-Allow-Origin"))
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body[1:]), &keys); err != nil || len(keys) != 5 {
		t.Fatalf("handshake keys: %v %v", keys, err)
	}
	var hi handshakeInfo
	_ = json.Unmarshal([]byte(body[1:]), &hi)
	return hi.SID
}

func TestPollingEcho(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	_, base := startServer(t, Config{}, rec)
	sid := openPolling(t, base)
	u := base + "?EIO=4&transport=polling&sid=" + sid
	if code, body, _ := httpDo(t, "POST", u, "4test1\x1e4test2\x1ebAQIDBA=="); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	if code, body, _ := httpDo(t, "GET", u, ""); code != 200 || body != "4test1\x1e4test2\x1ebAQIDBA==" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if code, _, h := httpDo(t, "OPTIONS", u, ""); code != 204 || h.Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("OPTIONS: %d %v", code, h)
	}
	// The client closes: the session is gone afterwards.
	if code, _, _ := httpDo(t, "POST", u, "1"); code != 200 {
		t.Fatalf("close POST: %d", code)
	}
	if r := await(t, rec.closed, "close"); r != ReasonClientClose {
		t.Errorf("close reason %v", r)
	}
}

func TestHandshakeErrors(t *testing.T) {
	_, base := startServer(t, Config{}, newRecorder())
	tests := []struct {
		method, query string
		code          int
	}{
		{"GET", "?transport=polling", errCodeUnsupportedProtocol},
		{"GET", "?EIO=3&transport=polling", errCodeUnsupportedProtocol},
		{"GET", "?EIO=abc&transport=polling", errCodeUnsupportedProtocol},
		{"GET", "?EIO=4", errCodeTransportUnknown},
		{"GET", "?EIO=4&transport=abc", errCodeTransportUnknown},
		{"POST", "?EIO=4&transport=polling", errCodeBadHandshakeMethod},
		{"PUT", "?EIO=4&transport=polling", errCodeBadHandshakeMethod},
		{"GET", "?EIO=4&transport=polling&sid=nope", errCodeUnknownSID},
	}
	for _, tc := range tests {
		status, body, h := httpDo(t, tc.method, base+tc.query, "")
		want := fmt.Sprintf(`{"code":%d,"message":%q}`, tc.code, errMessages[tc.code])
		if status != 400 || body != want || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s = %d %q, want 400 %q with CORS", tc.method, tc.query, status, body, want)
		}
	}
}

func TestPollingDuplicateGet(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{}, rec)
	sid := openPolling(t, base)
	so := await(t, rec.sockets, "socket")
	u := base + "?EIO=4&transport=polling&sid=" + sid
	first := make(chan string, 1)
	go func() {
		_, body, _ := httpDo(t, "GET", u, "")
		first <- body
	}()
	waitFor(t, func() bool { so.mu.Lock(); defer so.mu.Unlock(); return so.pollPending }, "pending GET")
	if code, _, _ := httpDo(t, "GET", u, ""); code != 400 {
		t.Errorf("duplicate GET: %d", code)
	}
	if body := await(t, first, "first GET"); body != "1" {
		t.Errorf("pending GET got %q, want close packet", body)
	}
	if r := await(t, rec.closed, "close"); r != ReasonDuplicatePoll {
		t.Errorf("reason %v", r)
	}
}

// waitFor polls cond, for state that has no event to await.
func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPingTimeout(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{PingInterval: 50 * time.Millisecond, PingTimeout: 30 * time.Millisecond}, rec)
	sid := openPolling(t, base)
	if r := await(t, rec.closed, "ping timeout"); r != ReasonPingTimeout {
		t.Errorf("reason %v", r)
	}
	if code, _, _ := httpDo(t, "GET", base+"?EIO=4&transport=polling&sid="+sid, ""); code != 400 {
		t.Errorf("GET after timeout: %d", code)
	}
}

// wsClient is a minimal WebSocket Engine.IO client for tests. Compressed
// messages are inflated with the previous output as dictionary, which is
// exactly what a browser's context-takeover decompressor does.
type wsClient struct {
	t      testing.TB
	conn   net.Conn
	r      io.Reader
	window []byte
	wire   int // payload bytes of data frames received
}

func dialWS(t testing.TB, url string, deflate bool) *wsClient {
	t.Helper()
	d := ws.Dialer{Timeout: 5 * time.Second}
	if strings.HasPrefix(url, "https") {
		// The test servers' certificates are self-signed.
		d.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if deflate {
		d.Extensions, _ = parseOptions("permessage-deflate; client_max_window_bits")
	}
	// http → ws, https → wss.
	conn, br, _, err := d.Dial(context.Background(), strings.Replace(url, "http", "ws", 1))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil {
		// Frames that arrived with the handshake response are in br.
		c.r = io.MultiReader(br, conn)
	}
	return c
}

func (c *wsClient) send(text string) {
	c.t.Helper()
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewTextFrame([]byte(text)))); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next data message, answering pings ("2") on the way if
// pong is set; compressed reports whether it came compressed.
func (c *wsClient) next() (msg []byte, op ws.OpCode, compressed bool) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if f.Header.OpCode.IsControl() {
			if f.Header.OpCode == ws.OpClose {
				return nil, ws.OpClose, false
			}
			continue
		}
		c.wire += len(f.Payload)
		if !f.Header.Rsv1() {
			return f.Payload, f.Header.OpCode, false
		}
		src := io.MultiReader(bytes.NewReader(f.Payload), bytes.NewReader(deflateTail))
		out, err := io.ReadAll(flate.NewReaderDict(src, c.window))
		if err != nil && err != io.ErrUnexpectedEOF {
			c.t.Fatalf("inflate: %v", err)
		}
		c.window = append(c.window, out...)
		if len(c.window) > windowSize {
			c.window = append([]byte(nil), c.window[len(c.window)-windowSize:]...)
		}
		return out, f.Header.OpCode, true
	}
}

func TestWebSocketEchoAndClose(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	srv, base := startServer(t, Config{}, rec)
	c := dialWS(t, base+"?EIO=4&transport=websocket", false)
	open, _, _ := c.next()
	var hi handshakeInfo
	if open[0] != '0' || json.Unmarshal(open[1:], &hi) != nil || len(hi.Upgrades) != 0 {
		t.Fatalf("open packet %q", open)
	}
	c.send("4hello")
	if m, op, _ := c.next(); string(m) != "4hello" || op != ws.OpText {
		t.Fatalf("echo %q %v", m, op)
	}
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewBinaryFrame([]byte{1, 2, 3}))); err != nil {
		t.Fatal(err)
	}
	if m, op, _ := c.next(); !bytes.Equal(m, []byte{1, 2, 3}) || op != ws.OpBinary {
		t.Fatalf("binary echo %v %v", m, op)
	}
	// Shutdown tells the client with a close packet, then a close frame.
	srv.Close()
	if m, _, _ := c.next(); string(m) != "1" {
		t.Fatalf("want close packet, got %q", m)
	}
	if _, op, _ := c.next(); op != ws.OpClose {
		t.Fatalf("want close frame, got %v", op)
	}
	if r := await(t, rec.closed, "close"); r != ReasonServerShutdown {
		t.Errorf("reason %v", r)
	}
}

func TestWebSocketInvalidPacketCloses(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{}, rec)
	c := dialWS(t, base+"?EIO=4&transport=websocket", false)
	c.next()
	c.send("abc")
	if r := await(t, rec.closed, "close"); r != ReasonParseError {
		t.Errorf("reason %v", r)
	}
}

func TestUpgrade(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	_, base := startServer(t, Config{}, rec)
	sid := openPolling(t, base)
	u := base + "?EIO=4&transport=polling&sid=" + sid
	so := await(t, rec.sockets, "socket")
	pending := make(chan string, 1)
	go func() {
		_, body, _ := httpDo(t, "GET", u, "")
		pending <- body
	}()
	waitFor(t, func() bool { so.mu.Lock(); defer so.mu.Unlock(); return so.pollPending }, "pending GET")
	c := dialWS(t, base+"?EIO=4&transport=websocket&sid="+sid, false)
	c.send("2probe")
	if m, _, _ := c.next(); string(m) != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if body := await(t, pending, "noop to pending GET"); body != "6" {
		t.Fatalf("pending GET got %q", body)
	}
	c.send("5")
	c.send("4hello")
	if m, _, _ := c.next(); string(m) != "4hello" {
		t.Fatalf("echo after upgrade %q", m)
	}
	if code, _, _ := httpDo(t, "GET", u, ""); code != 400 {
		t.Errorf("GET after upgrade: %d", code)
	}
	if so.Transport() != "websocket" {
		t.Errorf("transport %s", so.Transport())
	}
	// A second WebSocket for the same session is accepted, then closed.
	c2 := dialWS(t, base+"?EIO=4&transport=websocket&sid="+sid, false)
	if _, op, _ := c2.next(); op != ws.OpClose {
		t.Errorf("second websocket got %v, want close", op)
	}
}

// matchLike makes n ~15 KB JSON-ish payloads where one field changes per
// message, like consecutive match states.
func matchLike(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for sb.Len() < 15000 {
		fmt.Fprintf(&sb, `{\"name\":\"P%x\",\"kills\":%d,\"money\":%d},`, rng.Uint64(), rng.IntN(30), rng.IntN(9000))
	}
	base := sb.String()
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`["match_data","{\"eventNumber\":%d,\"players\":[%s]}"]`, i*7919, base))
	}
	return out
}

// TestStreamDeflateLateJoiner runs with each context encoder: deltaflate
// (the default) and compress/flate (StreamOptions.Flate).
func TestStreamDeflateLateJoiner(t *testing.T) {
	for _, fl := range []bool{false, true} {
		t.Run(fmt.Sprintf("flate=%v", fl), func(t *testing.T) { testStreamDeflateLateJoiner(t, fl) })
	}
}

func testStreamDeflateLateJoiner(t *testing.T, useFlate bool) {
	rec := newRecorder()
	_, base := startServer(t, Config{Deflate: DeflateConfig{Enabled: true}}, rec)
	msgs := matchLike(12)
	st := NewStream(StreamOptions{Flate: useFlate})

	type peer struct {
		c       *wsClient
		s       *Socket
		from    int
		sizes   []int
		deflate bool
	}
	var peers []*peer
	join := func(from int, deflate bool) {
		c := dialWS(t, base+"?EIO=4&transport=websocket", deflate)
		c.next() // open
		peers = append(peers, &peer{c: c, s: await(t, rec.sockets, "socket"), from: from, deflate: deflate})
	}
	join(0, true)
	join(0, false)
	for i, m := range msgs {
		if i == 4 || i == 9 {
			join(i, true)
		}
		f := st.TextFrame(m)
		for _, p := range peers {
			if err := p.s.SendFrames(f); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range peers {
			before := p.c.wire
			got, _, compressed := p.c.next()
			if string(got) != "4"+string(m) {
				t.Fatalf("peer from %d: message %d decoded wrong (%d bytes)", p.from, i, len(got))
			}
			if compressed != p.deflate {
				t.Fatalf("peer from %d (deflate=%v): compressed=%v", p.from, p.deflate, compressed)
			}
			p.sizes = append(p.sizes, p.c.wire-before)
		}
	}
	first := peers[0]
	noCtx := first.sizes[0]
	last := first.sizes[len(first.sizes)-1]
	if last*4 > noCtx {
		t.Errorf("context frames not smaller: first %d bytes, last %d", noCtx, last)
	}
	// The late joiner gets context-free frames until its window holds the
	// stream, then the same small frames.
	late := peers[2]
	if late.sizes[0] < noCtx/2 || late.sizes[len(late.sizes)-1] != last {
		t.Errorf("late joiner sizes %v (first peer's last %d)", late.sizes, last)
	}
}

func TestCoalescingStreamKeepsLatest(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{}, rec)
	sid := openPolling(t, base)
	so := await(t, rec.sockets, "socket")
	st := NewStream(StreamOptions{Coalesce: true})
	for i := 0; i < 5; i++ {
		if err := so.SendFrames(st.TextFrame([]byte(fmt.Sprint("state", i)))); err != nil {
			t.Fatal(err)
		}
	}
	_ = so.Send([]byte("other"), false)
	if _, body, _ := httpDo(t, "GET", base+"?EIO=4&transport=polling&sid="+sid, ""); body != "4state4\x1e4other" {
		t.Fatalf("GET = %q", body)
	}
}

func TestSlowConsumerClosed(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{MaxQueueBytes: 1000}, rec)
	openPolling(t, base)
	so := await(t, rec.sockets, "socket")
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = so.Send(make([]byte, 100), false)
	}
	if err != ErrSlowConsumer {
		t.Fatalf("err %v", err)
	}
	if r := await(t, rec.closed, "close"); r != ReasonSlowConsumer {
		t.Errorf("reason %v", r)
	}
}

func TestCompressedClientMessage(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	_, base := startServer(t, Config{Deflate: DeflateConfig{Enabled: true}}, rec)
	c := dialWS(t, base+"?EIO=4&transport=websocket", true)
	c.next()
	big := "4" + strings.Repeat("compress me ", 500)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 5)
	fw.Write([]byte(big))
	fw.Flush()
	payload := bytes.TrimSuffix(buf.Bytes(), deflateTail)
	f := ws.NewTextFrame(payload)
	f.Header.Rsv = ws.Rsv(true, false, false)
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := c.next(); string(m) != big {
		t.Fatalf("echo of compressed message: %d bytes", len(m))
	}
}

// TestWebSocketSlowConsumerClosed: a client that stops reading fills the
// kernel buffers, then the socket's queue, and is closed as a slow
// consumer instead of growing the server's memory.
func TestWebSocketSlowConsumerClosed(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{MaxQueueBytes: 1 << 16, WriteTimeout: 20 * time.Millisecond}, rec)
	c := dialWS(t, base+"?EIO=4&transport=websocket", false)
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	c.next() // the open packet; nothing is read after it
	so := await(t, rec.sockets, "socket")
	msg := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for i := 0; i < 4096 && err == nil; i++ { // at most 64 MiB
		err = so.Send(msg, false)
	}
	if err != ErrSlowConsumer && err != ErrClosed {
		t.Fatalf("sending to a stalled client: %v", err)
	}
	if r := await(t, rec.closed, "close"); r != ReasonSlowConsumer {
		t.Errorf("reason %v, want slow consumer", r)
	}
}
