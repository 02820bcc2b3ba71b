// Package bench is the load generator behind cmd/spectra-bench: observers
// replaying recorded matches into a server, thousands of cheap overlay
// clients counting match_data, a few probe clients per match that decode
// everything and measure latency, and the report (Markdown, JSON, SVG).
package bench

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// chromiumOffer is the permessage-deflate offer Chromium sends.
const chromiumOffer = "permessage-deflate; client_max_window_bits"

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes.
const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// upgradeRequest is the HTTP request that opens a direct Engine.IO
// WebSocket session on the Socket.IO path, with Chromium's deflate offer.
func upgradeRequest(hostport string, deflate bool) (req []byte, accept string) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	h := sha1.Sum([]byte(key + wsGUID))
	accept = base64.StdEncoding.EncodeToString(h[:])
	var b strings.Builder
	b.WriteString("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
	b.WriteString("Host: " + hostport + "\r\n")
	b.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\n")
	b.WriteString("Origin: http://" + hostport + "\r\n")
	b.WriteString("Sec-WebSocket-Version: 13\r\n")
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	if deflate {
		b.WriteString("Sec-WebSocket-Extensions: " + chromiumOffer + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String()), accept
}

// wsResponse is what matters of the server's 101 answer.
type wsResponse struct {
	deflate         bool
	serverNoContext bool
}

// readUpgradeResponse reads the server's answer up to the blank line from r
// and checks it. The bytes read past the headers stay in r.
func readUpgradeResponse(r *bufio.Reader, accept string) (wsResponse, error) {
	var res wsResponse
	line, err := r.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("reading the upgrade response: %w", err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 101") {
		return res, fmt.Errorf("upgrade refused: %s", strings.TrimSpace(line))
	}
	gotAccept := false
	for {
		line, err = r.ReadString('\n')
		if err != nil {
			return res, fmt.Errorf("reading the upgrade response: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "sec-websocket-accept":
			gotAccept = v == accept
		case "sec-websocket-extensions":
			if strings.HasPrefix(v, "permessage-deflate") {
				res.deflate = true
				res.serverNoContext = strings.Contains(v, "server_no_context_takeover")
			}
		}
	}
	if !gotAccept {
		return res, errors.New("bad Sec-WebSocket-Accept")
	}
	return res, nil
}

// clientFrame appends a masked single-frame text message (client frames
// must be masked; a zero mask keeps the payload readable and is legal).
func clientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 65536:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	dst = append(dst, mask[:]...)
	for i, c := range payload {
		dst = append(dst, c^mask[i&3])
	}
	return dst
}

// prefixCap is how much of each message a counting client keeps: enough to
// tell a ping, a logon_success and a match_data apart.
const prefixCap = 40

// frameParser splits a byte stream into WebSocket frames without holding
// whole payloads, unless full is set. It is fed whatever the socket gives.
type frameParser struct {
	full bool

	hdr  [14]byte
	hn   int   // header bytes collected
	rem  int64 // payload bytes left in the current frame
	op   byte
	fin  bool
	rsv1 bool
	ctl  [125]byte // control frame payload
	cn   int

	// The message being assembled (data frames, possibly fragmented).
	inMsg   bool
	msgOp   byte
	msgRsv1 bool
	msgWire int64
	pre     [prefixCap]byte
	pn      int
	body    []byte // full mode only
}

// frameSink receives what the parser finds.
type frameSink interface {
	// message: a complete data message. data is its first prefixCap bytes
	// (or all of it in full mode); wire counts its frame headers and
	// payload bytes as they crossed the socket.
	message(op byte, compressed bool, data []byte, wire int64) error
	// control: a ping, pong or close frame.
	control(op byte, payload []byte) error
}

func headerLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// feed parses p. The sink is called synchronously.
func (f *frameParser) feed(p []byte, s frameSink) error {
	for len(p) > 0 {
		if f.rem == 0 && f.hn < 2 || f.hn >= 2 && f.hn < headerLen(f.hdr[0], f.hdr[1]) {
			// Collect the header.
			f.hdr[f.hn] = p[0]
			f.hn++
			p = p[1:]
			if f.hn < 2 || f.hn < headerLen(f.hdr[0], f.hdr[1]) {
				continue
			}
			if err := f.startFrame(); err != nil {
				return err
			}
			if f.rem == 0 {
				if err := f.endFrame(s); err != nil {
					return err
				}
			}
			continue
		}
		// Payload bytes.
		n := int64(len(p))
		if n > f.rem {
			n = f.rem
		}
		chunk := p[:n]
		p = p[n:]
		f.rem -= n
		if f.op >= 0x8 {
			f.cn += copy(f.ctl[f.cn:], chunk)
		} else {
			f.msgWire += n
			if f.full {
				f.body = append(f.body, chunk...)
			} else if f.pn < prefixCap {
				f.pn += copy(f.pre[f.pn:], chunk)
			}
		}
		if f.rem == 0 {
			if err := f.endFrame(s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *frameParser) startFrame() error {
	h := f.hdr[:f.hn]
	f.fin = h[0]&0x80 != 0
	f.rsv1 = h[0]&0x40 != 0
	f.op = h[0] & 0x0f
	if h[1]&0x80 != 0 {
		return errors.New("masked frame from the server")
	}
	var n int64
	switch l := h[1] & 0x7f; l {
	case 126:
		n = int64(h[2])<<8 | int64(h[3])
	case 127:
		for _, c := range h[2:10] {
			n = n<<8 | int64(c)
		}
		if n < 0 || n > 1<<30 {
			return fmt.Errorf("frame length %d", n)
		}
	default:
		n = int64(l)
	}
	f.rem = n
	switch {
	case f.op >= 0x8:
		if n > 125 || !f.fin {
			return errors.New("bad control frame")
		}
		f.cn = 0
	case f.op == opCont:
		if !f.inMsg {
			return errors.New("continuation frame outside a message")
		}
		f.msgWire += int64(f.hn)
	default:
		if f.inMsg {
			return errors.New("new message inside a fragmented one")
		}
		f.inMsg = true
		f.msgOp, f.msgRsv1 = f.op, f.rsv1
		f.msgWire = int64(f.hn)
		f.pn = 0
		f.body = f.body[:0]
	}
	return nil
}

func (f *frameParser) endFrame(s frameSink) error {
	f.hn = 0
	if f.op >= 0x8 {
		return s.control(f.op, f.ctl[:f.cn])
	}
	if !f.fin {
		return nil
	}
	f.inMsg = false
	data := f.pre[:f.pn]
	if f.full {
		data = f.body
	}
	return s.message(f.msgOp, f.msgRsv1, data, f.msgWire)
}

// inflater decompresses permessage-deflate messages with context takeover:
// each message is inflated with the previous 32 KiB of output as the flate
// dictionary, as a browser does.
type inflater struct {
	noContext bool
	fr        io.ReadCloser
	window    []byte
	src       bytes.Reader
	out       bytes.Buffer
}

// deflateTail is the sync-flush marker the sender strips, then an empty
// final stored block so that the reader ends cleanly.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

const windowSize = 32 << 10

func (z *inflater) inflate(payload []byte) ([]byte, error) {
	buf := make([]byte, 0, len(payload)+len(deflateTail))
	buf = append(append(buf, payload...), deflateTail...)
	z.src.Reset(buf)
	var dict []byte
	if !z.noContext {
		dict = z.window
	}
	if z.fr == nil {
		z.fr = flate.NewReader(&z.src)
	}
	if err := z.fr.(flate.Resetter).Reset(&z.src, dict); err != nil {
		return nil, err
	}
	z.out.Reset()
	if _, err := io.Copy(&z.out, io.LimitReader(z.fr, 64<<20)); err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	msg := bytes.Clone(z.out.Bytes())
	if !z.noContext {
		z.window = append(z.window, msg...)
		if len(z.window) > windowSize {
			z.window = append(z.window[:0], z.window[len(z.window)-windowSize:]...)
		}
	}
	return msg, nil
}
