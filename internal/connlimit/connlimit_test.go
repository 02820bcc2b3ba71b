package connlimit

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tc := range tests {
		if got := Key(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("Key(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// fakeClock is a settable clock for the handshake buckets.
type fakeClock struct {
	mu  sync.Mutex
	now time.Duration
}

func (c *fakeClock) get() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	c.now = d
	c.mu.Unlock()
}

func TestHandshakeRate(t *testing.T) {
	type req struct {
		at     time.Duration
		from   string // RemoteAddr host
		xff    string
		target string
		method string
		want   int
	}
	hs := "/socket.io/?EIO=4&transport=polling"
	tests := []struct {
		name string
		reqs []req
	}{
		{"burst then refill at the rate", []req{
			{0, "192.0.2.1", "", hs, "", 200},
			{0, "192.0.2.1", "", hs, "", 200},
			{0, "192.0.2.1", "", hs, "", 200},
			{0, "192.0.2.1", "", hs, "", 503},
			{400 * time.Millisecond, "192.0.2.1", "", hs, "", 503}, // 0.8 token
			{500 * time.Millisecond, "192.0.2.1", "", hs, "", 200}, // 1 token
			{10 * time.Second, "192.0.2.1", "", hs, "", 200},       // full again, not more
			{10 * time.Second, "192.0.2.1", "", hs, "", 200},
			{10 * time.Second, "192.0.2.1", "", hs, "", 200},
			{10 * time.Second, "192.0.2.1", "", hs, "", 503},
		}},
		{"addresses have their own buckets", []req{
			{0, "192.0.2.1", "", hs, "", 200}, {0, "192.0.2.1", "", hs, "", 200}, {0, "192.0.2.1", "", hs, "", 200},
			{0, "192.0.2.1", "", hs, "", 503},
			{0, "192.0.2.2", "", hs, "", 200},
		}},
		{"only handshakes count", []req{
			{0, "192.0.2.1", "", hs, "", 200}, {0, "192.0.2.1", "", hs, "", 200}, {0, "192.0.2.1", "", hs, "", 200},
			{0, "192.0.2.1", "", "/socket.io/?EIO=4&transport=polling&sid=abc", "", 200},
			{0, "192.0.2.1", "", "/socket.io/?EIO=4&transport=websocket&sid=abc", "", 200},
			{0, "192.0.2.1", "", hs, http.MethodPost, 200},
			{0, "192.0.2.1", "", hs, http.MethodOptions, 200},
			{0, "192.0.2.1", "", "/status", "", 200},
			{0, "192.0.2.1", "", "/socket.io/?EIO=4&transport=polling&sid=", "", 503}, // an empty sid is no sid
		}},
		{"one IPv6 /64 is one address", []req{
			{0, "2001:db8:0:1::1", "", hs, "", 200}, {0, "2001:db8:0:1::2", "", hs, "", 200}, {0, "2001:db8:0:1::3", "", hs, "", 200},
			{0, "2001:db8:0:1::4", "", hs, "", 503},
			{0, "2001:db8:0:2::1", "", hs, "", 200},
		}},
		{"behind a trusted proxy: per client", []req{
			{0, "10.0.0.1", "198.51.100.1", hs, "", 200}, {0, "10.0.0.1", "198.51.100.1", hs, "", 200},
			{0, "10.0.0.1", "198.51.100.1", hs, "", 200},
			{0, "10.0.0.1", "198.51.100.1", hs, "", 503},
			{0, "10.0.0.1", "198.51.100.2", hs, "", 200},
		}},
		{"X-Forwarded-For of an untrusted peer is ignored", []req{
			{0, "192.0.2.9", "198.51.100.1", hs, "", 200}, {0, "192.0.2.9", "198.51.100.2", hs, "", 200},
			{0, "192.0.2.9", "198.51.100.3", hs, "", 200},
			{0, "192.0.2.9", "198.51.100.4", hs, "", 503},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{}
			l := New(Config{HandshakeRate: 2, HandshakeBurst: 3, TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), clock: clk.get,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			refused := 0
			for i, rq := range tc.reqs {
				clk.set(rq.at)
				method := rq.method
				if method == "" {
					method = http.MethodGet
				}
				r := httptest.NewRequest(method, rq.target, nil)
				r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(rq.from), 40000).String()
				if rq.xff != "" {
					r.Header.Set("X-Forwarded-For", rq.xff)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != rq.want {
					t.Fatalf("request %d (%+v): %d, want %d", i, rq, w.Code, rq.want)
				}
				if w.Code == 503 {
					refused++
					if w.Header().Get("Retry-After") != "1" || w.Body.Len() != 0 {
						t.Fatalf("refusal %v %q", w.Header(), w.Body.String())
					}
					// A direct client's connection is closed; a proxy's is kept.
					if closes := w.Header().Get("Connection") == "close"; closes == strings.HasPrefix(rq.from, "10.") {
						t.Fatalf("request %d from %s: Connection %q", i, rq.from, w.Header().Get("Connection"))
					}
				}
			}
			if got := l.Stats().Refused[ReasonHandshakeRate]; got != uint64(refused) {
				t.Fatalf("handshake_rate refusals %d, want %d", got, refused)
			}
		})
	}
}

func TestHandshakeTableBound(t *testing.T) {
	tests := []struct {
		name     string
		maxAddrs int
		addrs    int
		spread   time.Duration // between handshakes
		wantMax  int
	}{
		{"fewer addresses than the bound", 8, 5, 0, 5},
		{"many addresses at once: bounded", 8, 1000, 0, 8},
		{"many addresses over time: bounded", 8, 1000, 10 * time.Millisecond, 8},
		{"IPv6 hosts of one /64 share an entry", 8, 1000, 0, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{}
			l := New(Config{HandshakeRate: 1, HandshakeBurst: 2, MaxAddrs: tc.maxAddrs, clock: clk.get})
			for i := range tc.addrs {
				clk.set(time.Duration(i) * tc.spread)
				a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
				if strings.HasPrefix(tc.name, "IPv6") {
					a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
				}
				if !l.allowHandshake(Key(a)) && !strings.HasPrefix(tc.name, "IPv6") {
					t.Fatalf("first handshake of %s refused", a)
				}
				if n := l.Stats().RateAddrs; n > tc.wantMax {
					t.Fatalf("after %d addresses the table holds %d, bound %d", i+1, n, tc.wantMax)
				}
			}
			if strings.HasPrefix(tc.name, "IPv6") && l.Stats().RateAddrs != 1 {
				t.Fatalf("one /64 took %d entries", l.Stats().RateAddrs)
			}
		})
	}
	// A full table sweeps the refilled buckets first: an address still
	// limited keeps its entry while idle ones go.
	clk := &fakeClock{}
	l := New(Config{HandshakeRate: 1, HandshakeBurst: 2, MaxAddrs: 4, clock: clk.get})
	hot := Key(netip.MustParseAddr("192.0.2.1"))
	for range 2 {
		l.allowHandshake(hot)
	}
	for i := range 3 {
		l.allowHandshake(Key(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})))
	}
	clk.set(1500 * time.Millisecond) // the idle ones are full again; hot has 1.5 tokens
	l.allowHandshake(Key(netip.MustParseAddr("203.0.113.1")))
	l.allowHandshake(hot)
	if l.allowHandshake(hot) {
		t.Fatal("the sweep reset a limited address's bucket")
	}
	if n := l.Stats().RateAddrs; n != 2 {
		t.Fatalf("after the sweep %d entries, want 2 (hot and the new one)", n)
	}
}

