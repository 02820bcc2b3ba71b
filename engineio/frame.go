package engineio

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"sync"

	"github.com/gobwas/ws"

	"spectra-relay/internal/deltaflate"
)

// Frame is one Engine.IO message encoded once for every way it can leave
// the server: the polling text, a plain WebSocket frame, a WebSocket frame
// compressed on its own, and (for frames of a Stream) a frame compressed
// with the stream's shared context. A Frame is immutable once built and may
// be handed to any number of sockets; each variant is built at most once.
type Frame struct {
	binary  bool
	payload []byte // the Engine.IO message data, without the type digit

	stream *Stream
	seq    uint64 // position among the stream's compressible frames; 0 if none
	// epochStart: the stream's compressor history begins with this frame,
	// so its context variant decodes whatever a client's window holds.
	epochStart bool
	ctx        []byte // compressed with the stream's context; guarded by stream.mu
	ctxDone    bool   // ctx was computed, or will never be (dropped)

	level     int
	threshold int

	plainOnce sync.Once
	plain     []byte // WebSocket frame: header then "4"+payload (or raw binary)
	plainHdr  int

	pollOnce sync.Once
	poll     []byte // polling encoding of a binary message

	flateOnce sync.Once
	flate     []byte // WebSocket frame compressed without context, or nil
}

// NewTextFrame builds a text message frame. payload is the message body
// without the Engine.IO type digit; the Frame keeps it, so the caller must
// not modify it afterwards.
func NewTextFrame(payload []byte) *Frame {
	return &Frame{payload: payload, level: defaultDeflateLevel, threshold: defaultDeflateThreshold}
}

// NewTextFrame builds a text message frame compressed with the server's
// deflate level and threshold. Handing one such Frame to many sockets makes
// each wire form, the compressed one included, once for all of them.
func (s *Server) NewTextFrame(payload []byte) *Frame {
	return &Frame{payload: payload, level: s.cfg.Deflate.Level, threshold: s.cfg.Deflate.Threshold}
}

// NewBinaryFrame builds a binary message frame. The Frame keeps payload.
func NewBinaryFrame(payload []byte) *Frame {
	return &Frame{binary: true, payload: payload, level: defaultDeflateLevel, threshold: defaultDeflateThreshold}
}

// Payload returns the message body the frame carries.
func (f *Frame) Payload() []byte { return f.payload }

// Binary reports whether the frame is a binary message.
func (f *Frame) Binary() bool { return f.binary }

// messageLen is the length of the WebSocket message payload.
func (f *Frame) messageLen() int {
	if f.binary {
		return len(f.payload)
	}
	return len(f.payload) + 1
}

func (f *Frame) wsPlain() []byte {
	f.plainOnce.Do(func() {
		op := ws.OpText
		if f.binary {
			op = ws.OpBinary
		}
		h := ws.Header{Fin: true, OpCode: op, Length: int64(f.messageLen())}
		hl := headerSize(h)
		buf := make([]byte, hl, hl+f.messageLen())
		writeHeader(buf, h)
		if !f.binary {
			buf = append(buf, byte(PacketMessage))
		}
		f.plain = append(buf, f.payload...)
		f.plainHdr = hl
	})
	return f.plain
}

// pollingBytes is the packet as it travels in a polling payload.
func (f *Frame) pollingBytes() []byte {
	if !f.binary {
		p := f.wsPlain()
		return p[f.plainHdr:]
	}
	f.pollOnce.Do(func() {
		b := make([]byte, 1+base64.StdEncoding.EncodedLen(len(f.payload)))
		b[0] = 'b'
		base64.StdEncoding.Encode(b[1:], f.payload)
		f.poll = b
	})
	return f.poll
}

// compressible reports whether deflate applies to this frame at all.
func (f *Frame) compressible() bool {
	return f.messageLen() >= f.threshold
}

