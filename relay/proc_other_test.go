//go:build !unix

package relay_test

import (
	"os/exec"
	"syscall"
)

// newProcessGroup: no process groups to signal here; signalProcess
// reaches the process alone.
func newProcessGroup(*exec.Cmd) {}

func signalProcess(cmd *exec.Cmd, sig syscall.Signal) { _ = cmd.Process.Signal(sig) }
