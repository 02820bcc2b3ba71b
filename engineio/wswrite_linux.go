package engineio

import (
	"net"
	"syscall"
)

// setupInline lets sends write the socket's descriptor directly from the
// sending goroutine (writeInline, and the io_uring batches that hold the
// descriptor through the same RawConn).
func (wc *wsConn) setupInline(tc *net.TCPConn) {
	if raw, err := tc.SyscallConn(); err == nil {
		wc.raw = raw
		wc.inlineFn = wc.tryWrite
	}
}

// tryWrite is one write(2) attempt; it never waits for writability.
func (wc *wsConn) tryWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), wc.inlineBuf[wc.inlineN:])
		if n > 0 {
			wc.inlineN += n
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil && err != syscall.EAGAIN {
			wc.inlineErr = err
		}
		if err != nil || wc.inlineN == len(wc.inlineBuf) || n <= 0 {
			return true
		}
	}
}
