package match

import "math"

// Summary is the part of a match's state an operator needs at a glance
// (the relay's status page). It holds no secret.
type Summary struct {
	MatchID     string
	Map         string
	RoundNumber float64
	RoundPhase  string
	Running     bool
	// Teams in the overlays' left/right order.
	Teams [2]TeamSummary
}

// TeamSummary names a team and its score.
type TeamSummary struct {
	Name, Tricode string
	RoundsWon     float64
	Players       int
}

// Summary returns the match's headline state. Like every Match method it
// must not run concurrently with Apply or Tick.
func (m *Match) Summary() Summary {
	s := Summary{
		MatchID:     displayString(m.matchID),
		Map:         m.mapName,
		RoundNumber: finite(m.roundNum()),
		RoundPhase:  displayString(m.roundPhase),
		Running:     m.isRunning,
	}
	for i, t := range m.teams {
		if t == nil {
			continue
		}
		s.Teams[i] = TeamSummary{
			Name:      displayString(t.name),
			Tricode:   displayString(t.tricode),
			RoundsWon: finite(t.roundsWon.toNumber()),
			Players:   len(t.players),
		}
	}
	return s
}

// PlayerName is the display name of the player with the given id (the
// id auxiliary clients log on with), if the roster has it.
func (m *Match) PlayerName(playerID string) (string, bool) {
	id := jsStr(playerID)
	for _, t := range m.teams {
		if t == nil {
			continue
		}
		if p := t.playerByID(id); p != nil {
			return p.name, true
		}
	}
	return "", false
}

// displayString is a value as text for people: "" for a missing value
// rather than JavaScript's "undefined".
func displayString(v jv) string {
	if v.k == kUndefined || v.k == kNull {
		return ""
	}
	return v.toPropertyKey()
}

// finite is f, or 0 for NaN and infinities (a round number or score sent as
// a string or 1e999), which JSON cannot carry.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
