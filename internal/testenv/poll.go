package testenv

import (
	"testing"
	"time"
)

// Poll calls cond until it returns true or timeout passes, and reports
// whether it did. The pause between calls starts at 1 ms and doubles up to
// 20 ms, so a condition that holds soon is seen soon and a slow one costs
// little. It is the tests' way to await what has no event to wait on (a
// file on disk, a counter, a log line) instead of a fixed sleep.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
	return true
}

// WaitFor is Poll that fails the test when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
