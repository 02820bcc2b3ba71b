package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// SlowBody sends a request's headers announcing a body of announced bytes,
// then only part of it, and returns how long the server took to drop the
// connection (a FIN or a reset); it gives up, with an error, at limit.
// The slow-body tests hold hundreds of these against a body deadline.
func SlowBody(addr, method, path, contentType string, announced int, part string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		method, path, addr, contentType, announced, part)
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(start.Add(limit))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return time.Since(start), fmt.Errorf("%s %s still open after %v", method, path, limit)
		}
		// A reset is as good as a FIN: the server dropped it.
	}
	return time.Since(start), nil
}

// SlowBodies holds many SlowBody requests at once, as the body-deadline
// tests do, and collects how each ended.
type SlowBodies struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  []error
	times []time.Duration
}

// Go starts one SlowBody request.
func (s *SlowBodies) Go(addr, method, path, contentType string, announced int, part string, limit time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d, err := SlowBody(addr, method, path, contentType, announced, part, limit)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.errs = append(s.errs, err)
			return
		}
		s.times = append(s.times, d)
	}()
}

// HoldWhile calls roundTrip every 10 ms while the requests started by Go
// are held, once more after the last one ended, and returns how many round
// trips it made: the server's normal clients must be served meanwhile.
func (s *SlowBodies) HoldWhile(roundTrip func(i int)) int {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	pace := time.NewTicker(10 * time.Millisecond)
	defer pace.Stop()
	rounds := 0
	for held := true; held; rounds++ {
		select {
		case <-done:
			held = false
		case <-pace.C:
		}
		roundTrip(rounds)
	}
	return rounds
}

// Check fails tb for every request the server left open and when one was
// dropped before 9/10 of the deadline; it returns the fastest and slowest
// drop. Call it after HoldWhile.
func (s *SlowBodies) Check(tb testing.TB, deadline time.Duration) (minT, maxT time.Duration) {
	tb.Helper()
	s.wg.Wait()
	for _, err := range s.errs {
		tb.Error(err)
	}
	minT = time.Hour
	for _, d := range s.times {
		maxT, minT = max(maxT, d), min(minT, d)
	}
	if minT < deadline*9/10 {
		tb.Errorf("a slow body was cut after %v, before the %v deadline", minT, deadline)
	}
	return minT, maxT
}
