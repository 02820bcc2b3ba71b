//go:build unix

package main

import "syscall"

// fileLimit is the process's descriptor limit (RLIMIT_NOFILE, which the Go
// runtime has raised to the hard limit at start); ok false when unknown.
func fileLimit() (n uint64, ok bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return lim.Cur, true
}
