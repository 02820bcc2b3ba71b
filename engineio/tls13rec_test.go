package engineio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// startTLSServerWith is startTLSServer with the server's tls.Config.
func startTLSServerWith(t testing.TB, cfg Config, tcfg *tls.Config, rec *recorder) string {
	t.Helper()
	srv := NewServer(cfg, func(s *Socket) {
		s.SetHandler(rec)
		rec.sockets <- s
	})
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = NewTLSListener(hs.Listener, tcfg)
	hs.Start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return strings.Replace(hs.URL, "http://", "wss://", 1) + "/engine.io/?EIO=4&transport=websocket"
}

// lockedBuffer is a bytes.Buffer for a KeyLogWriter.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTLS13RecordLayerPeers runs WebSocket sessions against crypto/tls
// clients over loopback and checks which record layer the server took:
// its own for TLS 1.3 (first handshake and resumed, with and without a
// key log of the server's own), crypto/tls's for TLS 1.2. Each session
// echoes messages across record sizes both ways, gets a broadcast and
// ends with the close frame and close_notify.
func TestTLS13RecordLayerPeers(t *testing.T) {
	cache := tls.NewLRUClientSessionCache(4)
	for _, tc := range []struct {
		name    string
		client  *tls.Config
		keyLog  bool
		resumed bool
		own     bool
	}{
		{name: "tls13", client: &tls.Config{InsecureSkipVerify: true}, own: true},
		{name: "tls13-server-keylog", client: &tls.Config{InsecureSkipVerify: true}, keyLog: true, own: true},
		{name: "tls13-resumed", client: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache}, resumed: true, own: true},
		{name: "tls12", client: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, own: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			rec.onMsg = echo
			tcfg := &tls.Config{Certificates: []tls.Certificate{testCert()}, MinVersion: tls.VersionTLS12}
			var kl lockedBuffer
			if tc.keyLog {
				tcfg.KeyLogWriter = &kl
			}
			url := startTLSServerWith(t, Config{TLSFastPath: true, Uring: true, Deflate: DeflateConfig{Enabled: true}}, tcfg, rec)
			dial := func() (*wsClient, *Socket, *tls.Conn) {
				d := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: tc.client}
				conn, br, _, err := d.Dial(context.Background(), url)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				t.Cleanup(func() { conn.Close() })
				c := &wsClient{t: t, conn: conn, r: conn}
				if br != nil {
					c.r = io.MultiReader(br, conn)
				}
				if m, _, _ := c.next(); len(m) == 0 || m[0] != '0' {
					t.Fatalf("open packet %q", m)
				}
				return c, await(t, rec.sockets, "socket"), conn.(*tls.Conn)
			}
			if tc.resumed {
				// A first session leaves a ticket in the cache.
				c, _, _ := dial()
				c.send("4ticket")
				c.next()
			}
			c, so, tlc := dial()
			if got := tlc.ConnectionState().DidResume; got != tc.resumed {
				t.Fatalf("resumed %v, want %v", got, tc.resumed)
			}
			if _, own := so.ws.conn.(*tls13Conn); own != tc.own {
				t.Fatalf("server record layer: own %v (%T), want own %v", own, so.ws.conn, tc.own)
			}
			if tc.keyLog && !strings.Contains(kl.String(), "SERVER_TRAFFIC_SECRET_0 ") {
				t.Fatalf("the server's own key log got %q", kl.String())
			}
			for _, n := range []int{1, 100, tlsMaxPlaintext - 20, tlsMaxPlaintext + 20, 40000} {
				msg := "4" + strings.Repeat(fmt.Sprint(n%10), n)
				c.send(msg)
				if m, _, _ := c.next(); string(m) != msg {
					t.Fatalf("echo of %d bytes: got %d bytes", n, len(m))
				}
			}
			srv := so.srv
			st := srv.NewStream(StreamOptions{})
			b := srv.BeginBatch()
			if err := so.SendFramesBatch(b, st.TextFrame([]byte("broadcast"))); err != nil {
				t.Fatal(err)
			}
			b.End()
			if m, _, _ := c.next(); string(m) != "4broadcast" {
				t.Fatalf("broadcast %q", m)
			}
			so.Close(ReasonServerClose)
			for i := 0; ; i++ {
				if _, op, _ := c.next(); op == ws.OpClose {
					break
				}
				if i > 10 {
					t.Fatal("no close frame")
				}
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.conn.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the close frame: %v, want EOF (close_notify)", err)
			}
		})
	}
}

