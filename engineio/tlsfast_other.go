//go:build !linux

package engineio

import "syscall"

// tlsFastPathOS: outside Linux TLS connections stay on crypto/tls's own
// path (Config.TLSFastPath has no effect), as plain ones stay off the
// inline write (wswrite_other.go).
const tlsFastPathOS = false

func (t *tlsTransport) readNow([]byte) (int, error) { return 0, errWouldBlock }

func (wc *wsConn) setupInlineRaw(syscall.RawConn) {}
