package testenv

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// JSONDiff appends to d the places where got differs from want, two
// decoded JSON values (from json.Unmarshal into any, numbers as float64 or
// json.Number alike on both sides), one line each under the path p (as
// "$" or "state"), and returns d. Keys named in mask are compared by
// presence only (clock values, secrets). max > 0 stops after that many
// lines; a diff of two large states stays readable.
func JSONDiff(d []string, p string, want, got any, mask map[string]bool, max int) []string {
	if max <= 0 {
		max = int(^uint(0) >> 1)
	}
	w := jsonDiffer{d: d, limit: len(d) + max, mask: mask}
	w.walk(p, want, got)
	return w.d
}

type jsonDiffer struct {
	d     []string
	limit int
	mask  map[string]bool
}

func (w *jsonDiffer) add(format string, args ...any) {
	if len(w.d) < w.limit {
		w.d = append(w.d, fmt.Sprintf(format, args...))
	}
}

func (w *jsonDiffer) walk(p string, want, got any) {
	if len(w.d) >= w.limit {
		return
	}
	switch x := want.(type) {
	case map[string]any:
		y, ok := got.(map[string]any)
		if !ok {
			w.add("%s: %s, want %s", p, ShowJSON(got), ShowJSON(want))
			return
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, in := x[k]; !in {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			xv, inW := x[k]
			yv, inG := y[k]
			switch {
			case !inG:
				w.add("%s.%s: absent, want %s", p, k, ShowJSON(xv))
			case !inW:
				w.add("%s.%s: %s, want it absent", p, k, ShowJSON(yv))
			case w.mask[k]:
			default:
				w.walk(p+"."+k, xv, yv)
			}
		}
	case []any:
		y, ok := got.([]any)
		if !ok {
			w.add("%s: %s, want %s", p, ShowJSON(got), ShowJSON(want))
			return
		}
		if len(x) != len(y) {
			w.add("%s.length: %d, want %d", p, len(y), len(x))
		}
		for i := range min(len(x), len(y)) {
			w.walk(fmt.Sprintf("%s[%d]", p, i), x[i], y[i])
		}
	default:
		if !reflect.DeepEqual(want, got) {
			w.add("%s: %s, want %s", p, ShowJSON(got), ShowJSON(want))
		}
	}
}

// ShowJSON is v as JSON for a test's message, cut at 160 bytes.
func ShowJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	if len(b) > 160 {
		return string(b[:157]) + "..."
	}
	return string(b)
}
