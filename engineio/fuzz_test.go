package engineio

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"

	"spectra-relay/fuzz"
)

// chunkReader returns its data in pieces whose sizes come from sizes, to
// exercise the WebSocket read path on every possible split.
type chunkReader struct {
	data  []byte
	sizes []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = int(r.sizes[0])%17 + 1
		r.sizes = r.sizes[1:]
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type readResult struct {
	data   string
	binary bool
	ctrl   bool
	err    string
}

func readAllMessages(s *Server, r io.Reader) []readResult {
	br := newFrameReader(r, 64)
	wc := &wsConn{deflate: true}
	var out []readResult
	for i := 0; i < 64; i++ {
		m, err := s.readMessage(br, wc)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				out = append(out, readResult{err: err.Error()})
			}
			return out
		}
		out = append(out, readResult{data: string(m.data), binary: m.binary, ctrl: m.ctrl})
		m.release()
	}
	return out
}

func clientFrame(op ws.OpCode, fin bool, rsv1 bool, payload []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	if rsv1 {
		f.Header.Rsv = ws.Rsv(true, false, false)
	}
	var buf bytes.Buffer
	_ = ws.WriteFrame(&buf, ws.MaskFrame(f))
	return buf.Bytes()
}

func deflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 5)
	_, _ = w.Write(b)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

// FuzzReadMessage feeds client frame streams to the WebSocket read path,
// whole and split at arbitrary points: it must never panic, and the split
// must not change what is read.
func FuzzReadMessage(f *testing.F) {
	seeds := [][]byte{
		clientFrame(ws.OpText, true, false, []byte("4hello")),
		append(clientFrame(ws.OpText, false, false, []byte("4hel")), clientFrame(ws.OpContinuation, true, false, []byte("lo"))...),
		clientFrame(ws.OpBinary, true, false, []byte{1, 2, 3}),
		clientFrame(ws.OpPing, true, false, []byte("x")),
		clientFrame(ws.OpClose, true, false, nil),
		clientFrame(ws.OpText, true, true, deflated([]byte("4"+string(bytes.Repeat([]byte("ab"), 700))))),
		clientFrame(ws.OpText, true, false, bytes.Repeat([]byte("z"), 300)),
	}
	seeds = append(seeds, fuzz.Seeds("engineio-wsread")...)
	for _, s := range seeds {
		f.Add(s, []byte{0, 3, 7, 1, 250})
	}
	s := NewServer(Config{MaxPayload: 1 << 16}, nil)
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		whole := readAllMessages(s, bytes.NewReader(stream))
		split := readAllMessages(s, &chunkReader{data: stream, sizes: splits})
		if len(whole) != len(split) {
			t.Fatalf("whole read %d results, split %d", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("result %d: whole %+v, split %+v", i, whole[i], split[i])
			}
		}
	})
}
