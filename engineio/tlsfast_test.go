package engineio

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// testCert is a self-signed pair for 127.0.0.1, made once per test binary.
var testCert = sync.OnceValue(func() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "engineio test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
})

// startTLSServer serves srv over TLS through NewTLSListener on a free
// loopback port; base is the https URL of the engine's path.
func startTLSServer(t testing.TB, cfg Config, rec *recorder) (*Server, string) {
	t.Helper()
	srv := NewServer(cfg, func(s *Socket) {
		s.SetHandler(rec)
		rec.sockets <- s
	})
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = NewTLSListener(hs.Listener, &tls.Config{Certificates: []tls.Certificate{testCert()}, MinVersion: tls.VersionTLS12})
	hs.Start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, strings.Replace(hs.URL, "http://", "https://", 1) + "/engine.io/"
}

func tlsHTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// TestTLSFastPathExchange runs the WebSocket exchanges over TLS with the
// fast path off and on: a session opened on WebSocket and one upgraded
// from polling, messages echoed with deflate, a message larger than a TLS
// record both ways, a frame sent one byte per TLS record, many messages
// in one burst, and the close.
func TestTLSFastPathExchange(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			rec := newRecorder()
			rec.onMsg = echo
			srv, base := startTLSServer(t, Config{TLSFastPath: fast, Deflate: DeflateConfig{Enabled: true}}, rec)

			// Opened on WebSocket.
			c := dialWS(t, base+"?EIO=4&transport=websocket", true)
			if open, _, _ := c.next(); len(open) == 0 || open[0] != '0' {
				t.Fatalf("open packet %q", open)
			}
			so := await(t, rec.sockets, "socket")
			big := "4" + strings.Repeat("a record is at most 16 KiB of plaintext ", 1200) // ~48 KB
			c.send(big)
			if m, _, _ := c.next(); string(m) != big {
				t.Fatalf("big echo: %d bytes, want %d", len(m), len(big))
			}
			// One byte per TLS record: the frame arrives in 14+ records.
			frame, err := ws.CompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte("4byte by byte"))))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range frame {
				if _, err := c.conn.Write([]byte{b}); err != nil {
					t.Fatal(err)
				}
			}
			if m, _, _ := c.next(); string(m) != "4byte by byte" {
				t.Fatalf("byte-by-byte echo %q", m)
			}
			// A burst: many frames in few records, read in one go.
			var burst bytes.Buffer
			for i := 0; i < 50; i++ {
				_ = ws.WriteFrame(&burst, ws.MaskFrame(ws.NewTextFrame(fmt.Appendf(nil, "4burst %d", i))))
			}
			if _, err := c.conn.Write(burst.Bytes()); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 50; i++ {
				if m, _, _ := c.next(); string(m) != fmt.Sprintf("4burst %d", i) {
					t.Fatalf("burst %d: %q", i, m)
				}
			}

			// Upgraded from polling.
			hc := tlsHTTPClient()
			resp, err := hc.Get(base + "?EIO=4&transport=polling")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(string(body), `0{"sid":"`) {
				t.Fatalf("https handshake %q", body)
			}
			sid := strings.SplitN(strings.TrimPrefix(string(body), `0{"sid":"`), `"`, 2)[0]
			pso := await(t, rec.sockets, "polling socket")
			u := dialWS(t, base+"?EIO=4&transport=websocket&sid="+sid, false)
			u.send("2probe")
			if m, _, _ := u.next(); string(m) != "3probe" {
				t.Fatalf("probe %q", m)
			}
			u.send("5")
			// The upgrade done before the next message, so that nothing
			// waits unread at the takeover (which keeps crypto/tls then).
			waitFor(t, func() bool {
				pso.mu.Lock()
				defer pso.mu.Unlock()
				return pso.transport == transportWebSocket
			}, "the upgrade")
			u.send("4after upgrade")
			if m, _, _ := u.next(); string(m) != "4after upgrade" {
				t.Fatalf("upgraded echo %q", m)
			}
			// Both sessions are TLS 1.3 with AES-GCM: on the fast path the
			// engine runs their record layer (tls13rec.go).
			pso.mu.Lock()
			_, upgradedOwn := pso.ws.conn.(*tls13Conn)
			pso.mu.Unlock()
			if _, own := so.ws.conn.(*tls13Conn); own != fast || upgradedOwn != fast {
				t.Fatalf("the engine's record layer: %v opened on WebSocket, %v upgraded, want %v", own, upgradedOwn, fast)
			}

			// The server closes: close packet, close frame, then EOF.
			so.Close(ReasonServerClose)
			for i := 0; ; i++ {
				m, op, _ := c.next()
				if op == ws.OpClose {
					break
				}
				if i > 10 {
					t.Fatalf("no close frame; last %q", m)
				}
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.conn.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the close frame: %v, want EOF (close_notify)", err)
			}
			_ = srv
		})
	}
}

