package match

import (
	"encoding/json"
	"errors"
	"testing"
)

// auxScoreboardData is a full scoreboard for player id with money.
func auxScoreboardData(id string, team, money int) map[string]any {
	return map[string]any{"playerId": id, "startTeam": team, "agentInternal": "Rift_PC_C", "isAlive": true,
		"initialArmor": 0, "scoreboardWeaponInternal": "knife", "currUltPoints": 0, "maxUltPoints": 7,
		"hasSpike": false, "money": money, "kills": 0, "deaths": 0, "assists": 0}
}

// auxTeamData is aux_scoreboard_team's data: a JSON string of the list.
func auxTeamData(t *testing.T, entries ...map[string]any) any {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckAux: an auxiliary connection logged on as one player changes
// that player only (aux_scoreboard_team: players of its own team); the
// observer is not limited. Players: a (left team, in-game 0), b and c
// (right team, in-game 1), the team aux_scoreboard_team updates.
func TestCheckAux(t *testing.T) {
	type tc struct {
		name     string
		aux      bool
		owner    string
		playerID any // the event's playerId
		typ      string
		data     any
		foreign  bool
		// changed is the player whose JSON must differ after the event
		// (when allowed); every other player must stay the same.
		changed string
	}
	cases := []tc{
		{name: "own health", aux: true, owner: "a", playerID: "a", typ: "aux_health", data: 41, changed: "a"},
		{name: "other's health", aux: true, owner: "a", playerID: "b", typ: "aux_health", data: 41, foreign: true},
		{name: "health of no player", aux: true, owner: "a", playerID: "zz", typ: "aux_health", data: 41},
		{name: "health, non-string id", aux: true, owner: "a", playerID: 7, typ: "aux_health", data: 41},
		{name: "observer sets any health", aux: false, playerID: "b", typ: "aux_health", data: 41, changed: "b"},
		{name: "own abilities", aux: true, owner: "b", playerID: "b", typ: "aux_abilities", data: map[string]any{"grenade": 1, "ability_1": 0, "ability_2": 2}, changed: "b"},
		{name: "other's abilities", aux: true, owner: "a", playerID: "b", typ: "aux_abilities", data: map[string]any{"grenade": 1, "ability_1": 0, "ability_2": 2}, foreign: true},
		{name: "other's astra targeting", aux: true, owner: "a", playerID: "c", typ: "aux_astra_targeting", data: true, foreign: true},
		{name: "other's cypher cam", aux: true, owner: "a", playerID: "c", typ: "aux_cypher_cam", data: true, foreign: true},
		{name: "own astra targeting", aux: true, owner: "c", playerID: "c", typ: "aux_astra_targeting", data: true, changed: "c"},
		{name: "own scoreboard", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard", data: auxScoreboardData("a", 0, 1234), changed: "a"},
		{name: "scoreboard of another, own envelope", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard", data: auxScoreboardData("b", 1, 1234), foreign: true},
		{name: "scoreboard before an id is known", aux: true, owner: "", playerID: "", typ: "aux_scoreboard", data: auxScoreboardData("a", 0, 1234), foreign: true},
		{name: "scoreboard of no player", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard", data: auxScoreboardData("zz", 0, 1234)},
		{name: "scoreboard, non-object data", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard", data: 5},
		{name: "team list of own team", aux: true, owner: "b", playerID: "b", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("c", 1, 999)), changed: "c"},
		{name: "team list into another team", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("c", 1, 999)), foreign: true},
		{name: "team list, one foreign entry", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("zz", 0, 5), auxScoreboardData("b", 1, 999)), foreign: true},
		{name: "team list of own teammates, other team updated", aux: true, owner: "a", playerID: "a", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("a2", 0, 999))},
		{name: "team list from no player", aux: true, owner: "", playerID: "", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("b", 1, 999)), foreign: true},
		{name: "observer sends a team list", aux: false, playerID: "x", typ: "aux_scoreboard_team", data: auxTeamData(t, auxScoreboardData("c", 1, 999)), changed: "c"},
		{name: "unknown aux type", aux: true, owner: "a", playerID: "b", typ: "aux_something", data: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newTestMatch(t)
			mustApply(t, m, rosterEv("A", "a", 0, "Rift_PC_C"), at(1))
			mustApply(t, m, rosterEv("B", "b", 1, "Rift_PC_C"), at(2))
			mustApply(t, m, rosterEv("C", "c", 1, "Rift_PC_C"), at(3))
			before := playersByName(t, m)
			raw, err := json.Marshal(map[string]any{"playerId": c.playerID, "matchId": "m", "type": c.typ, "data": c.data})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := ParseEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			ev.Aux, ev.AuxPlayer = c.aux, c.owner
			err = m.CheckAux(&ev)
			if got := errors.Is(err, ErrForeignPlayer); got != c.foreign {
				t.Fatalf("CheckAux = %v, want foreign %v", err, c.foreign)
			}
			if err != nil {
				return
			}
			if _, err := m.Apply(ev, at(10)); err != nil {
				t.Fatalf("apply: %v", err)
			}
			after := playersByName(t, m)
			for name, p := range after {
				same := string(p) == string(before[name])
				if want := name != c.changed; same != want {
					t.Errorf("player %s unchanged = %v, want %v:\n%s\n%s", name, same, want, before[name], p)
				}
			}
		})
	}
}

// playersByName maps each player's lower-case roster name (its id in
// these tests) to its match_data JSON.
func playersByName(t *testing.T, m *Match) map[string]json.RawMessage {
	t.Helper()
	var s struct {
		Teams []struct {
			Players []json.RawMessage `json:"players"`
		} `json:"teams"`
	}
	if err := json.Unmarshal(m.AppendJSON(nil), &s); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for _, tm := range s.Teams {
		for _, p := range tm.Players {
			var n struct{ Name string }
			if err := json.Unmarshal(p, &n); err != nil {
				t.Fatal(err)
			}
			out[map[string]string{"A": "a", "B": "b", "C": "c"}[n.Name]] = p
		}
	}
	if len(out) != 3 {
		t.Fatalf("players %v", out)
	}
	return out
}
