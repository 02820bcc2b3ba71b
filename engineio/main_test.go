package engineio

import (
	"testing"

	"spectra-relay/internal/testenv"
)

// TestMain runs the package's tests, or, when a benchmark re-runs this
// binary as one, a helper process.
func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(*testing.T){
		"RSSServerProcess":     rssServerProcess,
		"BroadcastSinkProcess": broadcastSinkProcess,
		"TLSMemServerProcess":  tlsMemServerProcess,
	})
}
