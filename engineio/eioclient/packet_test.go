package eioclient

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []packet
		wantErr bool
	}{
		{
			name: "open",
			body: `0{"sid":"x"}`,
			want: []packet{{Type: typeOpen, Data: []byte(`{"sid":"x"}`)}},
		},
		{
			name: "several",
			body: "2\x1e4hello\x1e6",
			want: []packet{{Type: typePing, Data: []byte{}}, {Type: typeMessage, Data: []byte("hello")}, {Type: typeNoop, Data: []byte{}}},
		},
		{
			name: "binary",
			body: "bAQID\x1e4x",
			want: []packet{{Type: typeMessage, Data: []byte{1, 2, 3}, Binary: true}, {Type: typeMessage, Data: []byte("x")}},
		},
		{
			name: "empty binary",
			body: "b",
			want: []packet{{Type: typeMessage, Data: []byte{}, Binary: true}},
		},
		{
			name: "message with separator-free unicode",
			body: "4héllo",
			want: []packet{{Type: typeMessage, Data: []byte("héllo")}},
		},
		{
			name:    "empty body",
			body:    "",
			wantErr: true,
		},
		{
			name:    "empty record",
			body:    "4a\x1e\x1e4b",
			wantErr: true,
		},
		{
			name:    "bad type",
			body:    "9x",
			wantErr: true,
		},
		{
			name:    "bad base64",
			body:    "b!!!",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []packet
			err := decodePayload([]byte(tt.body), func(p packet) error {
				got = append(got, p)
				return nil
			})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decodePayload(%q): want error, got %v", tt.body, got)
				}
				if !errors.Is(err, ErrMalformedPacket) {
					t.Fatalf("error %v does not wrap ErrMalformedPacket", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodePayload(%q): %v", tt.body, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d packets, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Type != tt.want[i].Type || got[i].Binary != tt.want[i].Binary || !bytes.Equal(got[i].Data, tt.want[i].Data) {
					t.Errorf("packet %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAppendRecordRoundTrip(t *testing.T) {
	pkts := []packet{
		{Type: typeMessage, Data: []byte("hello")},
		{Type: typeMessage, Data: []byte{0, 1, 2, 0x1e, 255}, Binary: true},
		{Type: typePong, Data: []byte("probe")},
		{Type: typeClose},
	}
	var body []byte
	for i, p := range pkts {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		before := len(body)
		body = appendRecord(body, p)
		if got := len(body) - before; got != recordLen(p) {
			t.Errorf("recordLen(%+v) = %d, encoded %d", p, recordLen(p), got)
		}
	}
	var got []packet
	if err := decodePayload(body, func(p packet) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pkts) {
		t.Fatalf("got %d packets, want %d", len(got), len(pkts))
	}
	for i := range got {
		if got[i].Type != pkts[i].Type || got[i].Binary != pkts[i].Binary || !bytes.Equal(got[i].Data, pkts[i].Data) {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], pkts[i])
		}
	}
}

func TestParseDeflateResponse(t *testing.T) {
	tests := []struct {
		header  string
		want    deflateParams
		ok      bool
		wantErr bool
	}{
		{
			header: "",
		},
		{
			header: "permessage-deflate",
			ok:     true,
		},
		{
			header: "permessage-deflate; client_max_window_bits=15",
			want:   deflateParams{clientMaxWindowBits: 15},
			ok:     true,
		},
		{
			header: "permessage-deflate;server_no_context_takeover; client_no_context_takeover;server_max_window_bits=10",
			want:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10},
			ok:     true,
		},
		{
			header:  "x-webkit-deflate-frame",
			wantErr: true,
		},
		{
			header:  "permessage-deflate; foo",
			wantErr: true,
		},
		{
			header:  "permessage-deflate; client_max_window_bits=16",
			wantErr: true,
		},
		{
			header:  "permessage-deflate; client_max_window_bits",
			wantErr: true,
		},
		{
			header:  "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
			wantErr: true,
		},
		{
			header:  "permessage-deflate, permessage-deflate",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, ok, err := parseDeflateResponse(tt.header)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v ok=%v, want %+v ok=%v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// nearIdentical returns n messages of about size bytes that differ in a few
// characters, so that with context takeover each compresses against the
// previous one.
func nearIdentical(n, size int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed))
	base := make([]byte, size)
	const alphabet = `abcdefghijklmnopqrstuvwxyz0123456789{}":,`
	for i := range base {
		base[i] = alphabet[r.IntN(len(alphabet))]
	}
	out := make([][]byte, n)
	for i := range out {
		m := bytes.Clone(base)
		copy(m, fmt.Sprintf("%06d", i))
		m[r.IntN(size)] = 'X'
		out[i] = m
	}
	return out
}

// serverStream compresses messages the way a server with context takeover
// does: one deflate stream, sync-flushed and stripped per message.
func serverStream(msgs [][]byte, noContext bool) [][]byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 3) // level 3 is valid: no error
	var out [][]byte
	for _, m := range msgs {
		buf.Reset()
		if noContext {
			fw.Reset(&buf)
		}
		fw.Write(m)
		fw.Flush()
		b := buf.Bytes()
		out = append(out, bytes.Clone(b[:len(b)-4]))
	}
	return out
}

