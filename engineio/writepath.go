package engineio

import (
	"errors"
	"runtime"
	"strings"
	"syscall"

	"spectra-relay/internal/uring"
)

// WritePath says how the server's broadcasts reach their sockets: through
// io_uring submissions (Config.Uring and a ring the kernel granted),
// through Linux AIO submissions (io_submit) where io_uring was refused, or
// with one write(2) per socket, and why.
type WritePath struct {
	// Uring: broadcasts are batched through io_uring.
	Uring bool
	// AIO: broadcasts are batched through Linux AIO, as io_uring was
	// refused (Reason) or not wanted (Chosen).
	AIO bool
	// Chosen: the configuration asked for this path (Config.UringAIO)
	// rather than io_uring.
	Chosen bool
	// Off: the configuration switched io_uring off (Config.Uring false).
	Off bool
	// Reason says why not io_uring where it was asked for: the kernel's
	// refusal in words, with what commonly causes it. Empty on the
	// io_uring path and when Off.
	Reason string
}

// Name is "io_uring", "aio" or "write(2)".
func (p WritePath) Name() string {
	switch {
	case p.Uring:
		return "io_uring"
	case p.AIO:
		return "aio"
	}
	return "write(2)"
}

// WritePath reports the server's write path; it is fixed when the server
// is made.
func (s *Server) WritePath() WritePath {
	switch {
	case s.uring && s.uringAIO:
		return WritePath{AIO: true, Chosen: s.cfg.UringAIO, Reason: s.uringReason}
	case s.uring:
		return WritePath{Uring: true}
	case !s.cfg.Uring:
		return WritePath{Off: true}
	}
	return WritePath{Chosen: s.cfg.UringAIO, Reason: s.uringReason}
}

// uringFailure is the reason a ring could not be made, from its error:
// the error's own text (without the package's prefix) and, for the
// refusals a deployment meets, their usual cause.
func uringFailure(err error) string {
	msg := strings.TrimPrefix(err.Error(), "uring: ")
	switch {
	case errors.Is(err, syscall.EPERM):
		return msg + " (seccomp profile, or sysctl kernel.io_uring_disabled?)"
	case runtime.GOOS != "linux":
		return "not Linux: " + msg
	case errors.Is(err, syscall.ENOSYS), errors.Is(err, uring.ErrUnsupported):
		return "kernel too old: " + msg
	case errors.Is(err, syscall.ENOMEM):
		return msg + " (locked-memory limit, ulimit -l, on Linux before 5.12?)"
	}
	return msg
}
