package relay

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"spectra-relay/socketio"
)

func TestCompatibleVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"0.3.3": true, "0.3.24": true, "0.3.10": true, "v0.3.22": true, " 0.3.22 ": true, "0.3.22+build.5": true,
		"0.3.2": false, "0.3.25": false, "0.4.0": false, "1.0.0": false, "0.3.22-beta": false, "0.3": false,
		"0.3.022": false, "": false, "0.3.x": false, "0.3.22.1": false, "0.3.22+": false, "vv0.3.22": false,
		"0.3.22-01": false, "0.3.99999999999999999999": false,
	} {
		if got := compatibleVersion(v); got != want {
			t.Errorf("compatibleVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestGroupSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := newGroupSecret()
		if !isSecret(s) || seen[s] {
			t.Fatalf("bad or repeated secret %q", s)
		}
		seen[s] = true
	}
}

func TestAppendEscapedMatchesJSONStringify(t *testing.T) {
	cases := []string{"", `{"a":"b\"c\\d"}`, "tab\tnl\ncr\r\x00\x1f\x7f", "é€😀", "\xff\xfe bad", "\xed\xa0\x80 surrogate", "\u2028\u2029"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want := socketio.AppendString(nil, s)
		if got := socketio.AppendJSONString(nil, []byte(s)); string(got) != string(want) {
			t.Errorf("%q ([]byte): got %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(want, &back); err != nil || back != strings.ToValidUTF8(s, "\ufffd") && utf8.ValidString(s) {
			t.Errorf("%q does not round-trip: %q %v", s, back, err)
		}
	}
}

func TestMatchDataPacket(t *testing.T) {
	js := []byte(`{"groupCode":"A\"B","x":[1,"\\n"]}`)
	pkt := appendMatchDataPacket(nil, js)
	want, _, err := socketio.EncodeEvent("/", socketio.NoID, "match_data", string(js))
	if err != nil {
		t.Fatal(err)
	}
	if string(pkt) != string(want) {
		t.Fatalf("packet %s, want %s", pkt, want)
	}
}
