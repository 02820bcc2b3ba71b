package match

import (
	"fmt"
	"math"
	"strings"
)

// keySet is a JS object whose values are all 1: the existing server's
// per-weapon / per-victim counters never get past 1 (a post-increment writes
// the old value back), so only the keys and their JS order matter.
type keySet struct {
	o jobj
}

func (k *keySet) add(key string) {
	if key == "__proto__" { // assigning a number to __proto__ is a no-op in JS
		return
	}
	if k.o.index(key) < 0 {
		k.o.set(key, jsNum(1))
	}
}

type player struct {
	name, tagline, riotID, searchName, fullName string

	position jv
	locked   jv

	agentInternal string
	agentProper   string

	isAlive, hasSpike, isObserved bool

	health    float64
	abilities [3]jv // grenade, ability1, ability2 as received

	kills, deaths, assists, kdRatio float64
	killsThisRound, deathsThisRound float64
	killedPlayerNames               []jv

	currUltPoints, maxUltPoints float64
	ultReady                    bool

	money, moneySpent   float64
	spentMoneyThisRound bool

	armorName       string
	armorDefined    bool
	highestWeapon   string
	weaponDefined   bool
	teamKills       float64
	headshotKills   float64
	headshotRatio   float64
	killsByWeapon   keySet
	killsOnEnemy    keySet
	killsOnTeammate keySet
	scoreboardAvail bool
	auxHealth       bool
	auxAbilities    bool
	auxScoreboard   bool
	iconNameSuffix  string
}

// roster is the validated roster payload.
type roster struct {
	name, tagline, playerID string
	startTeam               jv
	agentInternal           string
	position, locked        jv
}

func parseRoster(d jv) (roster, error) {
	var r roster
	if d.k != kObject {
		return r, fmt.Errorf("roster data is %s", d.typeName())
	}
	var err error
	if r.name, err = reqString(d, "name"); err != nil {
		return r, err
	}
	if r.tagline, err = reqString(d, "tagline"); err != nil {
		return r, err
	}
	if r.playerID, err = reqString(d, "playerId"); err != nil {
		return r, err
	}
	if r.agentInternal, err = reqString(d, "agentInternal"); err != nil {
		return r, err
	}
	r.startTeam, _ = d.obj.get("startTeam")
	r.position, _ = d.obj.get("position")
	r.locked, _ = d.obj.get("locked")
	return r, nil
}

func reqString(d jv, key string) (string, error) {
	v, _ := d.obj.get(key)
	if v.k != kString {
		return "", fmt.Errorf("field %q is %s, want string", key, v.typeName())
	}
	return v.s, nil
}

func reqNumber(d jv, key string) (float64, error) {
	v, _ := d.obj.get(key)
	if v.k != kNumber {
		return 0, fmt.Errorf("field %q is %s, want number", key, v.typeName())
	}
	return v.n, nil
}

func reqBool(d jv, key string) (bool, error) {
	v, _ := d.obj.get(key)
	if v.k != kBool {
		return false, fmt.Errorf("field %q is %s, want boolean", key, v.typeName())
	}
	return v.b, nil
}

func agentProperOf(internal string) string {
	if p, ok := agentNames[internal]; ok && p != "" {
		return p
	}
	return internal
}

func newPlayer(r roster) *player {
	p := &player{
		name:          r.name,
		tagline:       r.tagline,
		riotID:        r.playerID,
		searchName:    r.name + " #" + r.tagline,
		fullName:      r.name + "#" + r.tagline,
		position:      r.position,
		locked:        r.locked,
		agentInternal: r.agentInternal,
		agentProper:   agentProperOf(r.agentInternal),
		isAlive:       true,
		health:        100,
		abilities:     [3]jv{jsNum(0), jsNum(0), jsNum(0)},
		armorName:     armorNames[0],
		armorDefined:  true,
		highestWeapon: weaponNames["unknown"],
		weaponDefined: true,
	}
	return p
}

func (p *player) onRosterUpdate(r roster) {
	p.name = r.name
	p.tagline = r.tagline
	p.agentInternal = r.agentInternal
	p.agentProper = agentProperOf(r.agentInternal)
	p.locked = r.locked
}

