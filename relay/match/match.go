package match

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// spectraLogo is appended to the sponsor list of non-supporter orgs.
const spectraLogo = "https://auto.valospectra.com/assets/misc/logo.webp"

const (
	roundTimeoutMs   = 99 * 1000
	spikeDetonateMs  = 45 * 1000
	timeoutTickMs    = 1000
	nodeTimeoutMaxMs = 1<<31 - 1
)

// ErrEnded is returned by Apply after the game_end event.
var ErrEnded = errors.New("match has ended")

type toastTimer struct {
	at int64
	id uint64
}

// Match is the state of one live match. It is not safe for concurrent use:
// the controller serialises Apply, Tick and AppendJSON per match.
type Match struct {
	matchID      jv
	matchType    jv
	switchRound  float64
	firstOtRound float64
	groupCode    string
	groupSecret  string
	isRunning    bool

	agentSelectStart    int64
	hasAgentSelectStart bool

	roundNumber float64
	roundPhase  string

	roundTimeoutTime    int64
	hasRoundTimeoutTime bool
	wasTimeout          bool
	spikeDetonationTime int64
	hasSpikeDetonation  bool

	teams   [2]*team
	mapName string

	spikePlanted, spikeDetonated, spikeDefused bool
	attackersWon                               bool
	showAliveKDA                               bool

	techPause     bool
	leftTimeout   bool
	rightTimeout  bool
	timeRemaining jv

	// Timers of the existing server, as absolute deadlines in epoch ms
	// (0 = not scheduled).
	timeoutEndAt  int64
	timeoutTickAt int64

	timeoutGracePeriodPassed bool

	toastInfo    jv
	toastTimers  []toastTimer
	toastCurrent uint64
	toastNextID  uint64

	hasEnteredOvertime bool

	tools      jv
	toolsJSON  []byte
	toolsDirty bool

	eventNumber    uint64
	orgIsSupporter bool
	ended          bool

	leftTeamRaw, rightTeamRaw jv
	finished                  *TeamInfo
}

// New creates the match for a successful obs_logon. It fails where the
// existing server's constructor throws (e.g. toolsData members of the wrong
// shape); that server then answers the logon as if the group code was taken.
func New(l Logon, groupSecret string, now time.Time) (*Match, error) {
	m := &Match{
		matchID:       jsStr(""),
		matchType:     jsStr("bomb"),
		switchRound:   13,
		firstOtRound:  25,
		groupCode:     l.GroupCode,
		groupSecret:   groupSecret,
		roundPhase:    "LOBBY",
		mapName:       "Loading",
		timeRemaining: jsNum(0),
		eventNumber:   1,
		toolsDirty:    true,
	}
	m.toastInfo = newObj()
	m.toastInfo.obj.set("active", jsBool(false))
	m.toastInfo.obj.set("title", jsStr(""))
	m.toastInfo.obj.set("message", jsStr(""))
	m.toastInfo.obj.set("duration", jsNull)
	m.toastInfo.obj.set("eventLogoEnabled", jsTrue)
	m.toastInfo.obj.set("selectedTeam", undef)

	tools, err := buildTools(l.ToolsData)
	if err != nil {
		return nil, err
	}
	m.tools = tools

	pc, err := getProp(tools, "playercamsInfo")
	if err != nil {
		return nil, fmt.Errorf("toolsData: %w", err)
	}
	removeTricodes, err := getProp(pc, "removeTricodes")
	if err != nil {
		return nil, fmt.Errorf("toolsData.playercamsInfo: %w", err)
	}
	if l.raw.k == kObject && (l.LeftTeam.raw.k == kUndefined || l.RightTeam.raw.k == kUndefined) {
		return nil, fmt.Errorf("logon without leftTeam or rightTeam: %w", errTypeError)
	}
	m.leftTeamRaw, m.rightTeamRaw = l.LeftTeam.value(), l.RightTeam.value()
	if m.teams[0], err = newTeam(m.leftTeamRaw, removeTricodes); err != nil {
		return nil, fmt.Errorf("leftTeam: %w", err)
	}
	if m.teams[1], err = newTeam(m.rightTeamRaw, removeTricodes); err != nil {
		return nil, fmt.Errorf("rightTeam: %w", err)
	}
	m.orgIsSupporter = l.IsSupporter
	if err := m.applySupporterRules(); err != nil {
		return nil, err
	}
	return m, nil
}

