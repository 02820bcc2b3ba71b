package engineio

// TLS on the fast path (Config.TLSFastPath).
//
// A TLS connection accepted through NewTLSListener runs crypto/tls over a
// tlsTransport of ours that wraps the TCP connection. Until the engine
// takes the connection over it passes every byte straight through, so the
// handshake, the HTTP request and the 101 answer run on net/http's
// goroutine as for any TLS connection. Once a WebSocket session owns it
// (tlsTakeOver):
//
//   - reads: the TCP descriptor joins the epoll set like a plain
//     connection's, so an idle TLS connection holds no goroutine. When the
//     descriptor is readable a worker first asks tls.Conn, without blocking
//     (Socket.tlsMore, the transport reading the descriptor non-blocking),
//     whether a record decrypted to data; only then does it read the frame
//     through tls.Conn with the same mid-frame deadline as plain
//     connections (a KeyUpdate alone must not start that wait). It asks
//     again before re-arming: records already taken from the kernel sit in
//     crypto/tls's buffers where epoll cannot see them. The "would block" is
//     a net.Error with Temporary() true, which crypto/tls hands back without
//     poisoning the connection (readRecordOrCCS), so the next read
//     continues a partial record.
//   - writes: tls.Conn.Write encrypts into the transport's outbound buffer
//     instead of the socket (sealed). The engine's write machinery then
//     treats that ciphertext exactly as it treats a plain frame: the inline
//     write(2) on the descriptor, the io_uring batch, or a worker's flush
//     with its deadlines; a short write leaves ciphertext in pending, which
//     is written later and never encrypted twice. A broadcast frame is thus
//     encrypted once per socket (per-connection keys make that unavoidable)
//     and joins the same batch as plain sockets. Records crypto/tls makes
//     while reading (a KeyUpdate answer, an alert) land in the same buffer,
//     ahead of anything encrypted after them, and the reader has the writer
//     flush them (tlsSendAnswers). close_notify follows the close frame
//     (closeBytes).
//
// Why this and not the goroutine per connection crypto/tls is built for:
// the relay's load is many idle overlays and broadcasts of one small frame
// to all of them. A goroutine and its read buffer per idle connection cost
// memory, and worker writes through tls.Conn cost a wake-up and a write(2)
// per socket; here a broadcast costs one AEAD seal per socket plus its
// share of one io_uring submission (BenchmarkTLSBroadcast: about 1.3x the
// server CPU of plain WebSocket per recipient, against about 3-4x).
//
// Kernel TLS after Go's handshake was the other way; the kernels this runs
// on here offer no "tls" ULP (/proc/sys/net/ipv4/tcp_available_ulp), so it
// could neither be tested nor relied on, and crypto/tls's public API is
// enough for the above.
//
// Memory. An idle overlay over TLS cost the server 3.5× the heap and
// stacks of a plain one with crypto/tls kept after the upgrade. What each
// session held beyond a plain one (TestTLSIdleMemory with
// ENGINEIO_TLSMEM_PROFILE, 2 000 sessions, every allocation sampled, Go
// 1.26, heap in use after GC; per session):
//
//	crypto/tls input buffer (rawInput, grown by the ClientHello)   2 050 B
//	crypto/tls handshake buffer (hand)                             1 540 B
//	two AES-GCM states (crypto/tls's TLS 1.3 AEADs)                1 810 B
//	tls.Conn                                                         910 B
//	traffic and exporter secrets, other handshake leftovers          330 B
//	tlsTransport                                                      95 B
//	total, measured: 9 400 B against 2 670 B plain                 6 730 B
//
// The buffers stay at the size the handshake grew them to and crypto/tls
// has no way to give them back, so for TLS 1.3 with AES-GCM (what
// browsers and Node negotiate) the engine drops the tls.Conn once the
// WebSocket upgrade is done and runs the record layer itself
// (tls13rec.go, tls13Switch): the per-connection key log gives the
// application traffic secrets, and the last application_data record each
// way (kept by a tlsRecordTracker until then) gives the sequence numbers:
// it decrypts under exactly one of them. TLS 1.2, ChaCha20, and any
// connection where that does not work out cleanly stay on crypto/tls.
// After (same measurement):
//
//	sending AES-GCM state (kept: a broadcast seals with it)          750 B
//	tls13Conn (both directions' keys inline, the reader's state)     405 B
//	tlsTransport                                                      95 B
//	total, measured: 3 960 B against 2 690 B plain (1.48×)         1 280 B
//
// The receiving AES-GCM state and the record buffer (pooled) exist only
// while a record is read: an overlay sends a pong per ping interval. The
// sending state is what remains; building it per broadcast instead would
// cost a key expansion per frame and socket on the broadcast path.

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/valyala/bytebufferpool"
)

