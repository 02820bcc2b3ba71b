package engineio

import (
	"io"
	"syscall"
)

// tlsFastPathOS: the TLS fast path needs the inline write(2) and a
// non-blocking read(2) on the descriptor, built on Linux only.
const tlsFastPathOS = true

// readNow is the probe's non-blocking read of the descriptor.
func (t *tlsTransport) readNow(b []byte) (int, error) {
	var n int
	var rerr error
	// Control, not Read: RawConn.Read fails at once once the read deadline
	// the last mid-frame read set has passed, and the probe never waits
	// anyway. The descriptor stays valid while the callback runs; this is
	// the connection's only reader.
	err := t.raw.Control(func(fd uintptr) {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN:
		return 0, errWouldBlock
	case rerr != nil:
		return 0, rerr
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// setupInlineRaw lets the writers write raw's descriptor directly.
func (wc *wsConn) setupInlineRaw(raw syscall.RawConn) {
	wc.raw = raw
	wc.inlineFn = wc.tryWrite
}
