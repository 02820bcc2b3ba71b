package engineio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestCloseDuringHandshakes closes the server while hundreds of polling
// and WebSocket handshakes are inside onConnect (the session built but
// not yet published). Run under -race it proves that nothing a session's
// handshake writes (its WebSocket, its handler) is read by Close
// unsynchronised; and every session ends: each WebSocket client sees its
// connection closed, each polling client's next GET ends, and no session,
// connection or handshake goroutine is left.
func TestCloseDuringHandshakes(t *testing.T) {
	const perKind = 150
	raiseFileLimit(t, 8*perKind+256)
	handshakeFuncs := []string{"engineio.(*Socket).readLoop", "engineio.(*Socket).readReady",
		"engineio.(*Server).openWebSocket", "engineio.(*Socket).servePollGet", "engineio.(*Socket).deliverClose"}
	// Other tests of the package may have left such goroutines behind
	// (a recorder whose channel is full); only more than those count.
	before := goroutinesIn(handshakeFuncs)
	entered := make(chan struct{}, 2*perKind)
	release := make(chan struct{})
	var built atomic.Int64
	h := &closeCounter{}
	srv := NewServer(Config{}, func(s *Socket) {
		s.SetHandler(h)
		built.Add(1)
		entered <- struct{}{}
		<-release
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	base := hs.URL + "/engine.io/"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 4 * perKind}}
	defer client.CloseIdleConnections()

	errs := make(chan error, 2*perKind)
	var wg sync.WaitGroup
	for i := 0; i < perKind; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- pollingClient(client, base) }()
		go func() { defer wg.Done(); errs <- wsClientUntilClosed(base) }()
	}
	// Close once a good part of the handshakes is held in onConnect, then
	// let them all go on at the same moment as Close runs.
	deadline := time.After(20 * time.Second)
	for n := 0; n < perKind; n++ {
		select {
		case <-entered:
		case <-deadline:
			t.Fatalf("only %d handshakes reached onConnect", n)
		}
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	close(release)
	<-closed
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	waitFor(t, func() bool { return srv.Count() == 0 }, "every session forgotten")
	waitFor(t, func() bool { return h.closes.Load() == built.Load() }, "OnClose for every session built")
	waitFor(t, func() bool { return srv.wsLive.Load() == 0 }, "every WebSocket connection closed")
	var after int
	waitFor(t, func() bool { after = goroutinesIn(handshakeFuncs); return after <= before }, "handshake and reader goroutines to end")
}

// closeCounter is a Handler that counts OnClose calls.
type closeCounter struct{ closes atomic.Int64 }

func (c *closeCounter) OnMessage(*Socket, Message)   {}
func (c *closeCounter) OnClose(*Socket, CloseReason) { c.closes.Add(1) }

// pollingClient runs a polling handshake and one GET: the server either
// refused the handshake (closing) or the GET ends the session.
func pollingClient(c *http.Client, base string) error {
	resp, err := c.Get(base + "?EIO=4&transport=polling")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		if strings.Contains(string(body), "Forbidden") {
			return nil // refused: the server is closing
		}
		return errors.New("polling handshake: " + resp.Status + " " + string(body))
	}
	_, sid, ok := strings.Cut(string(body), `"sid":"`)
	if sid, _, ok = strings.Cut(sid, `"`); !ok {
		return errors.New("polling handshake without sid: " + string(body))
	}
	resp, err = c.Get(base + "?EIO=4&transport=polling&sid=" + sid)
	if err != nil {
		return err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 && string(body) != "1" {
		return errors.New("GET after close: " + string(body))
	}
	return nil
}

// wsClientUntilClosed opens a WebSocket session and reads until the
// server closes it; a connection still open after 10 s is a leak.
func wsClientUntilClosed(base string) error {
	d := ws.Dialer{Timeout: 10 * time.Second}
	conn, br, _, err := d.Dial(context.Background(), strings.Replace(base, "http", "ws", 1)+"?EIO=4&transport=websocket")
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) && int(se) == http.StatusBadRequest {
			return nil // refused: the server is closing
		}
		return err
	}
	defer conn.Close()
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 64; i++ {
		f, err := ws.ReadFrame(r)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return errors.New("websocket session still open 10 s after Close")
		case err != nil:
			return nil // EOF or reset: closed
		case f.Header.OpCode == ws.OpClose:
			return nil
		}
	}
	return errors.New("websocket: more frames than a handshake and a close")
}

// goroutinesIn counts the goroutines whose stack runs any of funcs.
func goroutinesIn(funcs []string) int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				n++
				break
			}
		}
	}
	return n
}
