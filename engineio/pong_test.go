package engineio

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestPingFloodKeepsOnePong feeds ping frames through the WebSocket read
// path of a session whose writer is busy (a client that never reads):
// only the latest pong stays queued, its bytes count in the queue, and a
// pong that takes the queue past MaxQueueBytes ends the session as a slow
// consumer.
func TestPingFloodKeepsOnePong(t *testing.T) {
	payload := func(i int) []byte { return []byte(fmt.Sprintf("%0125d", i)) }
	tests := []struct {
		name       string
		pings      int
		queued     int // bytes of a message queued before the pings
		maxQueue   int
		wantClosed bool
	}{
		{"flood, empty queue", 5000, 0, 1 << 10, false},
		{"flood behind a message", 5000, 512, 1 << 10, false},
		{"pong past the cap", 3, 1000, 1 << 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(Config{DisableNetpoll: true, MaxQueueBytes: tc.maxQueue}, nil)
			c1, c2 := net.Pipe()
			defer c2.Close()
			wc := &wsConn{conn: c1, outer: c1, live: &srv.wsLive}
			srv.wsLive.Add(1)
			so := &Socket{id: "pong-test", srv: srv, transport: transportWebSocket, ws: wc, flushing: true}
			if tc.queued > 0 {
				if err := so.Send(bytes.Repeat([]byte("m"), tc.queued), false); err != nil {
					t.Fatal(err)
				}
			}
			var wire bytes.Buffer
			for i := 0; i < tc.pings; i++ {
				_ = ws.WriteFrame(&wire, ws.MaskFrame(ws.NewPingFrame(payload(i))))
			}
			br := newFrameReader(&wire, 4096)
			alive := true
			for i := 0; i < tc.pings && alive; i++ {
				alive = so.handleNext(br)
			}
			so.mu.Lock()
			defer so.mu.Unlock()
			if so.closed != tc.wantClosed || alive == tc.wantClosed {
				t.Fatalf("closed %v (read path alive %v), want closed %v", so.closed, alive, tc.wantClosed)
			}
			if tc.wantClosed {
				return
			}
			var pongs [][]byte
			for _, it := range so.queue {
				if it.raw != nil {
					pongs = append(pongs, it.raw)
				}
			}
			want := ws.MustCompileFrame(ws.NewPongFrame(payload(tc.pings - 1)))
			if len(pongs) != 1 || !bytes.Equal(pongs[0], want) {
				t.Fatalf("%d pongs queued after %d pings, want one carrying the last ping's payload", len(pongs), tc.pings)
			}
			wantBytes := len(want)
			if tc.queued > 0 {
				wantBytes += 1 + tc.queued // the message and its packet type
			}
			if so.queueBytes != wantBytes {
				t.Errorf("queueBytes %d, want %d", so.queueBytes, wantBytes)
			}
		})
	}
}

// TestPongsFollowPings: against a real server, a client sends a burst of
// pings before it reads anything; the pongs it gets (fewer when the
// server coalesced them) carry ping payloads in order, the last ping's
// among them, and the session lives on.
func TestPongsFollowPings(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	_, base := startServer(t, Config{}, rec)
	c := dialWS(t, base+"?EIO=4&transport=websocket", false)
	if open, _, _ := c.next(); len(open) == 0 || open[0] != '0' {
		t.Fatalf("open packet %q", open)
	}
	const pings = 2000
	var wire bytes.Buffer
	for i := 0; i < pings; i++ {
		_ = ws.WriteFrame(&wire, ws.MaskFrame(ws.NewPingFrame([]byte(strconv.Itoa(i)))))
	}
	_ = ws.WriteFrame(&wire, ws.MaskFrame(ws.NewTextFrame([]byte("4done"))))
	if _, err := c.conn.Write(wire.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	last, got := -1, 0
	for i := 0; i <= pings; i++ {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			t.Fatalf("after %d pongs: %v", got, err)
		}
		if f.Header.OpCode == ws.OpText {
			if string(f.Payload) != "4done" {
				t.Fatalf("message %q", f.Payload)
			}
			break
		}
		if f.Header.OpCode != ws.OpPong {
			t.Fatalf("frame %v", f.Header.OpCode)
		}
		n, err := strconv.Atoi(string(f.Payload))
		if err != nil || n <= last {
			t.Fatalf("pong %q after pong %d", f.Payload, last)
		}
		last, got = n, got+1
	}
	if last != pings-1 {
		t.Errorf("last pong answered ping %d, want %d", last, pings-1)
	}
	t.Logf("%d pings answered by %d pongs", pings, got)
}
