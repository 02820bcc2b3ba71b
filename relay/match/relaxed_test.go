package match

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMatchStartAnyValue: match_start takes any value as the match id, as
// the existing server does (`this.matchId = data.data`): the match runs and
// match_data carries the id with its JSON type. MatchID is the key logons
// look it up by (JS String(id); null none).
func TestMatchStartAnyValue(t *testing.T) {
	for _, tc := range []struct {
		data, out, key string
	}{
		{`"m-1"`, `"m-1"`, "m-1"},
		{`true`, `true`, "true"},
		{`false`, `false`, "false"},
		{`5`, `5`, "5"},
		{`1e2`, `100`, "100"},
		{`null`, `null`, ""},
		{`""`, `""`, ""},
		{`{"a":1}`, `{"a":1}`, "[object Object]"},
		{`["x",null,2]`, `["x",null,2]`, "x,,2"},
	} {
		t.Run(tc.data, func(t *testing.T) {
			m := newTestMatch(t)
			if !mustApply(t, m, obsEvent("match_start", tc.data), at(1)) {
				t.Error("not a change")
			}
			out := string(m.AppendJSON(nil))
			if want := `{"matchId":` + tc.out + `,`; !strings.HasPrefix(out, want) {
				t.Errorf("match_data starts %.60s, want %s", out, want)
			}
			if !strings.Contains(out, `"isRunning":true`) || !m.IsRunning() {
				t.Error("not running")
			}
			if got := m.MatchID(); got != tc.key {
				t.Errorf("MatchID = %q, want %q", got, tc.key)
			}
		})
	}
}

// TestMatchIDEquals: an auxiliary logon's matchId names the match when
// `match.matchId == matchId` in JS (the expectations were checked with
// node).
func TestMatchIDEquals(t *testing.T) {
	for _, tc := range []struct {
		id  string // match_start data
		raw string // the logon's matchId; "" = absent
		eq  bool
	}{
		{`"m"`, `"m"`, true},
		{`"m"`, `"M"`, false},
		{`true`, `true`, true},
		{`true`, `"true"`, false},
		{`true`, `1`, true},
		{`true`, `"1"`, true},
		{`5`, `"5"`, true},
		{`"5"`, `5.0`, true},
		{`"1e2"`, `100`, true},
		{`false`, `"0"`, true},
		{`null`, ``, true},
		{`null`, `null`, true},
		{`0`, `null`, false},
		{`"x"`, ``, false},
		{`"abc"`, `["abc"]`, true},
		{`[1,2]`, `"1,2"`, true},
		{`{}`, `{}`, false},
		{`"[object Object]"`, `{}`, true},
		{`""`, `0`, true},
		{`""`, `false`, true},
		{`""`, `[]`, true},
	} {
		m := newTestMatch(t)
		mustApply(t, m, obsEvent("match_start", tc.id), at(1))
		var raw []byte
		if tc.raw != "" {
			raw = []byte(tc.raw)
		}
		if got := m.MatchIDEquals(raw); got != tc.eq {
			t.Errorf("%s == %s: %v, want %v", tc.id, tc.raw, got, tc.eq)
		}
	}
}

