//go:build !unix

package engineio

import "testing"

// raiseFileLimit: no per-process descriptor limit to raise here (Windows
// handles are bounded by memory), so the caller gets what it asked for.
func raiseFileLimit(_ testing.TB, want uint64) uint64 { return want }
