//go:build unix

package engineio

import (
	"syscall"
	"testing"
)

// raiseFileLimit lifts RLIMIT_NOFILE to want where it can and returns the
// limit in force.
func raiseFileLimit(tb testing.TB, want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if lim.Cur < want {
		lim.Cur = want
		if lim.Max < want {
			lim.Max = want // possible as root
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	return lim.Cur
}