// TestRoundInfoAnyTypes: round_info keeps roundNumber and roundPhase
// whatever their types, as the existing server does, and its comparisons
// are JS ones: each event must give the state that like gives, except
// that match_data shows the value as sent (frag where like has likeFrag).
func TestRoundInfoAnyTypes(t *testing.T) {
	for _, tc := range []struct {
		name, data, like, frag, likeFrag string
	}{
		// "13" == 13: the sides switch at the switch round.
		{"numeric string", `{"roundNumber":"13","roundPhase":"shopping"}`, `{"roundNumber":13,"roundPhase":"shopping"}`, `"roundNumber":"13"`, `"roundNumber":13`},
		// A client's NaN arrives as null: arithmetic sees 0.
		{"null", `{"roundNumber":null,"roundPhase":"shopping"}`, `{"roundNumber":0,"roundPhase":"shopping"}`, `"roundNumber":null`, `"roundNumber":0`},
		// NaN: no switch, no overtime, no round reason recorded, like a
		// number that is no index and no round.
		{"NaN", `{"roundNumber":"x","roundPhase":"shopping"}`, `{"roundNumber":-0.5,"roundPhase":"shopping"}`, `"roundNumber":"x"`, `"roundNumber":-0.5`},
		// [25] >= 25: overtime and its extra timeout.
		{"array", `{"roundNumber":[25],"roundPhase":"shopping"}`, `{"roundNumber":25,"roundPhase":"shopping"}`, `"roundNumber":[25]`, `"roundNumber":25`},
		// A non-string phase matches no phase.
		{"numeric phase", `{"roundNumber":3,"roundPhase":7}`, `{"roundNumber":3,"roundPhase":"none"}`, `"roundPhase":7`, `"roundPhase":"none"`},
		// An absent member is undefined and left out of match_data.
		{"no phase", `{"roundNumber":3}`, `{"roundNumber":3,"roundPhase":"none"}`, ``, `,"roundPhase":"none"`},
		{"no number", `{"roundPhase":"combat"}`, `{"roundNumber":-0.5,"roundPhase":"combat"}`, ``, `,"roundNumber":-0.5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(data string) string {
				m := newTestMatch(t)
				mustApply(t, m, rosterEv("A", "a", 0, "Rift_PC_C"), at(1))
				mustApply(t, m, obsEvent("score", `{"team_0":1,"team_1":0}`), at(2))
				mustApply(t, m, obsEvent("round_info", data), at(3))
				mustApply(t, m, obsEvent("round_info", `{"roundNumber":2,"roundPhase":"end"}`), at(4))
				return strings.Replace(string(m.AppendJSON(nil)), `"roundNumber":2,"roundPhase":"end"`, "", 1)
			}
			// The last round_info overwrote the fields: show the first.
			runFirst := func(data string) string {
				m := newTestMatch(t)
				mustApply(t, m, rosterEv("A", "a", 0, "Rift_PC_C"), at(1))
				mustApply(t, m, obsEvent("score", `{"team_0":1,"team_1":0}`), at(2))
				mustApply(t, m, obsEvent("round_info", data), at(3))
				return string(m.AppendJSON(nil))
			}
			got, like := runFirst(tc.data), runFirst(tc.like)
			if !strings.Contains(like, tc.likeFrag) {
				t.Fatalf("%s not in %s", tc.likeFrag, like)
			}
			if want := strings.Replace(like, tc.likeFrag, tc.frag, 1); got != want {
				t.Errorf("match_data\n%s\nwant\n%s", got, want)
			}
			if a, b := run(tc.data), run(tc.like); a != b {
				t.Errorf("state after the next round_info differs:\n%s\n%s", a, b)
			}
		})
	}
}

// TestJSString: String(v) of JSON values, as template literals show them.
func TestJSString(t *testing.T) {
	for raw, want := range map[string]string{
		`"a\"b"`: `a"b`, `1e2`: "100", `-0`: "0", `0.1`: "0.1", `1e21`: "1e+21", `true`: "true",
		`null`: "null", `[1,null,"x"]`: "1,,x", `{"a":1}`: "[object Object]",
	} {
		got, err := JSString([]byte(raw))
		if err != nil || got != want {
			t.Errorf("JSString(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
	if _, err := JSString([]byte(`{`)); err == nil {
		t.Error("malformed JSON accepted")
	}
}

// TestAuxScoreboardTeamShapes: aux_scoreboard_team does what the existing
// server's JSON.parse(data) and two passes over the list do with odd
// shapes: non-string data is parsed from its string form, a string's
// characters and primitive entries change nobody, a null entry throws
// where it is read (after the entries before it were applied).
func TestAuxScoreboardTeamShapes(t *testing.T) {
	c := `{"playerId":"c","agentInternal":"Rift_PC_C","isAlive":true,"initialArmor":0,"scoreboardWeaponInternal":"knife","currUltPoints":0,"maxUltPoints":7,"hasSpike":false,"money":777,"kills":0,"deaths":0,"assists":0}`
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, tc := range []struct {
		name     string
		data     string
		roster   bool // team 2 has player c
		wantErr  bool
		changedC bool
	}{
		{"list of c", str(`[` + c + `]`), true, false, true},
		{"string list", str(`"abc"`), true, false, false},
		{"array whose string form is []", `["[]"]`, true, false, false},
		{"number", `5`, true, true, false},
		{"object list", str(`{}`), true, true, false},
		{"primitive entries", str(`[1,"x",[],true]`), true, false, false},
		{"null entry", str(`[null]`), true, true, false},
		{"null entry, nobody to compare", str(`[null]`), false, false, false},
		{"null after c", str(`[` + c + `,null]`), true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMatch(t)
			if tc.roster {
				mustApply(t, m, rosterEv("C", "c", 1, "Rift_PC_C"), at(1))
			}
			ev, err := ParseEvent([]byte(`{"playerId":"c","matchId":"m","type":"aux_scoreboard_team","data":` + tc.data + `}`))
			if err != nil {
				t.Fatal(err)
			}
			changed, err := m.Apply(ev, at(2))
			if (err != nil) != tc.wantErr {
				t.Fatalf("apply: %v, want error %v", err, tc.wantErr)
			}
			if changed == tc.wantErr {
				t.Errorf("changed = %v: an event counts as a change unless it throws", changed)
			}
			if tc.roster {
				if got := path(state(t, m), "teams", 1, "players", 0, "money") == 777.0; got != tc.changedC {
					t.Errorf("c updated = %v, want %v", got, tc.changedC)
				}
			}
		})
	}
}

// TestJSGreater: `x > y` as node computes it.
func TestJSGreater(t *testing.T) {
	for _, tc := range []struct {
		x, y string // JSON; "" = undefined
		gt   bool
	}{
		{`"10"`, `"9"`, false}, {`"9"`, `"10"`, true}, {`10`, `"9"`, true}, {`"1"`, `0`, true},
		{`null`, `-1`, true}, {``, `0`, false}, {`[2]`, `1`, true}, {`{}`, `1`, false},
		{`"b"`, `"a"`, true}, {`""`, `0`, false}, {`true`, `0`, true}, {`"abc"`, `1`, false},
		{`"é"`, `"z"`, true},
	} {
		v := func(s string) jv {
			if s == "" {
				return undef
			}
			x, err := parseJSON([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		if got := jsGreater(v(tc.x), v(tc.y)); got != tc.gt {
			t.Errorf("%s > %s = %v, want %v", tc.x, tc.y, got, tc.gt)
		}
	}
}

// TestScoreAnyTypes: score keeps team_0 / team_1 whatever their types and
// compares them as JS does; match_data shows them as sent and game_end
// picks the higher score with the same comparison.
func TestScoreAnyTypes(t *testing.T) {
	m := newTestMatch(t) // left attacks: in-game team 0
	mustApply(t, m, obsEvent("score", `{"team_0":"1","team_1":0}`), at(1))
	if s := state(t, m); s["attackersWon"] != true || path(s, "teams", 0, "roundsWon") != "1" {
		t.Fatalf("after \"1\" > 0: attackersWon %v, roundsWon %v", s["attackersWon"], path(s, "teams", 0, "roundsWon"))
	}
	// "1" > "1" is false, "1" > 0 true: the defenders (team 1) won.
	mustApply(t, m, obsEvent("score", `{"team_0":"1","team_1":"1"}`), at(2))
	if s := state(t, m); s["attackersWon"] != false || path(s, "teams", 1, "roundsWon") != "1" {
		t.Fatalf("after \"1\" > 0 for team 1: attackersWon %v", s["attackersWon"])
	}
	// "10" > "9" is false as strings: team 0's "10" is not higher.
	mustApply(t, m, obsEvent("score", `{"team_0":"10","team_1":"9"}`), at(3))
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":20,"roundPhase":"game_end"}`), at(4))
	ti := m.FinishedTeamInfo()
	if ti == nil || ti.HigherScore != 1 {
		t.Fatalf("finished team info %+v, want the higher score on team 1 (\"10\" > \"9\" is false)", ti)
	}
	if out := string(m.AppendJSON(nil)); !strings.Contains(out, `"roundsWon":"10"`) {
		t.Error(`match_data does not show "roundsWon":"10"`)
	}
	// An absent score is undefined: left out of match_data.
	m2 := newTestMatch(t)
	mustApply(t, m2, obsEvent("score", `{"team_0":1}`), at(1))
	if out := string(m2.AppendJSON(nil)); strings.Count(out, `"roundsWon":`) != 1 {
		t.Errorf("an undefined score must be left out: %s", out)
	}
}

// TestMapKeyOfAnyType: the map name is looked up by the data's string
// form, as Maps[data] does; unknown keys fall back to the newest map.
func TestMapKeyOfAnyType(t *testing.T) {
	for data, want := range map[string]string{
		`"Jam"`: "Lotus", `["Jam"]`: "Lotus", `5`: "Corrode", `null`: "Corrode", `{"Jam":1}`: "Corrode",
	} {
		m := newTestMatch(t)
		mustApply(t, m, obsEvent("map", data), at(1))
		if got := state(t, m)["map"]; got != want {
			t.Errorf("map %s: %v, want %s", data, got, want)
		}
	}
}
