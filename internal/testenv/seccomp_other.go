//go:build !linux

package testenv

import "errors"

// DenySyscalls needs Linux's seccomp.
func DenySyscalls(...uint32) error { return errors.New("testenv: seccomp filters are Linux only") }
