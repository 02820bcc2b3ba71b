package eioclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// wsTransport is one WebSocket connection. Frames are read and written with
// gobwas/ws; the opening handshake is written here so that the extension
// offer is byte-for-byte what Chromium sends.
type wsTransport struct {
	c    *Conn
	conn net.Conn
	br   *bufio.Reader
	fl   *deflateState // nil without permessage-deflate

	wmu       sync.Mutex // serialises writes: probe, writer, close replies
	bw        *bufio.Writer
	scratch   []byte
	sentClose atomic.Bool   // our close frame is out: do not answer theirs
	readDone  chan struct{} // closed when readLoop returns

	abortOnce sync.Once
}

func (w *wsTransport) name() string { return TransportWebSocket }

func (w *wsTransport) abort() { w.abortOnce.Do(func() { w.conn.Close() }) }

// countingConn counts the bytes crossing the socket into the Conn's stats.
type countingConn struct {
	net.Conn
	s *counters
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.s.bytesRead.Add(int64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.s.bytesWritten.Add(int64(n))
	return n, err
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialWebSocket connects and completes the WebSocket handshake. sid is empty
// for a direct WebSocket session.
func (c *Conn) dialWebSocket(ctx context.Context, sid string) (*wsTransport, error) {
	kv := []string{"transport", TransportWebSocket}
	if sid != "" {
		kv = append(kv, "sid", sid)
	}
	u := c.endpoint(kv...)
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	d := net.Dialer{}
	if c.opts.LocalAddr != nil {
		d.LocalAddr = c.opts.LocalAddr
	}
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%w: websocket dial %s: %v", ErrHandshake, host, err)
	}
	if u.Scheme == "https" {
		cfg := c.opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("%w: tls handshake with %s: %v", ErrHandshake, host, err)
		}
		raw = tc
	}
	conn := countingConn{Conn: raw, s: &c.stats}
	w := &wsTransport{
		c:        c,
		conn:     conn,
		br:       bufio.NewReaderSize(conn, 32<<10),
		bw:       bufio.NewWriterSize(conn, 32<<10),
		readDone: make(chan struct{}),
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	err = w.handshake(u)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return w, nil
}

func (w *wsTransport) handshake(u *url.URL) error {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])

	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	bw := w.bw
	bw.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\n")
	bw.WriteString("Host: " + u.Host + "\r\n")
	bw.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	bw.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	bw.WriteString("Sec-WebSocket-Version: 13\r\n")
	if w.c.opts.Deflate {
		bw.WriteString("Sec-WebSocket-Extensions: " + deflateOffer + "\r\n")
	}
	if err := w.c.opts.Header.Write(bw); err != nil {
		return fmt.Errorf("%w: writing handshake headers: %v", ErrHandshake, err)
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%w: writing handshake: %v", ErrHandshake, err)
	}

	resp, err := http.ReadResponse(w.br, req)
	if err != nil {
		return fmt.Errorf("%w: reading handshake response: %v", ErrHandshake, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return fmt.Errorf("%w: websocket upgrade answered HTTP %d: %s", ErrHandshake, resp.StatusCode, body)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return fmt.Errorf("%w: bad Upgrade header %q", ErrHandshake, resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header.Values("Connection"), "upgrade") {
		return fmt.Errorf("%w: bad Connection header %q", ErrHandshake, resp.Header.Get("Connection"))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return fmt.Errorf("%w: bad Sec-WebSocket-Accept", ErrHandshake)
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ",")
	if ext != "" && !w.c.opts.Deflate {
		return fmt.Errorf("%w: server selected extensions that were not offered: %q", ErrHandshake, ext)
	}
	params, ok, err := parseDeflateResponse(ext)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if ok {
		w.fl = newDeflateState(params, w.c.opts.DeflateLevel, w.c.opts.DeflateThreshold)
	}
	return nil
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// openWebSocket opens a direct WebSocket session and reads the open packet.
func (c *Conn) openWebSocket(ctx context.Context) (*wsTransport, error) {
	w, err := c.dialWebSocket(ctx, "")
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { w.conn.SetReadDeadline(time.Unix(1, 0)) })
	data, binary, err := w.readMessage()
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		w.abort()
		return nil, fmt.Errorf("%w: reading open packet: %v", ErrHandshake, err)
	}
	w.conn.SetReadDeadline(time.Time{})
	if binary || len(data) == 0 || data[0] != byte(typeOpen) {
		w.abort()
		return nil, fmt.Errorf("%w: first websocket message is not an open packet: %q", ErrHandshake, truncate(data, 100))
	}
	hs, err := parseOpen(data[1:])
	if err != nil {
		w.abort()
		return nil, err
	}
	c.hs = hs
	return w, nil
}

