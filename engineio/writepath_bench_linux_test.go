package engineio

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"spectra-relay/internal/uring"
)

// BenchmarkWritePath broadcasts a ~200-byte frame to N plain WebSocket
// sockets through the batch, as the relay does, with io_uring on and off
// (write(2) per socket), and with io_uring refused so that the batch runs
// on Linux AIO. The clients run in a child process, so
// cpu-ns/recipient (this process's user+system CPU) is the server's cost
// per delivered frame; compare the paths within one run.
func BenchmarkWritePath(b *testing.B) {
	payload := []byte(`42["match_data",{"round":12,"scores":[7,4],"phase":"combat","spike":null,"players":` + strings.Repeat("0", 120) + `}]`)
	for _, n := range []int{1000} {
		for _, path := range []string{"io_uring", "aio", "write"} {
			b.Run(fmt.Sprintf("%s/subs=%d", path, n), func(b *testing.B) {
				if path == "aio" {
					// io_uring refused, as by Docker's default seccomp profile.
					saved := newRing
					newRing = func(uint32) (*uring.Ring, error) { return nil, fmt.Errorf("uring: io_uring_setup: %w", syscall.EPERM) }
					defer func() { newRing = saved }()
				}
				sockets := make(chan *Socket, n)
				srv := NewServer(Config{PingInterval: time.Hour, Uring: path != "write", Logger: slog.New(slog.DiscardHandler)}, func(s *Socket) { sockets <- s })
				want := map[string]string{"io_uring": "io_uring", "aio": "aio", "write": "write(2)"}[path]
				if wp := srv.WritePath(); wp.Name() != want {
					srv.Close()
					b.Skipf("write path %s, not %s", wp.Name(), want)
				}
				hs := httptest.NewServer(srv)
				defer hs.Close()
				defer srv.Close()
				benchBroadcastCPU(b, srv, hs.URL+"/engine.io/", n, payload, sockets)
			})
		}
	}
}
