package match

// TeamInfo is what /getTeamInfoForCode serves for an hour after game_end.
type TeamInfo struct {
	// HigherScore is 0 when the (current) left team won more rounds, else 1.
	HigherScore int
	IsSupporter bool

	leftTeam, rightTeam         jv
	tournamentInfo, sponsorInfo jv
}

// FinishedTeamInfo returns the team info recorded at game_end, or nil while
// the match is still running.
func (m *Match) FinishedTeamInfo() *TeamInfo { return m.finished }

// AppendJSON appends the info as the existing server's endpoint writes it:
// both logon team objects as sent, the higher-scoring side, and the
// tournament and sponsor info after the supporter rules were applied.
func (ti *TeamInfo) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	comma := false
	member := func(key string, v jv) {
		if v.k == kUndefined {
			return
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = appendJSString(dst, key)
		dst = append(dst, ':')
		dst = appendJV(dst, v)
	}
	member("leftTeam", ti.leftTeam)
	member("rightTeam", ti.rightTeam)
	member("higherScore", jsNum(float64(ti.HigherScore)))
	member("tournamentInfo", ti.tournamentInfo)
	member("sponsorInfo", ti.sponsorInfo)
	member("isSupporter", jsBool(ti.IsSupporter))
	return append(dst, '}')
}
