package relay

import (
	"bytes"
	"testing"
)

// FuzzAuxForward: parseAuxForward never panics, never reads past its input,
// and gives back what appendAuxForward wrote.
func FuzzAuxForward(f *testing.F) {
	f.Add([]byte("p-1"), []byte(`{"playerId":"p-1","matchId":"m","type":"aux_health","data":1}`))
	f.Add([]byte(""), []byte(""))
	f.Add(bytes.Repeat([]byte{0xff}, 12), []byte{0x80})
	f.Fuzz(func(t *testing.T, owner, payload []byte) {
		msg := appendAuxForward(nil, string(owner), string(payload))
		o, p, ok := parseAuxForward(msg)
		if !ok || o != string(owner) || !bytes.Equal(p, payload) {
			t.Fatalf("round trip of %q, %q: %q, %q, %v", owner, payload, o, p, ok)
		}
		// Arbitrary bytes as a message.
		if o, p, ok := parseAuxForward(payload); ok && len(o)+len(p) > len(payload) {
			t.Fatalf("parsed %d+%d bytes out of %d", len(o), len(p), len(payload))
		}
	})
}
