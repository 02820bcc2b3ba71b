//go:build unix

package relay_test

import (
	"os"
	"os/exec"
	"syscall"
)

// pauseProcess and resumeProcess freeze and thaw a child (SIGSTOP,
// SIGCONT): a hung node whose connections stay open.
func pauseProcess(p *os.Process) error  { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }

// newProcessGroup makes cmd the leader of a new process group, so that
// signalProcess reaches what it starts in turn (make, go run, the server).
func newProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalProcess signals cmd's process group if newProcessGroup made one,
// else the process alone.
func signalProcess(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
		return
	}
	_ = cmd.Process.Signal(sig)
}
