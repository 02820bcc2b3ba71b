package match

import (
	"errors"
	"fmt"
)

// errNoTeam: an event's startTeam names no team of the match.
var errNoTeam = errors.New("no team with that in-game id")

// eventTeam is the team an event's data names in startTeam.
func (m *Match) eventTeam(data jv) (*team, error) {
	st, err := getProp(data, "startTeam")
	if err != nil {
		return nil, err
	}
	if t := m.teamByIngameID(st); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s", errNoTeam, st.toPropertyKey())
}

func (m *Match) teamByIngameID(id jv) *team {
	for _, t := range m.teams {
		if id.looseEqNum(t.ingameTeamID) {
			return t
		}
	}
	return nil
}

func (m *Match) apply(ev *Event, now int64) error {
	data, err := ev.value()
	if err != nil {
		return err
	}
	switch ev.Type {
	case "scoreboard":
		t, err := m.eventTeam(data)
		if err != nil {
			return err
		}
		sb, err := parseScoreboard(data)
		if err != nil {
			return err
		}
		m.detectPlant(t, sb.playerID, sb.money, now)
		t.processScoreboard(&sb)

	case "roster":
		t, err := m.eventTeam(data)
		if err != nil {
			return err
		}
		r, err := parseRoster(data)
		if err != nil {
			return err
		}
		if !m.hasAgentSelectStart {
			m.agentSelectStart, m.hasAgentSelectStart = now, true
		}
		t.processRoster(r)

	case "killfeed":
		kf, err := parseKillfeed(data)
		if err != nil {
			return err
		}
		for _, t := range m.teams {
			if err := t.processKillfeed(&kf); err != nil {
				return err
			}
		}

	case "observing":
		for _, t := range m.teams {
			for _, p := range t.players {
				p.isObserved = looseEqString(data, p.searchName)
			}
		}

	case "aux_scoreboard":
		t, err := m.eventTeam(data)
		if err != nil && !errors.Is(err, errNoTeam) {
			return err
		}
		if t != nil {
			sb, err := parseScoreboard(data)
			if err != nil {
				return err
			}
			m.detectPlant(t, sb.playerID, sb.money, now)
			if p := t.playerByID(sb.playerID); p != nil {
				p.updateFromAux(&sb)
			}
		}

	case "aux_abilities":
		for _, t := range m.teams {
			p := t.playerByID(jsStr(ev.PlayerID))
			if p == nil || ev.PlayerID == "" {
				continue
			}
			var ab [3]jv
			for i, k := range [...]string{"grenade", "ability_1", "ability_2"} {
				if ab[i], err = getProp(data, k); err != nil {
					return err
				}
			}
			p.abilities = ab
			p.auxAbilities = true
		}

	case "aux_health":
		if data.k == kNumber {
			for _, t := range m.teams {
				if p := t.playerByID(jsStr(ev.PlayerID)); p != nil && ev.PlayerID != "" {
					p.health = data.n
					p.auxHealth = true
				}
			}
		}

	case "aux_astra_targeting", "aux_cypher_cam":
		if data.k == kBool {
			for _, t := range m.teams {
				if p := t.playerByID(jsStr(ev.PlayerID)); p != nil && ev.PlayerID != "" {
					if ev.Type == "aux_astra_targeting" {
						p.setAstraTargeting(data.b)
					} else {
						p.setCypherCam(data.b)
					}
				}
			}
		}

	case "aux_scoreboard_team":
		if err := m.auxScoreboardTeam(data, now); err != nil {
			return err
		}

	case "spike_planted":
		m.setSpikePlanted(now)

	case "spike_detonated":
		m.spikeDetonated = true
		m.hasSpikeDetonation = false

	case "spike_defused":
		m.spikeDefused = true

	case "score":
		if err := m.processScore(data, now); err != nil {
			return err
		}
		m.spikePlanted = false

	case "round_info":
		rn, err := getProp(data, "roundNumber")
		if err != nil {
			return err
		}
		rp, _ := getProp(data, "roundPhase")
		// Taken whatever their types, as the existing server does (a
		// client's NaN round number arrives as null); the phase switch is
		// strict, the round comparisons are JS comparisons.
		m.roundNumber, m.roundPhase = rn, rp
		switch m.phase() {
		case "shopping":
			if !(rn.k == kNumber && rn.n == 1) { // roundNumber !== 1
				if err := m.processRoundReasons(); err != nil {
					return err
				}
			}
			m.grantOvertimeTimeout()
			m.spikePlanted, m.spikeDetonated, m.spikeDefused = false, false, false
			switchRound := rn.looseEqNum(m.switchRound) || m.roundNum() >= m.firstOtRound
			if switchRound {
				for _, t := range m.teams {
					t.isAttacking = !t.isAttacking
				}
			}
			for _, t := range m.teams {
				t.resetRound(switchRound)
			}
		case "combat":
			for _, t := range m.teams {
				t.findDuplicateAgents()
			}
			m.roundTimeoutTime, m.hasRoundTimeoutTime = now+roundTimeoutMs, true
			if err := setProp(m.toastInfo, "active", jsBool(false)); err != nil {
				return err
			}
		case "end":
			m.hasRoundTimeoutTime = false
			m.hasSpikeDetonation = false
		case "game_end":
			m.isRunning = false
			m.timeoutEndAt, m.timeoutTickAt = 0, 0
			higher := 1
			if jsGreater(m.teams[0].roundsWon, m.teams[1].roundsWon) {
				higher = 0
			}
			si, _ := m.tools.obj.get("sponsorInfo")
			ti, _ := m.tools.obj.get("tournamentInfo")
			m.finished = &TeamInfo{
				leftTeam: m.leftTeamRaw, rightTeam: m.rightTeamRaw,
				HigherScore:    higher,
				tournamentInfo: ti.clone(), sponsorInfo: si.clone(),
				IsSupporter: m.orgIsSupporter,
			}
			m.ended = true
			m.eventNumber++
			return nil
		}

	case "match_start":
		// Any value is the match id, as in the existing server: older
		// observer clients send true.
		m.matchID = data
		m.isRunning = true

	case "map":
		// Maps[data] looks a property up by String(data): ["Jam"] is "Jam".
		name := ""
		if data.k != kUndefined {
			name = mapNames[data.toPropertyKey()]
		}
		if name == "" {
			name = newestMap
		}
		m.mapName = name

	case "game_mode":
		m.matchType = data
		if data.k == kString && data.s == "swift" {
			m.switchRound, m.firstOtRound = 5, 99
		} else {
			m.switchRound, m.firstOtRound = 13, 25
		}

	case "tech_pause":
		m.techPause = !m.techPause
		if m.techPause {
			m.leftTimeout, m.rightTimeout = false, false
			m.timeoutEndAt, m.timeoutTickAt = 0, 0
		}

	case "left_timeout":
		if err := m.teamTimeout(true, now); err != nil {
			return err
		}

	case "right_timeout":
		if err := m.teamTimeout(false, now); err != nil {
			return err
		}

	case "switch_kda_credits":
		m.showAliveKDA = !m.showAliveKDA

	case "toast":
		if err := m.toast(data, now); err != nil {
			return err
		}

	case "swap_attacker_defender":
		for _, t := range m.teams {
			t.isAttacking = !t.isAttacking
		}
		a, b := m.teams[0], m.teams[1]
		a.roundsWon, b.roundsWon = b.roundsWon, a.roundsWon
		a.roundRecord, b.roundRecord = b.roundRecord, a.roundRecord

	case "swap_left_right":
		m.teams[0], m.teams[1] = m.teams[1], m.teams[0]
		tc, _ := m.tools.obj.get("timeoutCounter")
		l, _ := getProp(tc, "left")
		r, _ := getProp(tc, "right")
		if err := m.setCounter(tc, "left", r); err != nil {
			return err
		}
		if err := m.setCounter(tc, "right", l); err != nil {
			return err
		}
	}
	m.eventNumber++
	return nil
}

