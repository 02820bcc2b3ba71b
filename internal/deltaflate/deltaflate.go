// Package deltaflate is a deflate encoder for a stream of messages in which
// each message mostly repeats the one before it, such as the successive
// states of a match sent to overlays. It writes one raw deflate stream with a
// sync flush after each message, which is what WebSocket permessage-deflate
// with context takeover (RFC 7692) expects.
//
// compress/flate does this job too, but it is built for any input: its
// compressor keeps about 800 KB of tables per stream whatever the level, and
// at the default level it spends most of its time looking for matches that
// a state update does not need. Here the decoder's window already holds the
// previous message, so almost every byte of the next one is a long match at
// the distance of the previous message (or near it, when a value earlier in
// the message changed length). The encoder tries that distance first, a few
// distances beside it next, and a small hash table last, and emits fixed
// Huffman codes: a long match costs a few bytes whatever the codes, and the
// few literals (the changed values) do not pay for a dynamic code table.
//
// Between messages an Encoder keeps only the previous message as history
// (at least 8 KiB of stream, at most 32 KiB) and a 16 KiB hash table:
// about 35 KB for states of 18 KB. The message being written and the
// history it is matched against are joined in a scratch buffer taken from
// a pool for the time of one message: a relay has one encoder per match
// and encodes one message at a time per core, so the joined copy would be
// idle memory in every encoder.
package deltaflate

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

const (
	windowSize = 1 << 15 // deflate's largest distance
	minMatch   = 4
	maxMatch   = 258
	tableBits  = 12
	tableSize  = 1 << tableBits
	// rebaseAt keeps the table's absolute positions far from int32
	// overflow over a stream that runs for days.
	rebaseAt = 1 << 30
	// minHistory is the least history kept: the whole previous message
	// if it is longer (up to windowSize), as the next one mostly repeats
	// it; older messages only to fill this much.
	minHistory = 1 << 13
	// nearby is how far beside the last distance a match is looked for
	// where the last distance stops matching: a number or a name that
	// grew or shrank by up to this many bytes.
	nearby = 8
)

// Encoder compresses one stream. The zero value is not usable; call
// NewEncoder. An Encoder is not safe for concurrent use.
type Encoder struct {
	// hist is the history between messages: the end of what was already
	// encoded, the previous message, at least minHistory bytes, at most
	// windowSize.
	hist []byte
	// buf is a copy of hist followed by the message being written, in a
	// scratch buffer from scratchPool; nil between messages.
	buf   *[]byte
	start int // where the pending message begins in *buf
	// base is the absolute stream position of hist[0] (and of (*buf)[0]);
	// table entries are absolute positions plus one, so that 0 means
	// empty.
	base  int
	table [tableSize]int32
	dist  int // distance of the last match; 0 if none yet

	bits  uint64
	nbits uint
	out   []byte
}

// NewEncoder returns an Encoder with no history.
func NewEncoder() *Encoder { return &Encoder{} }

// Reset forgets the history: the next message is compressed so that a
// fresh decoder can read it. A message being written is dropped.
func (e *Encoder) Reset() {
	e.release()
	e.hist = e.hist[:0]
	e.start = 0
	e.base = 0
	e.table = [tableSize]int32{}
	e.dist = 0
}

// scratchPool holds the buffers messages are joined to their history in.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooled: a scratch buffer that grew past this (a message far larger
// than a match state) is left to the collector instead of pooled.
const maxPooled = 1 << 20

// open starts a message: the history copied into a scratch buffer.
func (e *Encoder) open() {
	if e.buf != nil {
		return
	}
	e.buf = scratchPool.Get().(*[]byte)
	*e.buf = append((*e.buf)[:0], e.hist...)
	e.start = len(e.hist)
}

// release returns the scratch buffer.
func (e *Encoder) release() {
	if e.buf == nil {
		return
	}
	if cap(*e.buf) <= maxPooled {
		scratchPool.Put(e.buf)
	}
	e.buf = nil
}

// Write appends p to the message being built. It never fails.
func (e *Encoder) Write(p []byte) (int, error) {
	e.open()
	*e.buf = append(*e.buf, p...)
	return len(p), nil
}

// Flush compresses the message built by Write since the last Flush and
// appends it to dst as one fixed-Huffman block followed by an empty stored
// block (the sync flush: its 00 00 ff ff are the last four bytes).
func (e *Encoder) Flush(dst []byte) []byte {
	e.open()
	e.out, e.bits, e.nbits = dst, 0, 0
	// Block header: BFINAL 0, BTYPE 01 (fixed Huffman codes).
	e.put(0b010, 3)
	e.encode()
	e.put(uint64(litCodes[endOfBlock]), uint(litLens[endOfBlock]))
	// Sync flush: a stored block header (BFINAL 0, BTYPE 00), padding to
	// a byte boundary, then LEN 0 and NLEN 0xffff.
	e.put(0, 3)
	if r := e.nbits % 8; r != 0 {
		e.put(0, 8-r)
	}
	e.drain()
	e.out = append(e.out, 0, 0, 0xff, 0xff)
	out := e.out
	e.out = nil
	e.slide()
	return out
}

