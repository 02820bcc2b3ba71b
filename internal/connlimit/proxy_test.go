package connlimit

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

func mustPrefixes(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the prefixes joined by " "
		wantErr string
	}{
		{"", "", ""},
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.1.2.3/8, 192.168.1.5 ,fd00::/8", "10.0.0.0/8 192.168.1.5/32 fd00::/8", ""},
		{"::1 127.0.0.1", "::1/128 127.0.0.1/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"\t172.16.0.0/12\n", "172.16.0.0/12", ""},
		{"10.0.0.0/33", "", "10.0.0.0/33"},
		{"proxy.local", "", "proxy.local"},
		{"fe80::1%eth0", "", "fe80::1%eth0"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTrustedProxies(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Fatalf("got %v, want %s", s, tc.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	l := New(Config{TrustedProxies: mustPrefixes(t, "10.0.0.0/8, 2001:db8:ffff::/48")})
	long := strings.Repeat("10.0.0.9, ", 40) + "10.0.0.8"
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer: header ignored", "192.0.2.1", []string{"198.51.100.7"}, "192.0.2.1"},
		{"trusted peer, no header", "10.0.0.1", nil, "10.0.0.1"},
		{"one proxy", "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client spoofs a left entry", "10.0.0.1", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"two trusted hops", "10.0.0.1", []string{"198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"several header lines", "10.0.0.1", []string{"1.2.3.4", "198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"every entry trusted: left-most", "10.0.0.1", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"port and spaces", "10.0.0.1", []string{" 198.51.100.7:5555 "}, "198.51.100.7"},
		{"IPv6 with port", "10.0.0.1", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv6 in brackets", "10.0.0.1", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"IPv4-mapped", "10.0.0.1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"zone dropped", "10.0.0.1", []string{"fe80::7%eth0"}, "fe80::7"},
		{"garbage right of the proxy: the proxy", "10.0.0.1", []string{"198.51.100.7, unknown"}, "10.0.0.1"},
		{"garbage behind a trusted hop: that hop", "10.0.0.1", []string{"nonsense, 10.0.0.5"}, "10.0.0.5"},
		{"empty entries skipped", "10.0.0.1", []string{"198.51.100.7,, ,"}, "198.51.100.7"},
		{"IPv6 proxy", "2001:db8:ffff::1", []string{"2001:db8:1::9"}, "2001:db8:1::9"},
		{"mapped trusted peer", "::ffff:10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"over 32 trusted hops: the last one looked at", "10.0.0.1", []string{"198.51.100.7, " + long}, "10.0.0.9"},
		{"a flood of empty entries: the proxy", "10.0.0.1", []string{"198.51.100.7" + strings.Repeat(",", 100000)}, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := l.ClientAddr(netip.MustParseAddr(tc.peer), tc.xff)
			if got.String() != tc.want {
				t.Fatalf("ClientAddr(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "1.2.3.4, 10.0.0.2", "[::1]:80", "unknown", ",,,", "10.0.0.1, ::ffff:1.2.3.4%x"} {
		f.Add("10.0.0.1", s)
		f.Add("192.0.2.1", s)
	}
	l := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	f.Fuzz(func(t *testing.T, peer, xff string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got := l.ClientAddr(p, []string{xff})
		if !l.trusted(p.Unmap()) {
			if got != p.Unmap() {
				t.Fatalf("untrusted peer %s became %s", p, got)
			}
			return
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientAddr(%s, %q) = %v", peer, xff, got)
		}
		// The result is the peer or an entry of the header.
		if got == p.Unmap() {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			if a, ok := parseForwarded(strings.TrimSpace(e)); ok && a == got {
				return
			}
		}
		t.Fatalf("ClientAddr(%s, %q) = %s: neither the peer nor an entry", peer, xff, got)
	})
}

func TestProxyWebSocketAttribution(t *testing.T) {
	l := New(Config{MaxConnsPerIP: 2, TrustedProxies: mustPrefixes(t, "127.0.0.9"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:     l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })),
		ConnContext: l.ConnContext,
	}
	go hs.Serve(l.Listen(inner))
	t.Cleanup(func() { hs.Close() })
	addr := inner.Addr().String()

	// send writes one request on c and returns the status code.
	send := func(c net.Conn, br *bufio.Reader, client string, websocket bool) int {
		t.Helper()
		req := "GET /socket.io/?EIO=4&transport=websocket&sid=s1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + client + "\r\n"
		if websocket {
			req += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	type upstream struct {
		c  net.Conn
		br *bufio.Reader
	}
	open := func() upstream {
		c := dialFrom(t, "127.0.0.9", addr)
		return upstream{c, bufio.NewReader(c)}
	}
	tests := []struct {
		client    string
		websocket bool
		want      int
	}{
		{"198.51.100.1", true, 200},
		{"198.51.100.1", true, 200},
		{"198.51.100.1", true, 503}, // its third WebSocket
		{"198.51.100.2", true, 200},
		{"198.51.100.1", false, 200}, // polling: not charged
		{"198.51.100.1", false, 200},
		{"198.51.100.1", false, 200},
	}
	var ups []upstream
	for i, tc := range tests {
		u := open()
		ups = append(ups, u)
		if got := send(u.c, u.br, tc.client, tc.websocket); got != tc.want {
			t.Fatalf("request %d (%+v): %d, want %d", i, tc, got, tc.want)
		}
	}
	if st := l.Stats(); st.Refused[ReasonMaxConnsPerIP] != 1 || st.ConnAddrs != 2 || st.Open != len(tests) {
		t.Fatalf("stats %+v", st)
	}
	// The proxy's connection stays open after a refusal (it carries others).
	if got := send(ups[2].c, ups[2].br, "198.51.100.3", true); got != 200 {
		t.Fatalf("the refused request's connection, next client: %d", got)
	}
	// Closing a client's upstream connection gives its slot back.
	ups[0].c.Close()
	testenv.WaitFor(t, 5*time.Second, "the slot back", func() bool { return l.Stats().Open == len(tests)-1 })
	u := open()
	if got := send(u.c, u.br, "198.51.100.1", true); got != 200 {
		t.Fatalf("after a close: %d", got)
	}
}

func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8, 192.168.1.5", "::ffff:10.0.0.0/104", "fd00::/8\t::1", "10.0.0.0/33", "a/b,,", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseTrustedProxies(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("ParseTrustedProxies(%q) gave %v", s, p)
			}
		}
	})
}

// wrapped stands for a connection that wraps another and gives it through
// NetConn, as crypto/tls's Conn and engineio's TLS fast-path transport do.
type wrapped struct {
	net.Conn
	inner net.Conn
}

func (w wrapped) NetConn() net.Conn { return w.inner }

// TestConnContextUnwraps: the limiter's connection is found under a TLS
// connection whose transport wraps it again (the TLS fast path), so a
// WebSocket through a trusted proxy is charged to its client over TLS too.
func TestConnContextUnwraps(t *testing.T) {
	l := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	other := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	lc := &Conn{l: l}
	for _, tc := range []struct {
		name string
		c    net.Conn
		want bool
	}{
		{"the limiter's connection", lc, true},
		{"under crypto/tls", wrapped{inner: lc}, true},
		{"under a transport under crypto/tls", wrapped{inner: wrapped{inner: lc}}, true},
		{"another limiter's", wrapped{inner: &Conn{l: other}}, false},
		{"no limiter", wrapped{inner: wrapped{}}, false},
	} {
		got, _ := l.ConnContext(context.Background(), tc.c).Value(connKey{}).(*Conn)
		if (got == lc) != tc.want {
			t.Errorf("%s: found %v, want %v", tc.name, got != nil, tc.want)
		}
	}
}
