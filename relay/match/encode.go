package match

import "strconv"

// AppendJSON appends the public match_data JSON: every field of the existing
// server's match object in its order, without the group secret, replay log,
// event counter, timer handles and the playercams secret / end time.
// Absent (undefined) fields are left out and NaN/Infinity become null, as
// JSON.stringify does.
func (m *Match) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"matchId":`...)
	dst = appendJV(dst, m.matchID)
	if m.matchType.k != kUndefined {
		dst = append(dst, `,"matchType":`...)
		dst = appendJV(dst, m.matchType)
	}
	dst = append(dst, `,"switchRound":`...)
	dst = appendJSNumber(dst, m.switchRound)
	dst = append(dst, `,"firstOtRound":`...)
	dst = appendJSNumber(dst, m.firstOtRound)
	dst = append(dst, `,"groupCode":`...)
	dst = appendJSString(dst, m.groupCode)
	dst = append(dst, `,"isRunning":`...)
	dst = strconv.AppendBool(dst, m.isRunning)
	if m.hasAgentSelectStart {
		dst = append(dst, `,"agentSelectStartTime":`...)
		dst = strconv.AppendInt(dst, m.agentSelectStart, 10)
	}
	if m.roundNumber.k != kUndefined {
		dst = append(dst, `,"roundNumber":`...)
		dst = appendJV(dst, m.roundNumber)
	}
	if m.roundPhase.k != kUndefined {
		dst = append(dst, `,"roundPhase":`...)
		dst = appendJV(dst, m.roundPhase)
	}
	if m.hasRoundTimeoutTime {
		dst = append(dst, `,"roundTimeoutTime":`...)
		dst = strconv.AppendInt(dst, m.roundTimeoutTime, 10)
	}
	dst = append(dst, `,"wasTimeout":`...)
	dst = strconv.AppendBool(dst, m.wasTimeout)
	if m.hasSpikeDetonation {
		dst = append(dst, `,"spikeDetonationTime":`...)
		dst = strconv.AppendInt(dst, m.spikeDetonationTime, 10)
	}
	dst = append(dst, `,"teams":[`...)
	for i, t := range m.teams {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = t.appendJSON(dst)
	}
	dst = append(dst, `],"map":`...)
	dst = appendJSString(dst, m.mapName)
	dst = append(dst, `,"spikeState":{"planted":`...)
	dst = strconv.AppendBool(dst, m.spikePlanted)
	dst = append(dst, `,"detonated":`...)
	dst = strconv.AppendBool(dst, m.spikeDetonated)
	dst = append(dst, `,"defused":`...)
	dst = strconv.AppendBool(dst, m.spikeDefused)
	dst = append(dst, `},"attackersWon":`...)
	dst = strconv.AppendBool(dst, m.attackersWon)
	dst = append(dst, `,"showAliveKDA":`...)
	dst = strconv.AppendBool(dst, m.showAliveKDA)
	dst = append(dst, `,"timeoutState":{"techPause":`...)
	dst = strconv.AppendBool(dst, m.techPause)
	dst = append(dst, `,"leftTeam":`...)
	dst = strconv.AppendBool(dst, m.leftTimeout)
	dst = append(dst, `,"rightTeam":`...)
	dst = strconv.AppendBool(dst, m.rightTimeout)
	if m.timeRemaining.k != kUndefined {
		dst = append(dst, `,"timeRemaining":`...)
		dst = appendJV(dst, m.timeRemaining)
	}
	dst = append(dst, `},"timeoutGracePeriodPassed":`...)
	dst = strconv.AppendBool(dst, m.timeoutGracePeriodPassed)
	if m.toastInfo.k != kUndefined {
		dst = append(dst, `,"toastInfo":`...)
		dst = appendJV(dst, m.toastInfo)
	}
	dst = append(dst, `,"hasEnteredOvertime":`...)
	dst = strconv.AppendBool(dst, m.hasEnteredOvertime)
	dst = append(dst, `,"tools":`...)
	dst = append(dst, m.toolsBytes()...)
	dst = append(dst, `,"organizationId":"","isRegistered":false,"orgIsSupporter":`...)
	dst = strconv.AppendBool(dst, m.orgIsSupporter)
	return append(dst, '}')
}

// toolsBytes caches the tools JSON; it changes only with the timeout counters.
func (m *Match) toolsBytes() []byte {
	if m.toolsDirty || m.toolsJSON == nil {
		m.toolsJSON = appendTools(m.toolsJSON[:0], m.tools)
		m.toolsDirty = false
	}
	return m.toolsJSON
}

func appendTools(dst []byte, tools jv) []byte {
	dst = append(dst, '{')
	comma := false
	for i, k := range tools.obj.keys {
		v := tools.obj.vals[i]
		if v.k == kUndefined {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = appendJSString(dst, k)
		dst = append(dst, ':')
		if k == "playercamsInfo" && v.k == kObject {
			dst = append(dst, '{')
			dst = appendObjectMembers(dst, v.obj, false, func(k string) bool { return k == "secret" || k == "endTime" })
			dst = append(dst, '}')
			continue
		}
		dst = appendJV(dst, v)
	}
	return append(dst, '}')
}

func (t *team) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	comma := false
	for _, f := range [...]struct {
		key string
		v   jv
	}{{"teamName", t.name}, {"teamTricode", t.tricode}, {"teamUrl", t.url}} {
		if f.v.k == kUndefined {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, f.key...)
		dst = append(dst, `":`...)
		dst = appendJV(dst, f.v)
	}
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"ingameTeamId":`...)
	dst = appendJSNumber(dst, t.ingameTeamID)
	dst = append(dst, `,"isAttacking":`...)
	dst = strconv.AppendBool(dst, t.isAttacking)
	dst = append(dst, `,"hasHandledTeam":false`...)
	if t.roundsWon.k != kUndefined {
		dst = append(dst, `,"roundsWon":`...)
		dst = appendJV(dst, t.roundsWon)
	}
	dst = append(dst, `,"spentThisRound":`...)
	dst = appendJSNumber(dst, t.spentThisRound)
	dst = append(dst, `,"roundRecord":[`...)
	for i, r := range t.roundRecord {
		if i > 0 {
			dst = append(dst, ',')
		}
		if !r.set {
			dst = append(dst, "null"...)
			continue
		}
		dst = append(dst, `{"type":`...)
		dst = appendJSString(dst, r.typ)
		dst = append(dst, `,"wasAttack":`...)
		dst = strconv.AppendBool(dst, r.wasAttack)
		dst = append(dst, `,"round":`...)
		dst = appendJSNumber(dst, r.round)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if t.removeTricode.k != kUndefined {
		dst = append(dst, `,"removeTricode":`...)
		dst = appendJV(dst, t.removeTricode)
	}
	dst = append(dst, `,"players":[`...)
	for i, p := range t.players {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = p.appendJSON(dst)
	}
	dst = append(dst, `],"playerCount":`...)
	dst = strconv.AppendInt(dst, int64(t.playerCount), 10)
	dst = append(dst, `,"hasDuplicateAgents":`...)
	dst = strconv.AppendBool(dst, t.hasDuplicateAgents)
	return append(dst, '}')
}

func appendKeySet(dst []byte, k *keySet) []byte {
	dst = append(dst, '{')
	for i, key := range k.o.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSString(dst, key)
		dst = append(dst, ":1"...)
	}
	return append(dst, '}')
}

func (p *player) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSString(dst, p.name)
	dst = append(dst, `,"tagline":`...)
	dst = appendJSString(dst, p.tagline)
	dst = append(dst, `,"riotId":`...)
	dst = appendJSString(dst, p.riotID)
	dst = append(dst, `,"searchName":`...)
	dst = appendJSString(dst, p.searchName)
	dst = append(dst, `,"fullName":`...)
	dst = appendJSString(dst, p.fullName)
	if p.position.k != kUndefined {
		dst = append(dst, `,"position":`...)
		dst = appendJV(dst, p.position)
	}
	if p.locked.k != kUndefined {
		dst = append(dst, `,"locked":`...)
		dst = appendJV(dst, p.locked)
	}
	dst = append(dst, `,"agentInternal":`...)
	dst = appendJSString(dst, p.agentInternal)
	dst = append(dst, `,"agentProper":`...)
	dst = appendJSString(dst, p.agentProper)
	dst = append(dst, `,"isAlive":`...)
	dst = strconv.AppendBool(dst, p.isAlive)
	dst = append(dst, `,"hasSpike":`...)
	dst = strconv.AppendBool(dst, p.hasSpike)
	dst = append(dst, `,"isObserved":`...)
	dst = strconv.AppendBool(dst, p.isObserved)
	dst = append(dst, `,"health":`...)
	dst = appendJSNumber(dst, p.health)
	dst = append(dst, `,"abilities":{`...)
	comma := false
	for i, k := range [...]string{`"grenade":`, `"ability1":`, `"ability2":`} {
		if p.abilities[i].k == kUndefined {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, k...)
		dst = appendJV(dst, p.abilities[i])
	}
	dst = append(dst, `},"kills":`...)
	dst = appendJSNumber(dst, p.kills)
	dst = append(dst, `,"deaths":`...)
	dst = appendJSNumber(dst, p.deaths)
	dst = append(dst, `,"assists":`...)
	dst = appendJSNumber(dst, p.assists)
	dst = append(dst, `,"kdRatio":`...)
	dst = appendJSNumber(dst, p.kdRatio)
	dst = append(dst, `,"killsThisRound":`...)
	dst = appendJSNumber(dst, p.killsThisRound)
	dst = append(dst, `,"deathsThisRound":`...)
	dst = appendJSNumber(dst, p.deathsThisRound)
	dst = append(dst, `,"killedPlayerNames":[`...)
	for i, n := range p.killedPlayerNames {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJV(dst, n)
	}
	dst = append(dst, `],"currUltPoints":`...)
	dst = appendJSNumber(dst, p.currUltPoints)
	dst = append(dst, `,"maxUltPoints":`...)
	dst = appendJSNumber(dst, p.maxUltPoints)
	dst = append(dst, `,"ultReady":`...)
	dst = strconv.AppendBool(dst, p.ultReady)
	dst = append(dst, `,"money":`...)
	dst = appendJSNumber(dst, p.money)
	dst = append(dst, `,"moneySpent":`...)
	dst = appendJSNumber(dst, p.moneySpent)
	dst = append(dst, `,"spentMoneyThisRound":`...)
	dst = strconv.AppendBool(dst, p.spentMoneyThisRound)
	if p.armorDefined {
		dst = append(dst, `,"armorName":`...)
		dst = appendJSString(dst, p.armorName)
	}
	if p.weaponDefined {
		dst = append(dst, `,"highestWeapon":`...)
		dst = appendJSString(dst, p.highestWeapon)
	}
	dst = append(dst, `,"currentMMRTier":null,"peakMMRTier":null,"teamKills":`...)
	dst = appendJSNumber(dst, p.teamKills)
	dst = append(dst, `,"headshotKills":`...)
	dst = appendJSNumber(dst, p.headshotKills)
	dst = append(dst, `,"headshotRatio":`...)
	dst = appendJSNumber(dst, p.headshotRatio)
	dst = append(dst, `,"killsByWeaponsAndAbilities":`...)
	dst = appendKeySet(dst, &p.killsByWeapon)
	dst = append(dst, `,"killsOnEnemyPlayer":`...)
	dst = appendKeySet(dst, &p.killsOnEnemy)
	dst = append(dst, `,"killsOnTeammatePlayer":`...)
	dst = appendKeySet(dst, &p.killsOnTeammate)
	dst = append(dst, `,"assistsFromTeammate":{},"scoreboardAvailable":`...)
	dst = strconv.AppendBool(dst, p.scoreboardAvail)
	dst = append(dst, `,"auxiliaryAvailable":{"health":`...)
	dst = strconv.AppendBool(dst, p.auxHealth)
	dst = append(dst, `,"abilities":`...)
	dst = strconv.AppendBool(dst, p.auxAbilities)
	dst = append(dst, `,"scoreboard":`...)
	dst = strconv.AppendBool(dst, p.auxScoreboard)
	dst = append(dst, `},"iconNameSuffix":`...)
	dst = appendJSString(dst, p.iconNameSuffix)
	return append(dst, '}')
}
