package eiopacket

import (
	"bytes"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		in      string
		typ     PacketType
		data    string
		wantErr bool
	}{
		{in: "4hello", typ: PacketMessage, data: "hello"},
		{in: "2probe", typ: PacketPing, data: "probe"},
		{in: "3", typ: PacketPong},
		{in: "6", typ: PacketNoop},
		{in: "0{}", typ: PacketOpen, data: "{}"},
		{in: "", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "7", wantErr: true},
		{in: "/4", wantErr: true},
	}
	for _, tc := range tests {
		p, err := DecodeText([]byte(tc.in))
		if tc.wantErr {
			if err == nil {
				t.Errorf("DecodeText(%q): want error, got %+v", tc.in, p)
			}
			continue
		}
		if err != nil || p.Type != tc.typ || string(p.Data) != tc.data {
			t.Errorf("DecodeText(%q) = %c %q %v, want %c %q", tc.in, p.Type, p.Data, err, tc.typ, tc.data)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		in      string
		want    []Packet
		wantErr bool
	}{
		{in: "4hello", want: []Packet{{Type: PacketMessage, Data: []byte("hello")}}},
		{in: "4test1\x1e4test2\x1e4test3", want: []Packet{
			{Type: PacketMessage, Data: []byte("test1")},
			{Type: PacketMessage, Data: []byte("test2")},
			{Type: PacketMessage, Data: []byte("test3")},
		}},
		{in: "4hello\x1ebAQIDBA==", want: []Packet{
			{Type: PacketMessage, Data: []byte("hello")},
			{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true},
		}},
		{in: "3\x1e1", want: []Packet{{Type: PacketPong, Data: []byte{}}, {Type: PacketClose, Data: []byte{}}}},
		{in: "", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "4a\x1e", wantErr: true},
		{in: "b!!!", wantErr: true},
	}
	for _, tc := range tests {
		var got []Packet
		err := DecodePayload([]byte(tc.in), func(p Packet) error {
			p.Data = append([]byte{}, p.Data...)
			got = append(got, p)
			return nil
		})
		if tc.wantErr {
			if err == nil {
				t.Errorf("DecodePayload(%q): want error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodePayload(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Fatalf("DecodePayload(%q): %d packets, want %d", tc.in, len(got), len(tc.want))
		}
		for i := range got {
			if got[i].Type != tc.want[i].Type || got[i].Binary != tc.want[i].Binary || !bytes.Equal(got[i].Data, tc.want[i].Data) {
				t.Errorf("DecodePayload(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestPollingEncodingRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		data   []byte
		binary bool
		want   string
	}{
		{data: []byte("hello"), want: "4hello"},
		{data: []byte{1, 2, 3, 4}, binary: true, want: "bAQIDBA=="},
		{data: []byte{}, want: "4"},
	} {
		got := AppendPollingPacket(nil, tc.data, tc.binary)
		if string(got) != tc.want {
			t.Errorf("AppendPollingPacket(%q) = %q, want %q", tc.data, got, tc.want)
		}
		var back Packet
		if err := DecodePayload(got, func(p Packet) error { back = p; return nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Data, tc.data) || back.Binary != tc.binary {
			t.Errorf("round trip of %q gave %+v", tc.data, back)
		}
	}
}
