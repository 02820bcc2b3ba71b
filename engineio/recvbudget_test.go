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

// TestRecvBudgetEvictsLargest: three WebSocket sessions each send part of
// a large message; when the third takes the bytes held past the budget,
// the session holding the most is closed and the other two finish their
// messages.
func TestRecvBudgetEvictsLargest(t *testing.T) {
	const k = 1 << 10
	budget := recvbudget.New(256 * k)
	rec := newRecorder()
	rec.onMsg = func(s *Socket, m Message) { _ = s.Send([]byte(fmt.Sprint(len(m.Data))), false) }
	srv, base := startServer(t, Config{RecvBudget: budget}, rec)
	url := base + "?EIO=4&transport=websocket"
	tests := []struct {
		total, sent int
		usedAfter   int64
	}{
		{200 * k, 100 * k, 100 * k},
		{300 * k, 150 * k, 250 * k},
		{100 * k, 50 * k, 150 * k}, // 300 KiB: the 150 KiB one goes
	}
	clients := make([]*wsClient, len(tests))
	msgs := make([][]byte, len(tests))
	for i, tc := range tests {
		c := dialWS(t, url, false)
		if open, _, _ := c.next(); open[0] != '0' {
			t.Fatalf("open %q", open)
		}
		clients[i], msgs[i] = c, payloadOf(tc.total)
		sendPart(t, c, tc.total, msgs[i][:tc.sent])
		waitFor(t, func() bool { return budget.Used() == tc.usedAfter }, fmt.Sprintf("%d bytes held", tc.usedAfter))
	}
	// The evicted connection is cut (no close frame: its peer is sending,
	// not reading).
	ev := clients[1]
	_ = ev.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; ; i++ {
		f, err := ws.ReadFrame(ev.r)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the evicted connection is still open")
		}
		if err != nil || f.Header.OpCode == ws.OpClose {
			break
		}
		if i > 16 {
			t.Fatal("the evicted connection keeps sending")
		}
	}
	if r := await(t, rec.closed, "eviction"); r != ReasonRecvBudget {
		t.Errorf("closed for %v, want %v", r, ReasonRecvBudget)
	}
	for _, i := range []int{0, 2} {
		if _, err := clients[i].conn.Write(msgs[i][tests[i].sent:]); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := clients[i].next(); string(got) != fmt.Sprintf("4%d", tests[i].total-1) { // the message is all but the packet type
			t.Errorf("client %d: echo %q, want its %d bytes", i, got, tests[i].total)
		}
	}
	waitFor(t, func() bool { return budget.Used() == 0 }, "nothing held once the messages are whole")
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
	if _, err := conn.Write(body[:40*k]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return budget.Used() >= 40*k }, "the first 40 KiB held")
	if _, err := conn.Write(body[40*k : 80*k]); err != nil {
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
