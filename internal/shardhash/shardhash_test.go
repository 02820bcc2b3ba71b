package shardhash

import (
	"hash/fnv"
	"testing"
)

func TestFNV1aMatchesStdlib(t *testing.T) {
	for _, s := range []string{"", "a", "GU3Z72", "room:42", "abcdefghijklmnopqrst", "\x00\xff"} {
		h := fnv.New32a()
		h.Write([]byte(s))
		if got, want := FNV1a(s), h.Sum32(); got != want {
			t.Errorf("FNV1a(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestFNV1aDoesNotAllocate(t *testing.T) {
	key := "some-session-id"
	if n := testing.AllocsPerRun(100, func() { _ = FNV1a(key) }); n != 0 {
		t.Errorf("FNV1a allocates %v times per call", n)
	}
}
