package engineio

import (
	"strings"
	"testing"
)

func TestNegotiateDeflate(t *testing.T) {
	tests := []struct {
		offer  string
		ok     bool
		ctxOK  bool
		answer string
	}{
		{offer: "permessage-deflate; client_max_window_bits", ok: true, ctxOK: true, answer: "client_no_context_takeover"},
		{offer: "permessage-deflate", ok: true, ctxOK: true},
		{offer: "permessage-deflate; server_no_context_takeover", ok: true, ctxOK: false, answer: "server_no_context_takeover"},
		{offer: "permessage-deflate; server_max_window_bits=10", ok: false},
		{offer: "permessage-deflate; server_max_window_bits=15", ok: true, ctxOK: true, answer: "server_max_window_bits=15"},
		{offer: "permessage-deflate; unknown_param", ok: false},
		{offer: "x-webkit-deflate-frame", ok: false},
	}
	for _, tc := range tests {
		opts, ok := parseOptions(tc.offer)
		if !ok || len(opts) != 1 {
			t.Fatalf("bad offer %q", tc.offer)
		}
		resp, ctxOK, accepted := negotiateDeflate(opts[0])
		if accepted != tc.ok || (accepted && ctxOK != tc.ctxOK) {
			t.Errorf("offer %q: accepted=%v ctxOK=%v, want %v %v", tc.offer, accepted, ctxOK, tc.ok, tc.ctxOK)
			continue
		}
		if _, has := resp.Parameters.Get(strings.SplitN(tc.answer, "=", 2)[0]); accepted && tc.answer != "" && !has {
			t.Errorf("offer %q: answer %q lacks %q", tc.offer, resp.String(), tc.answer)
		}
	}
}

// The Frame's polling form is the codec's: a broadcast frame and a packet
// encoded alone travel the same.
func TestFramePollingBytes(t *testing.T) {
	for _, tc := range []struct {
		data   []byte
		binary bool
	}{
		{data: []byte("hello")},
		{data: []byte{1, 2, 3, 4}, binary: true},
		{data: []byte{}},
	} {
		want := AppendPollingPacket(nil, tc.data, tc.binary)
		f := &Frame{binary: tc.binary, payload: tc.data}
		if string(f.pollingBytes()) != string(want) {
			t.Errorf("Frame.pollingBytes(%q) = %q, want %q", tc.data, f.pollingBytes(), want)
		}
	}
}
