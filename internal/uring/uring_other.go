//go:build !linux

// Package uring has no implementation outside Linux: New always fails and
// callers keep their one write per socket.
package uring

import "errors"

// ErrUnsupported is returned where there is no io_uring at all.
var ErrUnsupported = errors.New("uring: io_uring is not available on this system")

// Ring is never made outside Linux.
type Ring struct{}

// New fails: there is no io_uring here.
func New(uint32) (*Ring, error) { return nil, ErrUnsupported }

func (r *Ring) Entries() int                      { return 0 }
func (r *Ring) PrepSend(int, []byte, uint64) bool { return false }
func (r *Ring) Submit() error                     { return ErrUnsupported }
func (r *Ring) Reap(func(uint64, int32)) int      { return 0 }
func (r *Ring) Close() error                      { return nil }
