package match

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// replaySeeds returns up to n events of the bomb_regular fixture so the
// fuzzers start from realistic payloads of every type.
func replaySeeds(f *testing.F, n int) [][]byte {
	f.Helper()
	path := testenv.Replay(f, "bomb_regular")
	content, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(append(append([]byte("["), content...), ']'), &all); err != nil || len(all) < 2 {
		f.Fatalf("%s: not a replay (%v)", path, err)
	}
	seen := map[string]int{}
	var out [][]byte
	for _, e := range all[1:] {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(e, &head)
		if seen[head.Type] >= 2 || len(out) >= n {
			continue
		}
		seen[head.Type]++
		out = append(out, e)
	}
	return out
}

var staticSeeds = []string{
	`{"obsName":"o","groupCode":"ABC123","type":"toast","data":{"duration":"1e3","title":"x"}}`,
	`{"obsName":"o","groupCode":"ABC123","type":"left_timeout","data":true}`,
	`{"obsName":"o","groupCode":"ABC123","type":"round_info","data":{"roundNumber":-3.5,"roundPhase":"shopping"}}`,
	`{"obsName":"o","groupCode":"ABC123","type":"killfeed","data":{"attacker":"A","victim":{"__proto__":1},"assists":"xy"}}`,
	`{"playerId":"a","matchId":"","type":"aux_scoreboard_team","data":"[null,{\"playerId\":\"a\"}]"}`,
	`{"obsName":"o","groupCode":"ABC123","type":"score","data":null}`,
	`{"obsName":"o","groupCode":"ABC123","type":"roster","data":{"name":"A","tagline":"T","playerId":"a","startTeam":"0","agentInternal":"Smonk_PC_C"}}`,
	`[1,"\ud800"]`,
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range replaySeeds(f, 40) {
		f.Add(s)
	}
	for _, s := range staticSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := ParseEvent(raw)
		if err != nil {
			return
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("accepted event has invalid data %q", ev.Data)
		}
		if ev.Type == "" && bytes.Contains(raw, []byte(`"type":"`)) && json.Valid(raw) {
			var head struct {
				Type any `json:"type"`
			}
			if json.Unmarshal(raw, &head) == nil {
				if s, ok := head.Type.(string); ok && s != "" {
					t.Fatalf("type %q lost", s)
				}
			}
		}
	})
}

// FuzzApply feeds newline-separated events to one match and checks that the
// output always stays valid JSON and that nothing panics.
func FuzzApply(f *testing.F) {
	seeds := replaySeeds(f, 60)
	var all [][]byte
	for _, s := range seeds {
		f.Add(s)
		all = append(all, s)
	}
	for _, s := range staticSeeds {
		f.Add([]byte(s))
		all = append(all, []byte(s))
	}
	f.Add(bytes.Join(all, []byte("\n")))
	l, err := ParseLogon([]byte(testLogon))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		m, err := New(l, "S", t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		for i, line := range bytes.Split(input, []byte("\n")) {
			now = now.Add(700 * time.Millisecond)
			ev, err := ParseEvent(line)
			if err != nil {
				continue
			}
			// Every other event also goes through the auxiliary check, as
			// from a client logged on as the event's own player or as none.
			if i%2 == 1 {
				ev.Aux, ev.AuxPlayer = true, ev.PlayerID
				if i%4 == 3 {
					ev.AuxPlayer = ""
				}
				_ = m.CheckAux(&ev)
			}
			_, _ = m.Apply(ev, now)
			m.Tick(now.Add(50 * time.Millisecond))
			if out := m.AppendJSON(nil); !json.Valid(out) {
				t.Fatalf("invalid output after %q: %s", line, out)
			}
		}
		m.Tick(now.Add(time.Hour))
		if out := m.AppendJSON(nil); !json.Valid(out) {
			t.Fatalf("invalid output: %s", out)
		}
	})
}

// FuzzParseLogon feeds arbitrary obs_logon payloads through ParseLogon and
// New: an accepted logon must make a match whose state encodes as valid
// JSON; nothing may panic.
func FuzzParseLogon(f *testing.F) {
	for _, name := range []string{"short_3rounds", "swift"} {
		content, err := os.ReadFile(testenv.Replay(f, name))
		if err != nil {
			f.Fatal(err)
		}
		var all []json.RawMessage
		if err := json.Unmarshal(append(append([]byte("["), content...), ']'), &all); err != nil || len(all) == 0 {
			f.Fatalf("%s: not a replay (%v)", name, err)
		}
		f.Add([]byte(all[0]))
	}
	f.Add([]byte(`{"type":"authenticate","clientVersion":"0.3.22","obsName":"o","key":"k","groupCode":"ABC123","leftTeam":{"name":"A","tricode":"AAA","url":"","attackStart":true},"rightTeam":{"name":"B","tricode":"BBB","url":"","attackStart":false},"toolsData":{}}`))
	f.Add([]byte(`{"type":"authenticate","leftTeam":null,"toolsData":{"timeoutCounter":{"max":"x"}}}`))
	f.Add([]byte(`[]`))
	now := time.UnixMilli(1764200000000)
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, err := ParseLogon(raw)
		if err != nil {
			return
		}
		m, err := New(l, "ABCDEFGHIJKL", now)
		if err != nil {
			return
		}
		m.Tick(now.Add(time.Second))
		if out := m.AppendJSON(nil); !json.Valid(out) {
			t.Fatalf("state of logon %q is not valid JSON: %q", raw, out)
		}
	})
}