// slide keeps the message just encoded (and older bytes up to minHistory)
// as the history of the next one, and returns the scratch buffer.
func (e *Encoder) slide() {
	buf := *e.buf
	keep := min(windowSize, max(len(buf)-e.start, minHistory), len(buf))
	drop := len(buf) - keep
	if cap(e.hist) < keep || cap(e.hist) > 2*keep+minHistory {
		// An eighth of room, not append's doubling: an encoder lives as
		// long as its match, and its states grow slowly if at all.
		e.hist = make([]byte, keep, keep+keep/8)
	}
	e.hist = e.hist[:keep]
	copy(e.hist, buf[drop:])
	e.base += drop
	e.start = 0
	e.release()
	if e.base >= rebaseAt {
		// Old table entries would read as positions before the history;
		// dropping them costs at most some compression of one message.
		e.table = [tableSize]int32{}
		e.base = 0
	}
}

// encode writes the pending message as literal and match codes.
func (e *Encoder) encode() {
	buf, end := *e.buf, len(*e.buf)
	s, lit := e.start, e.start
	// The hash reads 8 bytes; the last few are left as literals.
	sLimit := end - 8
	for s < sLimit {
		cv := binary.LittleEndian.Uint64(buf[s:])
		h := hash6(cv)
		cand, n := e.bestCandidate(s, cv, lit, h)
		e.table[h] = int32(s + e.base + 1)
		if n == 0 {
			// Skip faster through data that does not compress.
			s += 1 + (s-lit)>>5
			continue
		}
		// Extend backwards over literals the forward search passed.
		for s > lit && cand > 0 && buf[s-1] == buf[cand-1] {
			s--
			cand--
			n++
		}
		e.literals(buf[lit:s])
		e.match(n, s-cand)
		e.dist = s - cand
		// Index some positions inside the match so that a later shift in
		// distance can find this region again.
		mEnd := s + n
		for p := s + 1; p < mEnd && p < sLimit; p += 8 {
			e.table[hash6(binary.LittleEndian.Uint64(buf[p:]))] = int32(p + e.base + 1)
		}
		s, lit = mEnd, mEnd
	}
	e.literals(buf[lit:end])
}

// bestCandidate returns the earlier position whose bytes match those at s
// for the longest run, and that run's length; n is 0 if no run reaches
// minMatch.
func (e *Encoder) bestCandidate(s int, cv uint64, lit int, h uint32) (cand, n int) {
	if d := e.dist; d > 0 {
		cand, n = e.longer(s, uint32(cv), s-d, cand, n)
		// A long run at the last distance is as good as it gets here.
		if n >= 32 {
			return cand, n
		}
		// Where the last distance has just stopped matching, a value
		// before s may have changed length: look beside it.
		if s-lit < 64 {
			for k := 1; k <= nearby; k++ {
				cand, n = e.longer(s, uint32(cv), s-d-k, cand, n)
				cand, n = e.longer(s, uint32(cv), s-d+k, cand, n)
			}
			if n >= 32 {
				return cand, n
			}
		}
	}
	if v := int(e.table[h]); v != 0 {
		cand, n = e.longer(s, uint32(cv), v-1-e.base, cand, n)
	}
	return cand, n
}

// longer returns candidate c and its run if c's run at s is longer than
// the best so far (cand, n), else the best so far. first is the 4 bytes at s.
func (e *Encoder) longer(s int, first uint32, c, cand, n int) (int, int) {
	buf := *e.buf
	if c < 0 || c >= s || s-c > windowSize || first != binary.LittleEndian.Uint32(buf[c:]) {
		return cand, n
	}
	if l := minMatch + matchLen(buf[c+minMatch:], buf[s+minMatch:]); l > n {
		return c, l
	}
	return cand, n
}

// matchLen is the length of the common prefix of a and b, where a may be
// longer than b.
func matchLen(a, b []byte) int {
	n := 0
	for len(b)-n >= 8 {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func hash6(v uint64) uint32 {
	const prime6 = 227718039650203
	return uint32(((v << 16) * prime6) >> (64 - tableBits))
}

func (e *Encoder) literals(p []byte) {
	for _, c := range p {
		e.put(uint64(litCodes[c]), uint(litLens[c]))
	}
}

// match writes a copy of n bytes from dist bytes back, split into pieces of
// at most maxMatch with none shorter than 3.
func (e *Encoder) match(n, dist int) {
	dc, dn := distCode(dist)
	for n > 0 {
		l := n
		if l > maxMatch {
			l = maxMatch
			if n-l < 3 {
				l = n - 3
			}
		}
		n -= l
		lc := lenCodes[l]
		e.put(uint64(lc.code)|uint64(dc)<<lc.n, uint(lc.n)+dn)
	}
}

// put appends the low n bits of v (n ≤ 32) to the bit stream, least
// significant bit first as deflate orders them.
func (e *Encoder) put(v uint64, n uint) {
	e.bits |= v << e.nbits
	e.nbits += n
	if e.nbits >= 32 {
		e.out = binary.LittleEndian.AppendUint32(e.out, uint32(e.bits))
		e.bits >>= 32
		e.nbits -= 32
	}
}

// drain writes the whole bytes still held in the bit buffer; callers pad
// to a byte boundary first.
func (e *Encoder) drain() {
	for e.nbits >= 8 {
		e.out = append(e.out, byte(e.bits))
		e.bits >>= 8
		e.nbits -= 8
	}
}
