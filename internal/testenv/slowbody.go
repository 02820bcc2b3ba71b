package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
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