// dialFrom opens a TCP connection to addr from the loopback address src.
// It gives nil when the dial itself saw the connection reset: a refusal
// (accept, then RST) can arrive before Go reads the outcome of its
// non-blocking connect, which then reports ECONNRESET.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err != nil {
		testenv.Missing(t, "dialing %s from %s (needs the 127.0.0.0/8 loopback range): %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reports whether the server closed c without a word (nil: reset
// while it was being dialled).
func refused(t testing.TB, c net.Conn) bool {
	t.Helper()
	if c == nil {
		return true
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// acceptAll runs ln's accept loop, handing the accepted connections over.
func acceptAll(t testing.TB, ln net.Listener) <-chan net.Conn {
	out := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(out)
				return
			}
			out <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return out
}

func TestListenerCaps(t *testing.T) {
	type step struct {
		from  string // dial from this address; "" with close set
		close int    // close the server side of the n-th accepted connection (1-based)
		want  string // "ok" or the refusal reason
	}
	tests := []struct {
		name            string
		perIP, total    int
		trusted         string
		steps           []step
		wantOpen, addrs int
	}{
		{"per address", 2, 0, "", []step{
			{from: "127.0.0.2", want: "ok"}, {from: "127.0.0.2", want: "ok"},
			{from: "127.0.0.2", want: "max_conns_per_ip"},
			{from: "127.0.0.3", want: "ok"},
			{close: 1}, // a close gives the slot back
			{from: "127.0.0.2", want: "ok"},
			{from: "127.0.0.2", want: "max_conns_per_ip"},
		}, 3, 2},
		{"total across addresses", 0, 3, "", []step{
			{from: "127.0.0.2", want: "ok"}, {from: "127.0.0.3", want: "ok"}, {from: "127.0.0.4", want: "ok"},
			{from: "127.0.0.5", want: "max_conns"},
			{close: 2},
			{from: "127.0.0.5", want: "ok"},
		}, 3, 3},
		{"per address checked before the total", 1, 2, "", []step{
			{from: "127.0.0.2", want: "ok"}, {from: "127.0.0.3", want: "ok"},
			{from: "127.0.0.2", want: "max_conns_per_ip"},
			{from: "127.0.0.4", want: "max_conns"},
		}, 2, 2},
		{"a trusted proxy is not capped per address, only in total", 1, 3, "127.0.0.9", []step{
			{from: "127.0.0.9", want: "ok"}, {from: "127.0.0.9", want: "ok"}, {from: "127.0.0.9", want: "ok"},
			{from: "127.0.0.9", want: "max_conns"},
		}, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(Config{MaxConns: tc.total, MaxConnsPerIP: tc.perIP, TrustedProxies: mustPrefixes(t, tc.trusted),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			accepted := acceptAll(t, l.Listen(inner))
			var server []net.Conn
			want := map[string]uint64{}
			for i, s := range tc.steps {
				if s.close > 0 {
					server[s.close-1].Close()
					continue
				}
				c := dialFrom(t, s.from, inner.Addr().String())
				if s.want == "ok" {
					select {
					case sc := <-accepted:
						if _, ok := sc.(*Conn); !ok {
							t.Fatalf("accepted %T", sc)
						}
						server = append(server, sc)
					case <-time.After(5 * time.Second):
						t.Fatalf("step %d: connection from %s not accepted", i, s.from)
					}
					continue
				}
				if !refused(t, c) {
					t.Fatalf("step %d: connection from %s not closed (want %s)", i, s.from, s.want)
				}
				want[s.want]++
			}
			// Refusals are counted before the close the client saw.
			st := l.Stats()
			for _, r := range Reasons() {
				if st.Refused[r] != want[r.String()] {
					t.Errorf("refused %s = %d, want %d", r, st.Refused[r], want[r.String()])
				}
			}
			if st.Open != tc.wantOpen || st.ConnAddrs != tc.addrs {
				t.Errorf("open %d over %d addresses, want %d over %d", st.Open, st.ConnAddrs, tc.wantOpen, tc.addrs)
			}
			for _, c := range server {
				c.Close()
				c.Close() // twice: released once
			}
			if st := l.Stats(); st.Open != 0 || st.ConnAddrs != 0 {
				t.Errorf("after every close: open %d, %d addresses", st.Open, st.ConnAddrs)
			}
		})
	}
}

// TestProxyWebSocketAttribution: behind a trusted proxy, a WebSocket
// request charges its upstream connection to the client in
// X-Forwarded-For, so the per-address cap holds per client; polling
// requests over the proxy's pooled connections are not charged.
// TestRefusalLog: refusals are logged as a summary, at most one line a
// second, and none is lost.
func TestRefusalLog(t *testing.T) {
	var buf testenv.Buffer
	l := New(Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	type line struct {
		Time                                            time.Time
		Refused, MaxConns, MaxConnsPerIP, HandshakeRate uint64
	}
	lines := func() []line {
		var out []line
		for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if s == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				t.Fatalf("log line %q: %v", s, err)
			}
			n := func(k string) uint64 { f, _ := m[k].(float64); return uint64(f) }
			ts, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
			out = append(out, line{ts, n("refused"), n("max_conns"), n("max_conns_per_ip"), n("handshake_rate")})
		}
		return out
	}
	logged := func() uint64 {
		n := uint64(0)
		for _, ln := range lines() {
			n += ln.Refused
		}
		return n
	}
	// The first refusal is logged at once (alone, or with those that came
	// before its line was written), the rest within the next second.
	for range 500 {
		l.refuse(ReasonMaxConnsPerIP)
	}
	testenv.WaitFor(t, 5*time.Second, "500 refusals logged", func() bool { return logged() == 500 })
	before := len(lines())
	for range 300 {
		l.refuse(ReasonMaxConns)
		l.refuse(ReasonHandshakeRate)
	}
	testenv.WaitFor(t, 5*time.Second, "1100 refusals logged", func() bool { return logged() == 1100 })
	if n := len(lines()); before > 2 || n != before+1 {
		t.Errorf("%d lines for the first batch, %d for the second", before, n-before)
	}
	ls := lines()
	var sum line
	for i, ln := range ls {
		if ln.Refused != ln.MaxConns+ln.MaxConnsPerIP+ln.HandshakeRate || ln.Refused == 0 {
			t.Errorf("line %d: %+v", i, ln)
		}
		if i > 0 && ln.Time.Sub(ls[i-1].Time) < 990*time.Millisecond {
			t.Errorf("line %d %s after the one before", i, ln.Time.Sub(ls[i-1].Time))
		}
		sum.Refused += ln.Refused
		sum.MaxConns += ln.MaxConns
		sum.MaxConnsPerIP += ln.MaxConnsPerIP
		sum.HandshakeRate += ln.HandshakeRate
	}
	if sum.Refused != 1100 || sum.MaxConnsPerIP != 500 || sum.MaxConns != 300 || sum.HandshakeRate != 300 || ls[len(ls)-1].MaxConnsPerIP != 0 {
		t.Errorf("lines %+v", ls)
	}
	if st := l.Stats(); st.Refused[ReasonMaxConnsPerIP] != 500 || st.Refused[ReasonMaxConns] != 300 || st.Refused[ReasonHandshakeRate] != 300 {
		t.Errorf("counters %v", st.Refused)
	}
	time.Sleep(1100 * time.Millisecond) // part of what is tested: no line without refusals
	if n := len(lines()); n != len(ls) {
		t.Errorf("%d lines after a quiet second, %d before", n, len(ls))
	}
}
