package testenv

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestJSONDiff(t *testing.T) {
	dec := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name, want, got string
		mask            map[string]bool
		max             int
		diff            []string
	}{
		{"equal", `{"a":[1,{"b":"x"}],"c":null}`, `{"c":null,"a":[1,{"b":"x"}]}`, nil, 0, nil},
		{"scalar", `{"a":1}`, `{"a":2}`, nil, 0, []string{"$.a: 2, want 1"}},
		{"absent and extra", `{"a":1,"b":2}`, `{"b":2,"c":3}`, nil, 0, []string{"$.a: absent, want 1", "$.c: 3, want it absent"}},
		{"type", `{"a":{"x":1}}`, `{"a":[1]}`, nil, 0, []string{`$.a: [1], want {"x":1}`}},
		{"array length and items", `[1,2,3]`, `[1,5]`, nil, 0, []string{"$.length: 2, want 3", "$[1]: 5, want 2"}},
		{"mask compares presence", `{"t":1,"u":2}`, `{"t":9}`, map[string]bool{"t": true, "u": true}, 0, []string{"$.u: absent, want 2"}},
		{"max", `{"a":1,"b":2,"c":3}`, `{"a":0,"b":0,"c":0}`, nil, 2, []string{"$.a: 0, want 1", "$.b: 0, want 2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := JSONDiff(nil, "$", dec(c.want), dec(c.got), c.mask, c.max)
			if !slices.Equal(got, c.diff) {
				t.Errorf("JSONDiff = %q, want %q", got, c.diff)
			}
		})
	}
	// Appends to what the caller has; max counts only the new lines.
	d := JSONDiff([]string{"before"}, "s", dec(`[1,2]`), dec(`[3,4]`), nil, 1)
	if !slices.Equal(d, []string{"before", "s[0]: 3, want 1"}) {
		t.Errorf("appending: %q", d)
	}
	if s := ShowJSON(string(make([]byte, 300))); len(s) != 160 {
		t.Errorf("ShowJSON of a long value: %d bytes, want 160", len(s))
	}
}
