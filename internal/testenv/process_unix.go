//go:build unix

package testenv

import (
	"os"
	"syscall"
)

// PauseProcess freezes p (SIGSTOP): its connections stay open but nothing
// answers, as with a hung node or a network partition.
func PauseProcess(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// ResumeProcess continues a paused p (SIGCONT).
func ResumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