// buildTools reproduces `Object.assign(new ToolsData(), toolsData)` followed
// by resetting both timeout counters to the maximum.
func buildTools(raw []byte) (jv, error) {
	t := newObj()
	o := t.obj
	obj := func(kv ...any) jv {
		x := newObj()
		for i := 0; i < len(kv); i += 2 {
			x.obj.set(kv[i].(string), kv[i+1].(jv))
		}
		return x
	}
	o.set("seriesInfo", obj("needed", jsNum(1), "wonLeft", jsNum(0), "wonRight", jsNum(0), "mapInfo", newArr(nil)))
	o.set("seedingInfo", obj("left", jsStr(""), "right", jsStr("")))
	o.set("tournamentInfo", obj("name", jsStr(""), "logoUrl", jsStr(""), "backdropUrl", jsStr("")))
	o.set("timeoutDuration", jsNum(60))
	o.set("timeoutCounter", obj("max", jsNum(2), "left", jsNum(2), "right", jsNum(2)))
	o.set("timeoutCancellationGracePeriod", jsNum(10))
	o.set("sponsorInfo", obj("enabled", jsBool(false), "duration", jsNum(5), "sponsors", newArr(nil)))
	o.set("watermarkInfo", obj("spectraWatermark", jsTrue, "customTextEnabled", jsBool(false), "customText", jsStr("")))
	o.set("playercamsInfo", obj("enable", jsBool(false), "removeTricodes", jsBool(false), "identifier", jsStr(""),
		"secret", jsStr(""), "endTime", jsNum(0), "enabledPlayers", newArr(nil)))
	o.set("nameOverrides", obj("overrides", jsStr("[]")))
	o.set("roundWinBox", obj("type", jsStr("disabled"), "sponsors", newArr(nil)))

	if len(raw) > 0 {
		init, err := parseJSON(raw)
		if err != nil {
			return undef, fmt.Errorf("toolsData: %w", err)
		}
		switch init.k {
		case kObject:
			for i, k := range init.obj.keys {
				if k != "__proto__" {
					o.set(k, init.obj.vals[i])
				}
			}
		case kNull, kBool, kNumber:
			// Object.assign ignores these sources.
		default:
			return undef, fmt.Errorf("toolsData is %s, not an object", init.typeName())
		}
	}
	tc, _ := o.get("timeoutCounter")
	max, err := getProp(tc, "max")
	if err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	if err := setProp(tc, "left", max); err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	if err := setProp(tc, "right", max); err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	return t, nil
}

// applySupporterRules enforces the licence rules for organisations without
// Spectra Plus (every organisation of this server): the Spectra logo joins
// the sponsors, the watermark stays on, custom text is off and the round-win
// box keeps one sponsor shown for every ceremony and team.
func (m *Match) applySupporterRules() error {
	sup := m.orgIsSupporter
	si, _ := m.tools.obj.get("sponsorInfo")
	enabled, err := getProp(si, "enabled")
	if err != nil {
		return fmt.Errorf("toolsData.sponsorInfo: %w", err)
	}
	if enabled.truthy() && !sup {
		sp, _ := getProp(si, "sponsors")
		if sp.k != kArray {
			return fmt.Errorf("toolsData.sponsorInfo.sponsors is %s: %w", sp.typeName(), errTypeError)
		}
		sp.arr.elems = append(sp.arr.elems, jsStr(spectraLogo))
	}

	wm, _ := m.tools.obj.get("watermarkInfo")
	sw, err := getProp(wm, "spectraWatermark")
	if err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}
	if !sw.truthy() {
		sw = jsBool(!sup)
	}
	if err := setProp(wm, "spectraWatermark", sw); err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}
	ct, _ := getProp(wm, "customTextEnabled")
	if ct.truthy() {
		ct = jsBool(sup)
	}
	if err := setProp(wm, "customTextEnabled", ct); err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}

	rwb, _ := m.tools.obj.get("roundWinBox")
	typ, err := getProp(rwb, "type")
	if err != nil {
		return fmt.Errorf("toolsData.roundWinBox: %w", err)
	}
	if typ.k == kString && typ.s == "sponsors" {
		sps, _ := getProp(rwb, "sponsors")
		n, err := getProp(sps, "length")
		if err != nil {
			return fmt.Errorf("toolsData.roundWinBox.sponsors: %w", err)
		}
		if n.toNumber() > 1 && !sup {
			first, _ := getProp(sps, "0")
			if err := setProp(rwb, "sponsors", newArr([]jv{first})); err != nil {
				return fmt.Errorf("toolsData.roundWinBox: %w", err)
			}
			if err := setProp(first, "roundCeremony", newArr([]jv{jsStr("all")})); err != nil {
				return fmt.Errorf("toolsData.roundWinBox.sponsors[0]: %w", err)
			}
			if err := setProp(first, "wonTeam", jsStr("all")); err != nil {
				return fmt.Errorf("toolsData.roundWinBox.sponsors[0]: %w", err)
			}
		}
	}
	return nil
}

