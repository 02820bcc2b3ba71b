package eioclient

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// deflateOffer is the extension offer Chromium sends.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// deflateParams is the server's permessage-deflate response (RFC 7692).
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0 when absent
	clientMaxWindowBits     int // 0 when absent
}

// parseDeflateResponse parses a Sec-WebSocket-Extensions response header.
// ok is false when the server did not accept permessage-deflate. A response
// naming an extension or parameter we did not offer is an error, as the RFC
// requires the client to fail the connection then.
func parseDeflateResponse(header string) (p deflateParams, ok bool, err error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return p, false, nil
	}
	exts := strings.Split(header, ",")
	if len(exts) != 1 {
		return p, false, fmt.Errorf("server selected several extensions: %q", header)
	}
	parts := strings.Split(exts[0], ";")
	if strings.TrimSpace(parts[0]) != "permessage-deflate" {
		return p, false, fmt.Errorf("server selected an extension that was not offered: %q", header)
	}
	seen := map[string]bool{}
	for _, raw := range parts[1:] {
		k, v, hasV := strings.Cut(strings.TrimSpace(raw), "=")
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if seen[k] {
			return p, false, fmt.Errorf("duplicate permessage-deflate parameter %q", k)
		}
		seen[k] = true
		switch k {
		case "server_no_context_takeover":
			if hasV {
				return p, false, fmt.Errorf("parameter %q takes no value", k)
			}
			p.serverNoContextTakeover = true
		case "client_no_context_takeover":
			if hasV {
				return p, false, fmt.Errorf("parameter %q takes no value", k)
			}
			p.clientNoContextTakeover = true
		case "server_max_window_bits", "client_max_window_bits":
			n, err := strconv.Atoi(v)
			if !hasV || err != nil || n < 8 || n > 15 {
				return p, false, fmt.Errorf("bad value for %q: %q", k, v)
			}
			if k == "server_max_window_bits" {
				p.serverMaxWindowBits = n
			} else {
				p.clientMaxWindowBits = n
			}
		default:
			return p, false, fmt.Errorf("unknown permessage-deflate parameter %q", k)
		}
	}
	return p, true, nil
}

// windowSize is the largest LZ77 window a deflate stream may use.
const windowSize = 1 << 15

// inflateTail ends a message for the decompressor: the sync-flush marker the
// sender stripped, then an empty final stored block so the reader sees EOF
// instead of waiting for more input.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// deflateState holds the compression contexts of one WebSocket connection.
type deflateState struct {
	params deflateParams

	// Receive side. With context takeover the server compresses each message
	// against the previous ones, so the last 32 KiB of output are kept and
	// handed to the decompressor as its dictionary.
	fr     io.ReadCloser
	window []byte
	in     suffixed
	out    bytes.Buffer

	// Send side. compress/flate keeps its history across Flush, which is
	// exactly context takeover; it always uses a 32 KiB window, so we only
	// compress when the server allows that window.
	fw        *flate.Writer
	wbuf      bytes.Buffer
	canSend   bool
	threshold int
	level     int
}

func newDeflateState(p deflateParams, level, threshold int) *deflateState {
	d := &deflateState{
		params:    p,
		level:     level,
		threshold: threshold,
		canSend:   threshold >= 0 && (p.clientMaxWindowBits == 0 || p.clientMaxWindowBits == 15),
	}
	return d
}

// suffixed reads a payload followed by inflateTail. It is an io.ByteReader
// so compress/flate reads it directly instead of wrapping it in a bufio
// reader per message.
type suffixed struct {
	p   []byte
	pos int
}

func (s *suffixed) byteAt(i int) byte {
	if i < len(s.p) {
		return s.p[i]
	}
	return inflateTail[i-len(s.p)]
}

func (s *suffixed) ReadByte() (byte, error) {
	if s.pos >= len(s.p)+len(inflateTail) {
		return 0, io.EOF
	}
	b := s.byteAt(s.pos)
	s.pos++
	return b, nil
}

func (s *suffixed) Read(b []byte) (int, error) {
	total := len(s.p) + len(inflateTail)
	if s.pos >= total {
		return 0, io.EOF
	}
	n := 0
	if s.pos < len(s.p) {
		n = copy(b, s.p[s.pos:])
		s.pos += n
	}
	if n < len(b) && s.pos >= len(s.p) {
		m := copy(b[n:], inflateTail[s.pos-len(s.p):])
		s.pos += m
		n += m
	}
	return n, nil
}

// inflate decompresses one message. The result is a fresh slice.
func (d *deflateState) inflate(payload []byte, limit int64) ([]byte, error) {
	d.in = suffixed{p: payload}
	var dict []byte
	if !d.params.serverNoContextTakeover {
		dict = d.window
	}
	if d.fr == nil {
		d.fr = flate.NewReaderDict(&d.in, dict)
	} else if err := d.fr.(flate.Resetter).Reset(&d.in, dict); err != nil {
		return nil, fmt.Errorf("reset decompressor: %w", err)
	}
	d.out.Reset()
	n, err := io.Copy(&d.out, io.LimitReader(d.fr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: decompressed message exceeds %d bytes", ErrMessageTooBig, limit)
	}
	msg := bytes.Clone(d.out.Bytes())
	if msg == nil {
		msg = []byte{}
	}
	if !d.params.serverNoContextTakeover {
		d.remember(msg)
	}
	if d.out.Cap() > 1<<20 {
		d.out = bytes.Buffer{} // do not pin one huge message's buffer
	}
	return msg, nil
}

// remember appends msg to the sliding window.
func (d *deflateState) remember(msg []byte) {
	if len(msg) >= windowSize {
		d.window = append(d.window[:0], msg[len(msg)-windowSize:]...)
		return
	}
	if d.window == nil {
		d.window = make([]byte, 0, 2*windowSize)
	}
	if len(d.window)+len(msg) > cap(d.window) {
		keep := windowSize - len(msg)
		n := copy(d.window, d.window[len(d.window)-keep:])
		d.window = d.window[:n]
	}
	d.window = append(d.window, msg...)
}

// deflate compresses one outgoing message, or reports false when it should
// go uncompressed. The result is valid until the next call.
func (d *deflateState) deflate(p []byte) ([]byte, bool, error) {
	if !d.canSend || len(p) < d.threshold {
		return nil, false, nil
	}
	d.wbuf.Reset()
	if d.fw == nil {
		fw, err := flate.NewWriter(&d.wbuf, d.level)
		if err != nil {
			return nil, false, fmt.Errorf("deflate: %w", err)
		}
		d.fw = fw
	} else if d.params.clientNoContextTakeover {
		d.fw.Reset(&d.wbuf)
	}
	if _, err := d.fw.Write(p); err != nil {
		return nil, false, fmt.Errorf("deflate: %w", err)
	}
	if err := d.fw.Flush(); err != nil {
		return nil, false, fmt.Errorf("deflate: %w", err)
	}
	b := d.wbuf.Bytes()
	if !bytes.HasSuffix(b, inflateTail[:4]) {
		return nil, false, fmt.Errorf("deflate: compressor output lacks the sync-flush marker")
	}
	return b[:len(b)-4], true, nil
}
