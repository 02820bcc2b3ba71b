package deltaflate

import "testing"

// FuzzRoundTrip compresses a stream built from two inputs, each message a
// variation of the ones before (as successive states are), and checks that
// compress/flate's decoder reads every message back.
func FuzzRoundTrip(f *testing.F) {
	msgs := loadSequence(f)
	f.Add(msgs[0][:2000], msgs[1][:2000], uint16(100))
	f.Add([]byte("aaaaaaaaaaaaaaaa"), []byte("ab"), uint16(3))
	f.Add([]byte{}, []byte{0}, uint16(0))
	f.Fuzz(func(t *testing.T, a, b []byte, at uint16) {
		cut := 0
		if len(a) > 0 {
			cut = int(at) % (len(a) + 1)
		}
		inserted := append(append(append([]byte{}, a[:cut]...), b...), a[cut:]...)
		stream := [][]byte{a, b, a, inserted, inserted, a[cut:], append(append([]byte{}, b...), b...)}
		roundTrip(t, NewEncoder(), stream)
	})
}