// NewTLSListener is tls.NewListener whose connections the engine can take
// onto its fast path (Config.TLSFastPath). Accepted connections that are
// TCP connections, or wrap one (a TCPConn method), get a tlsTransport;
// others are served by crypto/tls as usual. cfg is cloned: each
// connection's handshake runs with a copy whose KeyLogWriter hands the
// traffic secrets to its transport (and to cfg's KeyLogWriter, if any),
// for the engine's own record layer (tls13rec.go).
func NewTLSListener(inner net.Listener, cfg *tls.Config) net.Listener {
	base := cfg.Clone()
	userGet := cfg.GetConfigForClient
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := cfg
		if userGet != nil {
			uc, err := userGet(hello)
			if err != nil {
				return nil, err
			}
			if uc != nil {
				c = uc
			}
		}
		t, ok := hello.Conn.(*tlsTransport)
		if !ok {
			return c, nil
		}
		hs := t.hs.Load()
		if hs == nil {
			return c, nil
		}
		// Session ticket keys stay cfg's (crypto/tls uses the original
		// Config's unless the returned one sets its own).
		cc := c.Clone()
		cc.GetConfigForClient = nil
		cc.KeyLogWriter = tlsKeyLog{hs: hs, next: c.KeyLogWriter}
		return cc, nil
	}
	return &tlsListener{Listener: inner, cfg: base}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		if w, ok2 := c.(interface{ TCPConn() *net.TCPConn }); ok2 {
			tcp, ok = w.TCPConn(), true
		}
	}
	if !ok || tcp == nil {
		return tls.Server(c, l.cfg), nil
	}
	t := &tlsTransport{Conn: c, tcp: tcp}
	t.hs.Store(new(tlsHandshake))
	return tls.Server(t, l.cfg), nil
}

// tlsHandshake is what a transport learns of its connection until the
// engine takes it over: the TLS 1.3 application traffic secrets (from the
// key log) and the last application_data record each way, from which the
// engine finds the record sequence numbers crypto/tls reached.
type tlsHandshake struct {
	client, server []byte
	in, out        tlsRecordTracker
}

// tlsKeyLog is a connection's tls.Config.KeyLogWriter.
type tlsKeyLog struct {
	hs   *tlsHandshake
	next io.Writer
}

func (k tlsKeyLog) Write(line []byte) (int, error) {
	// "LABEL <client random hex> <secret hex>\n", one line per call.
	if f := bytes.Fields(line); len(f) == 3 {
		var dst *[]byte
		switch string(f[0]) {
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &k.hs.client
		case "SERVER_TRAFFIC_SECRET_0":
			dst = &k.hs.server
		}
		if dst != nil {
			if b, err := hex.DecodeString(string(f[2])); err == nil {
				*dst = b
			}
		}
	}
	if k.next != nil {
		return k.next.Write(line)
	}
	return len(line), nil
}

// maxTrackedRecord is the largest record a tracker keeps: the upgrade
// request and the 101 answer are far smaller; a larger last record means
// no switch to the engine's record layer.
const maxTrackedRecord = 4096

// maxTrackedRecords is how many records a transport follows each way: a
// connection that has exchanged more (a keep-alive connection serving
// polling requests) is past the sequence numbers tls13Switch tries, and
// its transport stops copying records.
const maxTrackedRecords = maxSeqProbe + 16

// tlsRecordTracker follows a TLS record stream and keeps a copy of the
// last record if it is an application_data record of at most
// maxTrackedRecord bytes.
type tlsRecordTracker struct {
	n     int // records begun
	hdr   [tlsRecordHeader]byte
	nh    int // header bytes of the current record seen
	left  int // body bytes of the current record to come
	track bool
	cur   []byte
	last  []byte
}

