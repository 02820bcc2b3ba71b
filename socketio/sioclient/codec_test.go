package sioclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"spectra-relay/socketio/siopacket"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in      string
		want    Packet
		wantErr bool
	}{
		{
			in:   "0",
			want: Packet{Type: siopacket.PacketConnect, Namespace: "/"},
		},
		{
			in:   `0{"sid":"abc"}`,
			want: Packet{Type: siopacket.PacketConnect, Namespace: "/", Data: json.RawMessage(`{"sid":"abc"}`)},
		},
		{
			in:   `0/admin,{"sid":"abc"}`,
			want: Packet{Type: siopacket.PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"abc"}`)},
		},
		{
			in:   "1/admin,",
			want: Packet{Type: siopacket.PacketDisconnect, Namespace: "/admin"},
		},
		{
			in:   "1/admin",
			want: Packet{Type: siopacket.PacketDisconnect, Namespace: "/admin"},
		},
		{
			in:   `2["hello",1,"x"]`,
			want: Packet{Type: siopacket.PacketEvent, Namespace: "/", Data: json.RawMessage(`["hello",1,"x"]`)},
		},
		{
			in:   `2/chat,12["hello"]`,
			want: Packet{Type: siopacket.PacketEvent, Namespace: "/chat", HasID: true, ID: 12, Data: json.RawMessage(`["hello"]`)},
		},
		{
			in:   `37[{"a":1}]`,
			want: Packet{Type: siopacket.PacketAck, Namespace: "/", HasID: true, ID: 7, Data: json.RawMessage(`[{"a":1}]`)},
		},
		{
			in:   `4{"message":"not authorized","data":{"x":1}}`,
			want: Packet{Type: siopacket.PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"not authorized","data":{"x":1}}`)},
		},
		{
			in:   `4"legacy"`,
			want: Packet{Type: siopacket.PacketConnectError, Namespace: "/", Data: json.RawMessage(`"legacy"`)},
		},
		{
			in:   `51-["up",{"_placeholder":true,"num":0}]`,
			want: Packet{Type: siopacket.PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["up",{"_placeholder":true,"num":0}]`)},
		},
		{
			in:   `62-/x,9[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
			want: Packet{Type: siopacket.PacketBinaryAck, Namespace: "/x", HasID: true, ID: 9, Attachments: 2, Data: json.RawMessage(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
		},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "x", wantErr: true},
		{in: `2{"a":1}`, wantErr: true},
		{in: `2`, wantErr: true},
		{in: `2["a"`, wantErr: true},
		{in: `3["a"]`, wantErr: true},
		{in: `1["a"]`, wantErr: true},
		{in: `0[1]`, wantErr: true},
		{in: `5["a"]`, wantErr: true},
		{in: `5-["a"]`, wantErr: true},
		{in: `4`, wantErr: true},
		{in: `21234567890123456789012["a"]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := DecodePacket([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				if !errors.Is(err, ErrBadPacket) {
					t.Fatalf("error %v does not wrap ErrBadPacket", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.want.Type || got.Namespace != tt.want.Namespace || got.HasID != tt.want.HasID ||
				got.ID != tt.want.ID || got.Attachments != tt.want.Attachments || !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// The encoder produces the same text back.
			if enc := AppendPacket(nil, got); string(enc) != tt.in && tt.in != "1/admin" {
				t.Fatalf("re-encoded %q, want %q", enc, tt.in)
			}
		})
	}
}

func TestAppendArgs(t *testing.T) {
	tests := []struct {
		name     string
		event    string
		args     []any
		want     string
		wantAtts int
	}{
		{
			name:  "strings",
			event: "obs_data",
			args:  []any{`{"type":"roster","data":"a\"b\\c\n"}`},
			want:  `["obs_data","{\"type\":\"roster\",\"data\":\"a\\\"b\\\\c\\n\"}"]`,
		},
		{
			name:  "mixed",
			event: "ev",
			args:  []any{1, true, nil, map[string]int{"a": 1}, RawJSON(`{"b":[1,2]}`)},
			want:  `["ev",1,true,null,{"a":1},{"b":[1,2]}]`,
		},
		{
			name:     "binary",
			event:    "up",
			args:     []any{[]byte{1}, "x", []byte{2}},
			want:     `["up",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]`,
			wantAtts: 2,
		},
		{
			name: "ack args without a name",
			args: []any{"ok", 2},
			want: `["ok",2]`,
		},
		{
			name:  "control characters and line separators",
			event: "e",
			args:  []any{"\x00\x1f\t\u2028\u2029é"},
			// Like JSON.stringify, which socket.io-client uses: U+2028 and
			// U+2029 are valid in JSON strings and go out unescaped.
			want: "[\"e\",\"\\u0000\\u001f\\t\u2028\u2029é\"]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, atts, err := appendArgs(nil, tt.event, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if len(atts) != tt.wantAtts {
				t.Fatalf("got %d attachments, want %d", len(atts), tt.wantAtts)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
	if _, _, err := appendArgs(nil, "e", []any{RawJSON(`{`)}); err == nil {
		t.Error("invalid RawJSON accepted")
	}
	if _, _, err := appendArgs(nil, "e", []any{make(chan int)}); err == nil {
		t.Error("unencodable argument accepted")
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x7f\x01", "日本語", "bad\xffutf8", "\u2028"} {
		var back string
		enc := siopacket.AppendString(nil, s)
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encoded to invalid JSON %s: %v", s, enc, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Fatalf("%q round-tripped to %q", s, back)
		}
	}
}

func TestMessageHelpers(t *testing.T) {
	m := Message{
		Args:        []json.RawMessage{json.RawMessage(`"text"`), json.RawMessage(`{"_placeholder":true,"num":0}`), json.RawMessage(`{"_placeholder":true,"num":5}`), json.RawMessage(`3`)},
		Attachments: [][]byte{{9, 9}},
	}
	if s, err := m.String(0); err != nil || s != "text" {
		t.Errorf("String(0) = %q, %v", s, err)
	}
	if b, ok := m.Binary(1); !ok || !bytes.Equal(b, []byte{9, 9}) {
		t.Errorf("Binary(1) = %v, %v", b, ok)
	}
	for _, i := range []int{-1, 0, 2, 3, 4} {
		if _, ok := m.Binary(i); ok {
			t.Errorf("Binary(%d) reported an attachment", i)
		}
	}
	if _, err := m.String(3); err == nil {
		t.Error("String(3) of a number succeeded")
	}
	if err := m.Decode(9, new(int)); err == nil {
		t.Error("Decode of a missing argument succeeded")
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"0", `0/a,{"x":1}`, `2/b,3["e",1]`, `51-["u",{"_placeholder":true,"num":0}]`, `4"x"`, "1/a,", `62-/x,9[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePacket(in)
		if err != nil {
			return
		}
		// A decoded packet re-encodes to something that decodes the same.
		q, err := DecodePacket(AppendPacket(nil, p))
		if err != nil {
			t.Fatalf("re-encoding of %q does not decode: %v", in, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.HasID != p.HasID || q.ID != p.ID ||
			q.Attachments != p.Attachments || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("%q: %+v re-decoded as %+v", in, p, q)
		}
		if p.Type == siopacket.PacketEvent || p.Type == siopacket.PacketAck || p.Type == siopacket.PacketBinaryEvent || p.Type == siopacket.PacketBinaryAck {
			splitArray(p.Data)
		}
	})
}

func TestAppendSession(t *testing.T) {
	tests := []struct {
		name, auth string
		s          Session
		want       string
	}{
		{"no auth", "", Session{PID: "p", Offset: "3"}, `{"pid":"p","offset":"3"}`},
		{"no offset yet", "", Session{PID: "p"}, `{"pid":"p"}`},
		{"empty auth", "{}", Session{PID: "p", Offset: "3"}, `{"pid":"p","offset":"3"}`},
		{"empty auth with spaces", " { } ", Session{PID: "p", Offset: "3"}, `{"pid":"p","offset":"3"}`},
		{"auth members kept", `{"token":"t"}`, Session{PID: "p", Offset: "a\"b"}, `{"pid":"p","offset":"a\"b","token":"t"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var auth []byte
			if tc.auth != "" {
				auth = []byte(tc.auth)
			}
			got := string(appendSession(auth, tc.s))
			if got != tc.want {
				t.Fatalf("appendSession(%q, %+v) = %s, want %s", tc.auth, tc.s, got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("%s is not JSON", got)
			}
		})
	}
}