// wsFlate is the frame compressed with a fresh compressor, decodable by any
// client whatever its window holds.
func (f *Frame) wsFlate() []byte {
	f.flateOnce.Do(func() {
		c := getCompressor(f.level)
		defer putCompressor(f.level, c)
		c.Reset()
		if !f.binary {
			_, _ = c.w.Write([]byte{byte(PacketMessage)})
		}
		_, _ = c.w.Write(f.payload)
		_ = c.w.Flush()
		f.flate = compressedFrame(c.buf.Bytes(), f.binary)
		if f.stream != nil {
			f.stream.stats.compressed(deflateStandalone, f.messageLen(), f.flate)
		}
	})
	return f.flate
}

// compressedFrame wraps a sync-flushed deflate block as a WebSocket frame
// with RSV1 set, dropping the 00 00 ff ff tail as RFC 7692 requires.
func compressedFrame(deflated []byte, binary bool) []byte {
	deflated = bytes.TrimSuffix(deflated, deflateTail)
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	h := ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: op, Length: int64(len(deflated))}
	hl := headerSize(h)
	out := make([]byte, hl, hl+len(deflated))
	writeHeader(out, h)
	return append(out, deflated...)
}

var deflateTail = []byte{0, 0, 0xff, 0xff}

// compressor is a compress/flate writer with its output buffer: pooled for
// the frames compressed on their own, and a Stream's context encoder with
// StreamOptions.Flate.
type compressor struct {
	buf bytes.Buffer
	w   *flate.Writer
}

// flateLevel is level if compress/flate has it, else the default.
func flateLevel(level int) int {
	if level < flate.BestSpeed || level > flate.BestCompression {
		return defaultDeflateLevel
	}
	return level
}

func newCompressor(level int) *compressor {
	c := &compressor{}
	c.w, _ = flate.NewWriter(&c.buf, flateLevel(level))
	return c
}

func (c *compressor) Write(p []byte) (int, error) { return c.w.Write(p) }

// Flush appends what was written since the last Flush, sync-flushed, to dst.
func (c *compressor) Flush(dst []byte) []byte {
	_ = c.w.Flush()
	dst = append(dst, c.buf.Bytes()...)
	c.buf.Reset()
	return dst
}

// Reset drops the context and any output not yet flushed.
func (c *compressor) Reset() {
	c.buf.Reset()
	c.w.Reset(&c.buf)
}

var compressorPools [flate.BestCompression + 1]sync.Pool

func getCompressor(level int) *compressor {
	level = flateLevel(level)
	if c, ok := compressorPools[level].Get().(*compressor); ok {
		return c
	}
	return newCompressor(level)
}

func putCompressor(level int, c *compressor) {
	if c.buf.Cap() > 1<<20 {
		c.buf = bytes.Buffer{}
	}
	compressorPools[flateLevel(level)].Put(c)
}

// Stream is an ordered sequence of frames sent to a changing set of sockets,
// such as the broadcasts to one room. Its frames are compressed with one
// shared deflate context (context takeover), so a socket that has received
// the stream's recent frames decodes each new one as a small delta, while the
// compression is done once for all sockets. A socket that joined late, or
// missed a frame, is sent the context-free variant until its decompressor
// window holds the stream's history again.
//
// Compression is lazy but always in stream order: a frame is compressed
// when the first socket needs its context variant, together with every
// earlier frame still waiting. A stream nobody with deflate listens to
// therefore costs no compression: when too many frames wait, they are
// dropped from the history and the compressor starts a new epoch.
type Stream struct {
	coalesce  bool
	level     int
	threshold int

	mu      sync.Mutex
	seq     uint64
	pending []*Frame // compressible frames not yet compressed, in order
	// comp holds the context: deltaflate unless StreamOptions.Flate. A
	// stream's frames mostly repeat each other, which deltaflate encodes
	// about eight times faster than compress/flate, in a fourteenth of
	// the memory (about 57 KB against 800 KB per stream), for frames about
	// 1.6 times larger.
	comp  contextEncoder
	flate bool
	out   []byte

	stats *serverStats // nil: not counted (see Server.NewStream)
}