// feed follows b and returns the number of records begun so far.
func (k *tlsRecordTracker) feed(b []byte) int {
	for len(b) > 0 {
		if k.nh < tlsRecordHeader {
			if k.nh == 0 {
				k.n++
			}
			m := copy(k.hdr[k.nh:], b)
			k.nh += m
			b = b[m:]
			if k.nh < tlsRecordHeader {
				break
			}
			k.left = int(binary.BigEndian.Uint16(k.hdr[3:5]))
			k.track = k.hdr[0] == tlsTypeAppData && tlsRecordHeader+k.left <= maxTrackedRecord
			k.cur = k.cur[:0]
			if k.track {
				k.cur = append(k.cur, k.hdr[:]...)
			}
		}
		m := min(k.left, len(b))
		if k.track {
			k.cur = append(k.cur, b[:m]...)
		}
		k.left -= m
		b = b[m:]
		if k.left == 0 {
			if k.track {
				k.last, k.cur = k.cur, k.last[:0]
			} else {
				k.last = nil
			}
			k.nh = 0
		}
	}
	return k.n
}

// atBoundary: the stream so far is whole records.
func (k *tlsRecordTracker) atBoundary() bool { return k.nh == 0 }

// NetConn is the connection the listener accepted, as tls.Conn's NetConn
// is for crypto/tls: a wrapping listener (connection limits) finds its own
// connection under a fast-path TLS connection through both.
func (t *tlsTransport) NetConn() net.Conn { return t.Conn }

// errWouldBlock is the probe's "nothing more now": Temporary, so that
// crypto/tls keeps the connection usable.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "engineio: tls probe: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsTransport is the net.Conn under a fast-path tls.Conn. Conn is what
// the listener accepted (closed and given deadlines through it), tcp the
// TCP connection under it, used for its descriptor.
type tlsTransport struct {
	net.Conn
	tcp *net.TCPConn

	// nonblock is set by the reader around a probe. One reader at a time
	// (the epoll set's one-shot events), but the hand-over from one to the
	// next goes through the kernel, which the race detector does not see:
	// atomic.
	nonblock atomic.Bool
	raw      syscall.RawConn

	// hs is set until the engine takes the connection over (or never
	// does): written by the handshake's goroutine, then dropped.
	hs atomic.Pointer[tlsHandshake]

	sealed atomic.Bool // writes go to out, not to the socket
	mu     sync.Mutex  // guards out
	out    []byte
}

func (t *tlsTransport) Read(b []byte) (n int, err error) {
	if !t.nonblock.Load() {
		n, err = t.Conn.Read(b)
	} else {
		n, err = t.readNow(b)
	}
	if hs := t.hs.Load(); hs != nil && n > 0 {
		if hs.in.feed(b[:n]) > maxTrackedRecords {
			t.hs.CompareAndSwap(hs, nil) // too far in to switch
		}
	}
	return n, err
}

func (t *tlsTransport) Write(b []byte) (int, error) {
	if !t.sealed.Load() {
		n, err := t.Conn.Write(b)
		if hs := t.hs.Load(); hs != nil && n > 0 {
			if hs.out.feed(b[:n]) > maxTrackedRecords {
				t.hs.CompareAndSwap(hs, nil)
			}
		}
		return n, err
	}
	t.mu.Lock()
	t.out = append(t.out, b...)
	t.mu.Unlock()
	return len(b), nil
}

// takeOut returns the ciphertext buffered so far and empties the buffer;
// the caller owns the returned slice.
func (t *tlsTransport) takeOut() []byte {
	t.mu.Lock()
	b := t.out
	t.out = nil
	t.mu.Unlock()
	return b
}

func (t *tlsTransport) hasOut() bool {
	t.mu.Lock()
	n := len(t.out)
	t.mu.Unlock()
	return n > 0
}

