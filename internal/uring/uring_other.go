//go:build !linux

// Package uring has no implementation outside Linux: New always fails and
// callers keep their one write per socket.
package uring

import (
	"errors"
	"time"
)

var (
	// ErrUnsupported is returned where there is no io_uring at all.
	ErrUnsupported = errors.New("uring: io_uring is not available on this system")
	// ErrTimeout is never returned here.
	ErrTimeout = errors.New("uring: completions did not arrive in time")
	// ErrClosed is never returned here.
	ErrClosed = errors.New("uring: ring closed")
)

// Ring is never made outside Linux.
type Ring struct{}

// New fails: there is no io_uring here.
func New(uint32) (*Ring, error) { return nil, ErrUnsupported }

// NewAIO fails: there is no Linux AIO here.
func NewAIO(uint32) (*Ring, error) { return nil, ErrUnsupported }

func (r *Ring) IsAIO() bool { return false }

func (r *Ring) Entries() int                      { return 0 }
func (r *Ring) Pending() int                      { return 0 }
func (r *Ring) SetSendFlags(uint32)               {}
func (r *Ring) PrepSend(int, []byte, uint64) bool { return false }
func (r *Ring) Submit(time.Duration) (int, error) { return 0, ErrUnsupported }
func (r *Ring) Wait(time.Duration) error          { return ErrUnsupported }
func (r *Ring) Cancel(time.Duration) error        { return ErrUnsupported }
func (r *Ring) Reap(func(uint64, int32)) int      { return 0 }
func (r *Ring) Close() error                      { return nil }