// recordPair is a tls13Conn reading src, and the keys its peer seals with
// (the peer's sending keys are the conn's receiving keys and the other
// way round).
func recordPair(t testing.TB, src io.Reader) (*tls13Conn, *tls13Keys, *tls13Keys) {
	t.Helper()
	suite, _ := tls13SuiteOf(tls.TLS_AES_128_GCM_SHA256)
	in := bytes.Repeat([]byte{1}, 32)
	out := bytes.Repeat([]byte{2}, 32)
	rd, err := suite.keys(in)
	if err != nil {
		t.Fatal(err)
	}
	wr, _ := suite.keys(out)
	peerOut, _ := suite.keys(in)
	peerIn, _ := suite.keys(out)
	return &tls13Conn{t: &tlsTransport{}, src: src, suite: suite, rd: rd, wr: wr}, &peerOut, &peerIn
}

func sealed(t testing.TB, k *tls13Keys, typ byte, data []byte) []byte {
	t.Helper()
	b, err := k.seal(nil, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTLS13Records reads record streams of each kind and checks what the
// reader makes of them: the data, the end, or an error.
func TestTLS13Records(t *testing.T) {
	keyUpdate := func(req byte) []byte { return []byte{tlsMsgKeyUpdate, 0, 0, 1, req} }
	for _, tc := range []struct {
		name    string
		records func(t *testing.T, peer *tls13Keys) []byte
		want    string
		wantErr error // nil: the stream ends with io.EOF after want
		anyErr  bool
	}{
		{name: "data", want: "hello world", records: func(t *testing.T, p *tls13Keys) []byte {
			return append(sealed(t, p, tlsTypeAppData, []byte("hello ")), sealed(t, p, tlsTypeAppData, []byte("world"))...)
		}},
		{name: "empty records then data", want: "x", records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, nil)
			return append(b, sealed(t, p, tlsTypeAppData, []byte("x"))...)
		}},
		{name: "padding", want: "pad", records: func(t *testing.T, p *tls13Keys) []byte {
			return sealedPadded(t, p, []byte("pad"), 100)
		}},
		{name: "close_notify", want: "bye", records: func(t *testing.T, p *tls13Keys) []byte {
			return append(sealed(t, p, tlsTypeAppData, []byte("bye")), sealed(t, p, tlsTypeAlert, []byte{1, 0})...)
		}},
		{name: "key update", want: "before after", records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, []byte("before "))
			b = append(b, sealed(t, p, tlsTypeHandshake, keyUpdate(0))...)
			suite, _ := tls13SuiteOf(tls.TLS_AES_128_GCM_SHA256)
			if err := suite.next(p); err != nil {
				t.Fatal(err)
			}
			return append(b, sealed(t, p, tlsTypeAppData, []byte("after"))...)
		}},
		{name: "fatal alert", anyErr: true, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealed(t, p, tlsTypeAlert, []byte{2, 40})
		}},
		{name: "data under old keys after key update", anyErr: true, records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeHandshake, keyUpdate(0))
			return append(b, sealed(t, p, tlsTypeAppData, []byte("stale"))...)
		}},
		{name: "bad key update value", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealed(t, p, tlsTypeHandshake, keyUpdate(2))
		}},
		{name: "other handshake message", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealed(t, p, tlsTypeHandshake, []byte{4, 0, 0, 1, 0}) // NewSessionTicket from a client
		}},
		{name: "two handshake messages in one record", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealed(t, p, tlsTypeHandshake, append(keyUpdate(0), keyUpdate(0)...))
		}},
		{name: "unknown inner type", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealed(t, p, 99, []byte("x"))
		}},
		{name: "too many useless records", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			var b []byte
			for i := 0; i <= maxUselessRecords; i++ {
				b = append(b, sealed(t, p, tlsTypeAppData, nil)...)
			}
			return b
		}},
		{name: "tampered", wantErr: errTLSDecrypt, records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, []byte("data"))
			b[len(b)-1] ^= 1
			return b
		}},
		{name: "replayed", want: "once", wantErr: errTLSDecrypt, records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, []byte("once"))
			return append(b, b...)
		}},
		{name: "plaintext record type", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return []byte{tlsTypeHandshake, 3, 3, 0, 1, 0}
		}},
		{name: "change cipher spec", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return []byte{20, 3, 3, 0, 1, 1}
		}},
		{name: "bad version", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, []byte("v"))
			b[2] = 1
			return b
		}},
		{name: "too long", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return binary.BigEndian.AppendUint16([]byte{tlsTypeAppData, 3, 3}, tlsMaxCiphertext+1)
		}},
		{name: "too short for a tag", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return []byte{tlsTypeAppData, 3, 3, 0, 16}
		}},
		{name: "inner plaintext too long", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealedPadded(t, p, []byte("x"), tlsMaxPlaintext)
		}},
		{name: "longest inner plaintext", want: strings.Repeat("y", tlsMaxPlaintext-10), records: func(t *testing.T, p *tls13Keys) []byte {
			return sealedPadded(t, p, bytes.Repeat([]byte("y"), tlsMaxPlaintext-10), 10)
		}},
		{name: "all padding", wantErr: errTLSRecord, records: func(t *testing.T, p *tls13Keys) []byte {
			return sealedAllPadding(t, p)
		}},
		{name: "cut short", want: "whole", wantErr: io.ErrUnexpectedEOF, records: func(t *testing.T, p *tls13Keys) []byte {
			b := sealed(t, p, tlsTypeAppData, []byte("whole"))
			c := sealed(t, p, tlsTypeAppData, []byte("cut"))
			return append(b, c[:len(c)-3]...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				var src bytes.Reader
				c, peer, _ := recordPair(t, &src)
				src.Reset(tc.records(t, peer))
				if chunked {
					// One byte, then "would block", then the next.
					c.src = &stutter{r: &src}
				}
				var got []byte
				var err error
				buf := make([]byte, 7)
				for i := 0; i < 100000; i++ {
					var n int
					n, err = c.Read(buf)
					got = append(got, buf[:n]...)
					if errors.Is(err, errWouldBlock) {
						if c.in != nil || c.rd.aead != nil {
							t.Fatalf("idle between bytes: record buffer held %v, receiving AEAD held %v", c.in != nil, c.rd.aead != nil)
						}
						continue
					}
					if err != nil {
						break
					}
				}
				if string(got) != tc.want {
					t.Fatalf("chunked %v: read %q, want %q", chunked, got, tc.want)
				}
				switch {
				case tc.anyErr:
					if err == nil || err == io.EOF {
						t.Fatalf("chunked %v: ended with %v, want an error", chunked, err)
					}
				case tc.wantErr == nil:
					if err != io.EOF {
						t.Fatalf("chunked %v: ended with %v, want EOF", chunked, err)
					}
				case !errors.Is(err, tc.wantErr):
					t.Fatalf("chunked %v: ended with %v, want %v", chunked, err, tc.wantErr)
				}
				if c.in != nil {
					t.Fatalf("chunked %v: the record buffer is held after the end", chunked)
				}
			}
		})
	}
}

