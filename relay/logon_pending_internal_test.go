package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"spectra-relay/internal/redistest"
)

// TestOverlayLogonDuringDueSend logs an overlay on while the match's newest
// state waits for its trailing send, on one node and on either node of a
// two-node cluster, and checks that every overlay gets each state once.
//
// The send interval is an hour, so a change after the observer's logon
// (whose state went out at once) waits for the trailing send, and the test
// runs that send itself (onTimer, the function the match's timer runs)
// once the late overlay is in: the logon happens while the send is due,
// every time. At the owner the late overlay's snapshot is the unsent state
// and the send must leave it out; at a non-owner it is the last state the
// owner published, and the forwarded send is its next one.
func TestOverlayLogonDuringDueSend(t *testing.T) {
	tests := []struct {
		name    string
		nodes   int // 1: no cluster; else nodes on one redis-server, node 0 owns the match
		lateAt  int // the node the late overlay logs on to
		lateGot func(initial string) []string
	}{
		{"one node", 1, 0, func(string) []string { return []string{"Lotus", "Sunset"} }},
		{"cluster, at the owner", 2, 0, func(string) []string { return []string{"Lotus", "Sunset"} }},
		{"cluster, at a non-owner", 2, 1, func(initial string) []string { return []string{initial, "Lotus", "Sunset"} }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := fmt.Sprintf("DUE%03d", i)
			nodes := make([]*tServer, tc.nodes)
			var redisURL string
			if tc.nodes > 1 {
				redisURL = redistest.Start(t).URL
			}
			for n := range nodes {
				nodes[n] = newTServer(t, func(c *Config) { c.SendInterval = time.Hour })
				if redisURL != "" {
					// No client has connected yet: as good as before the
					// listeners open.
					ctx, cancel := context.WithTimeout(context.Background(), tTimeout)
					err := nodes[n].srv.JoinCluster(ctx, ClusterConfig{RedisURL: redisURL, NodeID: fmt.Sprintf("node%d", n)})
					cancel()
					if err != nil {
						t.Fatalf("node %d joining the cluster: %v", n, err)
					}
				}
			}
			r := loadReplay(t, "short_3rounds")
			obs, _ := logonObserver(t, nodes[0], r.logon(code, tKey, tVersion))
			lm := nodes[0].srv.ctrl.get(code)
			if lm == nil {
				t.Fatal("the observer's logon made no live match")
			}
			// The match's state went out at its creation; one overlay per
			// node was there before the change.
			early := make([]*tClient, len(nodes))
			for n, ts := range nodes {
				early[n] = overlay(t, ts, code)
				early[n].waitFor(t, 0, named("match_data"))
			}
			initial := mapOf(t, early[0].all(), 0)

			due := func(internal string) {
				t.Helper()
				emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": code, "type": "map", "data": internal})
				obs.sync(t)
				lm.sendMu.Lock()
				armed := lm.armed
				lm.sendMu.Unlock()
				if !armed {
					t.Fatal("the change was sent at once; the test needs it to wait for the trailing send")
				}
			}
			var late *tClient
			// send runs the trailing send, an hour early, then waits for a
			// round trip on every overlay's connection: whatever the send
			// queued to them, a second copy too, arrived before the answer
			// (a later send could otherwise replace a queued copy).
			send := func() {
				t.Helper()
				lm.onTimer()
				for _, c := range append(early, late) {
					c.sync(t)
				}
			}
			await := func(c *tClient, name string) {
				t.Helper()
				c.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == name })
			}

			due("Jam") // Lotus
			late = overlay(t, nodes[tc.lateAt], code)
			late.waitFor(t, 0, named("match_data"))
			send()
			for _, c := range append(early, late) {
				await(c, "Lotus")
			}
			due("Juliett") // Sunset
			send()
			for _, c := range append(early, late) {
				await(c, "Sunset")
			}

			for n, c := range early {
				if got, want := states(t, c), []string{initial, "Lotus", "Sunset"}; !slices.Equal(got, want) {
					t.Errorf("the overlay on node %d from before got the maps %v, want %v", n, got, want)
				}
			}
			if got, want := states(t, late), tc.lateGot(initial); !slices.Equal(got, want) {
				t.Errorf("the overlay that logged on while the send was due got the maps %v, want %v: its snapshot, then each state once", got, want)
			}
		})
	}
}

// mapOf is the map of the i-th match_data among evs.
func mapOf(t *testing.T, evs []tEvent, i int) string {
	t.Helper()
	for _, e := range evs {
		if e.name != "match_data" {
			continue
		}
		if i == 0 {
			m, _ := matchData(t, e)["map"].(string)
			return m
		}
		i--
	}
	t.Fatalf("no match_data number %d", i)
	return ""
}

// states lists the maps of c's match_data in order; it fails the test when
// one state came twice in a row (a version delivered twice).
func states(t *testing.T, c *tClient) []string {
	t.Helper()
	var maps []string
	var prev string
	for _, e := range c.all() {
		if e.name != "match_data" {
			continue
		}
		if e.arg == prev {
			t.Errorf("the same state twice in a row (map %v)", matchData(t, e)["map"])
		}
		prev = e.arg
		m, _ := matchData(t, e)["map"].(string)
		maps = append(maps, m)
	}
	return maps
}
