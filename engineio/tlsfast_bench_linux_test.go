package engineio

import (
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTLSBroadcast broadcasts a ~200-byte frame to N sockets, plain,
// over TLS on crypto/tls's own path (a reader goroutine each, worker
// writes) and over TLS on the fast path, through the batch as the relay
// does. The clients run in a child process, so cpu-ns/recipient (this
// process's user+system CPU) is the server's cost per delivered frame.
func BenchmarkTLSBroadcast(b *testing.B) {
	payload := []byte(`42["match_data",{"round":12,"scores":[7,4],"phase":"combat","spike":null,"players":` + strings.Repeat("0", 120) + `}]`)
	for _, n := range []int{100, 1000} {
		for _, v := range []struct {
			name      string
			tls, fast bool
		}{{"plain", false, false}, {"tls", true, false}, {"tls-fast", true, true}} {
			b.Run(fmt.Sprintf("%s/subs=%d", v.name, n), func(b *testing.B) {
				sockets := make(chan *Socket, n)
				srv := NewServer(Config{PingInterval: time.Hour, Uring: true, TLSFastPath: v.fast},
					func(s *Socket) { sockets <- s })
				hs := httptest.NewUnstartedServer(srv)
				url := "http://"
				if v.tls {
					hs.Listener = NewTLSListener(hs.Listener, &tls.Config{Certificates: []tls.Certificate{testCert()}})
					url = "https://"
				}
				hs.Start()
				defer hs.Close()
				defer srv.Close()
				url += hs.Listener.Addr().String() + "/engine.io/"
				benchBroadcastCPU(b, srv, url, n, payload, sockets)
			})
		}
	}
}

// benchBroadcastCPU connects n WebSocket clients in a child process to
// url, then broadcasts payload to all of them through one batch per
// iteration, waiting each time until every client has it, and reports
// this process's CPU per recipient: the server's cost per delivered frame.
func benchBroadcastCPU(b *testing.B, srv *Server, url string, n int, payload []byte, sockets <-chan *Socket) {
	sinks := startSinkProcess(b, url, n, false)
	defer sinks.close()
	members := make([]*Socket, 0, n)
	for len(members) < n {
		members = append(members, <-sockets)
	}
	st := srv.NewStream(StreamOptions{})
	send := func() {
		f := st.TextFrame(payload)
		bt := srv.BeginBatch()
		for _, so := range members {
			_ = so.SendFramesBatch(bt, f)
		}
		bt.End()
	}
	send()
	sinks.await(int64(n))
	cpu0 := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send()
		sinks.await(int64((i + 2) * n))
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*n), "cpu-ns/recipient")
}

// processCPU is this process's user+system CPU time in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
