package relay

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLogonLimits: obs_logon and aux_logon fields of the wrong kind or
// past their caps (doc.go) are refused with "Invalid packet." in the ack
// shape of SPEC §4; fields at their caps are accepted.
func TestLogonLimits(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	// A live match for the auxiliary logons, with a match id.
	obs, _ := logonObserver(t, ts, r.logon("LIMIT1", tKey, tVersion))
	sendObs(t, obs, r, "LIMIT1", afterMatchStart())
	matchID := r.matchID()

	obsLogon := func(mod func(m map[string]any)) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(mustMarshal(t, r.logon("", tKey, tVersion)), &m); err != nil {
			t.Fatal(err)
		}
		mod(m)
		return m
	}
	team := func(side, key string, v any) func(m map[string]any) {
		return func(m map[string]any) {
			tm := map[string]any{}
			_ = json.Unmarshal(mustMarshal(t, m[side]), &tm)
			tm[key] = v
			m[side] = tm
		}
	}
	set := func(key string, v any) func(m map[string]any) { return func(m map[string]any) { m[key] = v } }
	del := func(key string) func(m map[string]any) { return func(m map[string]any) { delete(m, key) } }
	code := func(n int) string { return strings.Repeat("G", n) }
	name := func(n int) string { return strings.Repeat("n", n) }

	obsCases := []struct {
		name string
		mod  func(m map[string]any)
		ok   bool
	}{
		{"numeric groupCode", set("groupCode", 123456), false},
		{"object groupCode", set("groupCode", map[string]any{"a": 1}), false},
		{"null groupCode", set("groupCode", nil), false},
		{"no groupCode", del("groupCode"), false},
		{"empty groupCode", set("groupCode", ""), false},
		{"groupCode of 65 bytes", set("groupCode", code(maxGroupCodeLen+1)), false},
		{"groupCode of 500 KB", set("groupCode", code(500<<10)), false},
		{"obsName of 900 KB", func(m map[string]any) { m["groupCode"] = "OBSNM1"; m["obsName"] = name(900 << 10) }, false},
		{"obsName of 257 bytes", func(m map[string]any) { m["groupCode"] = "OBSNM2"; m["obsName"] = name(maxNameLen + 1) }, false},
		{"obsName object of 300 bytes", func(m map[string]any) { m["groupCode"] = "OBSNM3"; m["obsName"] = map[string]string{"x": name(300)} }, false},
		{"left team name too long", func(m map[string]any) { m["groupCode"] = "TEAM01"; team("leftTeam", "name", name(maxNameLen+1))(m) }, false},
		{"right tricode too long", func(m map[string]any) { m["groupCode"] = "TEAM02"; team("rightTeam", "tricode", name(maxNameLen+1))(m) }, false},
		{"team as a long string", func(m map[string]any) { m["groupCode"] = "TEAM03"; m["leftTeam"] = name(maxNameLen + 1) }, false},
		{"escapes count decoded", func(m map[string]any) { m["groupCode"] = "ESC001"; m["obsName"] = strings.Repeat("é", maxNameLen/2) }, true},
		{"clientVersion of 500 KB", func(m map[string]any) { m["groupCode"] = "VERS01"; m["clientVersion"] = name(500 << 10) }, false},
		{"clientVersion of 65 bytes", func(m map[string]any) { m["groupCode"] = "VERS02"; m["clientVersion"] = name(maxVersionLen + 1) }, false},
		{"groupCode of 64 bytes", set("groupCode", code(maxGroupCodeLen)), true},
		{"names at the cap", func(m map[string]any) {
			m["groupCode"] = "CAP001"
			m["obsName"] = name(maxNameLen)
			team("leftTeam", "name", name(maxNameLen))(m)
			team("rightTeam", "tricode", name(maxNameLen))(m)
		}, true},
	}
	for _, tc := range obsCases {
		t.Run("obs_logon/"+tc.name, func(t *testing.T) {
			c := dialT(t, ts.ingest)
			emitJSON(t, c, "obs_logon", obsLogon(tc.mod))
			a, raw := c.ack(t, "obs_logon_ack")
			if tc.ok {
				if !a.Value || !isSecret(a.Reason) {
					t.Fatalf("ack %s, want accepted", raw)
				}
				return
			}
			if want := obsAck(false, reasonInvalidPacket); raw != want {
				t.Fatalf("ack %.200s, want %s", raw, want)
			}
			waitDone(t, c)
		})
	}

	aux := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "name": "Aux#1", "matchId": matchID, "playerId": "p-1"}
		mod(m)
		return m
	}
	auxCases := []struct {
		name string
		mod  func(m map[string]any)
		ok   bool
	}{
		{"name too long", set("name", name(maxNameLen+1)), false},
		{"name of 900 KB", set("name", name(900<<10)), false},
		{"playerId too long", set("playerId", name(maxNameLen+1)), false},
		{"matchId too long", set("matchId", name(maxNameLen+1)), false},
		{"clientVersion too long", set("clientVersion", name(maxVersionLen+1)), false},
		{"object name too long", set("name", map[string]string{"x": name(maxNameLen)}), false},
		{"at the caps", func(m map[string]any) { m["name"] = name(maxNameLen); m["playerId"] = name(maxNameLen) }, true},
	}
	for _, tc := range auxCases {
		t.Run("aux_logon/"+tc.name, func(t *testing.T) {
			c := dialT(t, ts.ingest)
			emitJSON(t, c, "aux_logon", aux(tc.mod))
			a, raw := c.ack(t, "aux_logon_ack")
			if tc.ok {
				if raw != auxAckOK {
					t.Fatalf("ack %s, want %s", raw, auxAckOK)
				}
				return
			}
			if want := obsAck(false, reasonInvalidPacket); raw != want || a.Type != "authenticate" {
				t.Fatalf("ack %.200s, want %s", raw, want)
			}
			waitDone(t, c)
		})
	}
	select {
	case <-obs.Done():
		t.Errorf("the match's observer was disconnected: %v", obs.Err())
	default:
	}
}