// tlsTakeOver moves a fast-path TLS connection onto the engine: writes are
// sealed into the transport's buffer and written like plain frames, the
// descriptor can be written inline and watched by the epoll set. Called
// once, before any writer of the session can run.
func (wc *wsConn) tlsTakeOver() {
	t := wc.tt
	raw, err := t.tcp.SyscallConn()
	if err != nil {
		return // stays on crypto/tls's own path: raw nil, no netpoll
	}
	t.raw = raw
	t.sealed.Store(true)
	wc.wconn = t.Conn
	wc.setupInlineRaw(raw)
	wc.tls13Switch()
}

// maxSeqProbe bounds the sequence numbers tried on the last record of each
// direction: a new WebSocket connection has sent and received a handful.
const maxSeqProbe = 64

// tls13Switch replaces crypto/tls by the engine's record layer
// (tls13Conn) when the connection is TLS 1.3 with an AES-GCM suite, the
// traffic secrets are known, what crypto/tls holds of the stream could be
// drained (to wc.pre) up to a record boundary, and the sequence numbers
// each way are found: the last application_data record
// each way decrypts, with its content type, under exactly one of the
// first maxSeqProbe numbers. Anything else keeps crypto/tls.
func (wc *wsConn) tls13Switch() {
	t := wc.tt
	tlc, isTLS := wc.conn.(*tls.Conn)
	// Bytes the client sent past the upgrade (in wc.pre, or still inside
	// crypto/tls: drained into wc.pre) were decrypted by crypto/tls, and
	// the records they came in are the last the tracker saw; the session
	// reads them first (on a goroutine, as any session with bytes read
	// ahead).
	if !isTLS || !wc.tlsDrain() {
		t.hs.Store(nil)
		return
	}
	hs := t.hs.Swap(nil)
	if hs == nil || hs.client == nil || hs.server == nil || !hs.in.atBoundary() || !hs.out.atBoundary() {
		return
	}
	st := tlc.ConnectionState()
	suite, ok := tls13SuiteOf(st.CipherSuite)
	if st.Version != tls.VersionTLS13 || !ok {
		return
	}
	rd, err := suite.keys(hs.client)
	if err != nil {
		return
	}
	wr, err := suite.keys(hs.server)
	if err != nil {
		return
	}
	if !rd.findSeq(hs.in.last) || !wr.findSeq(hs.out.last) {
		return
	}
	rd.aead = nil // built again when a record comes
	if _, err := wr.cipher(); err != nil {
		return
	}
	wc.conn = &tls13Conn{t: t, src: t, suite: suite, rd: rd, wr: wr}
	wc.outer = t.Conn
}

// findSeq sets k.seq to the number after the one rec (a whole
// application_data record) was sealed with; false if none of the first
// maxSeqProbe opens it as application data.
func (k *tls13Keys) findSeq(rec []byte) bool {
	if len(rec) <= tlsRecordHeader {
		return false
	}
	scratch := make([]byte, len(rec))
	for seq := uint64(0); seq < maxSeqProbe; seq++ {
		copy(scratch, rec)
		if _, typ, err := k.open(scratch, seq); err == nil {
			k.seq = seq + 1
			return typ == tlsTypeAppData
		}
	}
	return false
}

// seal is b as it goes on the wire: for a fast-path TLS connection the
// records crypto/tls makes of it (after any records its reader made, in
// the order they were encrypted); b itself otherwise. Only the socket's
// writer calls it (the flushing flag), so the records it takes are written
// in order. The result is a new slice the caller owns.
func (wc *wsConn) seal(b []byte) []byte {
	t := wc.tt
	if t == nil || !t.sealed.Load() {
		return b
	}
	// An error means crypto/tls already failed the connection; what it
	// wrote (nothing, or an alert) is sent and the next read or write
	// ends the session.
	_, _ = wc.conn.Write(b)
	return t.takeOut()
}

// sealPooled is seal into a pooled buffer, for the writes that settle
// through finishInline (the inline write and the io_uring batch: one
// sealed buffer in flight per connection at a time, since the flushing
// flag makes one writer). finishInline returns the buffer to the pool once
// it is written whole; a short write leaves it to pending and the
// collector.
func (wc *wsConn) sealPooled(b []byte) []byte {
	t := wc.tt
	if t == nil || !t.sealed.Load() {
		return b
	}
	buf := sealPool.Get()
	t.mu.Lock()
	// Records the reader made come first, as they were encrypted first.
	buf.B = append(buf.B[:0], t.out...)
	t.out = buf.B
	t.mu.Unlock()
	_, _ = wc.conn.Write(b)
	t.mu.Lock()
	buf.B = t.out
	t.out = nil
	t.mu.Unlock()
	wc.sealBuf = buf
	return buf.B
}

