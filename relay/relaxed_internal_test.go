package relay

import (
	"strings"
	"testing"

	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio"
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

// TestEventText: the text of an event's first argument is what the
// existing server's msg.toString() gives; node: ['{"a":1}'].toString() is
// '{"a":1}', ['{"a":1', '"b":2}'].toString() '{"a":1,"b":2}', ({}).toString()
// "[object Object]", (5).toString() "5".
func TestEventText(t *testing.T) {
	deep := strings.Repeat("[", 600) + strings.Repeat("]", 600)
	for _, tc := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{`"{\"a\":1}"`}, `{"a":1}`, true},
		{[]string{`["{\"a\":1}"]`}, `{"a":1}`, true},
		{[]string{`["{\"a\":1","\"b\":2}"]`}, `{"a":1,"b":2}`, true},
		{[]string{`{"type":"authenticate"}`}, `[object Object]`, true},
		{[]string{`5`}, `5`, true},
		{[]string{`[[null,"x"]]`}, `,x`, true},
		{[]string{`"s"`, `"ignored"`}, `s`, true},
		{nil, ``, false},
		{[]string{deep}, ``, false}, // deeper than the parser takes: dropped
	} {
		e := &socketio.Event{Name: "obs_data"}
		for _, a := range tc.args {
			e.Args = append(e.Args, socketio.RawJSON(a))
		}
		got, err := eventText(e)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("eventText(%.40v) = %q, %v; want %q, ok %v", tc.args, got, err, tc.want, tc.ok)
		}
	}
}

// TestObsDataArrayArgument: an observer that emits its data wrapped in an
// array is applied, as msg.toString() makes the original server parse it.
func TestObsDataArrayArgument(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	const code = "ARRAY1"
	obs, _ := logonObserver(t, ts, r.logon(code, tKey, tVersion))
	ov := overlay(t, ts, code)
	payload := `{"obsName":"o","groupCode":"` + code + `","type":"map","data":"Jam"}`
	if err := obs.Emit("obs_data", []string{payload}); err != nil {
		t.Fatal(err)
	}
	ov.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == "Lotus" })
}
