//go:build !linux

package engineio

import "net"

// setupInline leaves wc.raw nil outside Linux: the inline write(2) on the
// raw descriptor is only built and tested there (and a Windows socket
// handle is no file descriptor for syscall.Write). Every send then takes
// the worker's net.Conn Write path, as on Linux when the descriptor is
// unavailable, and io_uring batches (never set up here) are not used.
func (wc *wsConn) setupInline(*net.TCPConn) {}
