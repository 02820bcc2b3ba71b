//go:build !unix

package redistest

import "os"

// No job-control signals here: Pause and Resume fail, Stop only kills.
var sigStop, sigCont os.Signal
