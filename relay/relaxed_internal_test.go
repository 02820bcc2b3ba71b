package relay

import (
	"testing"

	"spectra-relay/relay/replayfile"
)

// TestMatchStartTrueRuns: an observer whose match_start carries true (older
// observer clients send it) gets a running match, with matchId true in
// match_data as the existing server sends it; an auxiliary logon finds the
// match by true and not by "true" (true != "true" in JS).
func TestMatchStartTrueRuns(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	const code = "TRUE01"
	obs, _ := logonObserver(t, ts, r.logon(code, tKey, tVersion))
	sendObs(t, obs, r, code, func(e replayfile.Event) bool { return e.Type == "match_start" })
	ov := overlay(t, ts, code)
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": r.header.ObsName, "groupCode": code, "type": "match_start", "data": true})
	ov.waitFor(t, 0, func(e tEvent) bool {
		if e.name != "match_data" {
			return false
		}
		md := matchData(t, e)
		return md["isRunning"] == true && md["matchId"] == true
	})

	for _, tc := range []struct {
		matchID any
		ack     string
	}{
		{true, auxAckOK},
		{"true", obsAck(false, "Game with Match ID true not found.")}, // true != "true"
		{nil, obsAck(false, "Game with Match ID null not found.")},
	} {
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "aux_logon", map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "name": "A#1", "matchId": tc.matchID, "playerId": "p"})
		if _, raw := c.ack(t, "aux_logon_ack"); raw != tc.ack {
			t.Errorf("aux logon with matchId %#v: %s, want %s", tc.matchID, raw, tc.ack)
		}
	}
}
