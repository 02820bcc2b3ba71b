package match

import (
	"errors"
	"fmt"
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

	// roundNumber and roundPhase are whatever round_info sent, as the
	// existing server keeps them: see roundNum and phase.
	roundNumber jv
	roundPhase  jv

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
		roundNumber:   jsNum(0),
		roundPhase:    jsStr("LOBBY"),
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

// ---- accessors ----

// GroupCode is the group code the match was created with.
func (m *Match) GroupCode() string { return m.groupCode }

// MatchID is the in-game match id from match_start ("" before it), the
// key matches are found by. A non-string id is returned in its JS string
// form (true as "true"), except null, which is "": no logon can name it.
// MatchIDEquals decides whether a logon's id is this one.
func (m *Match) MatchID() string {
	switch m.matchID.k {
	case kString:
		return m.matchID.s
	case kNull, kUndefined:
		return ""
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