// probe performs 2probe/3probe on a not yet active WebSocket.
func (w *wsTransport) probe(ctx context.Context) error {
	if err := w.writeNow(outItem{pkt: packet{Type: typePing, Data: []byte("probe")}}); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { w.conn.SetReadDeadline(time.Unix(1, 0)) })
	data, binary, err := w.readMessage()
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		return err
	}
	w.conn.SetReadDeadline(time.Time{})
	if binary || string(data) != "3probe" {
		return fmt.Errorf("unexpected probe answer %q", truncate(data, 100))
	}
	return nil
}

// readLoop reads until the connection ends.
func (w *wsTransport) readLoop() {
	defer close(w.readDone)
	c := w.c
	for {
		data, binary, err := w.readMessage()
		if err != nil {
			if w.sentClose.Load() {
				return // the end of our own closing handshake
			}
			if c.ctx.Err() == nil {
				if errors.Is(err, ErrServerClosed) || errors.Is(err, ErrMessageTooBig) {
					c.fail(err)
				} else {
					c.fail(fmt.Errorf("%w: websocket read: %v", ErrTransport, err))
				}
			}
			return
		}
		var pkt packet
		if binary {
			pkt = packet{Type: typeMessage, Data: data, Binary: true}
		} else if pkt, err = decodeText(data); err != nil {
			c.fail(err)
			return
		}
		if err := c.handle(pkt); err != nil {
			c.fail(err)
			return
		}
	}
}

// readMessage reads one data message, answering control frames on the way.
// The returned slice is owned by the caller.
func (w *wsTransport) readMessage() (data []byte, binary bool, err error) {
	limit := w.c.opts.MaxMessageSize
	var (
		buf        []byte
		started    bool
		op         ws.OpCode
		compressed bool
	)
	for {
		h, err := ws.ReadHeader(w.br)
		if err != nil {
			return nil, false, err
		}
		w.c.stats.framesRead.Add(1)
		if h.Masked {
			return nil, false, fmt.Errorf("%w: server sent a masked frame", ErrMalformedPacket)
		}
		if h.OpCode.IsReserved() {
			return nil, false, fmt.Errorf("%w: reserved opcode %d", ErrMalformedPacket, h.OpCode)
		}
		rsv1, rsv2, rsv3 := ws.RsvBits(h.Rsv)
		if rsv2 || rsv3 {
			return nil, false, fmt.Errorf("%w: unexpected RSV2/RSV3 bits", ErrMalformedPacket)
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > 125 || rsv1 {
				return nil, false, fmt.Errorf("%w: invalid control frame", ErrMalformedPacket)
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(w.br, p); err != nil {
				return nil, false, err
			}
			switch h.OpCode {
			case ws.OpPing:
				w.c.enqueueControl(outItem{control: byte(ws.OpPong), payload: p})
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(p)
				w.replyClose(code)
				return nil, false, fmt.Errorf("%w: websocket close %d %q", ErrServerClosed, code, reason)
			}
			continue
		}
		if h.OpCode == ws.OpContinuation {
			if !started || rsv1 {
				return nil, false, fmt.Errorf("%w: unexpected continuation frame", ErrMalformedPacket)
			}
		} else {
			if started {
				return nil, false, fmt.Errorf("%w: new message inside a fragmented one", ErrMalformedPacket)
			}
			if rsv1 && w.fl == nil {
				return nil, false, fmt.Errorf("%w: compressed frame without permessage-deflate", ErrMalformedPacket)
			}
			started, op, compressed = true, h.OpCode, rsv1
		}
		if int64(len(buf))+h.Length > limit {
			return nil, false, fmt.Errorf("%w: message exceeds %d bytes", ErrMessageTooBig, limit)
		}
		if buf, err = readGrowing(w.br, buf, h.Length); err != nil {
			return nil, false, err
		}
		if h.Fin {
			break
		}
	}
	if compressed {
		if buf, err = w.fl.inflate(buf, limit); err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrMalformedPacket, err)
		}
	}
	if buf == nil {
		buf = []byte{}
	}
	return buf, op == ws.OpBinary, nil
}