// looseEqString is `searchName == data` in JS.
func looseEqString(v jv, s string) bool {
	switch v.k {
	case kString:
		return v.s == s
	case kNumber, kBool:
		return stringToNumber(s) == v.toNumber()
	case kArray, kObject:
		return v.toPropertyKey() == s
	}
	return false
}

func (m *Match) auxScoreboardTeam(data jv, now int64) error {
	if _, err := getProp(data, "playerId"); err != nil {
		return err
	}
	// data.playerId of a string is undefined, so the second team is chosen.
	t := m.teams[1]
	list, err := auxTeamList(data)
	if err != nil {
		return err
	}
	if list.k == kString {
		return nil // its characters are no scoreboards: nothing changes
	}
	if list.k != kArray {
		return fmt.Errorf("aux_scoreboard_team list is %s, not iterable: %w", list.typeName(), errTypeError)
	}
	sbs := make([]scoreboard, len(list.arr.elems))
	valid := make([]bool, len(sbs))
	for i, e := range list.arr.elems {
		if e.k != kObject {
			continue // a primitive's money and playerId are undefined: no-op
		}
		sb, err := parseScoreboard(e)
		if err != nil {
			pid, _ := e.obj.get("playerId")
			if t.playerByID(pid) != nil {
				return fmt.Errorf("aux_scoreboard_team entry %d: %w", i, err)
			}
			continue
		}
		sbs[i], valid[i] = sb, true
	}
	// The existing server's two passes throw at a null entry where they
	// read it: the plant check only in combat, the update only when the
	// team has a player to compare it with; what came before stays.
	for i, e := range list.arr.elems {
		if m.phase() != "combat" {
			break
		}
		if e.k == kNull || e.k == kUndefined {
			return fmt.Errorf("aux_scoreboard_team entry %d is %s: %w", i, e.typeName(), errTypeError)
		}
		if valid[i] {
			m.detectPlant(t, sbs[i].playerID, sbs[i].money, now)
		}
	}
	for i, e := range list.arr.elems {
		if len(t.players) == 0 {
			break
		}
		if e.k == kNull || e.k == kUndefined {
			return fmt.Errorf("aux_scoreboard_team entry %d is %s: %w", i, e.typeName(), errTypeError)
		}
		if !valid[i] {
			continue
		}
		if p := t.playerByID(sbs[i].playerID); p != nil {
			p.updateFromAux(&sbs[i])
		}
	}
	return nil
}

