package match

import (
	"errors"
	"fmt"
)

// ErrForeignPlayer marks an auxiliary event that would change another
// player than the one its connection logged on as.
var ErrForeignPlayer = errors.New("auxiliary event for another player than the connection's")

// CheckAux reports ErrForeignPlayer when ev comes from an auxiliary
// connection (ev.Aux) and would change a player other than ev.AuxPlayer:
// aux_scoreboard names its player in data.playerId; aux_abilities,
// aux_health, aux_astra_targeting and aux_cypher_cam in the event's
// playerId; aux_scoreboard_team may change only players of AuxPlayer's
// own team. An event that names no player of the match passes: Apply then does what the existing server does
// with it. CheckAux changes nothing; call it before logging or applying.
func (m *Match) CheckAux(ev *Event) error {
	if !ev.Aux {
		return nil
	}
	switch ev.Type {
	case "aux_abilities", "aux_health", "aux_astra_targeting", "aux_cypher_cam":
		// A non-string playerId is "" here and matches no player.
		if ev.PlayerID != "" && ev.PlayerID != ev.AuxPlayer && m.anyPlayerByID(jsStr(ev.PlayerID)) != nil {
			return fmt.Errorf("%s for player %q: %w", ev.Type, ev.PlayerID, ErrForeignPlayer)
		}
	case "aux_scoreboard":
		data, err := ev.value()
		if err != nil || data.k != kObject {
			return nil // no player is named: Apply reports or ignores it
		}
		pid, _ := data.obj.get("playerId")
		if ev.AuxPlayer == "" || pid.k != kString || pid.s != ev.AuxPlayer {
			if m.anyPlayerByID(pid) != nil {
				return fmt.Errorf("aux_scoreboard for player %q: %w", pid.toPropertyKey(), ErrForeignPlayer)
			}
		}
	case "aux_scoreboard_team":
		return m.checkAuxScoreboardTeam(ev)
	}
	return nil
}

// anyPlayerByID is the player of either team with the id, or nil.
func (m *Match) anyPlayerByID(id jv) *player {
	for _, t := range m.teams {
		if p := t.playerByID(id); p != nil {
			return p
		}
	}
	return nil
}

// checkAuxScoreboardTeam: each entry of the list that names a player of
// the team the event updates (as auxScoreboardTeam chooses it) must name
// one of AuxPlayer's team.
func (m *Match) checkAuxScoreboardTeam(ev *Event) error {
	data, err := ev.value()
	if err != nil || data.k == kNull || data.k == kUndefined {
		return nil
	}
	list, err := auxTeamList(data)
	if err != nil || list.k != kArray {
		return nil // changes no player: Apply reports or ignores it
	}
	target := m.teams[1] // as auxScoreboardTeam: always the second team
	var own *team
	if ev.AuxPlayer != "" {
		for _, t := range m.teams {
			if t.playerByID(jsStr(ev.AuxPlayer)) != nil {
				own = t
				break
			}
		}
	}
	if own == target {
		return nil
	}
	for i, e := range list.arr.elems {
		if e.k != kObject {
			continue
		}
		pid, _ := e.obj.get("playerId")
		if target.playerByID(pid) != nil {
			return fmt.Errorf("aux_scoreboard_team entry %d for player %q of another team: %w", i, pid.s, ErrForeignPlayer)
		}
	}
	return nil
}