// sealedPadded is an application_data record of data followed by pad
// zero bytes of padding.
func sealedPadded(t testing.TB, k *tls13Keys, data []byte, pad int) []byte {
	t.Helper()
	inner := append(append([]byte(nil), data...), tlsTypeAppData)
	inner = append(inner, make([]byte, pad)...)
	return sealRaw(t, k, inner)
}

// sealedAllPadding is a record whose inner plaintext is all zeros: no
// content type.
func sealedAllPadding(t testing.TB, k *tls13Keys) []byte {
	return sealRaw(t, k, make([]byte, 10))
}

// sealRaw seals inner (content, type and padding, as given) as one record.
func sealRaw(t testing.TB, k *tls13Keys, inner []byte) []byte {
	t.Helper()
	a, err := k.cipher()
	if err != nil {
		t.Fatal(err)
	}
	n := len(inner) + tlsGCMTag
	hdr := []byte{tlsTypeAppData, 3, 3, byte(n >> 8), byte(n)}
	nonce := k.nonce(k.seq)
	k.seq++
	return a.Seal(hdr, nonce[:], inner, hdr)
}

// stutter reads one byte at a time with an errWouldBlock between.
type stutter struct {
	r    io.Reader
	wait bool
}

func (s *stutter) Read(b []byte) (int, error) {
	if s.wait = !s.wait; s.wait {
		return 0, errWouldBlock
	}
	return s.r.Read(b[:1])
}

