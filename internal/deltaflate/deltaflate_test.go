package deltaflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"
)

// loadSequence reads testdata/match_data.seq.gz: 60 successive match_data
// packets of the bomb_regular replay (every third observer event from the
// 600th), each as a 4-byte little-endian length and the packet.
func loadSequence(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/match_data.seq.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for len(raw) > 0 {
		if len(raw) < 4 {
			t.Fatal("truncated fixture")
		}
		n := int(binary.LittleEndian.Uint32(raw))
		raw = raw[4:]
		if n > len(raw) {
			t.Fatal("truncated fixture")
		}
		msgs = append(msgs, raw[:n])
		raw = raw[n:]
	}
	return msgs
}

// roundTrip compresses msgs as one stream and reads them back through
// compress/flate's decoder, message by message, as a WebSocket client with
// context takeover does. It returns the compressed sizes.
func roundTrip(t testing.TB, e *Encoder, msgs [][]byte, beforeEach ...func(i int)) []int {
	t.Helper()
	var stream bytes.Buffer
	zr := flate.NewReader(&stream)
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		for _, f := range beforeEach {
			f(i)
		}
		e.Write(m)
		out := e.Flush(nil)
		if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("message %d: output does not end in a sync flush: % x", i, out[max(0, len(out)-8):])
		}
		sizes[i] = len(out)
		stream.Write(out)
		got := make([]byte, len(m))
		if _, err := io.ReadFull(zr, got); err != nil {
			t.Fatalf("message %d (%d bytes): decode: %v", i, len(m), err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("message %d (%d bytes): decoded bytes differ at %d", i, len(m), firstDiff(got, m))
		}
	}
	// The decoder has consumed every byte and wants more: nothing was
	// written past the last sync flush, and the stream is not final.
	if n, err := zr.Read(make([]byte, 1)); n != 0 || err != io.ErrUnexpectedEOF || stream.Len() != 0 {
		t.Fatalf("after the last message: read %d, %v, %d bytes left; want 0, unexpected EOF, 0", n, err, stream.Len())
	}
	return sizes
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		const words = `"kills":3,"deaths":1,"alive":true,"health":100,"name":"Player","agent":"Jett",`
		b := make([]byte, n)
		for i := range b {
			b[i] = words[(i*7+i/13)%len(words)]
		}
		return b
	}
	grown := func(base []byte, at int, extra string) []byte {
		return append(append(append([]byte{}, base[:at]...), extra...), base[at:]...)
	}
	t1 := text(20000)
	big := random(70000)
	cases := []struct {
		name string
		msgs [][]byte
	}{
		{"empty messages", [][]byte{{}, {}, []byte("x"), {}}},
		{"shorter than the hash", [][]byte{[]byte("4"), []byte("4a"), []byte("4abcdefg"), []byte("4abcdefg")}},
		{"random", [][]byte{random(100), random(5000), random(40000)}},
		{"one message repeated", [][]byte{t1, t1, t1, t1}},
		{"values change length", [][]byte{t1, grown(t1, 50, "1"), grown(t1, 51, "12345"), t1[3:], grown(t1[:9000], 8000, "abcdefghijklmnopqrstuvwxyz")}},
		{"longer than the window", [][]byte{big, big, append(big[40000:], big...), text(100000)}},
		{"runs", [][]byte{bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("a"), 259), bytes.Repeat([]byte("ab"), 40000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			roundTrip(t, NewEncoder(), tc.msgs)
		})
	}
}

// TestMatchLengths covers every match length and the split of long matches
// into pieces of at most 258 bytes with none below 3.
func TestMatchLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	block := make([]byte, 2000)
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	e := NewEncoder()
	var msgs [][]byte
	msgs = append(msgs, block)
	for l := 4; l <= 2*maxMatch+3; l++ {
		// Random bytes, then a copy of l bytes of the block, then random.
		m := append([]byte{}, block[1000:1000+l]...)
		m = append(m, block[:17]...)
		msgs = append(msgs, m)
	}
	roundTrip(t, e, msgs)
}

// TestDistances covers distances across the whole window, each distance
// code with its smallest and largest extra bits.
func TestDistances(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var msgs [][]byte
	for _, d := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25, 255, 256, 257, 1024, 1025, 4096, 4097, 16384, 16385, 24576, 24577, 32767, 32768} {
		m := make([]byte, d+64)
		for i := range m[:d] {
			m[i] = byte(rng.Uint32())
		}
		copy(m[d:], m[:64])
		msgs = append(msgs, m)
	}
	e := NewEncoder()
	roundTrip(t, e, msgs)
	// The same distances within one message each, after a reset.
	for _, m := range msgs {
		e.Reset()
		roundTrip(t, e, [][]byte{m})
	}
}

