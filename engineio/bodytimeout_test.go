package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
)

// TestPollingBodyTimeout holds 300 polling POSTs whose bodies never finish
// against a server with a 1 s body deadline: every one is closed on time,
// while a real polling client keeps exchanging messages through it.
func TestPollingBodyTimeout(t *testing.T) {
	const (
		slow    = 300
		timeout = time.Second
		limit   = timeout + 4*time.Second
	)
	rec := newRecorder()
	rec.onMsg = echo
	rec.closed = make(chan CloseReason, 2*slow) // every slow session closes
	rec.gotMsg = make(chan struct{}, 4096)
	_, base := startServer(t, Config{BodyTimeout: timeout}, rec)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")

	// A normal client, on polling only so its POSTs share the server with
	// the slow ones.
	got := make(chan string, 16)
	cl, err := eioclient.Dial(context.Background(), base, eioclient.Options{
		Transports: []string{eioclient.TransportPolling},
		OnMessage:  func(d []byte, _ bool) { got <- string(d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	sids := make([]string, slow)
	for i := range sids {
		sids[i] = openPolling(t, base)
	}
	var held testenv.SlowBodies
	for _, sid := range sids {
		held.Go(addr, "POST", "/engine.io/?EIO=4&transport=polling&sid="+sid, "text/plain", 1000, "4012345678", limit)
	}
	// Round trips of the normal client while the slow bodies are held.
	rounds := held.HoldWhile(func(i int) {
		msg := fmt.Sprintf("ping-%d", i)
		if err := cl.Send([]byte(msg), false); err != nil {
			t.Fatalf("normal client send: %v", err)
		}
		if m := await(t, got, "echo"); m != msg {
			t.Fatalf("echo %q, want %q", m, msg)
		}
	})
	minT, maxT := held.Check(t, timeout)
	t.Logf("%d slow bodies closed after %v..%v; %d normal round trips meanwhile", slow, minT, maxT, rounds)
	if rounds < 2 {
		t.Errorf("only %d normal round trips while the slow bodies were held", rounds)
	}
}

// TestPollingBodyDeadlineNotInherited: a long-poll GET that follows a POST
// on the same keep-alive connection waits past the body deadline.
func TestPollingBodyDeadlineNotInherited(t *testing.T) {
	const timeout = 300 * time.Millisecond
	rec := newRecorder()
	_, base := startServer(t, Config{BodyTimeout: timeout, PingInterval: 4 * timeout, PingTimeout: 5 * time.Second}, rec)
	sid := openPolling(t, base)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	path := "/engine.io/?EIO=4&transport=polling&sid=" + sid
	roundTrip := func(method, body string) (int, string) {
		t.Helper()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", method, path, addr, len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := roundTrip("POST", "4hello"); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	start := time.Now()
	if code, body := roundTrip("GET", ""); code != 200 || body != "2" {
		t.Fatalf("long-poll GET: %d %q", code, body)
	}
	if d := time.Since(start); d < 2*timeout {
		t.Errorf("long-poll answered after %v; the ping comes at %v", d, 4*timeout)
	}
}

// TestPollingBodyTimeoutOtherMethod: a body on a method the sid path does
// not take is drained under the deadline too.
func TestPollingBodyTimeoutOtherMethod(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, base := startServer(t, Config{BodyTimeout: timeout}, newRecorder())
	sid := openPolling(t, base)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")
	for _, m := range []string{"PUT", "POST"} {
		path := "/engine.io/?EIO=4&transport=polling&sid=" + sid
		if m == "POST" {
			path = "/engine.io/?EIO=4&transport=polling" // no sid: refused before any read
		}
		if _, err := testenv.SlowBody(addr, m, path, "text/plain", 5000, "4abcdef", timeout+4*time.Second); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}
