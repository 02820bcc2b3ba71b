package siopacket

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"spectra-relay/internal/testenv"
)

// decodeCases are shared by the tests, the fuzz seeds and the benchmarks.
// Inputs are the CONFORMANCE §5 exchanges without the Engine.IO "4".
var decodeCases = []struct {
	name    string
	in      string
	want    Packet
	wantErr bool
}{
	{name: "connect main", in: `0`, want: Packet{Type: PacketConnect, Nsp: "/", ID: NoID}},
	{name: "connect auth", in: `0{"token":"123"}`, want: Packet{Type: PacketConnect, Nsp: "/", ID: NoID, Data: []byte(`{"token":"123"}`)}},
	{name: "connect custom comma", in: `0/custom,`, want: Packet{Type: PacketConnect, Nsp: "/custom", ID: NoID}},
	{name: "connect custom no comma", in: `0/custom`, want: Packet{Type: PacketConnect, Nsp: "/custom", ID: NoID}},
	{name: "connect random no comma", in: `0/random`, want: Packet{Type: PacketConnect, Nsp: "/random", ID: NoID}},
	{name: "connect custom auth", in: `0/custom,{"token":"abc"}`, want: Packet{Type: PacketConnect, Nsp: "/custom", ID: NoID, Data: []byte(`{"token":"abc"}`)}},
	{name: "disconnect", in: `1`, want: Packet{Type: PacketDisconnect, Nsp: "/", ID: NoID}},
	{name: "disconnect custom", in: `1/custom,`, want: Packet{Type: PacketDisconnect, Nsp: "/custom", ID: NoID}},
	{name: "event", in: `2["message",1,"2",{"3":[true]}]`, want: Packet{Type: PacketEvent, Nsp: "/", ID: NoID, Data: []byte(`["message",1,"2",{"3":[true]}]`)}},
	{name: "event with ack", in: `2456["message-with-ack",1,"2",{"3":[false]}]`, want: Packet{Type: PacketEvent, Nsp: "/", ID: 456, Data: []byte(`["message-with-ack",1,"2",{"3":[false]}]`)}},
	{name: "event custom ack", in: `2/custom,7["a"]`, want: Packet{Type: PacketEvent, Nsp: "/custom", ID: 7, Data: []byte(`["a"]`)}},
	{name: "event numeric name", in: `2[1,2]`, want: Packet{Type: PacketEvent, Nsp: "/", ID: NoID, Data: []byte(`[1,2]`)}},
	{name: "ack", in: `3456[1,"2",{"3":[false]}]`, want: Packet{Type: PacketAck, Nsp: "/", ID: 456, Data: []byte(`[1,"2",{"3":[false]}]`)}},
	{name: "ack empty", in: `30[]`, want: Packet{Type: PacketAck, Nsp: "/", ID: 0, Data: []byte(`[]`)}},
	{name: "connect error", in: `4/random,{"message":"Invalid namespace"}`, want: Packet{Type: PacketConnectError, Nsp: "/random", ID: NoID, Data: []byte(`{"message":"Invalid namespace"}`)}},
	{name: "binary event", in: `52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: Packet{Type: PacketBinaryEvent, Nsp: "/", ID: NoID, NumAttachments: 2, Data: []byte(`["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
	{name: "binary event ack", in: `52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: Packet{Type: PacketBinaryEvent, Nsp: "/", ID: 789, NumAttachments: 2, Data: []byte(`["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
	{name: "binary ack", in: `62-/custom,789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: Packet{Type: PacketBinaryAck, Nsp: "/custom", ID: 789, NumAttachments: 2, Data: []byte(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},

	{name: "unknown type", in: `abc`, wantErr: true},
	{name: "type 7", in: `7`, wantErr: true},
	{name: "empty", in: ``, wantErr: true},
	{name: "event not array", in: `2{}`, wantErr: true},
	{name: "bad ack id", in: `2abc["message-with-ack",1]`, wantErr: true},
	{name: "event empty array", in: `2[]`, wantErr: true},
	{name: "event no payload", in: `2`, wantErr: true},
	{name: "event name object", in: `2[{}]`, wantErr: true},
	{name: "reserved event", in: `2["disconnect"]`, wantErr: true},
	{name: "bad json", in: `2["a",]`, wantErr: true},
	{name: "trailing garbage", in: `2["a"]x`, wantErr: true},
	{name: "connect array", in: `0[]`, wantErr: true},
	{name: "disconnect payload", in: `1{}`, wantErr: true},
	{name: "ack not array", in: `31{}`, wantErr: true},
	{name: "binary no dash", in: `52["a"]`, wantErr: true},
	{name: "binary no count", in: `5-["a"]`, wantErr: true},
	{name: "ack id overflow", in: `29999999999999999999["a"]`, wantErr: true},
	{name: "connect with id", in: `01{}`, wantErr: true},
}

func TestDecodePacket(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePacket([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DecodePacket(%q) = %+v, want error", tc.in, got)
				}
				if !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodePacket(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodePacket(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestEncodePacket(t *testing.T) {
	cases := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketConnect, Nsp: "/", ID: NoID, Data: []byte(`{"sid":"x"}`)}, `0{"sid":"x"}`},
		{Packet{Type: PacketConnect, Nsp: "/custom", ID: NoID, Data: []byte(`{"sid":"x"}`)}, `0/custom,{"sid":"x"}`},
		{Packet{Type: PacketDisconnect, Nsp: "/", ID: NoID}, `1`},
		{Packet{Type: PacketDisconnect, Nsp: "/custom", ID: NoID}, `1/custom,`},
		{Packet{Type: PacketEvent, Nsp: "/", ID: NoID, Data: []byte(`["message-back",1,"2",{"3":[true]}]`)}, `2["message-back",1,"2",{"3":[true]}]`},
		{Packet{Type: PacketAck, Nsp: "/", ID: 456, Data: []byte(`[1,"2",{"3":[false]}]`)}, `3456[1,"2",{"3":[false]}]`},
		{Packet{Type: PacketConnectError, Nsp: "/random", ID: NoID, Data: []byte(`{"message":"Invalid namespace"}`)}, `4/random,{"message":"Invalid namespace"}`},
		{Packet{Type: PacketBinaryEvent, Nsp: "/", ID: NoID, Data: []byte(`["a",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}, `51-["a",{"_placeholder":true,"num":0}]`},
		{Packet{Type: PacketBinaryAck, Nsp: "/x", ID: 789, Data: []byte(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1}, {2}}}, `62-/x,789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	}
	for _, tc := range cases {
		got := string(AppendPacket(nil, &tc.p))
		if got != tc.want {
			t.Errorf("AppendPacket(%+v) = %s, want %s", tc.p, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range decodeCases {
		if tc.wantErr {
			continue
		}
		p, err := DecodePacket([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		for range p.NumAttachments {
			p.Attachments = append(p.Attachments, []byte{0})
		}
		enc := AppendPacket(nil, &p)
		// A namespace without its comma comes back with it; otherwise the
		// encoding is the input.
		want := tc.in
		if p.Nsp != "/" && !bytes.Contains([]byte(tc.in), []byte(p.Nsp+",")) {
			want = tc.in + ","
		}
		if string(enc) != want {
			t.Errorf("%s: re-encoded %s, want %s", tc.name, enc, want)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	cases := []struct {
		name  string
		nsp   string
		id    int64
		event string
		args  []any
		want  string
		bins  int
	}{
		{"raw", "/", NoID, "auth", []any{RawJSON(`{"token":"123"}`)}, `2["auth",{"token":"123"}]`, 0},
		{"custom", "/custom", NoID, "auth", []any{RawJSON(`{}`)}, `2/custom,["auth",{}]`, 0},
		{"scalars", "/", 3, "e", []any{1, int64(-2), 1.5, true, nil, "x\"y\n\u00e9\x01"}, `23["e",1,-2,1.5,true,null,"x\"y\né\u0001"]`, 0},
		{"binary", "/", NoID, "message-back", []any{[]byte{1, 2, 3}, []byte{4, 5, 6}}, `52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"binary custom ack", "/c", 9, "m", []any{"a", []byte{1}}, `51-/c,9["m","a",{"_placeholder":true,"num":0}]`, 1},
		{"map", "/", NoID, "m", []any{map[string]int{"a": 1}}, `2["m",{"a":1}]`, 0},
		{"invalid utf8", "/", NoID, "m", []any{"a\xffb"}, `2["m","a\ufffdb"]`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, bins, err := EncodeEvent(tc.nsp, tc.id, tc.event, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || len(bins) != tc.bins {
				t.Fatalf("got %s (%d attachments), want %s (%d)", got, len(bins), tc.want, tc.bins)
			}
			if _, err := DecodePacket(got); err != nil {
				t.Fatalf("own encoding does not decode: %v", err)
			}
		})
	}
	if _, _, err := EncodeEvent("/", NoID, "e", fmt.Sprint); err == nil {
		t.Error("a func argument encoded without error")
	}
}

func TestDecoderBinary(t *testing.T) {
	type msg struct {
		data   string
		binary bool
	}
	cases := []struct {
		name    string
		msgs    []msg
		wantPkt int // index of the message that completes the packet; -1 none
		wantErr bool
		attach  []string
	}{
		{"two attachments", []msg{{`52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, false}, {"\x01\x02\x03", true}, {"\x04\x05\x06", true}}, 2, false, []string{"\x01\x02\x03", "\x04\x05\x06"}},
		{"zero attachments", []msg{{`50-["message"]`, false}}, 0, false, nil},
		{"nested placeholder", []msg{{`51-["m",{"a":[{"_placeholder":true,"num":0}]}]`, false}, {"x", true}}, 1, false, []string{"x"}},
		{"text while waiting", []msg{{`51-["m",{"_placeholder":true,"num":0}]`, false}, {`2["m"]`, false}}, -1, true, nil},
		{"binary without packet", []msg{{"\x01", true}}, -1, true, nil},
		{"placeholder out of range", []msg{{`51-["m",{"_placeholder":true,"num":1}]`, false}, {"x", true}}, -1, true, nil},
		{"placeholder bad num", []msg{{`51-["m",{"_placeholder":true,"num":"0"}]`, false}, {"x", true}}, -1, true, nil},
		{"too many attachments", []msg{{`599-["m"]`, false}}, -1, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			for i, m := range tc.msgs {
				buf := []byte(m.data)
				p, err := d.Add(buf, m.binary)
				// The engine reuses message buffers: the packet must not
				// alias them.
				for j := range buf {
					buf[j] = 'Z'
				}
				if err != nil {
					if !tc.wantErr {
						t.Fatalf("message %d: %v", i, err)
					}
					return
				}
				if p == nil {
					continue
				}
				if i != tc.wantPkt {
					t.Fatalf("packet completed at message %d, want %d", i, tc.wantPkt)
				}
				first := tc.msgs[0].data
				if want := first[bytes.IndexByte([]byte(first), '['):]; string(p.Data) != want {
					t.Fatalf("data %s, want %s", p.Data, want)
				}
				if len(p.Attachments) != len(tc.attach) {
					t.Fatalf("%d attachments, want %d", len(p.Attachments), len(tc.attach))
				}
				for j, a := range tc.attach {
					if string(p.Attachments[j]) != a {
						t.Fatalf("attachment %d = %q, want %q", j, p.Attachments[j], a)
					}
				}
				v, err := Reconstruct(p)
				if err != nil {
					t.Fatalf("Reconstruct: %v", err)
				}
				if len(tc.attach) > 0 && !bytes.Contains([]byte(fmt.Sprint(v)), []byte(fmt.Sprint([]byte(tc.attach[0])))) {
					t.Fatalf("Reconstruct = %v: attachment not in place", v)
				}
			}
			if tc.wantErr {
				t.Fatal("no error")
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{`[]`, nil, false},
		{` [ 1 , "a,]" , {"b":[1,2]} , [[]] ] `, []string{`1`, `"a,]"`, `{"b":[1,2]}`, `[[]]`}, false},
		{`["\"]",2]`, []string{`"\"]"`, `2`}, false},
		{`{}`, nil, true},
		{`[1`, nil, true},
	}
	for _, tc := range cases {
		var got []string
		err := SplitArray([]byte(tc.in), func(_ int, el []byte) bool {
			got = append(got, string(el))
			return true
		})
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArray(%s) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePacket(in)
		if err != nil {
			return
		}
		for range p.NumAttachments {
			p.Attachments = append(p.Attachments, nil)
		}
		enc := AppendPacket(nil, &p)
		q, err := DecodePacket(enc)
		if err != nil {
			t.Fatalf("re-encoding %q as %q does not decode: %v", in, enc, err)
		}
		q.Attachments = p.Attachments
		if q.Type != p.Type || q.Nsp != p.Nsp || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) || q.NumAttachments != p.NumAttachments {
			t.Fatalf("round trip of %q: %+v != %+v", in, q, p)
		}
		if p.Type == PacketEvent || p.Type == PacketAck {
			n := 0
			if err := SplitArray(p.Data, func(int, []byte) bool { n++; return true }); err != nil {
				t.Fatalf("valid %s payload %q does not split: %v", p.Type, p.Data, err)
			}
		}
	})
}

// FuzzDecoderBinary feeds a text packet followed by binary messages cut
// from the second input, as the engine would deliver them.
func FuzzDecoderBinary(f *testing.F) {
	f.Add([]byte(`52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), []byte{1, 2, 3, 4, 5, 6}, uint8(3))
	f.Add([]byte(`52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), []byte{1, 2, 3, 4, 5, 6}, uint8(2))
	f.Add([]byte(`51-["m",{"a":{"_placeholder":true,"num":0}}]`), []byte{9}, uint8(1))
	f.Add([]byte(`62-/c,1[{"_placeholder":true,"num":5}]`), []byte{1, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, text, bin []byte, cut uint8) {
		var d Decoder
		p, err := d.Add(text, false)
		if err != nil {
			return
		}
		step := int(cut)%8 + 1
		for len(bin) > 0 && p == nil {
			n := min(step, len(bin))
			p, err = d.Add(bin[:n], true)
			bin = bin[n:]
			if err != nil {
				return
			}
		}
		if p == nil {
			return
		}
		if len(p.Attachments) != p.NumAttachments {
			t.Fatalf("packet with %d of %d attachments", len(p.Attachments), p.NumAttachments)
		}
		if p.Type.IsBinary() {
			if _, err := Reconstruct(p); err != nil {
				t.Fatalf("checked packet does not reconstruct: %v", err)
			}
		}
	})
}

func BenchmarkDecodePacket(b *testing.B) {
	for _, tc := range decodeCases {
		if tc.wantErr {
			continue
		}
		in := []byte(tc.in)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := DecodePacket(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	matchData := testenv.MatchData(b)
	cases := []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"event raw", func() ([]byte, error) {
			p, _, err := EncodeEvent("/", NoID, "message-back", RawJSON(`1`), RawJSON(`"2"`), RawJSON(`{"3":[true]}`))
			return p, err
		}},
		{"event values", func() ([]byte, error) {
			p, _, err := EncodeEvent("/custom", 12, "m", 1, "two", 3.5, true)
			return p, err
		}},
		{"binary event", func() ([]byte, error) {
			p, _, err := EncodeEvent("/", NoID, "m", []byte{1, 2, 3}, []byte{4, 5, 6})
			return p, err
		}},
		{"ack raw", func() ([]byte, error) {
			return EncodeRaw(PacketAck, "/", 456, "", false, []RawJSON{RawJSON(`1`), RawJSON(`"2"`)}, 0), nil
		}},
		{"disconnect", func() ([]byte, error) {
			return AppendPacket(nil, &Packet{Type: PacketDisconnect, Nsp: "/custom", ID: NoID}), nil
		}},
		{"match_data 15KB", func() ([]byte, error) {
			p, _, err := EncodeEvent("/", NoID, "match_data", matchData)
			return p, err
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAppendEventHead(t *testing.T) {
	cases := []struct {
		nsp, name string
		id        int64
		want      string
	}{
		{"/", "match_data", NoID, `2["match_data",`},
		{"", "logon", NoID, `2["logon",`},
		{"/admin", "ev", 7, `2/admin,7["ev",`},
		{"/", `q"uote`, NoID, `2["q\"uote",`},
	}
	for _, tc := range cases {
		got := string(AppendEventHead(nil, tc.nsp, tc.name, tc.id))
		if got != tc.want {
			t.Errorf("AppendEventHead(%q, %q, %d) = %s, want %s", tc.nsp, tc.name, tc.id, got, tc.want)
		}
		// Completed with one argument, the head decodes as that event.
		p, err := DecodePacket([]byte(got + `"x"]`))
		if err != nil || p.Type != PacketEvent {
			t.Errorf("%s\"x\"]: %+v, %v", got, p, err)
		}
	}
}
