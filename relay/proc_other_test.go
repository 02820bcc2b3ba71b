//go:build !unix

package relay_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// No job control outside Unix: a test that pauses a node fails here.
func pauseProcess(*os.Process) error {
	return fmt.Errorf("pausing a process is not supported on %s", runtime.GOOS)
}

func resumeProcess(*os.Process) error {
	return fmt.Errorf("resuming a process is not supported on %s", runtime.GOOS)
}

// newProcessGroup: no process groups to signal here; signalProcess
// reaches the process alone.
func newProcessGroup(*exec.Cmd) {}

func signalProcess(cmd *exec.Cmd, sig syscall.Signal) { _ = cmd.Process.Signal(sig) }
