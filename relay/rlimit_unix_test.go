//go:build unix

package relay_test

import "syscall"

// raiseFileLimit lifts the soft RLIMIT_NOFILE towards want (past the hard
// limit as root, else up to it) and returns the limit in force; servers
// started afterwards inherit it.
func raiseFileLimit(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < want {
		lim.Cur = want
		if lim.Max < want {
			lim.Max = want
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			// Not root: as far as the hard limit goes.
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
			if lim.Cur < want && lim.Max > lim.Cur {
				lim.Cur = lim.Max
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
			}
		}
	}
	return lim.Cur
}