// tlsSessions opens n WebSocket sessions over TLS and returns them with
// their server sockets.
func tlsSessions(t *testing.T, base string, rec *recorder, n int, deflate func(i int) bool) ([]*wsClient, []*Socket) {
	t.Helper()
	var cs []*wsClient
	var ss []*Socket
	for i := 0; i < n; i++ {
		c := dialWS(t, base+"?EIO=4&transport=websocket", deflate(i))
		c.next() // open
		cs = append(cs, c)
		ss = append(ss, await(t, rec.sockets, "socket"))
	}
	return cs, ss
}

// TestTLSFastPathIdleGoroutines counts the goroutines idle TLS sessions
// hold: about none on the fast path, one each without it (which shows the
// count sees them). It logs heap plus goroutine stacks per idle session
// (both ends of the connection are in this process) as an indication only:
// in-process figures move with earlier tests' garbage (2 of 50 -race runs
// under load compared them wrongly), so the memory goal is held by
// TestTLSIdleMemory, each server alone in a child process.
func TestTLSFastPathIdleGoroutines(t *testing.T) {
	if !tlsFastPathOS {
		t.Skip("the TLS fast path is built on Linux only")
	}
	const n = 40
	memPer := map[string]float64{}
	defer func() {
		if len(memPer) == 3 && memPer["plain"] > 0 {
			t.Logf("heap+stack per idle session (indication): TLS fast path %.2f× plain, TLS without it %.2f× plain",
				memPer["tls-fast"]/memPer["plain"], memPer["tls"]/memPer["plain"])
		}
	}()
	for _, tc := range []struct {
		name           string
		plain, fast    bool
		minPer, maxPer float64
	}{
		{name: "tls-fast", fast: true, minPer: -1, maxPer: 0.1},
		{name: "tls", fast: false, minPer: 1, maxPer: 3},
		{name: "plain", plain: true, minPer: -1, maxPer: 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			var base string
			if tc.plain {
				_, base = startServer(t, Config{}, rec)
			} else {
				_, base = startTLSServer(t, Config{TLSFastPath: tc.fast}, rec)
			}
			open := func(n int) {
				if !tc.plain {
					tlsSessions(t, base, rec, n, func(i int) bool { return i%2 == 0 })
					return
				}
				for i := 0; i < n; i++ {
					dialWS(t, base+"?EIO=4&transport=websocket", i%2 == 0).next()
					await(t, rec.sockets, "socket")
				}
			}
			// One session first, so the worker pool and the epoll loop exist.
			// (Other goroutines of the process may end meanwhile, so the
			// fast path's lower bound is loose.)
			open(1)
			settle := func() int {
				// The sessions' reader goroutines, not the process's count:
				// goroutines of the tests before this one may still be
				// ending (seen in make test: 256 fewer over one window).
				// The steady count: the same over 5 readings 10 ms apart
				// (a reader starting or ending is a passing dip or peak),
				// at most 2 s.
				last, same := readLoops(), 0
				for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
					if n := readLoops(); n == last {
						same++
					} else {
						last, same = n, 0
					}
				}
				return last
			}
			mem := func() int64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return int64(ms.HeapAlloc + ms.StackInuse)
			}
			before := settle()
			mem0 := mem()
			open(n)
			per := float64(settle()-before) / n
			memPer[tc.name] = float64(mem()-mem0) / n
			t.Logf("%s: %.0f B heap+stack per idle session (server and client), %.2f goroutines", tc.name, memPer[tc.name], per)
			if per < tc.minPer || per > tc.maxPer {
				t.Fatalf("%s: %.2f goroutines per idle session, want %.1f..%.1f", tc.name, per, tc.minPer, tc.maxPer)
			}
		})
	}
}

