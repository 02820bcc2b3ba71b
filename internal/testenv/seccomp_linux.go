package testenv

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DenySyscalls installs a seccomp filter on every thread of this process
// that fails the given system calls (numbers of this architecture) with
// EPERM, as a container's seccomp profile does, and allows the rest. It
// cannot be undone: call it only in a helper process (Main).
func DenySyscalls(nrs ...uint32) error {
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	n := len(nrs)
	if n == 0 || n > 200 {
		return fmt.Errorf("testenv: %d system calls to deny, want 1…200", n)
	}
	// Load the call's number (seccomp_data.nr, offset 0); each match
	// jumps to the EPERM return after the allow.
	prog := []unix.SockFilter{{Code: ldAbs, K: 0}}
	for i, nr := range nrs {
		prog = append(prog, unix.SockFilter{Code: jeq, Jt: uint8(n - i), Jf: 0, K: nr})
	}
	prog = append(prog,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("testenv: no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("testenv: seccomp filter: %w", errno)
	}
	return nil
}
