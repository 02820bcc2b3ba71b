package engineio

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestTLSTransports runs polling, WebSocket and the upgrade over TLS. The
// hijacked connection is a *tls.Conn, which the netpoller cannot watch, so
// this also covers the reader-goroutine and worker-write paths.
func TestTLSTransports(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	srv := NewServer(Config{Deflate: DeflateConfig{Enabled: true}}, func(s *Socket) {
		s.SetHandler(rec)
		rec.sockets <- s
	})
	hs := httptest.NewTLSServer(srv)
	defer hs.Close()
	defer srv.Close()
	client := hs.Client()
	get := func(method, url, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := hs.URL + "/engine.io/"
	code, body := get("GET", base+"?EIO=4&transport=polling", "")
	if code != 200 || !strings.HasPrefix(body, `0{"sid":"`) {
		t.Fatalf("https handshake %d %q", code, body)
	}
	sid := strings.SplitN(strings.TrimPrefix(body, `0{"sid":"`), `"`, 2)[0]
	poll := base + "?EIO=4&transport=polling&sid=" + sid
	if code, body := get("POST", poll, "4over-https"); code != 200 || body != "ok" {
		t.Fatalf("POST %d %q", code, body)
	}
	if code, body := get("GET", poll, ""); body != "4over-https" {
		t.Fatalf("GET %d %q", code, body)
	}

	d := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	d.Extensions, _ = parseOptions("permessage-deflate; client_max_window_bits")
	wsURL := strings.Replace(base, "https", "wss", 1)
	conn, br, _, err := d.Dial(context.Background(), wsURL+"?EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("wss upgrade dial: %v", err)
	}
	defer conn.Close()
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	c.send("2probe")
	if m, _, _ := c.next(); string(m) != "3probe" {
		t.Fatalf("probe %q", m)
	}
	c.send("5")
	big := "4" + strings.Repeat("over wss with deflate ", 200)
	c.send(big)
	if m, _, compressed := c.next(); string(m) != big || !compressed {
		t.Fatalf("wss echo: %d bytes, compressed=%v", len(m), compressed)
	}
}
