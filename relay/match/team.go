package match

import (
	"fmt"
	"math"
)

// maxRecordIndex bounds the round record: the existing server would grow a
// sparse array for absurd round numbers; we refuse to allocate for them.
const maxRecordIndex = 1000

type recordEntry struct {
	typ       string
	wasAttack bool
	round     float64
	set       bool // false for holes of a sparse JS array (written as null)
}

type team struct {
	name, tricode, url jv
	ingameTeamID       float64
	isAttacking        bool
	roundsWon          jv // what score sent, as the existing server keeps it
	spentThisRound     float64
	roundRecord        []recordEntry
	removeTricode      jv
	players            []*player
	playerCount        int
	hasDuplicateAgents bool
}

func newTeam(t jv, removeTricode jv) (*team, error) {
	name, err := getProp(t, "name")
	if err != nil {
		return nil, fmt.Errorf("team: %w", err)
	}
	tricode, _ := getProp(t, "tricode")
	url, _ := getProp(t, "url")
	attack, _ := getProp(t, "attackStart")
	tm := &team{
		name:          name,
		tricode:       tricode,
		url:           url,
		isAttacking:   attack.truthy(),
		roundsWon:     jsNum(0),
		removeTricode: removeTricode,
	}
	if !tm.isAttacking {
		tm.ingameTeamID = 1
	}
	tm.roundRecord = make([]recordEntry, 25, 32)
	for i := range tm.roundRecord {
		tm.roundRecord[i] = recordEntry{typ: "upcoming", wasAttack: tm.isAttacking, round: float64(i + 1), set: true}
	}
	return tm, nil
}

func (t *team) playerByID(id jv) *player {
	if id.k != kString {
		return nil
	}
	for _, p := range t.players {
		if p.riotID == id.s {
			return p
		}
	}
	return nil
}

func (t *team) playerByName(name jv) *player {
	if name.k != kString {
		return nil
	}
	for _, p := range t.players {
		if p.name == name.s {
			return p
		}
	}
	return nil
}

// moneyFor answers 9999 for unknown players so that no plant is detected.
func (t *team) moneyFor(id jv) float64 {
	if p := t.playerByID(id); p != nil {
		return p.money
	}
	return 9999
}

func (t *team) processRoster(r roster) {
	if r.playerID == "" || r.name == "" || r.tagline == "" {
		return
	}
	if p := t.playerByID(jsStr(r.playerID)); p != nil {
		p.onRosterUpdate(r)
		return
	}
	if t.playerCount >= 5 {
		return
	}
	p := newPlayer(r)
	if t.removeTricode.truthy() {
		p.removeTricodeFromName(t.tricode.toPropertyKey())
	}
	t.players = append(t.players, p)
	t.isAttacking = r.startTeam.looseEqNum(0)
	t.playerCount++
}

func (t *team) processScoreboard(s *scoreboard) {
	p := t.playerByID(s.playerID)
	if p == nil {
		return
	}
	p.updateFromScoreboard(s)
	total := 0.0
	for _, q := range t.players {
		total += q.moneySpent
	}
	t.spentThisRound = total
}

func (t *team) processKillfeed(k *killfeed) error {
	if attacker := t.playerByName(k.attacker); attacker != nil {
		attacker.extractKillfeedInfo(k)
		attacker.fallbackKillfeed(false)
		// Assists cannot be mapped to players when two share an agent.
		if !t.hasDuplicateAgents {
			switch k.assists.k {
			case kArray:
				for _, a := range k.assists.arr.elems {
					agent, ok := agentNames[a.toPropertyKey()]
					if !ok {
						continue
					}
					for _, p := range t.players {
						if p.agentInternal == agent {
							p.fallbackAssist()
							break
						}
					}
				}
			case kString:
				// Iterating a string yields single characters: no agent matches.
			default:
				return fmt.Errorf("killfeed assists is %s, not iterable: %w", k.assists.typeName(), errTypeError)
			}
		}
	}
	if victim := t.playerByName(k.victim); victim != nil {
		victim.fallbackKillfeed(true)
	}
	return nil
}

func (t *team) findDuplicateAgents() {
	for i, p := range t.players {
		for _, q := range t.players[:i] {
			if q.agentInternal == p.agentInternal {
				t.hasDuplicateAgents = true
				return
			}
		}
	}
}

func (t *team) resetRound(sideSwitch bool) {
	for _, p := range t.players {
		p.resetRound(sideSwitch)
	}
}

func (t *team) addRoundReason(reason string, round float64) {
	for future := 0; future <= 5; future++ {
		typ := reason
		if future > 0 {
			typ = "upcoming"
		}
		pos := round - 1 + float64(future)
		// Non-index positions become plain properties of the JS array and
		// never show up in the output.
		if pos < 0 || pos != math.Trunc(pos) || pos > maxRecordIndex {
			continue
		}
		i := int(pos)
		for len(t.roundRecord) <= i {
			t.roundRecord = append(t.roundRecord, recordEntry{})
		}
		t.roundRecord[i] = recordEntry{typ: typ, wasAttack: t.isAttacking, round: round + float64(future), set: true}
	}
}
