package engineio

// The TLS 1.3 record layer for AES-GCM, run by the engine itself once
// crypto/tls has done the handshake (see tlsfast.go, "Memory").
//
// crypto/tls keeps, for the life of a connection, its input and handshake
// buffers at the size the ClientHello grew them to (about 3.5 KiB with the
// post-quantum key shares browsers send), its Conn (0.9 KiB) and both
// AEADs. An idle overlay needs none of that but the sending AEAD: a
// broadcast seals with it, while the receiving side only runs every ping
// interval, when the client answers. tls13Conn therefore holds the sending
// AEAD and the receiving traffic secret; the receiving AEAD and the record
// buffer exist only while a record is being read.
//
// What it does, after RFC 8446 section 5 and 4.6.3:
//   - records: 5-byte header (type application_data, legacy version
//     0x0303, length at most 2^14+256), AES-GCM with nonce = iv XOR the
//     64-bit record sequence number and the header as additional data;
//     the inner plaintext is the content, its type and zero padding, at
//     most 2^14+1 bytes.
//   - inner types: application data (empty records count as useless),
//     alert (close_notify is the end of the stream, any other alert an
//     error, as in crypto/tls for TLS 1.3), handshake (KeyUpdate only; an
//     update_requested one is answered with a KeyUpdate before the sending
//     keys change). Anything else, a record that does not decrypt, or more
//     than maxUselessRecords records in a row without data is an error that
//     ends the connection; no alert is sent back.
//   - sending: records of at most 2^14 bytes of data, with no padding.
//
// The handshake messages it accepts must come whole in one record (a
// KeyUpdate is 5 bytes; clients send it in a record of its own).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

const (
	tlsRecordHeader   = 5
	tlsMaxPlaintext   = 1 << 14
	tlsMaxCiphertext  = tlsMaxPlaintext + 256
	tlsGCMTag         = 16
	tlsTypeAlert      = 21
	tlsTypeHandshake  = 22
	tlsTypeAppData    = 23
	tlsMsgKeyUpdate   = 24
	maxUselessRecords = 16 // as crypto/tls: records in a row that carry no data
)

var (
	errTLSRecord  = errors.New("engineio: tls: bad record")
	errTLSDecrypt = errors.New("engineio: tls: record does not decrypt")
)

// tls13Suite is an AES-GCM suite's hash and key length.
type tls13Suite struct {
	hash   func() hash.Hash
	keyLen int
}

func tls13SuiteOf(id uint16) (tls13Suite, bool) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return tls13Suite{hash: sha256.New, keyLen: 16}, true
	case tls.TLS_AES_256_GCM_SHA384:
		return tls13Suite{hash: sha512.New384, keyLen: 32}, true
	}
	return tls13Suite{}, false
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty
// context.
func (s tls13Suite) expandLabel(secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(s.hash, secret, string(info), n)
}

// tls13Keys is one direction's traffic secret, key, iv and sequence
// number; aead is built from key when needed. The secret and key are kept
// inline: one allocation per connection instead of four small ones.
type tls13Keys struct {
	secret    [48]byte // SHA-384's size at most
	key       [32]byte
	iv        [12]byte
	secretLen uint8
	keyLen    uint8
	seq       uint64
	aead      cipher.AEAD
	// nonceBuf is where nonce builds each record's nonce: a local array
	// handed to the AEAD interface escapes, one heap allocation per record.
	nonceBuf [12]byte
}

func (s tls13Suite) keys(secret []byte) (tls13Keys, error) {
	var k tls13Keys
	if len(secret) != s.hash().Size() {
		return k, fmt.Errorf("%w: traffic secret of %d bytes", errTLSRecord, len(secret))
	}
	key, err := s.expandLabel(secret, "key", s.keyLen)
	if err != nil {
		return k, err
	}
	iv, err := s.expandLabel(secret, "iv", 12)
	if err != nil {
		return k, err
	}
	k.secretLen = uint8(copy(k.secret[:], secret))
	k.keyLen = uint8(copy(k.key[:], key))
	copy(k.iv[:], iv)
	return k, nil
}

// next is the traffic secret after a KeyUpdate (RFC 8446 section 7.2).
func (s tls13Suite) next(k *tls13Keys) error {
	cur := k.secret[:k.secretLen]
	secret, err := s.expandLabel(cur, "traffic upd", len(cur))
	if err != nil {
		return err
	}
	nk, err := s.keys(secret)
	if err != nil {
		return err
	}
	*k = nk
	return nil
}

func (k *tls13Keys) cipher() (cipher.AEAD, error) {
	if k.aead != nil {
		return k.aead, nil
	}
	block, err := aes.NewCipher(k.key[:k.keyLen])
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k.aead = a
	return a, nil
}