// releaseSeal ends the pooled buffer's turn (finishInline): back to the
// pool when written whole, else left to whoever still holds it.
func (wc *wsConn) releaseSeal(whole bool) {
	buf := wc.sealBuf
	if buf == nil {
		return
	}
	wc.sealBuf = nil
	if whole && cap(buf.B) <= maxPooledSeal {
		sealPool.Put(buf)
	}
}

// sealPool holds the buffers TLS records are sealed into; maxPooledSeal is
// the largest kept (a rare big frame's goes to the collector).
var sealPool bytebufferpool.Pool

const maxPooledSeal = 64 << 10

// wire is the bytes of it to write on this connection (worker flushes,
// which may take several items into one vector).
func (wc *wsConn) wire(it outItem) []byte {
	return wc.seal(wc.bytesFor(it))
}

// wireInline is wire for the inline write and the batch.
func (wc *wsConn) wireInline(it outItem) []byte {
	return wc.sealPooled(wc.bytesFor(it))
}

// tlsOutPending reports records crypto/tls made outside a write (its
// reader's answers), which the writer must send.
func (wc *wsConn) tlsOutPending() bool {
	return wc.tt != nil && wc.tt.sealed.Load() && wc.tt.hasOut()
}

// tlsMore asks crypto/tls, without blocking, whether more of the stream
// is readable: records it already took from the kernel are invisible to
// epoll. True when data or an error (to be read next) is there.
func (so *Socket) tlsMore(br *frameReader) bool {
	t := so.ws.tt
	t.nonblock.Store(true)
	_, err := br.Peek(1)
	t.nonblock.Store(false)
	so.tlsSendAnswers() // the probe may have read a KeyUpdate
	return err == nil || !errors.Is(err, errWouldBlock)
}

// tlsSendAnswers has the writer send what crypto/tls answered while
// reading (a KeyUpdate, an alert).
func (so *Socket) tlsSendAnswers() {
	if so.ws.tlsOutPending() {
		so.mu.Lock()
		so.scheduleFlushLocked()
		so.mu.Unlock()
	}
}

// tlsBuffered drains, without blocking, what crypto/tls holds of the
// stream at hijack into wc.pre (the connection then reads on a goroutine,
// as any with bytes read ahead). False means the epoll set cannot take the
// connection: bytes were there, or an error the reader must see.
func (wc *wsConn) tlsBuffered() (idle bool) {
	return wc.tlsDrain() && len(wc.pre) == 0
}

// tlsDrain appends to wc.pre, without blocking, what the record layer
// holds of the stream; true when it then had nothing more ("would block").
func (wc *wsConn) tlsDrain() bool {
	t := wc.tt
	if t.raw == nil {
		return false
	}
	var buf [512]byte
	t.nonblock.Store(true)
	defer func() { t.nonblock.Store(false) }()
	for i := 0; i < 64; i++ { // bounded: 32 KiB, a few records
		n, err := wc.conn.Read(buf[:])
		wc.pre = append(wc.pre, buf[:n]...)
		if err != nil {
			return errors.Is(err, errWouldBlock)
		}
	}
	return false
}

// closeBytes is the close frame for reason as it goes on the wire; on a
// fast-path TLS connection followed by the close_notify alert.
func (wc *wsConn) closeBytes(reason CloseReason) []byte {
	b := closeFrameFor(reason)
	if wc.tt == nil || !wc.tt.sealed.Load() {
		return b
	}
	b = wc.seal(b)
	if rc, ok := wc.conn.(*tls13Conn); ok {
		rc.closeNotify()
		return append(b, wc.tt.takeOut()...)
	}
	if tc, ok := wc.conn.(*tls.Conn); ok {
		// Sealed, so this only appends the alert; it also sets an expired
		// write deadline, which the caller replaces.
		_ = tc.CloseWrite()
		b = append(b, wc.tt.takeOut()...)
	}
	return b
}