// auxTeamList is JSON.parse(data) of aux_scoreboard_team, which converts a
// non-string data to its string form first.
func auxTeamList(data jv) (jv, error) {
	text := data.s
	if data.k != kString {
		text = data.toPropertyKey()
	}
	return parseJSON([]byte(text))
}

// detectPlant infers a plant from the planter's +300 credits during combat.
func (m *Match) detectPlant(t *team, playerID jv, money float64, now int64) {
	if m.phase() != "combat" {
		return
	}
	old := t.moneyFor(playerID)
	if money > old && money-old == 300 {
		m.setSpikePlanted(now)
	}
}

func (m *Match) setSpikePlanted(now int64) {
	if m.spikePlanted || m.phase() != "combat" {
		return
	}
	m.spikePlanted = true
	m.hasRoundTimeoutTime = false
	m.spikeDetonationTime, m.hasSpikeDetonation = now+spikeDetonateMs, true
}

func (m *Match) processScore(data jv, now int64) error {
	s0, err := getProp(data, "team_0")
	if err != nil {
		return err
	}
	// Scores of any type are kept and compared as JS does.
	s1, _ := getProp(data, "team_1")
	var t0, t1 *team
	for _, t := range m.teams {
		if t.ingameTeamID == 0 && t0 == nil {
			t0 = t
		}
		if t.ingameTeamID == 1 && t1 == nil {
			t1 = t
		}
	}
	if t0 == nil {
		return fmt.Errorf("no team with in-game id 0: %w", errTypeError)
	}
	if jsGreater(s0, t0.roundsWon) {
		m.attackersWon = t0.isAttacking
	} else {
		if t1 == nil {
			return fmt.Errorf("no team with in-game id 1: %w", errTypeError)
		}
		if jsGreater(s1, t1.roundsWon) {
			m.attackersWon = t1.isAttacking
		}
	}
	m.wasTimeout = m.hasRoundTimeoutTime && m.roundTimeoutTime != 0 && now >= m.roundTimeoutTime
	t0.roundsWon = s0
	if t1 == nil {
		return fmt.Errorf("no team with in-game id 1: %w", errTypeError)
	}
	t1.roundsWon = s1
	return nil
}

// processRoundReasons records why the previous round ended; it runs when the
// next round's shopping phase starts, so the last round is never recorded.
func (m *Match) processRoundReasons() error {
	var att, def *team
	for _, t := range m.teams {
		if t.isAttacking && att == nil {
			att = t
		}
		if !t.isAttacking && def == nil {
			def = t
		}
	}
	prev := m.roundNum() - 1
	if m.attackersWon {
		if att == nil {
			return fmt.Errorf("no attacking team: %w", errTypeError)
		}
		if m.spikeDetonated {
			att.addRoundReason("detonated", prev)
		} else {
			att.addRoundReason("kills", prev)
		}
		if def == nil {
			return fmt.Errorf("no defending team: %w", errTypeError)
		}
		def.addRoundReason("lost", prev)
		return nil
	}
	if def == nil {
		return fmt.Errorf("no defending team: %w", errTypeError)
	}
	switch {
	case m.spikeDefused:
		def.addRoundReason("defused", prev)
	case m.wasTimeout:
		def.addRoundReason("timeout", prev)
	default:
		def.addRoundReason("kills", prev)
	}
	if att == nil {
		return fmt.Errorf("no attacking team: %w", errTypeError)
	}
	att.addRoundReason("lost", prev)
	return nil
}

func (m *Match) grantOvertimeTimeout() {
	if !(m.roundNum() >= m.firstOtRound) || m.hasEnteredOvertime { // NaN: no overtime
		return
	}
	m.hasEnteredOvertime = true
	tc, _ := m.tools.obj.get("timeoutCounter")
	for _, side := range [...]string{"left", "right"} {
		v, err := getProp(tc, side)
		if err != nil {
			return
		}
		_ = m.setCounter(tc, side, jsNum(jsMin(2, v.toNumber()+1)))
	}
	m.eventNumber++
}

// roundNum is the round number as JS arithmetic and relational operators
// see it (null 0, a numeric string its number, anything else NaN).
func (m *Match) roundNum() float64 { return m.roundNumber.toNumber() }

// phase is the round phase for the handlers' strict comparisons: a
// non-string phase equals none of them, and neither does "".
func (m *Match) phase() string {
	if m.roundPhase.k == kString {
		return m.roundPhase.s
	}
	return ""
}