// nonce is iv XOR seq in k.nonceBuf, valid until the next call.
func (k *tls13Keys) nonce(seq uint64) []byte {
	k.nonceBuf = k.iv
	for i := 0; i < 8; i++ {
		k.nonceBuf[4+i] ^= byte(seq >> (56 - 8*i))
	}
	return k.nonceBuf[:]
}

// open decrypts the whole record rec (header and body) in place with
// sequence number seq and returns the content and its inner type.
func (k *tls13Keys) open(rec []byte, seq uint64) ([]byte, byte, error) {
	a, err := k.cipher()
	if err != nil {
		return nil, 0, err
	}
	nonce := k.nonce(seq)
	body := rec[tlsRecordHeader:]
	pt, err := a.Open(body[:0], nonce, body, rec[:tlsRecordHeader])
	if err != nil {
		return nil, 0, errTLSDecrypt
	}
	if len(pt) > tlsMaxPlaintext+1 { // content, type and padding
		return nil, 0, fmt.Errorf("%w: inner plaintext of %d bytes", errTLSRecord, len(pt))
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, fmt.Errorf("%w: no content type", errTLSRecord)
	}
	return pt[:i], pt[i], nil
}

// seal appends a record of typ carrying data (at most tlsMaxPlaintext
// bytes) to dst.
func (k *tls13Keys) seal(dst []byte, typ byte, data []byte) ([]byte, error) {
	a, err := k.cipher()
	if err != nil {
		return dst, err
	}
	if k.seq == ^uint64(0) {
		return dst, fmt.Errorf("%w: sequence number exhausted", errTLSRecord)
	}
	n := len(data) + 1 + tlsGCMTag
	start := len(dst)
	dst = slices.Grow(dst, tlsRecordHeader+n) // the tag is sealed in place
	dst = append(dst, tlsTypeAppData, 3, 3, byte(n>>8), byte(n))
	dst = append(dst, data...)
	dst = append(dst, typ)
	nonce := k.nonce(k.seq)
	k.seq++
	body := dst[start+tlsRecordHeader:]
	sealed := a.Seal(body[:0], nonce, body, dst[start:start+tlsRecordHeader])
	return dst[:start+tlsRecordHeader+len(sealed)], nil
}

// tlsInPool holds the buffers records are read into: one record and what
// the read brought past it.
var tlsInPool = sync.Pool{New: func() any {
	b := make([]byte, 2*(tlsRecordHeader+tlsMaxCiphertext))
	return &b
}}

// tls13Conn is a fast-path TLS 1.3 connection after the handshake: reads
// through the transport (non-blocking during the engine's probes), writes
// sealed into the transport's outbound buffer.
type tls13Conn struct {
	t     *tlsTransport
	src   io.Reader // the records: t (a fuzz target's bytes in tests)
	suite tls13Suite

	// Reader-owned: one reader at a time, but handed from one to the next
	// through the kernel (epoll), which the race detector does not see;
	// rmu (uncontended) says it, as crypto/tls's input lock does.
	rmu     sync.Mutex
	rd      tls13Keys // aead nil while no record is being read
	in      *[]byte   // pooled, while bytes are held; nil when idle
	r, w    int       // unread ciphertext: (*in)[r:w]
	plain   []byte    // decrypted and not yet read; inside *in
	partial []byte    // a record's first bytes kept while idle (no pooled buffer held)
	useless int
	rerr    error

	// Under t.mu, with t.out.
	wr   tls13Keys
	werr error
}

func (c *tls13Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			c.release()
			return 0, c.rerr
		}
		if err := c.readRecord(); err != nil {
			if !errors.Is(err, errWouldBlock) && !isTimeout(err) {
				c.rerr = err
			}
			c.release()
			return 0, err
		}
	}
	n := copy(b, c.plain)
	c.plain = c.plain[n:]
	if len(c.plain) == 0 && c.r == c.w {
		c.release()
	}
	return n, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// release gives back what an idle connection need not hold: the record
// buffer (a partial record's bytes are kept in a slice of their size) and
// the receiving AEAD.
func (c *tls13Conn) release() {
	if len(c.plain) > 0 {
		return
	}
	if c.in != nil {
		if c.w > c.r {
			c.partial = append(c.partial[:0], (*c.in)[c.r:c.w]...)
		} else {
			c.partial = nil
		}
		tlsInPool.Put(c.in)
		c.in, c.r, c.w = nil, 0, 0
	}
	c.rd.aead = nil
}

