package socketio

import (
	"strings"
	"testing"
)

// TestUnknownNamespaceEcho: the CONNECT_ERROR for an unknown namespace
// repeats an ordinary name exactly (the protocol suite checks
// `44/random,…`, and clients match the reply by name) but never more than
// a short name without control characters; the connection stays open.
func TestUnknownNamespaceEcho(t *testing.T) {
	long := "/" + strings.Repeat("x", 500<<10)
	tests := []struct{ name, nsp, echo string }{
		{"ordinary", "/random", "/random"},
		{"barrier style", "/__barrier_17", "/__barrier_17"},
		{"non-ASCII kept", "/café-ü", "/café-ü"},
		{"exactly the cap", "/" + strings.Repeat("a", maxEchoNsp-1), "/" + strings.Repeat("a", maxEchoNsp-1)},
		{"500 KB name", long, long[:maxEchoNsp]},
		{"control bytes dropped", "/a\x01b\x1bc\x7fd\te", "/abcde"},
		{"C1 control dropped", "/x\u0085y", "/xy"},
		{"cut on a rune boundary", "/" + strings.Repeat("é", 40), "/" + strings.Repeat("é", (maxEchoNsp-1)/2)},
	}
	ts := newTestServer(t)
	c := ts.dial(t)
	for _, tc := range tests {
		c.send("40" + tc.nsp)
		want := "44" + tc.echo + `,{"message":"Invalid namespace"}`
		if got := c.read(); got != want {
			t.Errorf("%s: got %.120q, want %.120q", tc.name, got, want)
		}
	}
	// Still open: the main namespace connects on the same connection.
	c.connectMain()
}
