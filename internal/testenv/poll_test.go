package testenv

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	go func() {
		time.Sleep(30 * time.Millisecond) // the condition's own timing, not synchronisation
		n.Store(1)
	}()
	if !Poll(5*time.Second, func() bool { return n.Load() == 1 }) {
		t.Fatal("Poll missed a condition that became true")
	}
	start := time.Now()
	if Poll(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 5*time.Second {
		t.Fatalf("Poll gave up after %s, want about 50ms", el)
	}
}
