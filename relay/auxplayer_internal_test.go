package relay

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// TestAuxClientChangesOnlyItsPlayer: through the ingest port, an auxiliary
// client logged on as player A has its own health applied while its
// health, abilities and scoreboard for player B are dropped (logged, not
// recorded in the replay file); a client that logged on without an id is
// bound by the first id it names.
func TestAuxClientChangesOnlyItsPlayer(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		logonAsA   bool // else the logon's playerId is "" and the first event binds
	}{
		{"logged on as A", "AUXPA1", true},
		{"bound by its first event", "AUXPA2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &msgCounter{n: map[string]int{}}
			ts := newTServer(t, func(c *Config) { c.Logger = slog.New(logs) })
			r := loadReplay(t, "short_3rounds")
			obs, _ := logonObserver(t, ts, r.logon(tc.code, tKey, tVersion))
			sendObs(t, obs, r, tc.code, afterMatchStart())
			matchID := r.matchID()

			// A is a player the replay has an auxiliary client for, B
			// another player of the roster; match_data names players, not
			// ids.
			names := map[string]string{}
			var idA, idB string
			for _, e := range r.events {
				var d struct{ PlayerID, Name string }
				if e.Type == "roster" && json.Unmarshal(e.Data, &d) == nil {
					names[d.PlayerID] = d.Name
				}
				if idA == "" && e.Kind() == replayfile.KindAux {
					idA = e.PlayerID
				}
			}
			for id := range names {
				if id != idA && (idB == "" || id < idB) {
					idB = id
				}
			}
			if names[idA] == "" || names[idB] == "" {
				t.Fatalf("players A %q and B %q not in the roster", idA, idB)
			}

			aux := dialT(t, ts.ingest)
			logonID := ""
			if tc.logonAsA {
				logonID = idA
			}
			emitJSON(t, aux, "aux_logon", map[string]any{
				"type": "aux_authenticate", "clientVersion": tVersion, "name": "A#1", "matchId": matchID, "playerId": logonID,
			})
			if _, raw := aux.ack(t, "aux_logon_ack"); raw != auxAckOK {
				t.Fatalf("aux logon: %s", raw)
			}
			ov := overlay(t, ts, tc.code)
			send := func(envelopeID, typ string, data any) {
				emitJSON(t, aux, "aux_data", map[string]any{"playerId": envelopeID, "matchId": matchID, "type": typ, "data": data})
			}
			if !tc.logonAsA {
				send(idA, "aux_health", 64) // binds the client to A
			}
			send(idB, "aux_health", 13)
			send(idB, "aux_abilities", map[string]any{"grenade": 0, "ability_1": 0, "ability_2": 0})
			sb := map[string]any{"playerId": idB, "startTeam": 0, "agentInternal": "Rift_PC_C", "isAlive": true,
				"initialArmor": 0, "scoreboardWeaponInternal": "knife", "currUltPoints": 0, "maxUltPoints": 7,
				"hasSpike": false, "money": 31337, "kills": 0, "deaths": 0, "assists": 0}
			for _, team := range []int{0, 1} {
				sb["startTeam"] = team
				send(idA, "aux_scoreboard", sb)
			}
			send(idA, "aux_health", 77) // A's own: applied, and after the others
			aux.sync(t)

			player := func(e tEvent, name string) map[string]any {
				for _, tm := range matchData(t, e)["teams"].([]any) {
					for _, p := range tm.(map[string]any)["players"].([]any) {
						if pm := p.(map[string]any); pm["name"] == name {
							return pm
						}
					}
				}
				t.Fatalf("no player %s in match_data", name)
				return nil
			}
			last, _ := ov.waitFor(t, 0, func(e tEvent) bool {
				return e.name == "match_data" && player(e, names[idA])["health"] == 77.0
			})
			if a := player(last, names[idA]); a["auxiliaryAvailable"].(map[string]any)["health"] != true {
				t.Errorf("A's own aux health not flagged: %v", a["auxiliaryAvailable"])
			}
			b := player(last, names[idB])
			if b["health"] == 13.0 || b["money"] == 31337.0 {
				t.Errorf("B was changed by A's client: health %v money %v", b["health"], b["money"])
			}
			for k, v := range b["auxiliaryAvailable"].(map[string]any) {
				if v != false {
					t.Errorf("B's auxiliaryAvailable.%s = %v", k, v)
				}
			}
			if n := logs.count("dropped auxiliary data for another player than the connection's"); n < 1 {
				t.Error("the dropped events were not logged")
			}
			select {
			case <-aux.Done():
				t.Fatalf("the auxiliary client was disconnected: %v", aux.Err())
			default:
			}

			// The replay file (the source of recovery) holds A's events only.
			_ = obs.Close() // keeps the match; the file stays open, flushed by the loop
			files, _ := filepath.Glob(filepath.Join(ts.replayDir, "Match_"+tc.code+"_*.replay"))
			if len(files) != 1 {
				t.Fatalf("replay files %v", files)
			}
			sent := sendObsCount(r, afterMatchStart())
			wantAux := 1
			if !tc.logonAsA {
				wantAux = 2
			}
			_, evs := readReplayEventually(t, files[0], sent+wantAux)
			for _, e := range evs {
				if e.Kind() == replayfile.KindAux && e.PlayerID != idA {
					t.Errorf("replay recorded %s for %s", e.Type, e.PlayerID)
				}
				var d struct{ PlayerID string }
				if e.Type == "aux_scoreboard" && json.Unmarshal(e.Data, &d) == nil && d.PlayerID != idA {
					t.Errorf("replay recorded B's aux_scoreboard")
				}
			}
		})
	}
}

