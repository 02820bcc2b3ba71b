//go:build !unix

package testenv

import (
	"fmt"
	"os"
	"runtime"
)

// No job control outside Unix: a test that pauses a process fails here.

func PauseProcess(*os.Process) error {
	return fmt.Errorf("pausing a process is not supported on %s", runtime.GOOS)
}

func ResumeProcess(*os.Process) error {
	return fmt.Errorf("resuming a process is not supported on %s", runtime.GOOS)
}
