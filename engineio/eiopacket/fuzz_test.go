package eiopacket

import (
	"bytes"
	"testing"

	"spectra-relay/fuzz"
)

func FuzzDecodeText(f *testing.F) {
	for _, s := range fuzz.Seeds("engineio-payload") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeText(b)
		if err != nil {
			return
		}
		if got := AppendText(nil, p.Type, p.Data); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %q gave %q", b, got)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range fuzz.Seeds("engineio-payload") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkts []Packet
		err := DecodePayload(append([]byte(nil), b...), func(p Packet) error {
			p.Data = append([]byte(nil), p.Data...)
			pkts = append(pkts, p)
			return nil
		})
		if err != nil {
			return
		}
		// What decodes must encode back to a payload that decodes the same.
		var enc []byte
		for i, p := range pkts {
			if i > 0 {
				enc = append(enc, RecordSeparator)
			}
			if p.Binary {
				enc = AppendPollingPacket(enc, p.Data, true)
			} else {
				enc = AppendText(enc, p.Type, p.Data)
			}
		}
		i := 0
		err = DecodePayload(enc, func(p Packet) error {
			if i >= len(pkts) || p.Type != pkts[i].Type || p.Binary != pkts[i].Binary || !bytes.Equal(p.Data, pkts[i].Data) {
				t.Fatalf("packet %d differs after re-encoding %q", i, enc)
			}
			i++
			return nil
		})
		if err != nil || i != len(pkts) {
			t.Fatalf("re-encoded payload %q: %v (%d of %d packets)", enc, err, i, len(pkts))
		}
	})
}