// sendObsCount is how many events sendObs sends with stop.
func sendObsCount(r tReplay, stop func(replayfile.Event) bool) int {
	n := 0
	for _, e := range r.events {
		if stop != nil && stop(e) {
			break
		}
		if e.Kind() == replayfile.KindObserver {
			n++
		}
	}
	return n
}

// TestAuxBinding: an auxiliary connection's owner is its logon's id, else
// the first id its events name; the player a disconnect resets is set by
// aux_scoreboard as the existing server sets it, but only to the owner.
func TestAuxBinding(t *testing.T) {
	type step struct{ typ, pid string }
	for _, tc := range []struct {
		name            string
		logon           string
		steps           []step
		owner, playerID string
	}{
		{"logon id", "a", []step{{"aux_health", "b"}, {"aux_scoreboard", "b"}}, "a", "a"},
		{"first event binds", "", []step{{"aux_health", "a"}, {"aux_health", "b"}}, "a", ""},
		{"first scoreboard binds both", "", []step{{"aux_scoreboard", "a"}, {"aux_scoreboard", "b"}}, "a", "a"},
		{"another's scoreboard after binding", "", []step{{"aux_health", "a"}, {"aux_scoreboard", "b"}}, "a", ""},
		{"own scoreboard after binding", "", []step{{"aux_health", "a"}, {"aux_scoreboard", "a"}}, "a", "a"},
		{"no id yet", "", []step{{"aux_health", ""}, {"aux_scoreboard", "b"}}, "b", "b"},
		{"an id longer than a logon takes", "", []step{{"aux_health", strings.Repeat("x", maxNameLen+1)}, {"aux_health", "a"}}, "a", ""},
	} {
		ic := &ingestConn{aux: true, auxOwner: tc.logon, playerID: tc.logon}
		for _, st := range tc.steps {
			ev := match.Event{Type: st.typ, PlayerID: st.pid}
			ic.bindAux(&ev)
			if !ev.Aux || ev.AuxPlayer != ic.auxOwner {
				t.Errorf("%s: event marked %v %q, owner %q", tc.name, ev.Aux, ev.AuxPlayer, ic.auxOwner)
			}
		}
		if ic.auxOwner != tc.owner || ic.playerID != tc.playerID {
			t.Errorf("%s: owner %q, playerID %q; want %q, %q", tc.name, ic.auxOwner, ic.playerID, tc.owner, tc.playerID)
		}
	}
	obs := &ingestConn{}
	ev := match.Event{Type: "aux_health", PlayerID: "a"}
	obs.bindAux(&ev)
	if ev.Aux || obs.auxOwner != "" {
		t.Error("an observer connection's events were marked auxiliary")
	}
}
