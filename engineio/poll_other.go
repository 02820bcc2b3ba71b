//go:build !linux

package engineio

import (
	"errors"
	"log/slog"
)

// poller has no implementation outside Linux: every WebSocket connection
// gets a reader goroutine there.
type poller struct{}

func newPoller(log *slog.Logger) *poller {
	log.Debug("engineio: no epoll on this system, using reader goroutines")
	return nil
}

var errNoPoller = errors.New("engineio: no poller on this system")

func (p *poller) add(int, func()) error { return errNoPoller }
func (p *poller) rearm(int) error       { return errNoPoller }
func (p *poller) del(int) error         { return errNoPoller }
func (p *poller) Close() error          { return nil }
