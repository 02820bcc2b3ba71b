package main

import (
	"os/exec"
	"strings"
	"testing"

	"spectra-relay/internal/testenv"
)

// The client tools link the wire codecs, never a server: a server package
// in their dependencies means a client reached for server code again.
func TestToolsLinkNoServer(t *testing.T) {
	gobin := testenv.NeedTool(t, "go")
	cmd := exec.Command(gobin, "list", "-deps", "spectra-relay/cmd/spectra-watch", "spectra-relay/cmd/spectra-replay")
	cmd.Dir = testenv.Root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	servers := map[string]bool{"spectra-relay/engineio": true, "spectra-relay/socketio": true, "spectra-relay/relay": true}
	for _, p := range strings.Fields(string(out)) {
		if servers[p] {
			t.Errorf("a client tool depends on the server package %s", p)
		}
	}
}
