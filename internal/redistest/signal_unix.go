//go:build unix

package redistest

import (
	"os"
	"syscall"
)

// sigStop and sigCont pause and continue the redis-server process.
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT
