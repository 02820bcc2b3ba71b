package relay_test

import (
	"encoding/json"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
)

// TestClusterAuxClientChangesOnlyItsPlayer: an auxiliary client on another
// node than the match's owner, logged on as player A, has its own health
// applied by the owner while its health for player B is dropped there:
// the forwarded data carries the player the client may change.
func TestClusterAuxClientChangesOnlyItsPlayer(t *testing.T) {
	_, r, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	d := &crashDriver{t: t, replay: r.path, auxAt: b}
	d.connect(a, r.h.GroupCode, "")
	ov := newOverlay(t, a.Output, r.h.GroupCode)

	names := map[string]string{}
	var auxA *replayfile.Event
	for i := range r.events {
		e := &r.events[i]
		var ro struct{ PlayerID, Name string }
		if e.Type == "roster" && json.Unmarshal(e.Data, &ro) == nil {
			names[ro.PlayerID] = ro.Name
		}
		if auxA == nil && e.Kind() == replayfile.KindAux {
			auxA = e
		}
	}
	var idB string
	for id := range names {
		if id != auxA.PlayerID && (idB == "" || id < idB) {
			idB = id
		}
	}
	// The observer's events up to match_start make the match and its id.
	for i := range r.events {
		if e := &r.events[i]; e.Kind() == replayfile.KindObserver {
			d.send(a, e)
			if e.Type == "match_start" {
				break
			}
		}
	}
	d.sync()
	c := d.auxFor(b, auxA)
	for _, m := range []map[string]any{
		{"playerId": idB, "matchId": auxA.MatchID, "type": "aux_health", "data": 13},
		{"playerId": auxA.PlayerID, "matchId": auxA.MatchID, "type": "aux_health", "data": 77},
	} {
		p, _ := json.Marshal(m)
		if err := c.Emit("aux_data", string(p)); err != nil {
			t.Fatal(err)
		}
	}
	health := func(st map[string]any, name string) any {
		for _, tm := range st["teams"].([]any) {
			for _, p := range tm.(map[string]any)["players"].([]any) {
				if pm := p.(map[string]any); pm["name"] == name {
					return pm["health"]
				}
			}
		}
		return nil
	}
	var st map[string]any
	if !testenv.Poll(10*time.Second, func() bool {
		st = ov.latest()
		return st != nil && health(st, names[auxA.PlayerID]) == 77.0
	}) {
		t.Fatalf("A's own health never reached the overlay on the owner")
	}
	if h := health(st, names[idB]); h == 13.0 {
		t.Errorf("B's health was set by A's auxiliary client on another node")
	}
}