// ---- accessors ----

// GroupCode is the group code the match was created with.
func (m *Match) GroupCode() string { return m.groupCode }

// MatchID is the in-game match id from match_start ("" before it). A
// non-string id is returned in its JS string form.
func (m *Match) MatchID() string {
	if m.matchID.k == kString {
		return m.matchID.s
	}
	return m.matchID.toPropertyKey()
}

// GroupSecret is the reconnect secret handed out at logon.
func (m *Match) GroupSecret() string { return m.groupSecret }

// IsRunning reports match_start seen and no game_end yet.
func (m *Match) IsRunning() bool { return m.isRunning }

// Ended reports that game_end arrived; the controller removes the match then.
func (m *Match) Ended() bool { return m.ended }

// EventNumber increases with every state change; the send loop compares it
// with the number it last sent.
func (m *Match) EventNumber() uint64 { return m.eventNumber }

// AuxDisconnected marks the auxiliary data of a player as unavailable after
// the player's auxiliary connection closed.
func (m *Match) AuxDisconnected(playerID string) {
	for _, t := range m.teams {
		if p := t.playerByID(jsStr(playerID)); p != nil {
			p.setAuxDisconnected()
		}
	}
}

// ---- events ----

// Apply updates the state with one event. now is the server clock at
// receipt; it drives all time-derived fields (the event's Timestamp is not
// trusted). It never panics; malformed data is reported through the error
// and leaves the state as the existing server would (which may mean partly
// applied, where that server threw halfway).
func (m *Match) Apply(ev Event, now time.Time) (changed bool, err error) {
	if m.ended {
		return false, ErrEnded
	}
	before := m.eventNumber
	ms := now.UnixMilli()
	m.advance(ms)
	err = m.apply(&ev, ms)
	if err != nil {
		err = fmt.Errorf("%s event: %w", ev.Type, err)
	}
	return m.eventNumber != before, err
}