func TestInflateContextTakeover(t *testing.T) {
	for _, noContext := range []bool{false, true} {
		t.Run(fmt.Sprintf("server_no_context_takeover=%v", noContext), func(t *testing.T) {
			msgs := nearIdentical(10, 20<<10, 1)
			msgs = append(msgs, []byte{}, []byte("tiny"), bytes.Repeat([]byte("z"), 70<<10))
			msgs = append(msgs, nearIdentical(3, 20<<10, 1)...)
			wire := serverStream(msgs, noContext)
			d := newDeflateState(deflateParams{serverNoContextTakeover: noContext}, 1, 1024)
			for i, z := range wire {
				got, err := d.inflate(z, 1<<20)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d: decoded %d bytes, want %d", i, len(got), len(msgs[i]))
				}
			}
			if !noContext && len(wire[1]) > len(msgs[1])/10 {
				t.Errorf("second message compressed to %d bytes: context takeover not in use by the test stream", len(wire[1]))
			}
		})
	}
}

func TestInflateLimit(t *testing.T) {
	wire := serverStream([][]byte{bytes.Repeat([]byte("a"), 1<<20)}, false)
	d := newDeflateState(deflateParams{}, 1, 1024)
	if _, err := d.inflate(wire[0], 1000); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("err = %v, want ErrMessageTooBig", err)
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	for _, noContext := range []bool{false, true} {
		t.Run(fmt.Sprintf("client_no_context_takeover=%v", noContext), func(t *testing.T) {
			sender := newDeflateState(deflateParams{clientNoContextTakeover: noContext}, 1, 0)
			// The receiver plays the server: it decodes the client's stream
			// with the matching takeover setting.
			receiver := newDeflateState(deflateParams{serverNoContextTakeover: noContext}, 1, 0)
			for i, m := range nearIdentical(6, 20<<10, 2) {
				z, ok, err := sender.deflate(m)
				if err != nil || !ok {
					t.Fatalf("message %d: deflate ok=%v err=%v", i, ok, err)
				}
				got, err := receiver.inflate(bytes.Clone(z), 1<<20)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, m) {
					t.Fatalf("message %d differs after round trip", i)
				}
			}
		})
	}
	small := newDeflateState(deflateParams{}, 1, 1024)
	if _, ok, _ := small.deflate([]byte("short")); ok {
		t.Error("message below the threshold was compressed")
	}
	narrow := newDeflateState(deflateParams{clientMaxWindowBits: 10}, 1, 0)
	if _, ok, _ := narrow.deflate(bytes.Repeat([]byte("a"), 4096)); ok {
		t.Error("compressed although the server limited the client window below 32 KiB")
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add([]byte("0{\"sid\":\"a\"}"))
	f.Add([]byte("2\x1e4hello\x1ebAQID"))
	f.Add([]byte("b\x1e\x1e"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var pkts []packet
		err := decodePayload(body, func(p packet) error {
			pkts = append(pkts, p)
			return nil
		})
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes the same.
		var re []byte
		for i, p := range pkts {
			if i > 0 {
				re = append(re, recordSeparator)
			}
			re = appendRecord(re, p)
		}
		n := 0
		err = decodePayload(re, func(p packet) error {
			q := pkts[n]
			if p.Type != q.Type || p.Binary != q.Binary || !bytes.Equal(p.Data, q.Data) {
				t.Fatalf("re-decoded packet %d = %+v, want %+v", n, p, q)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", re, err)
		}
	})
}

func FuzzInflate(f *testing.F) {
	for _, z := range serverStream(nearIdentical(2, 2048, 3), false) {
		f.Add(z)
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, z []byte) {
		d := newDeflateState(deflateParams{}, 1, 1024)
		for range 2 {
			if _, err := d.inflate(z, 1<<16); err != nil {
				return
			}
		}
	})
}

func FuzzParseDeflateResponse(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits=15")
	f.Add("permessage-deflate;server_no_context_takeover")
	f.Fuzz(func(t *testing.T, h string) {
		parseDeflateResponse(h)
	})
}
