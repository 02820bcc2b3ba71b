package engineio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"spectra-relay/internal/recvbudget"
)

// sendPart writes a masked text frame header announcing total payload
// bytes, then the first part of that payload (unmasked: the mask is zero).
func sendPart(t *testing.T, c *wsClient, total int, part []byte) {
	t.Helper()
	var hdr bytes.Buffer
	if err := ws.WriteHeader(&hdr, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: int64(total)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(append(hdr.Bytes(), part...)); err != nil {
		t.Fatal(err)
	}
}

func payloadOf(n int) []byte { return append([]byte("4"), bytes.Repeat([]byte("x"), n-1)...) }

// TestRecvBudgetEvictsLargest: two WebSocket sessions send part of a
// large message each; when the second takes the bytes held past the
// budget, it is closed (it holds the most: buffers are accounted by
// capacity, at most about twice what arrived), and the first finishes its
// message.
func TestRecvBudgetEvictsLargest(t *testing.T) {
	const k = 1 << 10
	budget := recvbudget.New(512 * k)
	rec := newRecorder()
	rec.onMsg = func(s *Socket, m Message) { _ = s.Send([]byte(fmt.Sprint(len(m.Data))), false) }
	srv, base := startServer(t, Config{RecvBudget: budget, MaxPayload: 4 << 20}, rec)
	url := base + "?EIO=4&transport=websocket"
	dial := func() *wsClient {
		c := dialWS(t, url, false)
		if open, _, _ := c.next(); open[0] != '0' {
			t.Fatalf("open %q", open)
		}
		return c
	}
	small, large := dial(), dial()
	smallMsg, largeMsg := payloadOf(100*k), payloadOf(2000*k)
	sendPart(t, small, len(smallMsg), smallMsg[:20*k])
	// 20 KiB held in at most 44 KiB.
	waitFor(t, func() bool { return budget.Used() >= 20*k }, "the small part held")
	if used := budget.Used(); used > 2*20*k+minHeld {
		t.Fatalf("20 KiB received, %d bytes accounted", used)
	}
	// 600 KiB from the other passes 512 KiB on its own: it holds the most.
	sendPart(t, large, len(largeMsg), largeMsg[:600*k])
	_ = large.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; ; i++ {
		f, err := ws.ReadFrame(large.r)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection holding the most is still open")
		}
		if err != nil || f.Header.OpCode == ws.OpClose {
			break // cut: its peer is sending, not reading
		}
		if i > 16 {
			t.Fatal("the evicted connection keeps sending")
		}
	}
	if r := await(t, rec.closed, "eviction"); r != ReasonRecvBudget {
		t.Errorf("closed for %v, want %v", r, ReasonRecvBudget)
	}
	if _, err := small.conn.Write(smallMsg[20*k:]); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := small.next(); string(got) != fmt.Sprintf("4%d", len(smallMsg)-1) { // the message is all but the packet type
		t.Errorf("echo %q, want the small message's %d bytes", got, len(smallMsg)-1)
	}
	waitFor(t, func() bool { return budget.Used() == 0 }, "nothing held once the message is whole")
	st := srv.Stats()
	if st.RecvBudgetEvictions != 1 || st.Closes[ReasonRecvBudget] != 1 || budget.Evictions() != 1 {
		t.Errorf("evictions: stats %d, closes %d, budget %d; want 1 each", st.RecvBudgetEvictions, st.Closes[ReasonRecvBudget], budget.Evictions())
	}
}

// TestRecvBudgetPollingBody: a polling POST body held half sent counts in
// the budget; past it, the POST is answered at once and its session ends.
func TestRecvBudgetPollingBody(t *testing.T) {
	const k = 1 << 10
	budget := recvbudget.New(64 * k)
	rec := newRecorder()
	srv, base := startServer(t, Config{RecvBudget: budget}, rec)
	sid := openPolling(t, base)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := payloadOf(200 * k)
	fmt.Fprintf(conn, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", sid, len(body))
	if _, err := conn.Write(body[:20*k]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return budget.Used() >= 20*k }, "the first 20 KiB held")
	if _, err := conn.Write(body[20*k : 80*k]); err != nil {
		t.Fatal(err)
	}
	resp, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(resp, "400") {
		t.Fatalf("evicted POST answered %q (%v), want 400", resp, err)
	}
	if r := await(t, rec.closed, "eviction"); r != ReasonRecvBudget {
		t.Errorf("closed for %v, want %v", r, ReasonRecvBudget)
	}
	waitFor(t, func() bool { return budget.Used() == 0 }, "the evicted body released")
	if st := srv.Stats(); st.RecvBudgetEvictions != 1 {
		t.Errorf("evictions %d, want 1", st.RecvBudgetEvictions)
	}
}

// TestPollingBodyAnnouncedTooLarge: a POST announcing more than
// MaxPayload is refused before any of its body is read.
func TestPollingBodyAnnouncedTooLarge(t *testing.T) {
	rec := newRecorder()
	_, base := startServer(t, Config{MaxPayload: 1000}, rec)
	sid := openPolling(t, base)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n4x", sid)
	resp, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(resp, "413") {
		t.Fatalf("answer %q (%v), want 413", resp, err)
	}
	if r := await(t, rec.closed, "close"); r != ReasonPayloadTooLarge {
		t.Errorf("closed for %v", r)
	}
}

// TestReadBody: a body read in pieces of any size is the body, cut at the
// limit, whatever length was announced; the buffer stays within about
// twice what arrived.
func TestReadBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 3000) // 30 000 bytes
	tests := []struct {
		name      string
		announced int64 // -1: unknown (chunked)
		limit     int64
		sizes     []byte // chunkReader's piece sizes
		want      int
	}{
		{"whole, announced", 30000, 1 << 20, nil, 30000},
		{"pieces, unknown length", -1, 1 << 20, []byte{0, 16, 3, 9}, 30000},
		{"cut at the limit", -1, 1000, []byte{5, 7}, 1000},
		{"announced shorter: read no further", 500, 1 << 20, nil, 500},
		{"announced longer: until EOF", 50000, 1 << 20, []byte{1, 2}, 30000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hold recvbudget.Holder
			b, err := readBody(&chunkReader{data: body, sizes: tc.sizes}, nil, tc.announced, tc.limit, &hold)
			if err != nil || !bytes.Equal(b, body[:tc.want]) {
				t.Fatalf("read %d bytes (%v), want the first %d", len(b), err, tc.want)
			}
			if cap(b) > 2*len(b)+minHeld {
				t.Errorf("%d bytes in a buffer of %d", len(b), cap(b))
			}
		})
	}
}

// FuzzReadBody: any split of any body reads back the body (cut at the
// limit) and never panics.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte("4hello\x1e4world"), []byte{0, 3, 7}, int64(-1), uint16(100))
	f.Add(bytes.Repeat([]byte("x"), 5000), []byte{200}, int64(5000), uint16(4096))
	f.Fuzz(func(t *testing.T, body, sizes []byte, announced int64, limit uint16) {
		b, err := readBody(&chunkReader{data: body, sizes: sizes}, nil, announced, int64(limit), &recvbudget.Holder{})
		if err != nil {
			t.Fatal(err)
		}
		want := body[:min(len(body), int(limit))]
		if announced >= 0 && announced < int64(len(want)) {
			want = want[:announced]
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("read %q, want %q", b, want)
		}
	})
}
