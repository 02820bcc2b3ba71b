package match

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

type replay struct {
	header   []byte
	events   [][]byte
	logStart int64
}

func loadReplay(t testing.TB, path string) replay {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(append(append([]byte("["), content...), ']'), &all); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var hdr struct {
		LogStartTime int64 `json:"logStartTime"`
	}
	if err := json.Unmarshal(all[0], &hdr); err != nil {
		t.Fatal(err)
	}
	r := replay{header: all[0], logStart: hdr.LogStartTime}
	for _, e := range all[1:] {
		r.events = append(r.events, e)
	}
	return r
}

// replayClock stands in for the reference server's clock during the golden
// run: the replay was fed as fast as possible, so consecutive events were
// stamped milliseconds apart, never the minutes between the recorded
// timestamps (which would trip the 99 s round timer).
func replayClock(start int64, i int) time.Time {
	return time.UnixMilli(start + int64(i+1))
}

func newReplayMatch(t testing.TB, r replay) *Match {
	t.Helper()
	l, err := ParseLogon(r.header)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(l, "TESTSECRET00", time.UnixMilli(r.logStart))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// routes reports whether the reference server would deliver ev to m.
func routes(m *Match, ev Event) bool {
	if ev.HasGroupCode {
		return ev.GroupCode == m.GroupCode()
	}
	return ev.MatchID == m.MatchID()
}

// maskedFields are clock-derived: only their presence is compared.
var maskedFields = map[string]bool{
	"timestamp": true, "logStartTime": true, "roundTimeoutTime": true,
	"spikeDetonationTime": true, "agentSelectStartTime": true, "groupSecret": true,
}

func TestGoldenParity(t *testing.T) {
	for _, name := range testenv.ReplayNames {
		t.Run(name, func(t *testing.T) {
			path := testenv.Replay(t, name)
			goldenRaw, err := os.ReadFile(testenv.Golden(t, name))
			if err != nil {
				t.Fatal(err)
			}
			var golden struct {
				Checkpoints []struct {
					Label      string          `json:"label"`
					AfterEvent int             `json:"afterEvent"`
					Data       json.RawMessage `json:"data"`
				} `json:"checkpoints"`
			}
			if err := json.Unmarshal(goldenRaw, &golden); err != nil {
				t.Fatal(err)
			}
			r := loadReplay(t, path)
			m := newReplayMatch(t, r)
			next := 0
			matched := 0
			var out []byte
			for i, raw := range r.events {
				ev, err := ParseEvent(raw)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if routes(m, ev) {
					if _, err := m.Apply(ev, replayClock(r.logStart, i)); err != nil {
						t.Errorf("event %d: %v", i, err)
					}
				}
				for next < len(golden.Checkpoints) && golden.Checkpoints[next].AfterEvent == i {
					cp := golden.Checkpoints[next]
					next++
					m.Tick(replayClock(r.logStart, i))
					out = m.AppendJSON(out[:0])
					diffs := diffJSON(cp.Data, out)
					if len(diffs) == 0 {
						if err := byteExact(cp.Data, out); err != nil {
							t.Errorf("checkpoint %d %q: %v", next-1, cp.Label, err)
							continue
						}
						matched++
						continue
					}
					if len(diffs) > 30 {
						diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
					}
					t.Errorf("checkpoint %d %q (after event %d) differs:\n%s", next-1, cp.Label, i, strings.Join(diffs, "\n"))
				}
			}
			t.Logf("%s: %d/%d checkpoints match", name, matched, len(golden.Checkpoints))
			if next != len(golden.Checkpoints) {
				t.Errorf("%d checkpoints not reached", len(golden.Checkpoints)-next)
			}
		})
	}
}

// byteExact checks that out is byte for byte what JSON.stringify would give
// for the golden state, once the masked clock values are taken from out.
func byteExact(golden, out []byte) error {
	g, err := parseJSON(golden)
	if err != nil {
		return err
	}
	o, err := parseJSON(out)
	if err != nil {
		return err
	}
	if g.k != kObject || o.k != kObject {
		return fmt.Errorf("not objects")
	}
	for k := range maskedFields {
		if v, ok := o.obj.get(k); ok {
			if _, ok := g.obj.get(k); ok {
				g.obj.set(k, v)
			}
		}
	}
	want := appendJV(nil, g)
	if bytes.Equal(want, out) {
		return nil
	}
	i := 0
	for i < len(want) && i < len(out) && want[i] == out[i] {
		i++
	}
	lo := max(0, i-60)
	return fmt.Errorf("bytes differ at offset %d:\n  want ...%s\n  got  ...%s", i, want[lo:min(len(want), i+60)], out[lo:min(len(out), i+60)])
}

// ---- ordered JSON comparison ----

type onode struct {
	kind  byte // 'o' object, 'a' array, 'v' scalar
	keys  []string
	vals  []*onode
	items []*onode
	lit   string // scalar literal (number text, string, true/false/null)
}

func decodeOrdered(b []byte) (*onode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("trailing data")
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (*onode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			n := &onode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				child, err := decodeNode(dec)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, kt.(string))
				n.vals = append(n.vals, child)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &onode{kind: 'a'}
		for dec.More() {
			child, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, child)
		}
		_, err := dec.Token()
		return n, err
	case string:
		b, _ := json.Marshal(v)
		return &onode{kind: 'v', lit: string(b)}, nil
	case json.Number:
		return &onode{kind: 'v', lit: v.String()}, nil
	case bool:
		return &onode{kind: 'v', lit: fmt.Sprint(v)}, nil
	case nil:
		return &onode{kind: 'v', lit: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func (n *onode) String() string {
	switch n.kind {
	case 'o':
		s := "{" + strings.Join(n.keys, ",") + "}"
		if len(s) > 80 {
			s = s[:77] + "...}"
		}
		return s
	case 'a':
		return fmt.Sprintf("[%d items]", len(n.items))
	}
	if len(n.lit) > 80 {
		return n.lit[:77] + "..."
	}
	return n.lit
}

// diffJSON compares expected and actual JSON structurally, including object
// key order, and returns one line per difference.
func diffJSON(expected, actual []byte) []string {
	e, err := decodeOrdered(expected)
	if err != nil {
		return []string{"expected: " + err.Error()}
	}
	a, err := decodeOrdered(actual)
	if err != nil {
		return []string{"actual is not valid JSON: " + err.Error()}
	}
	var out []string
	diffNode("$", e, a, &out)
	return out
}

func diffNode(path string, e, a *onode, out *[]string) {
	if e.kind != a.kind {
		*out = append(*out, fmt.Sprintf("%s: expected %s, actual %s", path, e, a))
		return
	}
	switch e.kind {
	case 'v':
		if e.lit != a.lit {
			*out = append(*out, fmt.Sprintf("%s: expected %s, actual %s", path, e, a))
		}
	case 'a':
		n := max(len(e.items), len(a.items))
		for i := 0; i < n; i++ {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case i >= len(a.items):
				*out = append(*out, fmt.Sprintf("%s: missing, expected %s", p, e.items[i]))
			case i >= len(e.items):
				*out = append(*out, fmt.Sprintf("%s: unexpected %s", p, a.items[i]))
			default:
				diffNode(p, e.items[i], a.items[i], out)
			}
		}
	case 'o':
		ai := map[string]int{}
		for i, k := range a.keys {
			ai[k] = i
		}
		ei := map[string]int{}
		for i, k := range e.keys {
			ei[k] = i
			j, ok := ai[k]
			if !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: missing, expected %s", path, k, e.vals[i]))
				continue
			}
			if maskedFields[k] {
				continue
			}
			diffNode(path+"."+k, e.vals[i], a.vals[j], out)
		}
		for j, k := range a.keys {
			if _, ok := ei[k]; !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: unexpected %s", path, k, a.vals[j]))
			}
		}
		if len(*out) == 0 && strings.Join(e.keys, ",") != strings.Join(a.keys, ",") {
			*out = append(*out, fmt.Sprintf("%s: key order: expected %v, actual %v", path, e.keys, a.keys))
		}
	}
}
