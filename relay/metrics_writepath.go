package relay

import (
	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/engineio"
)

// WritePath is how the output port's broadcasts reach the overlays:
// path "io_uring", "aio" (Linux AIO batches where io_uring was refused)
// or "write" (one write(2) per overlay), and the reason when not io_uring
// ("URING=false", or the kernel's refusal of io_uring in words). The ingest port always
// writes with write(2) (a handful of clients) and is not reported.
func (srv *Server) WritePath() (path, reason string) {
	return writePathLabels(srv.output.Engine().WritePath())
}

func writePathLabels(wp engineio.WritePath) (path, reason string) {
	switch {
	case wp.Uring:
		return "io_uring", ""
	case wp.AIO && wp.Chosen:
		return "aio", "URING=aio"
	case wp.AIO:
		return "aio", wp.Reason
	case wp.Off:
		return "write", "URING=false"
	case wp.Chosen:
		return "write", "URING=aio: " + wp.Reason
	}
	return "write", wp.Reason
}

// newWritePathGauge is spectra_write_path: 1 for the output port's write
// path, labelled with its reason. Fixed for the server's life.
func (srv *Server) newWritePathGauge() prometheus.Collector {
	path, reason := srv.WritePath()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricPrefix + "write_path",
		Help: "1 for how broadcasts reach the overlays: path io_uring (batched submissions), aio (batched through Linux AIO " +
			"io_submit, where io_uring is refused) or write (one write(2) per overlay); reason why not io_uring " +
			"(URING=false, or why the kernel refused it, e.g. a seccomp profile).",
		ConstLabels: prometheus.Labels{"path": path, "reason": reason},
	})
	g.Set(1)
	return g
}