// maxPending bounds the frames waiting for lazy compression.
const maxPending = 16

// StreamOptions configures a Stream.
type StreamOptions struct {
	// Coalesce makes a newer frame of the stream replace an older one that
	// is still waiting in a socket's queue: for "latest state" streams where
	// only the newest message matters.
	Coalesce bool
	// Deflate level (for the frames compressed on their own, and with
	// Flate for the context frames too) and threshold; zero means the
	// defaults (6 and 1024).
	Level     int
	Threshold int
	// Flate compresses the context frames with compress/flate at Level
	// instead of deltaflate (see DeflateConfig.StreamFlate).
	Flate bool
}

// NewStream makes a Stream.
func NewStream(o StreamOptions) *Stream {
	st := &Stream{coalesce: o.Coalesce, level: o.Level, threshold: o.Threshold, flate: o.Flate}
	if st.level == 0 {
		st.level = defaultDeflateLevel
	}
	if st.threshold == 0 {
		st.threshold = defaultDeflateThreshold
	}
	return st
}

// TextFrame appends a text message to the stream and returns its frame.
// Frames must be handed to sockets in the order they were made.
func (st *Stream) TextFrame(payload []byte) *Frame {
	f := &Frame{payload: payload, stream: st, level: st.level, threshold: st.threshold}
	if !f.compressible() {
		return f
	}
	st.mu.Lock()
	st.seq++
	f.seq = st.seq
	if st.seq == 1 {
		f.epochStart = true
	}
	if len(st.pending) >= maxPending {
		for _, old := range st.pending {
			old.ctxDone = true // never compressed with context
		}
		clear(st.pending)
		st.pending = st.pending[:0]
		if st.comp != nil {
			st.comp.Reset()
		}
		f.epochStart = true
	}
	st.pending = append(st.pending, f)
	st.mu.Unlock()
	return f
}

// contextFrame returns f compressed with the stream's context, or nil if
// it was dropped from the history.
func (st *Stream) contextFrame(f *Frame) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	if f.ctxDone {
		return f.ctx
	}
	if st.comp == nil {
		if st.flate {
			st.comp = newCompressor(st.level)
		} else {
			st.comp = deltaflate.NewEncoder()
		}
	}
	n := 0
	for _, p := range st.pending {
		n++
		_, _ = st.comp.Write([]byte{byte(PacketMessage)})
		_, _ = st.comp.Write(p.payload)
		st.out = st.comp.Flush(st.out[:0])
		p.ctx = compressedFrame(st.out, false)
		p.ctxDone = true
		st.stats.compressed(deflateContext, p.messageLen(), p.ctx)
		if p == f {
			break
		}
	}
	rest := copy(st.pending, st.pending[n:])
	clear(st.pending[rest:])
	st.pending = st.pending[:rest]
	return f.ctx
}

// contextEncoder compresses a stream's messages with context takeover:
// Write the message, then Flush appends it compressed and sync-flushed.
type contextEncoder interface {
	Write(p []byte) (int, error)
	Flush(dst []byte) []byte
	Reset()
}

func headerSize(h ws.Header) int {
	n := 2
	switch {
	case h.Length > 0xffff:
		n += 8
	case h.Length > 125:
		n += 2
	}
	return n
}

// writeHeader writes an unmasked server frame header into b, which has
// exactly headerSize(h) bytes.
func writeHeader(b []byte, h ws.Header) {
	b[0] = byte(h.OpCode) | h.Rsv<<4
	if h.Fin {
		b[0] |= 0x80
	}
	switch {
	case h.Length > 0xffff:
		b[1] = 127
		for i := 0; i < 8; i++ {
			b[2+i] = byte(h.Length >> (56 - 8*i))
		}
	case h.Length > 125:
		b[1] = 126
		b[2] = byte(h.Length >> 8)
		b[3] = byte(h.Length)
	default:
		b[1] = byte(h.Length)
	}
}