// TestTLSFastPathBroadcast broadcasts to many TLS sessions through the
// batch (io_uring where available) while some of them close, with -race;
// the sessions that stay get every message in order, and with io_uring
// the TLS sockets' sends went through the ring.
func TestTLSFastPathBroadcast(t *testing.T) {
	rec := newRecorder()
	srv, base := startTLSServer(t, Config{TLSFastPath: true, Uring: true, Deflate: DeflateConfig{Enabled: true}}, rec)
	const n, closing, msgs = 24, 8, 40
	cs, ss := tlsSessions(t, base, rec, n, func(i int) bool { return i%2 == 0 })
	st := srv.NewStream(StreamOptions{})
	payload := func(i int) []byte {
		return fmt.Appendf(nil, "%03d %s", i, strings.Repeat("x", 200))
	}
	var wg sync.WaitGroup
	for i := 0; i < closing; i++ {
		wg.Add(1)
		go func(c *wsClient, i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Millisecond)
			c.conn.Close()
		}(cs[n-1-i], i)
	}
	for i := 0; i < msgs; i++ {
		f := st.TextFrame(payload(i))
		b := srv.BeginBatch()
		for _, s := range ss {
			_ = s.SendFramesBatch(b, f) // closing sockets may refuse
		}
		b.End()
	}
	wg.Wait()
	for k, c := range cs[:n-closing] {
		for i := 0; i < msgs; i++ {
			m, _, _ := c.next()
			if want := append([]byte("4"), payload(i)...); !bytes.Equal(m, want) {
				t.Fatalf("client %d message %d: %.20q", k, i, m)
			}
		}
	}
	requireUring(t, srv)
	{
		if sends := srv.uringSends.Load(); sends < int64((n-closing)*msgs/2) {
			t.Fatalf("%d sends through the ring for %d TLS sockets × %d messages", sends, n-closing, msgs)
		}
	}
}

// TestTLSFastPathShortWrites: with a small send buffer and a client that
// reads only after the last broadcast, the sealed records are written
// short, the rest waits in pending as ciphertext and a worker finishes it;
// the client must decrypt every record (a record encrypted twice or out of
// order fails its MAC) and get every message whole and in order.
func TestTLSFastPathShortWrites(t *testing.T) {
	for _, uring := range []bool{false, true} {
		t.Run(fmt.Sprintf("uring=%v", uring), func(t *testing.T) {
			rec := newRecorder()
			srv, base := startTLSServer(t, Config{TLSFastPath: true, Uring: uring, SendBuffer: 4096, MaxQueueBytes: 64 << 20}, rec)
			cs, ss := tlsSessions(t, base, rec, 3, func(int) bool { return false })
			const msgs = 8
			payload := func(i int) []byte {
				b := bytes.Repeat([]byte{'a' + byte(i)}, 100<<10)
				copy(b, fmt.Sprintf("msg %d ", i))
				return b
			}
			st := srv.NewStream(StreamOptions{})
			for i := 0; i < msgs; i++ {
				f := st.TextFrame(payload(i))
				b := srv.BeginBatch()
				for _, s := range ss {
					if err := s.SendFramesBatch(b, f); err != nil {
						t.Fatal(err)
					}
				}
				b.End()
			}
			for k, c := range cs {
				for i := 0; i < msgs; i++ {
					m, _, _ := c.next()
					if want := append([]byte("4"), payload(i)...); !bytes.Equal(m, want) {
						t.Fatalf("client %d message %d: %d bytes %.12q", k, i, len(m), m)
					}
				}
			}
			if uring {
				requireUring(t, srv)
				if srv.uringShort.Load() == 0 {
					t.Error("no ring send was short: the pending ciphertext went untested")
				}
			}
		})
	}
}

// readLoops counts the goroutines reading a session (Socket.readLoop): one
// per connection that is not on the epoll read path.
func readLoops() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("engineio.(*Socket).readLoop("))
		}
		buf = make([]byte, 2*len(buf))
	}
}
