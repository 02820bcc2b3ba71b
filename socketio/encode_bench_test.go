package socketio

import "testing"

// The server's own replies; the codec's benchmarks are in siopacket.
func BenchmarkEncode(b *testing.B) {
	cases := []struct {
		name string
		fn   func() []byte
	}{
		{"connect reply", func() []byte { return encodeConnectOK("/custom", "abcdefghijklmnopqrst", "") }},
		{"connect error", func() []byte { return encodeConnectError("/random", "Invalid namespace", nil) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(tc.fn()) == 0 {
					b.Fatal("empty packet")
				}
			}
		})
	}
}