// TestTLS13KeyUpdateAnswer: a KeyUpdate asking for one back is answered,
// under the old sending keys, ahead of what is written after it, which
// goes under the new ones.
func TestTLS13KeyUpdateAnswer(t *testing.T) {
	var src bytes.Reader
	c, peerOut, peerIn := recordPair(t, &src)
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	src.Reset(sealed(t, peerOut, tlsTypeHandshake, []byte{tlsMsgKeyUpdate, 0, 0, 1, 1}))
	if _, err := c.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("read: %v, want EOF after the KeyUpdate", err)
	}
	if _, err := c.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	out := c.t.takeOut()
	// The peer reads: "first", the KeyUpdate, then "second" under the
	// updated keys.
	peer := &tls13Conn{t: &tlsTransport{}, src: bytes.NewReader(out), suite: c.suite, rd: *peerIn}
	got, err := io.ReadAll(peer)
	if string(got) != "firstsecond" || err != nil {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if peer.rd.seq != 1 {
		t.Fatalf("peer's receiving sequence number %d after the update, want 1", peer.rd.seq)
	}
}

// FuzzTLS13Records feeds arbitrary bytes to the record reader (and the
// handshake's record tracker): no panic, no read past a bounded number of
// calls, and the record buffer is given back at the end.
func FuzzTLS13Records(f *testing.F) {
	_, peer, _ := recordPair(f, nil)
	f.Add(sealed(f, peer, tlsTypeAppData, []byte("hello")))
	f.Add(sealed(f, peer, tlsTypeHandshake, []byte{tlsMsgKeyUpdate, 0, 0, 1, 1}))
	f.Add(sealed(f, peer, tlsTypeAlert, []byte{1, 0}))
	f.Add([]byte{tlsTypeAppData, 3, 3, 0x40, 0xff})
	f.Add([]byte{tlsTypeAppData, 3, 3, 0, 0, tlsTypeAppData, 3, 3, 0, 17})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, _ := recordPair(t, bytes.NewReader(data))
		buf := make([]byte, 64)
		for i := 0; i <= len(data)+1; i++ {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if c.in != nil {
			t.Fatal("the record buffer is held after the end")
		}
		var k tlsRecordTracker
		k.feed(data)
		if len(k.last) > maxTrackedRecord {
			t.Fatalf("tracker kept %d bytes", len(k.last))
		}
	})
}

