//go:build !linux

package epollset

import (
	"errors"
	"log/slog"
)

// Set has no implementation outside Linux; Open always fails, and callers
// fall back to a reader goroutine per connection.
type Set struct{}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("epollset: closed")

var errNoEpoll = errors.New("epollset: no epoll on this system")

// Open fails: there is no epoll here.
func Open(*slog.Logger) (*Set, error) { return nil, errNoEpoll }

func (p *Set) Add(int, func()) error { return errNoEpoll }
func (p *Set) Rearm(int) error       { return errNoEpoll }
func (p *Set) Del(int) error         { return errNoEpoll }
func (p *Set) Close() error          { return nil }