// removeTricodeFromName strips the team tricode prefix (first occurrence,
// then JS trim), applied only when the player is created.
func (p *player) removeTricodeFromName(tricode string) {
	if strings.HasPrefix(p.name, tricode) {
		p.name = trimJSSpace(strings.Replace(p.name, tricode, "", 1))
	}
}

// scoreboard is a validated observer / auxiliary scoreboard entry.
type scoreboard struct {
	playerID      jv
	startTeam     jv
	agentInternal string
	isAlive       bool
	hasSpike      bool
	initialArmor  jv
	weapon        jv
	currUlt       float64
	maxUlt        float64
	money         float64
	kills         float64
	deaths        float64
	assists       float64
}

func parseScoreboard(d jv) (scoreboard, error) {
	var s scoreboard
	if d.k != kObject {
		return s, fmt.Errorf("scoreboard data is %s", d.typeName())
	}
	var err error
	s.playerID, _ = d.obj.get("playerId")
	s.startTeam, _ = d.obj.get("startTeam")
	s.initialArmor, _ = d.obj.get("initialArmor")
	s.weapon, _ = d.obj.get("scoreboardWeaponInternal")
	if s.agentInternal, err = reqString(d, "agentInternal"); err != nil {
		return s, err
	}
	if s.isAlive, err = reqBool(d, "isAlive"); err != nil {
		return s, err
	}
	if s.hasSpike, err = reqBool(d, "hasSpike"); err != nil {
		return s, err
	}
	for _, f := range [...]struct {
		key string
		dst *float64
	}{
		{"currUltPoints", &s.currUlt}, {"maxUltPoints", &s.maxUlt}, {"money", &s.money},
		{"kills", &s.kills}, {"deaths", &s.deaths}, {"assists", &s.assists},
	} {
		if *f.dst, err = reqNumber(d, f.key); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (p *player) updateFromScoreboard(s *scoreboard) {
	p.updateShared(s)
	p.scoreboardAvail = true
}

// updateFromAux takes auxiliary scoreboard data only while the observer has
// not reported this player in the current round.
func (p *player) updateFromAux(s *scoreboard) {
	if p.scoreboardAvail {
		return
	}
	p.updateShared(s)
	p.auxScoreboard = true
}

// partial carries the subset of scoreboard fields the agent checks look at;
// NaN stands for an absent field (every comparison with it is false).
type partial struct {
	kills, deaths, assists, currUlt float64
}

func (p *player) updateShared(s *scoreboard) {
	if s.kills > p.kills {
		p.killsThisRound++
	}
	if s.deaths > p.deaths {
		p.deathsThisRound++
	}
	p.agentInternal = s.agentInternal
	p.agentProper = agentProperOf(s.agentInternal)

	p.agentScoreboardChecks(partial{s.kills, s.deaths, s.assists, s.currUlt})

	p.kills = s.kills
	p.deaths = s.deaths
	p.assists = s.assists
	p.kdRatio = p.kills / p.deaths

	p.currUltPoints = s.currUlt
	p.maxUltPoints = s.maxUlt
	p.ultReady = p.currUltPoints >= p.maxUltPoints

	if !p.spentMoneyThisRound && s.money < p.money {
		p.spentMoneyThisRound = true
	}
	if p.spentMoneyThisRound && s.money != p.money {
		p.moneySpent += p.money - s.money
	}
	p.money = s.money

	p.armorName, p.armorDefined = armorName(s.initialArmor)
	p.highestWeapon, p.weaponDefined = weaponNames[weaponKey(s.weapon)]

	if !s.isAlive && p.isAlive {
		p.agentDeathChecks()
		p.health = 0
	}
	if s.isAlive && !p.isAlive {
		p.health = 100
	}
	p.isAlive = s.isAlive
	p.hasSpike = s.hasSpike
}

func weaponKey(v jv) string {
	if v.k == kString {
		return v.s
	}
	return v.toPropertyKey()
}

type killfeed struct {
	attacker, victim jv
	weapon           jv
	headshot         jv
	teamkill         jv
	assists          jv
}

func parseKillfeed(d jv) (killfeed, error) {
	var k killfeed
	var err error
	if k.attacker, err = getProp(d, "attacker"); err != nil {
		return k, err
	}
	k.victim, _ = getProp(d, "victim")
	k.weapon, _ = getProp(d, "weaponKillfeedInternal")
	k.headshot, _ = getProp(d, "headshotKill")
	k.teamkill, _ = getProp(d, "isTeamkill")
	k.assists, _ = getProp(d, "assists")
	return k, nil
}

func (p *player) extractKillfeedInfo(k *killfeed) {
	p.killsByWeapon.add(k.weapon.toPropertyKey())
	p.killedPlayerNames = append(p.killedPlayerNames, k.victim)
	if k.headshot.looseEqBool(true) {
		p.headshotKills++
		// Uses the kill count from before the scoreboard catches up.
		p.headshotRatio = p.headshotKills / p.kills
	}
	if k.teamkill.looseEqBool(true) {
		p.teamKills++
		p.killsOnTeammate.add(k.victim.toPropertyKey())
	}
	if k.teamkill.looseEqBool(false) {
		p.killsOnEnemy.add(k.victim.toPropertyKey())
	}
}

// fallbackKillfeed derives kills/deaths from the killfeed when neither the
// observer nor an auxiliary client reported a scoreboard this round.
func (p *player) fallbackKillfeed(victim bool) {
	if p.scoreboardAvail || p.auxScoreboard {
		return
	}
	if victim {
		p.isAlive = false
		p.health = 0
		p.deaths++
		p.deathsThisRound++
		return
	}
	nan := nanValue()
	p.agentScoreboardChecks(partial{kills: p.kills + 1, deaths: nan, assists: nan, currUlt: nan})
	p.kills++
	p.killsThisRound++
}

func (p *player) fallbackAssist() {
	if p.scoreboardAvail || p.auxScoreboard {
		return
	}
	nan := nanValue()
	p.agentScoreboardChecks(partial{kills: nan, deaths: nan, assists: p.assists + 1, currUlt: nan})
	p.assists++
}

func (p *player) resetRound(sideSwitch bool) {
	p.killsThisRound = 0
	p.deathsThisRound = 0
	p.killedPlayerNames = p.killedPlayerNames[:0]
	p.moneySpent = 0
	p.spentMoneyThisRound = false
	if sideSwitch {
		p.money = 800
	}
	p.scoreboardAvail = false
	p.auxScoreboard = false
	p.isAlive = true
	p.health = 100
}

func (p *player) setAuxDisconnected() {
	p.auxHealth = false
	p.auxAbilities = false
	p.auxScoreboard = false
}

func (p *player) agentScoreboardChecks(d partial) {
	switch p.agentProper {
	case agentClove:
		if d.kills == 0 && d.deaths == 0 && d.assists == 0 {
			return
		}
		if d.currUlt == 0 && p.ultReady {
			p.iconNameSuffix = suffixCloveUltimate
		}
		if truthyNum(d.kills) && d.kills > p.kills {
			p.iconNameSuffix = ""
		}
		if truthyNum(d.assists) && d.assists > p.assists {
			p.iconNameSuffix = ""
		}
	case agentVeto:
		if d.kills == 0 && d.deaths == 0 && d.assists == 0 {
			return
		}
		if d.currUlt == 0 && p.ultReady {
			p.iconNameSuffix = suffixVetoUltimate
		}
	}
}

func truthyNum(f float64) bool { return f != 0 && f == f }

func (p *player) agentDeathChecks() {
	switch p.agentProper {
	case agentAstra, agentClove, agentVeto:
		p.iconNameSuffix = ""
	}
}

func (p *player) setAstraTargeting(on bool) {
	if p.agentProper == agentAstra {
		p.iconNameSuffix = ""
		if on {
			p.iconNameSuffix = suffixAstraTargeting
		}
	}
}

func (p *player) setCypherCam(on bool) {
	if p.agentProper == agentCypher {
		p.iconNameSuffix = ""
		if on {
			p.iconNameSuffix = suffixCypherCam
		}
	}
}

func nanValue() float64 { return math.NaN() }