// TestTLSRecordTracker follows record streams cut in every way: it keeps
// the last application_data record of at most maxTrackedRecord bytes,
// knows whether the stream is at a record boundary, and counts records.
func TestTLSRecordTracker(t *testing.T) {
	rec := func(typ byte, n int) []byte {
		b := binary.BigEndian.AppendUint16([]byte{typ, 3, 3}, uint16(n))
		return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
	}
	app := rec(tlsTypeAppData, 40)
	big := rec(tlsTypeAppData, maxTrackedRecord)
	for _, tc := range []struct {
		name     string
		stream   []byte
		last     []byte
		boundary bool
		records  int
	}{
		{name: "one", stream: app, last: app, boundary: true, records: 1},
		{name: "handshake then data", stream: append(rec(tlsTypeHandshake, 300), app...), last: app, boundary: true, records: 2},
		{name: "data then handshake", stream: append(append([]byte(nil), app...), rec(tlsTypeHandshake, 3)...), last: nil, boundary: true, records: 2},
		{name: "too big to keep", stream: append(append([]byte(nil), app...), big...), last: nil, boundary: true, records: 2},
		{name: "partial header", stream: append(append([]byte(nil), app...), app[:3]...), last: app, boundary: false, records: 2},
		{name: "partial body", stream: append(append([]byte(nil), app...), app[:20]...), last: app, boundary: false, records: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 5, 7, 64, len(tc.stream)} {
				var k tlsRecordTracker
				n := 0
				for b := tc.stream; len(b) > 0; b = b[min(step, len(b)):] {
					n = k.feed(b[:min(step, len(b))])
				}
				if !bytes.Equal(k.last, tc.last) || k.atBoundary() != tc.boundary || n != tc.records {
					t.Fatalf("step %d: last %d bytes (want %d), boundary %v (want %v), %d records (want %d)",
						step, len(k.last), len(tc.last), k.atBoundary(), tc.boundary, n, tc.records)
				}
			}
		})
	}
}

// TestTLS13PipelinedAfterUpgrade: a client that sends a message in the
// same record as its upgrade request, before the 101: crypto/tls has
// decrypted it before the takeover, the engine still takes the record
// layer over and the session reads that message first.
func TestTLS13PipelinedAfterUpgrade(t *testing.T) {
	rec := newRecorder()
	rec.onMsg = echo
	url := startTLSServerWith(t, Config{TLSFastPath: true}, &tls.Config{Certificates: []tls.Certificate{testCert()}}, rec)
	host := strings.SplitN(strings.TrimPrefix(url, "wss://"), "/", 2)[0]
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req bytes.Buffer
	req.WriteString("GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: spectra\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err := ws.WriteFrame(&req, ws.MaskFrame(ws.NewTextFrame([]byte("4pipelined")))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("101 response: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	c := &wsClient{t: t, conn: conn, r: br}
	if m, _, _ := c.next(); len(m) == 0 || m[0] != '0' {
		t.Fatalf("open packet %q", m)
	}
	if m, _, _ := c.next(); string(m) != "4pipelined" {
		t.Fatalf("echo of the pipelined message %q", m)
	}
	so := await(t, rec.sockets, "socket")
	if _, own := so.ws.conn.(*tls13Conn); !own {
		t.Fatalf("record layer %T, want the engine's", so.ws.conn)
	}
	c.send("4after")
	if m, _, _ := c.next(); string(m) != "4after" {
		t.Fatalf("echo %q", m)
	}
}

// TestTLS13SealOpenAllocs: sealing a broadcast frame into a buffer with
// room, and opening a record in place, allocate nothing once the AEADs
// exist (a nonce handed to the AEAD interface from a local array escaped:
// one allocation per recipient per broadcast).
func TestTLS13SealOpenAllocs(t *testing.T) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384} {
		suite, _ := tls13SuiteOf(id)
		secret := bytes.Repeat([]byte{7}, suite.hash().Size())
		wr, err := suite.keys(secret)
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := suite.keys(secret)
		frame := bytes.Repeat([]byte("x"), 300)
		buf := make([]byte, 0, 1024)
		if _, err := wr.seal(buf, tlsTypeAppData, frame); err != nil {
			t.Fatal(err)
		}
		if _, err := rd.cipher(); err != nil {
			t.Fatal(err)
		}
		rec := make([]byte, 0, 1024)
		seq := uint64(0)
		allocs := testing.AllocsPerRun(100, func() {
			out, err := wr.seal(buf[:0], tlsTypeAppData, frame)
			if err != nil {
				t.Fatal(err)
			}
			rec = append(rec[:0], out...)
			seq++ // the warm-up seal above took sequence number 0
			data, typ, err := rd.open(rec, seq)
			if err != nil || typ != tlsTypeAppData || !bytes.Equal(data, frame) {
				t.Fatalf("open: %v, type %d, %d bytes", err, typ, len(data))
			}
		})
		if allocs != 0 {
			t.Errorf("suite %#x: %.1f allocations per seal and open, want 0", id, allocs)
		}
	}
}
