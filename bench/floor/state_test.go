package floor

import (
	"encoding/json"
	"testing"
)

func TestOrderedJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"b":1,"a":[true,false,null,"x\"y\\z\n\u0001é"],"c":{"z":-1.5e3,"y":{}},"d":[]}`,
		`"plain"`,
		`[1,2,3]`,
	} {
		v, err := decodeOrdered([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out := appendValue(nil, v)
		// Same value as encoding/json reads it, same key order as the input.
		var a, b any
		if json.Unmarshal([]byte(in), &a) != nil || json.Unmarshal(out, &b) != nil {
			t.Fatalf("%s → %s: not JSON", in, out)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s → %s", in, out)
		}
		if in == `{"b":1,"a":[true,false,null,"x\"y\\z\n\u0001é"],"c":{"z":-1.5e3,"y":{}},"d":[]}` &&
			string(out) != `{"b":1,"a":[true,false,null,"x\"y\\z\n\u0001é"],"c":{"z":-1.5e3,"y":{}},"d":[]}` {
			t.Errorf("key order or text changed: %s", out)
		}
	}
	if _, err := decodeOrdered([]byte(`{"a":1} x`)); err == nil {
		t.Error("trailing data accepted")
	}
	// A string argument: the state's JSON as the JSON string Spectra sends.
	s := appendString(nil, []byte("{\"a\":\"\u2028\xff\"}"))
	var back string
	if err := json.Unmarshal(s, &back); err != nil || back != "{\"a\":\"\u2028\ufffd\"}" {
		t.Errorf("appendString: %s → %q, %v", s, back, err)
	}
}

// BenchmarkEncodeState is the floor's per-send encoding: the base state as
// JSON, then as the JSON string argument of match_data.
func BenchmarkEncodeState(b *testing.B) {
	srv, err := New(Config{BaseState: "../../testdata/replays/golden/bomb_regular.checkpoints.json"})
	if err != nil {
		b.Fatal(err)
	}
	m := newMatch(srv, "BN0000")
	m.seq = 1
	b.ReportAllocs()
	for b.Loop() {
		m.encodeLocked()
	}
	b.ReportMetric(float64(len(m.enc)), "state-bytes")
}

// BenchmarkAppendState is the JSON part alone (encodeLocked adds the
// compression).
func BenchmarkAppendState(b *testing.B) {
	srv, err := New(Config{BaseState: "../../testdata/replays/golden/bomb_regular.checkpoints.json"})
	if err != nil {
		b.Fatal(err)
	}
	m := newMatch(srv, "BN0000")
	b.ReportAllocs()
	for b.Loop() {
		m.enc = appendValue(m.enc[:0], m.state)
		_ = appendString(nil, m.enc)
	}
}