// readRecord reads and handles one record; c.plain is its data, if any.
func (c *tls13Conn) readRecord() error {
	if c.in == nil {
		c.in = tlsInPool.Get().(*[]byte)
		c.r, c.w = 0, copy(*c.in, c.partial)
		c.partial = nil
	}
	buf := *c.in
	for {
		avail := buf[c.r:c.w]
		if len(avail) >= tlsRecordHeader {
			if avail[0] != tlsTypeAppData || avail[1] != 3 || avail[2] != 3 {
				return fmt.Errorf("%w: type %d version %#x", errTLSRecord, avail[0], binary.BigEndian.Uint16(avail[1:3]))
			}
			n := int(binary.BigEndian.Uint16(avail[3:5]))
			if n > tlsMaxCiphertext || n < tlsGCMTag+1 {
				return fmt.Errorf("%w: length %d", errTLSRecord, n)
			}
			if len(avail) >= tlsRecordHeader+n {
				c.r += tlsRecordHeader + n
				return c.handle(avail[:tlsRecordHeader+n])
			}
		}
		if c.r > 0 && len(buf)-c.r < tlsRecordHeader+tlsMaxCiphertext {
			c.w = copy(buf, avail)
			c.r = 0
		}
		m, err := c.src.Read(buf[c.w:])
		c.w += m
		if err != nil && m == 0 {
			if err == io.EOF && c.w > c.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// handle handles the record rec (header and ciphertext).
func (c *tls13Conn) handle(rec []byte) error {
	data, typ, err := c.rd.open(rec, c.rd.seq)
	if err != nil {
		return err
	}
	c.rd.seq++
	if c.rd.seq == 0 {
		return fmt.Errorf("%w: sequence number exhausted", errTLSRecord)
	}
	if typ == tlsTypeAppData && len(data) > 0 {
		c.useless = 0
		c.plain = data
		return nil
	}
	if c.useless++; c.useless > maxUselessRecords {
		return fmt.Errorf("%w: %d records in a row without data", errTLSRecord, c.useless)
	}
	switch typ {
	case tlsTypeAppData:
		return nil
	case tlsTypeAlert:
		if len(data) != 2 {
			return fmt.Errorf("%w: alert of %d bytes", errTLSRecord, len(data))
		}
		if data[1] == 0 { // close_notify
			return io.EOF
		}
		return fmt.Errorf("engineio: tls: remote alert %d", data[1])
	case tlsTypeHandshake:
		return c.handshakeMsg(data)
	}
	return fmt.Errorf("%w: inner type %d", errTLSRecord, typ)
}

// handshakeMsg handles a post-handshake message: KeyUpdate, whole and
// alone in its record.
func (c *tls13Conn) handshakeMsg(m []byte) error {
	if len(m) != 5 || m[0] != tlsMsgKeyUpdate || m[1] != 0 || m[2] != 0 || m[3] != 1 || m[4] > 1 {
		return fmt.Errorf("%w: post-handshake message %x", errTLSRecord, m[:min(len(m), 8)])
	}
	if err := c.suite.next(&c.rd); err != nil {
		return err
	}
	if m[4] == 0 {
		return nil
	}
	// update_requested: answer with a KeyUpdate under the current keys,
	// then change them. The writer sends it (tlsSendAnswers).
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	t.out, c.werr = c.wr.seal(t.out, tlsTypeHandshake, []byte{tlsMsgKeyUpdate, 0, 0, 1, 0})
	if c.werr == nil {
		c.werr = c.suite.next(&c.wr)
		if c.werr == nil {
			_, c.werr = c.wr.cipher()
		}
	}
	return c.werr
}

// Write seals b into the transport's outbound buffer.
func (c *tls13Conn) Write(b []byte) (int, error) {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return c.writeLocked(tlsTypeAppData, b)
}

func (c *tls13Conn) writeLocked(typ byte, b []byte) (int, error) {
	n := 0
	for c.werr == nil && (len(b) > 0 || typ != tlsTypeAppData) {
		chunk := b[:min(len(b), tlsMaxPlaintext)]
		c.t.out, c.werr = c.wr.seal(c.t.out, typ, chunk)
		if c.werr == nil {
			n += len(chunk)
			b = b[len(chunk):]
		}
		if typ != tlsTypeAppData {
			break
		}
	}
	return n, c.werr
}

// closeNotify appends the close_notify alert to the outbound buffer.
func (c *tls13Conn) closeNotify() {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = c.writeLocked(tlsTypeAlert, []byte{1, 0})
}

func (c *tls13Conn) Close() error { return c.t.Conn.Close() }

func (c *tls13Conn) LocalAddr() net.Addr  { return c.t.Conn.LocalAddr() }
func (c *tls13Conn) RemoteAddr() net.Addr { return c.t.Conn.RemoteAddr() }

func (c *tls13Conn) SetDeadline(d time.Time) error      { return c.t.Conn.SetDeadline(d) }
func (c *tls13Conn) SetReadDeadline(d time.Time) error  { return c.t.Conn.SetReadDeadline(d) }
func (c *tls13Conn) SetWriteDeadline(d time.Time) error { return c.t.Conn.SetWriteDeadline(d) }
