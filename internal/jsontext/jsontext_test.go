package jsontext

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCompact(t *testing.T) {
	in := " { \"a\" : [ 1 , \"x y\\\" z\" ] ,\n\t\"b\":{ } } "
	if got := string(Compact(nil, in)); got != `{"a":[1,"x y\" z"],"b":{}}` {
		t.Fatalf("compact %s", got)
	}
}

func TestFirstNonSpace(t *testing.T) {
	for in, want := range map[string]byte{"": 0, " \t\r\n": 0, "  [1]": '[', "x": 'x', "\n{": '{'} {
		if got := FirstNonSpace(in); got != want {
			t.Errorf("FirstNonSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMembers(t *testing.T) {
	ms, err := Members([]byte(`{"b":1, "a":{"x": [ 2 ]},"b":3,"c":"<&>"}`))
	if err != nil {
		t.Fatal(err)
	}
	// A duplicate key keeps its first place and its last value (JSON.parse).
	want := []Member{{"b", json.RawMessage(`3`)}, {"a", json.RawMessage(`{"x": [ 2 ]}`)}, {"c", json.RawMessage(`"<&>"`)}}
	if len(ms) != len(want) {
		t.Fatalf("members %+v", ms)
	}
	for i := range want {
		if ms[i].Key != want[i].Key || string(ms[i].Val) != string(want[i].Val) {
			t.Errorf("member %d = %s:%s, want %s:%s", i, ms[i].Key, ms[i].Val, want[i].Key, want[i].Val)
		}
	}
	if v, ok := Find(ms, "a"); !ok || string(v) != `{"x": [ 2 ]}` {
		t.Errorf("Find a = %s %v", v, ok)
	}
	if _, ok := Find(ms, "z"); ok {
		t.Error("Find z found")
	}
	got := string(AppendMembers([]byte("{"), ms, false, func(k string) bool { return k == "b" }))
	if want := `{"a":{"x":[2]},"c":"<&>"`; got != want {
		t.Errorf("AppendMembers = %s, want %s", got, want)
	}
	for _, bad := range []string{`[1]`, `{"a":1} {}`, `{"a":`, ``} {
		if _, err := Members([]byte(bad)); err == nil {
			t.Errorf("Members(%q) accepted", bad)
		}
	}
	if _, err := Members([]byte(`[]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("Members([]) = %v, want ErrNotObject", err)
	}
}

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           `"plain"`,
		"q\"b\\n\n\t\x01": `"q\"b\\n\n\t\u0001"`,
		"<&>":             `"<&>"`,
		"é€😀":             `"é€😀"`,
		"bad\xffbyte":     `"bad\ufffdbyte"`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
		if got := string(AppendQuoted(nil, []byte(in))); got != want {
			t.Errorf("AppendQuoted(%q) = %s, want %s", in, got, want)
		}
	}
}