// Tick runs the timers that are due at now (timeout countdown, timeout end,
// toast expiry). The controller calls it periodically.
func (m *Match) Tick(now time.Time) (changed bool) {
	if m.ended {
		return false
	}
	before := m.eventNumber
	m.advance(now.UnixMilli())
	return m.eventNumber != before
}

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
		if rn.k != kNumber || rp.k != kString {
			return fmt.Errorf("round_info wants a numeric roundNumber and a string roundPhase, got %s and %s", rn.typeName(), rp.typeName())
		}
		m.roundNumber, m.roundPhase = rn.n, rp.s
		switch m.roundPhase {
		case "shopping":
			if m.roundNumber != 1 {
				if err := m.processRoundReasons(); err != nil {
					return err
				}
			}
			m.grantOvertimeTimeout()
			m.spikePlanted, m.spikeDetonated, m.spikeDefused = false, false, false
			switchRound := m.roundNumber == m.switchRound || m.roundNumber >= m.firstOtRound
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
			if m.teams[0].roundsWon > m.teams[1].roundsWon {
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
		if data.k != kString {
			return fmt.Errorf("match id is %s, want string", data.typeName())
		}
		m.matchID = data
		m.isRunning = true

	case "map":
		name := ""
		if data.k == kString {
			name = mapNames[data.s]
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
	if data.k != kString {
		// The existing server JSON.parses the value and throws on non-strings.
		return fmt.Errorf("aux_scoreboard_team data is %s, want a JSON string", data.typeName())
	}
	// data.playerId of a string is undefined, so the second team is chosen.
	t := m.teams[1]
	list, err := parseJSON([]byte(data.s))
	if err != nil {
		return err
	}
	if list.k != kArray {
		return fmt.Errorf("aux_scoreboard_team list is %s, want array", list.typeName())
	}
	sbs := make([]scoreboard, len(list.arr.elems))
	valid := make([]bool, len(sbs))
	for i, e := range list.arr.elems {
		if e.k != kObject {
			return fmt.Errorf("aux_scoreboard_team entry %d is %s", i, e.typeName())
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
	for i := range sbs {
		if valid[i] {
			m.detectPlant(t, sbs[i].playerID, sbs[i].money, now)
		}
	}
	for i := range sbs {
		if !valid[i] {
			continue
		}
		if p := t.playerByID(sbs[i].playerID); p != nil {
			p.updateFromAux(&sbs[i])
		}
	}
	return nil
}

// detectPlant infers a plant from the planter's +300 credits during combat.
func (m *Match) detectPlant(t *team, playerID jv, money float64, now int64) {
	if m.roundPhase != "combat" {
		return
	}
	old := t.moneyFor(playerID)
	if money > old && money-old == 300 {
		m.setSpikePlanted(now)
	}
}

func (m *Match) setSpikePlanted(now int64) {
	if m.spikePlanted || m.roundPhase != "combat" {
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
	s1, _ := getProp(data, "team_1")
	if s0.k != kNumber || s1.k != kNumber {
		return fmt.Errorf("score wants numbers, got %s and %s", s0.typeName(), s1.typeName())
	}
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
	if s0.n > t0.roundsWon {
		m.attackersWon = t0.isAttacking
	} else {
		if t1 == nil {
			return fmt.Errorf("no team with in-game id 1: %w", errTypeError)
		}
		if s1.n > t1.roundsWon {
			m.attackersWon = t1.isAttacking
		}
	}
	m.wasTimeout = m.hasRoundTimeoutTime && m.roundTimeoutTime != 0 && now >= m.roundTimeoutTime
	t0.roundsWon = s0.n
	if t1 == nil {
		return fmt.Errorf("no team with in-game id 1: %w", errTypeError)
	}
	t1.roundsWon = s1.n
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
	prev := m.roundNumber - 1
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
	if m.roundNumber < m.firstOtRound || m.hasEnteredOvertime {
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

func (m *Match) setCounter(tc jv, side string, v jv) error {
	m.toolsDirty = true
	return setProp(tc, side, v)
}

// jsMin / jsMax follow Math.min / Math.max: NaN wins.
func jsMin(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}

func jsMax(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
}

func (m *Match) toolNumber(key string) float64 {
	v, _ := m.tools.obj.get(key)
	return v.toNumber()
}

// nodeDelay converts a delay like Node's setTimeout: anything outside
// [1, 2^31-1] ms (including NaN) becomes 1 ms.
func nodeDelay(ms float64) int64 {
	if !(ms >= 1 && ms <= nodeTimeoutMaxMs) {
		return 1
	}
	return int64(ms)
}

func (m *Match) decrementCounter(side string) {
	tc, _ := m.tools.obj.get("timeoutCounter")
	v, err := getProp(tc, side)
	if err != nil {
		return
	}
	_ = m.setCounter(tc, side, jsNum(jsMax(0, v.toNumber()-1)))
}

func (m *Match) teamTimeout(left bool, now int64) error {
	side := "right"
	current := m.rightTimeout
	if left {
		side, current = "left", m.leftTimeout
	}
	if current {
		grace := m.toolNumber("timeoutDuration") - m.toolNumber("timeoutCancellationGracePeriod")
		// Cancelling inside the grace period is free; timeRemaining stays.
		if !(m.timeRemaining.toNumber() > grace) {
			m.decrementCounter(side)
		}
		m.leftTimeout, m.rightTimeout = false, false
		m.timeoutEndAt, m.timeoutTickAt = 0, 0
		return nil
	}
	tc, _ := m.tools.obj.get("timeoutCounter")
	remaining, err := getProp(tc, side)
	if err != nil {
		return err
	}
	if remaining.k != kUndefined && remaining.toNumber() <= 0 {
		return nil
	}
	m.leftTimeout, m.rightTimeout = left, !left
	m.techPause = false
	m.timeRemaining, _ = m.tools.obj.get("timeoutDuration")
	m.timeoutGracePeriodPassed = false
	m.timeoutEndAt = now + nodeDelay(m.toolNumber("timeoutDuration")*1000)
	m.timeoutTickAt = now + timeoutTickMs
	return nil
}

func (m *Match) toast(data jv, now int64) error {
	active, err := getProp(m.toastInfo, "active")
	if err != nil {
		return err
	}
	if active.truthy() {
		if err := setProp(m.toastInfo, "active", jsBool(false)); err != nil {
			return err
		}
		m.cancelToastTimer(m.toastCurrent)
		m.toastCurrent = 0
		return nil
	}
	// Own copy: one parsed Event may be applied to several matches.
	m.toastInfo = data.clone()
	if err := setProp(m.toastInfo, "active", jsTrue); err != nil {
		return err
	}
	m.eventNumber++
	dur, _ := getProp(data, "duration")
	if dur.k != kNull {
		m.toastNextID++
		// The previous handle is overwritten without clearing: that timer
		// still fires later, as in the existing server.
		m.toastCurrent = m.toastNextID
		m.toastTimers = append(m.toastTimers, toastTimer{at: now + nodeDelay(dur.toNumber()), id: m.toastCurrent})
	}
	return nil
}

func (m *Match) cancelToastTimer(id uint64) {
	if id == 0 {
		return
	}
	for i, t := range m.toastTimers {
		if t.id == id {
			m.toastTimers = append(m.toastTimers[:i], m.toastTimers[i+1:]...)
			return
		}
	}
}

// advance fires every timer due at or before now, earliest first. At equal
// deadlines the timeout end runs before the countdown tick (Node orders timer
// lists by creation when their expiry ties, and the end timer is created
// first), so a completed timeout leaves timeRemaining at 1.
func (m *Match) advance(now int64) {
	for {
		const none = math.MaxInt64
		next, which, toastIdx := int64(none), 0, -1
		if m.timeoutEndAt != 0 && m.timeoutEndAt <= now && m.timeoutEndAt < next {
			next, which = m.timeoutEndAt, 1
		}
		if m.timeoutTickAt != 0 && m.timeoutTickAt <= now && m.timeoutTickAt < next {
			next, which = m.timeoutTickAt, 2
		}
		for i, t := range m.toastTimers {
			if t.at <= now && t.at < next {
				next, which, toastIdx = t.at, 3, i
			}
		}
		switch which {
		case 0:
			return
		case 1:
			m.timeoutEndAt = 0
			if m.leftTimeout {
				m.decrementCounter("left")
			} else if m.rightTimeout {
				m.decrementCounter("right")
			}
			m.leftTimeout, m.rightTimeout = false, false
			m.timeoutTickAt = 0
			m.eventNumber++
		case 2:
			if m.timeRemaining.toNumber() > 0 {
				m.timeRemaining = jsNum(m.timeRemaining.toNumber() - 1)
				grace := m.toolNumber("timeoutDuration") - m.toolNumber("timeoutCancellationGracePeriod")
				if !m.timeoutGracePeriodPassed && m.timeRemaining.n <= grace {
					m.timeoutGracePeriodPassed = true
				}
				m.eventNumber++
				m.timeoutTickAt += timeoutTickMs
			} else {
				m.timeoutTickAt = 0
			}
		case 3:
			m.toastTimers = append(m.toastTimers[:toastIdx], m.toastTimers[toastIdx+1:]...)
			// A primitive toastInfo makes this throw in the existing server
			// before the counter moves.
			if setProp(m.toastInfo, "active", jsBool(false)) == nil {
				m.toastCurrent = 0
				m.eventNumber++
			}
		}
	}
}
