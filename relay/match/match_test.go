package match

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

const testLogon = `{"type":"authenticate","clientVersion":"0.3.22","obsName":"Obs","key":"k","groupCode":"ABC123",
"leftTeam":{"name":"Left","tricode":"LFT","url":"l.png","attackStart":true},
"rightTeam":{"name":"Right","tricode":"RGT","url":"r.png","attackStart":false},
"toolsData":{"timeoutDuration":30,"timeoutCounter":{"max":1,"left":9,"right":9},"timeoutCancellationGracePeriod":10,
"sponsorInfo":{"enabled":true,"duration":5000,"sponsors":["a.png"]},
"watermarkInfo":{"spectraWatermark":false,"customTextEnabled":true,"customText":"hi"},
"playercamsInfo":{"enable":true,"removeTricodes":true,"identifier":"X","secret":"s3cr3t","endTime":5,"enabledPlayers":[]},
"roundWinBox":{"type":"sponsors","sponsors":[{"wonTeam":"left","roundCeremony":["ace"],"iconUrl":"i","backdropUrl":"b"},{"wonTeam":"all"}]},
"extra":{"2":"b","1":"a","z":1}}}`

var t0 = time.UnixMilli(1_700_000_000_000)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func newTestMatch(t *testing.T) *Match {
	t.Helper()
	l, err := ParseLogon([]byte(testLogon))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(l, "SECRET", t0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func obsEvent(typ, data string) Event {
	ev, err := ParseEvent([]byte(`{"obsName":"Obs","groupCode":"ABC123","type":"` + typ + `","data":` + data + `}`))
	if err != nil {
		panic(err)
	}
	return ev
}

func mustApply(t *testing.T, m *Match, ev Event, now time.Time) bool {
	t.Helper()
	changed, err := m.Apply(ev, now)
	if err != nil {
		t.Fatalf("apply %s: %v", ev.Type, err)
	}
	return changed
}

// state decodes the public JSON for assertions.
func state(t *testing.T, m *Match) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(m.AppendJSON(nil), &v); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	return v
}

func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func TestJSNumberFormat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-5, "-5"},
		{1.6666666666666667, "1.6666666666666667"}, {0.1, "0.1"}, {1e21, "1e+21"},
		{1e20, "100000000000000000000"}, {123456789012345680000, "123456789012345680000"},
		{1e-7, "1e-7"}, {0.000001, "0.000001"}, {1.5e-10, "1.5e-10"}, {2.5e25, "2.5e+25"},
		{math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"}, {1795747958032, "1795747958032"},
	} {
		if got := string(appendJSNumber(nil, tc.in)); got != tc.want {
			t.Errorf("appendJSNumber(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestJSStringEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"\n\t\x01\x1f\x7f", `"\n\t\u0001\u001f` + "\x7f" + `"`},
		{"<&>\u2028", "\"<&>\u2028\""},
		{"bad\xffbyte", "\"bad\uFFFDbyte\""},
		{"\xed\xa0\x80", `"\ud800"`},
	} {
		if got := string(appendJSString(nil, tc.in)); got != tc.want {
			t.Errorf("appendJSString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// A lone surrogate escape survives a parse / encode round trip.
	v, err := parseJSON([]byte(`"a\ud800b\ud83d\ude00"`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(appendJV(nil, v)); got != "\"a\\ud800b\U0001F600\"" {
		t.Errorf("round trip = %s", got)
	}
}

func TestObjectKeyOrder(t *testing.T) {
	v, err := parseJSON([]byte(`{"b":1,"10":2,"a":3,"2":4,"01":5,"b":6}`))
	if err != nil {
		t.Fatal(err)
	}
	// Index keys first ascending, others by first insertion; duplicates keep
	// their first position with the last value.
	if got := string(appendJV(nil, v)); got != `{"2":4,"10":2,"b":6,"a":3,"01":5}` {
		t.Errorf("got %s", got)
	}
}

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"obs", `{"obsName":"o","groupCode":"G","type":"map","data":"Ascent"}`, true},
		{"aux", `{"playerId":"p","matchId":"m","type":"aux_health","data":100}`, true},
		{"null data counts", `{"obsName":"o","groupCode":"G","type":"x","data":null}`, true},
		{"no source", `{"groupCode":"G","type":"x","data":1}`, false},
		{"no route", `{"obsName":"o","type":"x","data":1}`, false},
		{"no type", `{"obsName":"o","groupCode":"G","data":1}`, false},
		{"no data", `{"obsName":"o","groupCode":"G","type":"x"}`, false},
		{"array", `[1,2]`, false},
		{"primitive", `"str"`, false},
		{"broken", `{"obsName":`, false},
		{"trailing", `{"obsName":"o","groupCode":"G","type":"x","data":1} x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEvent([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	ev, _ := ParseEvent([]byte(`{"obsName":"o","groupCode":"","type":5,"data":{"a":[1]},"timestamp":42}`))
	if !ev.HasGroupCode || ev.Type != "" || string(ev.Data) != `{"a":[1]}` || ev.Timestamp != 42 {
		t.Errorf("unexpected event %+v", ev)
	}
}

func TestSupporterRulesAndTools(t *testing.T) {
	m := newTestMatch(t)
	s := state(t, m)
	tools := s["tools"].(map[string]any)
	if got := path(tools, "sponsorInfo", "sponsors"); len(got.([]any)) != 2 || got.([]any)[1] != spectraLogo {
		t.Errorf("sponsors = %v", got)
	}
	if path(tools, "watermarkInfo", "spectraWatermark") != true || path(tools, "watermarkInfo", "customTextEnabled") != false {
		t.Errorf("watermark = %v", tools["watermarkInfo"])
	}
	rwb := path(tools, "roundWinBox", "sponsors").([]any)
	if len(rwb) != 1 || path(rwb[0], "wonTeam") != "all" || path(rwb[0], "roundCeremony", 0) != "all" {
		t.Errorf("roundWinBox = %v", rwb)
	}
	pc := tools["playercamsInfo"].(map[string]any)
	if _, ok := pc["secret"]; ok {
		t.Error("playercams secret leaked")
	}
	if _, ok := pc["endTime"]; ok {
		t.Error("playercams endTime leaked")
	}
	if path(tools, "timeoutCounter", "left") != 1.0 || path(tools, "timeoutCounter", "right") != 1.0 {
		t.Errorf("counters not reset to max: %v", tools["timeoutCounter"])
	}
	out := string(m.AppendJSON(nil))
	if strings.Contains(out, "SECRET") || strings.Contains(out, "s3cr3t") {
		t.Error("secret in output")
	}
	if !strings.Contains(out, `"extra":{"1":"a","2":"b","z":1}`) {
		t.Errorf("unknown toolsData members must pass through in JS order: %s", out)
	}
	if s["orgIsSupporter"] != false {
		t.Error("orgIsSupporter")
	}
}

func TestNewRejectsBadTools(t *testing.T) {
	for _, tools := range []string{
		`{"timeoutCounter":null}`,
		`{"playercamsInfo":null}`,
		`{"watermarkInfo":5}`,
		`{"sponsorInfo":{"enabled":true,"sponsors":"x"}}`,
		`{"roundWinBox":{"type":"sponsors","sponsors":[1,2]}}`,
		`"str"`,
	} {
		l := Logon{GroupCode: "G", ToolsData: []byte(tools),
			LeftTeam: AuthTeam{Name: "a", AttackStart: true}, RightTeam: AuthTeam{Name: "b"}}
		if _, err := New(l, "S", t0); err == nil {
			t.Errorf("New accepted toolsData %s", tools)
		}
	}
	if l, err := ParseLogon([]byte(`{"groupCode":"G","leftTeam":{"name":"a"}}`)); err != nil {
		t.Fatal(err)
	} else if _, err := New(l, "S", t0); err == nil {
		t.Error("New accepted a logon without rightTeam")
	}
	// Null and missing toolsData fall back to the defaults.
	for _, tools := range []string{``, `null`} {
		l := Logon{GroupCode: "G", ToolsData: []byte(tools), LeftTeam: AuthTeam{AttackStart: true}}
		if _, err := New(l, "S", t0); err != nil {
			t.Errorf("toolsData %q: %v", tools, err)
		}
	}
}

func rosterEv(name, id string, team int, agent string) Event {
	b, _ := json.Marshal(map[string]any{"name": name, "tagline": "T", "startTeam": team, "agentInternal": agent,
		"playerId": id, "position": 0, "locked": true})
	return obsEvent("roster", string(b))
}

func scoreboardEv(id string, team int, agent string, kills, deaths, money int, alive bool) Event {
	b, _ := json.Marshal(map[string]any{"name": "n", "tagline": "T", "playerId": id, "startTeam": team,
		"agentInternal": agent, "isAlive": alive, "initialArmor": 2, "scoreboardWeaponInternal": "TX_Hud_Volcano",
		"currUltPoints": 0, "maxUltPoints": 7, "hasSpike": false, "money": money, "kills": kills, "deaths": deaths, "assists": 0})
	return obsEvent("scoreboard", string(b))
}

func TestRosterRules(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("LFT Ace", "p1", 0, ""), at(1))
	for i := 2; i <= 7; i++ {
		mustApply(t, m, rosterEv("P", "p"+string(rune('0'+i)), 0, "Clay_PC_C"), at(int64(i)))
	}
	mustApply(t, m, rosterEv("", "pX", 0, ""), at(9))
	s := state(t, m)
	players := path(s, "teams", 0, "players").([]any)
	if len(players) != 5 {
		t.Fatalf("team holds %d players, want 5", len(players))
	}
	if path(players[0], "name") != "Ace" || path(players[0], "agentProper") != "No Agent selected" {
		t.Errorf("first player = %v", players[0])
	}
	// removeTricodes applies only on creation.
	mustApply(t, m, rosterEv("LFT Ace", "p1", 0, "Rift_PC_C"), at(10))
	s = state(t, m)
	if path(s, "teams", 0, "players", 0, "name") != "LFT Ace" || path(s, "teams", 0, "players", 0, "agentProper") != "Astra" {
		t.Errorf("roster update = %v", path(s, "teams", 0, "players", 0))
	}
	if _, err := m.Apply(rosterEv("Z", "z", 7, ""), at(11)); err == nil {
		t.Error("roster for unknown team accepted")
	}
}

func TestKillfeedQuirks(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("A", "a", 0, "Clay_PC_C"), at(1))
	mustApply(t, m, rosterEv("B", "b", 1, "Wushu_PC_C"), at(2))
	kf := obsEvent("killfeed", `{"attacker":"A","victim":"B","weaponKillfeedInternal":"W","headshotKill":true,"assists":["TX_Killfeed_Jett"],"isTeamkill":false}`)
	mustApply(t, m, kf, at(3))
	mustApply(t, m, kf, at(4))
	s := state(t, m)
	a := path(s, "teams", 0, "players", 0)
	if path(a, "killsByWeaponsAndAbilities", "W") != 1.0 || path(a, "killsOnEnemyPlayer", "B") != 1.0 {
		t.Errorf("breakdowns must stay at 1: %v", a)
	}
	// Fallback kills (no scoreboard yet): 2 kills, headshot ratio from the
	// count before the update: 1/0 then 2/1.
	if path(a, "kills") != 2.0 || path(a, "headshotRatio") != 2.0 {
		t.Errorf("kills/headshotRatio = %v/%v", path(a, "kills"), path(a, "headshotRatio"))
	}
	b := path(s, "teams", 1, "players", 0)
	if path(b, "deaths") != 2.0 || path(b, "isAlive") != false || path(b, "assists") != 0.0 {
		t.Errorf("victim = %v", b)
	}
	// The first kill had kills == 0: headshotRatio was Infinity, i.e. null.
	m2 := newTestMatch(t)
	mustApply(t, m2, rosterEv("A", "a", 0, "Clay_PC_C"), at(1))
	mustApply(t, m2, kf, at(2))
	if r := path(state(t, m2), "teams", 0, "players", 0, "headshotRatio"); r != nil {
		t.Errorf("headshotRatio = %v, want null", r)
	}
	if _, err := m2.Apply(obsEvent("killfeed", `{"attacker":"A","victim":"B","assists":5}`), at(3)); !errors.Is(err, errTypeError) {
		t.Errorf("non-iterable assists: err = %v", err)
	}
}

func TestScoreboardAndPlant(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("A", "a", 0, "Clay_PC_C"), at(1))
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":1,"roundPhase":"shopping"}`), at(2))
	mustApply(t, m, scoreboardEv("a", 0, "Clay_PC_C", 0, 0, 800, true), at(3))
	mustApply(t, m, scoreboardEv("a", 0, "Clay_PC_C", 0, 0, 300, true), at(4))
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":1,"roundPhase":"combat"}`), at(5))
	s := state(t, m)
	if _, ok := s["roundTimeoutTime"]; !ok {
		t.Error("roundTimeoutTime missing in combat")
	}
	p := path(s, "teams", 0, "players", 0)
	if path(p, "moneySpent") != 500.0 || path(p, "armorName") != "Heavy" || path(p, "highestWeapon") != "Vandal" || path(p, "kdRatio") != nil {
		t.Errorf("player = %v", p)
	}
	mustApply(t, m, scoreboardEv("a", 0, "Clay_PC_C", 0, 0, 600, true), at(6))
	s = state(t, m)
	if path(s, "spikeState", "planted") != true {
		t.Error("+300 during combat must plant the spike")
	}
	if _, ok := s["roundTimeoutTime"]; ok {
		t.Error("roundTimeoutTime must go once planted")
	}
	if s["spikeDetonationTime"] != float64(t0.UnixMilli()+6+45000) {
		t.Errorf("spikeDetonationTime = %v", s["spikeDetonationTime"])
	}
	// Unknown weapon: the field disappears like an undefined JS property.
	mustApply(t, m, scoreboardEv("a", 0, "Clay_PC_C", 0, 1, 600, false), at(7))
	b, _ := json.Marshal(map[string]any{"playerId": "a", "startTeam": 0, "agentInternal": "x", "isAlive": false,
		"initialArmor": 9, "scoreboardWeaponInternal": "nope", "currUltPoints": 0, "maxUltPoints": 7, "hasSpike": false,
		"money": 0, "kills": 0, "deaths": 1, "assists": 0})
	mustApply(t, m, obsEvent("scoreboard", string(b)), at(8))
	p = path(state(t, m), "teams", 0, "players", 0)
	if _, ok := p.(map[string]any)["highestWeapon"]; ok {
		t.Error("unknown weapon must drop highestWeapon")
	}
	if _, ok := p.(map[string]any)["armorName"]; ok {
		t.Error("unknown armor index must drop armorName")
	}
	if _, err := m.Apply(obsEvent("scoreboard", `{"playerId":"a","startTeam":0,"kills":"1"}`), at(9)); err == nil {
		t.Error("mistyped scoreboard accepted")
	}
}

func TestTeamTimeoutCountdown(t *testing.T) {
	m := newTestMatch(t) // timeoutDuration 30, grace 10, max 1
	mustApply(t, m, obsEvent("left_timeout", "true"), at(0))
	if !m.Tick(at(1000)) {
		t.Error("countdown tick must be a change")
	}
	if m.Tick(at(1500)) {
		t.Error("no change between ticks")
	}
	s := state(t, m)
	if path(s, "timeoutState", "leftTeam") != true || path(s, "timeoutState", "timeRemaining") != 29.0 {
		t.Errorf("timeoutState = %v", s["timeoutState"])
	}
	m.Tick(at(30000))
	s = state(t, m)
	// The end timer wins the tie with the 30th tick: timeRemaining stays 1.
	if path(s, "timeoutState", "leftTeam") != false || path(s, "timeoutState", "timeRemaining") != 1.0 ||
		path(s, "tools", "timeoutCounter", "left") != 0.0 || s["timeoutGracePeriodPassed"] != true {
		t.Errorf("after end: timeoutState = %v, counter = %v", s["timeoutState"], path(s, "tools", "timeoutCounter"))
	}
	// No timeouts left: ignored (still an event).
	mustApply(t, m, obsEvent("left_timeout", "true"), at(31000))
	if path(state(t, m), "timeoutState", "leftTeam") != false {
		t.Error("timeout without remaining count started")
	}
}

func TestTeamTimeoutCancel(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, obsEvent("right_timeout", "true"), at(0))
	m.Tick(at(5000))
	mustApply(t, m, obsEvent("right_timeout", "true"), at(5100)) // inside grace
	s := state(t, m)
	if path(s, "tools", "timeoutCounter", "right") != 1.0 || path(s, "timeoutState", "timeRemaining") != 25.0 {
		t.Errorf("grace cancel: %v %v", path(s, "tools", "timeoutCounter"), s["timeoutState"])
	}
	m.Tick(at(20000))
	if path(state(t, m), "timeoutState", "timeRemaining") != 25.0 {
		t.Error("cancelled countdown kept running")
	}
	mustApply(t, m, obsEvent("right_timeout", "true"), at(21000))
	m.Tick(at(33000))
	mustApply(t, m, obsEvent("right_timeout", "true"), at(33100)) // past grace
	if path(state(t, m), "tools", "timeoutCounter", "right") != 0.0 {
		t.Error("cancel after grace must use up the timeout")
	}
	// Tech pause cancels a running team timeout.
	m2 := newTestMatch(t)
	mustApply(t, m2, obsEvent("left_timeout", "true"), at(0))
	mustApply(t, m2, obsEvent("tech_pause", "true"), at(10))
	m2.Tick(at(60000))
	s = state(t, m2)
	if path(s, "timeoutState", "techPause") != true || path(s, "timeoutState", "leftTeam") != false ||
		path(s, "tools", "timeoutCounter", "left") != 1.0 {
		t.Errorf("tech pause: %v", s["timeoutState"])
	}
}

func TestToast(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, obsEvent("toast", `{"title":"T","message":"M","duration":2000,"eventLogoEnabled":false,"selectedTeam":"left"}`), at(0))
	out := string(m.AppendJSON(nil))
	if !strings.Contains(out, `"toastInfo":{"title":"T","message":"M","duration":2000,"eventLogoEnabled":false,"selectedTeam":"left","active":true}`) {
		t.Errorf("toast = %s", out)
	}
	if m.Tick(at(1999)) {
		t.Error("toast expired early")
	}
	if !m.Tick(at(2000)) || path(state(t, m), "toastInfo", "active") != false {
		t.Error("toast did not expire")
	}
	mustApply(t, m, obsEvent("toast", `{"title":"X","duration":null}`), at(3000))
	m.Tick(at(100000))
	if path(state(t, m), "toastInfo", "active") != true {
		t.Error("toast without duration must stay")
	}
	mustApply(t, m, obsEvent("toast", `{}`), at(100001))
	if path(state(t, m), "toastInfo", "active") != false {
		t.Error("second toast hotkey must hide it")
	}
	// Combat hides the toast but its timer still runs and later hides the
	// next toast early.
	mustApply(t, m, obsEvent("toast", `{"duration":5000}`), at(200000))
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":1,"roundPhase":"combat"}`), at(201000))
	mustApply(t, m, obsEvent("toast", `{"duration":60000}`), at(202000))
	m.Tick(at(205000))
	if path(state(t, m), "toastInfo", "active") != false {
		t.Error("stale toast timer must fire")
	}
	if _, err := m.Apply(obsEvent("toast", `"str"`), at(300000)); !errors.Is(err, errTypeError) {
		t.Errorf("primitive toast: %v", err)
	}
}

func TestRoundsSwapsOvertime(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("A", "a", 0, "Clay_PC_C"), at(1))
	mustApply(t, m, rosterEv("B", "b", 1, "Wushu_PC_C"), at(2))
	round := func(n int, s0, s1 int) {
		mustApply(t, m, obsEvent("round_info", `{"roundNumber":`+itoa(n)+`,"roundPhase":"shopping"}`), at(int64(n*10)))
		mustApply(t, m, obsEvent("round_info", `{"roundNumber":`+itoa(n)+`,"roundPhase":"combat"}`), at(int64(n*10+1)))
		mustApply(t, m, obsEvent("score", `{"team_0":`+itoa(s0)+`,"team_1":`+itoa(s1)+`}`), at(int64(n*10+2)))
		mustApply(t, m, obsEvent("round_info", `{"roundNumber":`+itoa(n)+`,"roundPhase":"end"}`), at(int64(n*10+3)))
	}
	round(1, 1, 0)
	round(2, 1, 1)
	s := state(t, m)
	if path(s, "teams", 0, "roundRecord", 0, "type") != "kills" || path(s, "teams", 1, "roundRecord", 0, "type") != "lost" {
		t.Errorf("round 1 reasons: %v", path(s, "teams", 0, "roundRecord", 0))
	}
	if path(s, "teams", 0, "roundRecord", 1, "type") != "upcoming" {
		t.Error("last round must not be recorded yet")
	}
	for n := 3; n <= 24; n++ {
		round(n, n/2+n%2, n/2)
	}
	mustApply(t, m, obsEvent("round_info", `{"roundNumber":25,"roundPhase":"shopping"}`), at(1000))
	s = state(t, m)
	if s["hasEnteredOvertime"] != true || path(s, "tools", "timeoutCounter", "left") != 2.0 {
		t.Errorf("overtime: %v %v", s["hasEnteredOvertime"], path(s, "tools", "timeoutCounter"))
	}
	if path(s, "teams", 0, "players", 0, "money") != 800.0 {
		t.Error("side switch must reset money")
	}
	if n := len(path(s, "teams", 0, "roundRecord").([]any)); n != 29 {
		t.Errorf("roundRecord length %d, want 29", n)
	}
	mustApply(t, m, obsEvent("right_timeout", "true"), at(1001))
	mustApply(t, m, obsEvent("right_timeout", "true"), at(1002))
	mustApply(t, m, obsEvent("swap_left_right", "true"), at(1003))
	s = state(t, m)
	if path(s, "teams", 0, "teamName") != "Right" {
		t.Error("swap_left_right must reverse the teams")
	}
	if path(s, "tools", "timeoutCounter", "left") != 2.0 || path(s, "tools", "timeoutCounter", "right") != 2.0 {
		t.Errorf("counters = %v", path(s, "tools", "timeoutCounter"))
	}
	attacking := path(s, "teams", 0, "isAttacking")
	won := path(s, "teams", 0, "roundsWon")
	mustApply(t, m, obsEvent("swap_attacker_defender", "true"), at(1004))
	s = state(t, m)
	if path(s, "teams", 0, "isAttacking") == attacking || path(s, "teams", 1, "roundsWon") != won {
		t.Error("swap_attacker_defender must switch sides and scores")
	}
	mustApply(t, m, obsEvent("match_start", `"mid"`), at(1005))
	if m.MatchID() != "mid" || !m.IsRunning() {
		t.Error("match_start")
	}
	changed := mustApply(t, m, obsEvent("round_info", `{"roundNumber":25,"roundPhase":"game_end"}`), at(1006))
	if !changed || !m.Ended() || m.IsRunning() {
		t.Error("game_end must end the match")
	}
	ti := m.FinishedTeamInfo()
	if ti == nil {
		t.Fatal("no team info after game_end")
	}
	var info map[string]any
	if err := json.Unmarshal(ti.AppendJSON(nil), &info); err != nil {
		t.Fatal(err)
	}
	if path(info, "leftTeam", "name") != "Left" || info["isSupporter"] != false || info["higherScore"] == nil {
		t.Errorf("team info = %v", info)
	}
	if _, err := m.Apply(obsEvent("map", `"Ascent"`), at(1007)); !errors.Is(err, ErrEnded) {
		t.Error("events after game_end must be refused")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAuxEvents(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, rosterEv("A", "a", 0, "Rift_PC_C"), at(1))
	aux := func(typ, data string) Event {
		ev, err := ParseEvent([]byte(`{"playerId":"a","matchId":"","type":"` + typ + `","data":` + data + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	mustApply(t, m, aux("aux_health", "57"), at(2))
	mustApply(t, m, aux("aux_abilities", `{"grenade":1,"ability_1":2}`), at(3))
	mustApply(t, m, aux("aux_astra_targeting", "true"), at(4))
	p := path(state(t, m), "teams", 0, "players", 0)
	if path(p, "health") != 57.0 || path(p, "iconNameSuffix") != "Targeting" || path(p, "auxiliaryAvailable", "abilities") != true {
		t.Errorf("aux = %v", p)
	}
	if out := string(m.AppendJSON(nil)); !strings.Contains(out, `"abilities":{"grenade":1,"ability1":2}`) {
		t.Error("missing ability fields must be left out")
	}
	m.AuxDisconnected("a")
	p = path(state(t, m), "teams", 0, "players", 0)
	if path(p, "auxiliaryAvailable", "health") != false || path(p, "auxiliaryAvailable", "abilities") != false {
		t.Errorf("aux flags after disconnect = %v", path(p, "auxiliaryAvailable"))
	}
	// aux_scoreboard_team always goes to the second team.
	mustApply(t, m, aux("aux_scoreboard_team", `"[{\"playerId\":\"a\",\"agentInternal\":\"Rift_PC_C\",\"isAlive\":true,\"initialArmor\":0,\"scoreboardWeaponInternal\":\"knife\",\"currUltPoints\":0,\"maxUltPoints\":7,\"hasSpike\":false,\"money\":4000,\"kills\":0,\"deaths\":0,\"assists\":0}]"`), at(5))
	if path(state(t, m), "teams", 0, "players", 0, "money") != 0.0 {
		t.Error("aux_scoreboard_team must not reach the first team")
	}
}

func TestMapAndMode(t *testing.T) {
	m := newTestMatch(t)
	mustApply(t, m, obsEvent("map", `"HURM_Yard"`), at(1))
	mustApply(t, m, obsEvent("game_mode", `"swift"`), at(2))
	s := state(t, m)
	if s["map"] != "Piazza " || s["switchRound"] != 5.0 || s["firstOtRound"] != 99.0 {
		t.Errorf("map/mode = %v %v %v", s["map"], s["switchRound"], s["firstOtRound"])
	}
	mustApply(t, m, obsEvent("map", `"SomethingNew"`), at(3))
	mustApply(t, m, obsEvent("game_mode", `"deathmatch"`), at(4))
	s = state(t, m)
	if s["map"] != "Corrode" || s["matchType"] != "deathmatch" || s["switchRound"] != 13.0 {
		t.Errorf("fallbacks = %v %v %v", s["map"], s["matchType"], s["switchRound"])
	}
	if !mustApply(t, m, obsEvent("no_such_type", `1`), at(5)) {
		t.Error("unknown event types still count as a change")
	}
}
