package match

import "testing"

// TestSummaryMatchesState checks the status page's view of a match against
// the public JSON the overlays get, through rounds, a side swap and aux
// player lookups.
func TestSummaryMatchesState(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("A", "a", 0, "Clay_PC_C"), at(1))
	mustApply(t, m, rosterEv("B", "b", 1, "Wushu_PC_C"), at(2))
	mustApply(t, m, obsEvent("match_start", `"m-1"`), at(3))
	mustApply(t, m, obsEvent("map", `"Jam"`), at(4))
	steps := []struct {
		name string
		ev   Event
	}{
		{"shopping", obsEvent("round_info", `{"roundNumber":1,"roundPhase":"shopping"}`)},
		{"combat", obsEvent("round_info", `{"roundNumber":1,"roundPhase":"combat"}`)},
		{"score", obsEvent("score", `{"team_0":1,"team_1":0}`)},
		{"round 2", obsEvent("round_info", `{"roundNumber":2,"roundPhase":"shopping"}`)},
		{"score 2", obsEvent("score", `{"team_0":1,"team_1":1}`)},
		{"swap", obsEvent("swap_left_right", "true")},
		{"score 3", obsEvent("score", `{"team_0":2,"team_1":1}`)},
	}
	for i, st := range steps {
		mustApply(t, m, st.ev, at(int64(10+i)))
		s := state(t, m)
		got := m.Summary()
		if got.RoundNumber != s["roundNumber"] || got.RoundPhase != s["roundPhase"] || got.Map != s["map"] ||
			got.MatchID != s["matchId"] || got.Running != s["isRunning"] {
			t.Fatalf("%s: summary %+v, state round %v phase %v map %v id %v running %v", st.name, got,
				s["roundNumber"], s["roundPhase"], s["map"], s["matchId"], s["isRunning"])
		}
		for ti := 0; ti < 2; ti++ {
			team := path(s, "teams", ti).(map[string]any)
			gt := got.Teams[ti]
			if gt.Name != team["teamName"] || gt.Tricode != team["teamTricode"] || gt.RoundsWon != team["roundsWon"] ||
				gt.Players != len(team["players"].([]any)) {
				t.Fatalf("%s: team %d summary %+v, state %v %v %v", st.name, ti, gt, team["teamName"], team["teamTricode"], team["roundsWon"])
			}
		}
	}
	if s := m.Summary(); s.Teams[0].Name != "Right" || s.Teams[0].RoundsWon != 1 || s.Teams[1].RoundsWon != 2 {
		t.Errorf("after swap: %+v", s.Teams)
	}
	s := state(t, m)
	id := path(s, "teams", 0, "players", 0, "riotId").(string)
	if name, ok := m.PlayerName(id); !ok || name != path(s, "teams", 0, "players", 0, "name") {
		t.Errorf("PlayerName(%q) = %q, %v", id, name, ok)
	}
	if _, ok := m.PlayerName("nobody"); ok {
		t.Error("PlayerName found an unknown id")
	}
}

// TestSummaryOddTypes: a round number or score that is no finite number
// (kept as sent, see TestRoundInfoAnyTypes) is 0 in the summary, which the
// status page encodes as JSON.
func TestSummaryOddTypes(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":"x","roundPhase":5}`), at(1))
	mustApply(t, m, obsEvent("score", `{"team_0":"7","team_1":1e999}`), at(2))
	s := m.Summary()
	if s.RoundNumber != 0 || s.RoundPhase != "5" || s.Teams[0].RoundsWon != 7 || s.Teams[1].RoundsWon != 0 {
		t.Errorf("summary %+v", s)
	}
}