// readGrowing appends n bytes from r to buf, growing the buffer only as data
// arrives so that a declared length alone cannot make us allocate.
func readGrowing(r io.Reader, buf []byte, n int64) ([]byte, error) {
	const step = 64 << 10
	for n > 0 {
		chunk := int(min(n, step))
		buf = slices.Grow(buf, chunk)
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+got]
		if err != nil {
			return buf, err
		}
		n -= int64(got)
	}
	return buf, nil
}

func (w *wsTransport) replyClose(code ws.StatusCode) {
	if w.sentClose.Load() {
		return
	}
	if code == 0 || code == ws.StatusNoStatusRcvd {
		code = ws.StatusNormalClosure
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if w.writeFrame(ws.OpClose, ws.NewCloseFrameBody(code, ""), false) == nil {
		w.bw.Flush()
	}
}

// awaitClose waits, after our close frame went out, for the server to end
// the connection. Closing the socket at once could reset the connection and
// make the server's kernel discard data it has received but not yet read.
func (w *wsTransport) awaitClose(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.readDone:
	case <-t.C:
	}
}

// writeNow writes one item immediately, outside the send queue.
func (w *wsTransport) writeNow(it outItem) error {
	return w.write([]outItem{it})
}

func (w *wsTransport) write(batch []outItem) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.conn.SetWriteDeadline(time.Now().Add(w.c.opts.WriteTimeout))
	for _, it := range batch {
		var err error
		switch {
		case it.control != 0:
			err = w.writeFrame(ws.OpCode(it.control), it.payload, false)
		case it.pkt.Binary:
			err = w.writeData(ws.OpBinary, it.pkt.Data)
		default:
			w.scratch = append(append(w.scratch[:0], byte(it.pkt.Type)), it.pkt.Data...)
			err = w.writeData(ws.OpText, w.scratch)
			if err == nil && it.pkt.Type == typeClose {
				w.sentClose.Store(true)
				err = w.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), false)
			}
		}
		if err != nil {
			return err
		}
	}
	if cap(w.scratch) > 1<<20 {
		w.scratch = nil
	}
	return w.bw.Flush()
}

// writeData writes a data message, compressed when negotiated and worth it.
func (w *wsTransport) writeData(op ws.OpCode, p []byte) error {
	if w.fl != nil {
		z, ok, err := w.fl.deflate(p)
		if err != nil {
			return err
		}
		if ok {
			return w.writeFrame(op, z, true)
		}
	}
	return w.writeFrame(op, p, false)
}

// writeFrame writes one masked frame. p is masked in a copy; callers keep
// their data.
func (w *wsTransport) writeFrame(op ws.OpCode, p []byte, compressed bool) error {
	h := ws.Header{
		Fin:    true,
		Rsv:    ws.Rsv(compressed, false, false),
		OpCode: op,
		Masked: true,
		Mask:   ws.NewMask(),
		Length: int64(len(p)),
	}
	if err := ws.WriteHeader(w.bw, h); err != nil {
		return err
	}
	// Mask through the buffered writer's free space in chunks to avoid a
	// second full-size copy of large messages.
	for len(p) > 0 {
		if w.bw.Available() == 0 {
			if err := w.bw.Flush(); err != nil {
				return err
			}
		}
		dst := w.bw.AvailableBuffer()
		n := min(len(p), cap(dst))
		dst = append(dst, p[:n]...)
		ws.Cipher(dst, h.Mask, int(h.Length)-len(p))
		if _, err := w.bw.Write(dst); err != nil {
			return err
		}
		p = p[n:]
	}
	w.c.stats.framesWritten.Add(1)
	return nil
}