// TestRebase runs a stream past the point where the table's positions are
// rebased, so that stale entries must not be taken for matches.
func TestRebase(t *testing.T) {
	msgs := loadSequence(t)[:10]
	e := NewEncoder()
	roundTrip(t, e, msgs, func(i int) {
		if i != 3 {
			return
		}
		// As if the stream had run for that long: every position moves.
		const shift = rebaseAt - 10000
		e.base += shift
		for k, v := range e.table {
			if v != 0 {
				e.table[k] = v + shift
			}
		}
	})
	if e.base >= rebaseAt {
		t.Fatalf("base %d was not rebased", e.base)
	}
}

// TestMatchDataSize compares the compressed size of successive match
// states with compress/flate's at the default level. The encoder trades
// size for speed: fixed codes spend 26 bits on each 258-byte piece of a
// long match where a dynamic code spends about 17, and a state of 17 KB is
// 67 such pieces. This bounds the trade.
func TestMatchDataSize(t *testing.T) {
	msgs := loadSequence(t)
	sizes := roundTrip(t, NewEncoder(), msgs)
	ours := 0
	for _, n := range sizes[1:] {
		ours += n
	}
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 6)
	theirs := 0
	for i, m := range msgs {
		buf.Reset()
		fw.Write(m)
		fw.Flush()
		if i > 0 {
			theirs += buf.Len()
		}
	}
	raw := 0
	for _, m := range msgs[1:] {
		raw += len(m)
	}
	t.Logf("%d states, %d bytes: deltaflate %d bytes (first %d), compress/flate level 6 %d bytes", len(msgs)-1, raw, ours, sizes[0], theirs)
	if ours > theirs*2 {
		t.Errorf("deltaflate wrote %d bytes for %d states, more than 2x compress/flate's %d", ours, len(msgs)-1, theirs)
	}
}

func BenchmarkMatchData(b *testing.B) {
	msgs := loadSequence(b)
	// Forth and back through the states, so that each message follows a
	// neighbour, as a match's broadcasts do; the stream is never reset,
	// so the one message without history is paid once.
	for i := len(msgs) - 2; i > 0; i-- {
		msgs = append(msgs, msgs[i])
	}
	raw := 0
	for _, m := range msgs {
		raw += len(m)
	}
	report := func(b *testing.B, out int) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(msgs)), "µs/msg")
		b.ReportMetric(float64(out)/float64(len(msgs)), "B/msg")
	}
	b.Run("deltaflate", func(b *testing.B) {
		b.SetBytes(int64(raw))
		b.ReportAllocs()
		e := NewEncoder()
		out := make([]byte, 0, 64<<10)
		total := 0
		for b.Loop() {
			total = 0
			for _, m := range msgs {
				e.Write(m)
				out = e.Flush(out[:0])
				total += len(out)
			}
		}
		report(b, total)
	})
	for _, level := range []int{1, 6} {
		b.Run(fmt.Sprintf("compress-flate-%d", level), func(b *testing.B) {
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, level)
			total := 0
			for b.Loop() {
				total = 0
				for _, m := range msgs {
					buf.Reset()
					fw.Write(m)
					fw.Flush()
					total += buf.Len()
				}
			}
			report(b, total)
		})
	}
}

// TestFootprint checks what an encoder holds after a stream of states: the
// previous state as history, not a full window, append's doubling or a
// buffer for the next message (the per-match memory the relay pays).
func TestFootprint(t *testing.T) {
	msgs := loadSequence(t)
	e := NewEncoder()
	roundTrip(t, e, msgs)
	largest := 0
	for _, m := range msgs {
		largest = max(largest, len(m))
	}
	if len(e.hist) != len(msgs[len(msgs)-1]) {
		t.Errorf("history %d bytes, want the last state's %d", len(e.hist), len(msgs[len(msgs)-1]))
	}
	if limit := largest + largest/4; cap(e.hist) > limit {
		t.Errorf("history capacity %d, want at most %d for states of up to %d bytes", cap(e.hist), limit, largest)
	}
	if e.buf != nil {
		t.Errorf("a %d-byte scratch buffer held between messages", cap(*e.buf))
	}
	if size := unsafe.Sizeof(*e); size > 20<<10 {
		t.Errorf("encoder struct %d bytes, want its table within 20 KiB", size)
	}
}
