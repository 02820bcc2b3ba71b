package relay

import (
	"os"
	"testing"
	"time"

	"spectra-relay/relay/replayfile"
)

// TestRecoverTeamInfo: after a restart, /getTeamInfoForCode answers for the
// matches that ended less than the team info's lifetime ago, as the server
// before the restart did: from the match's replay file, whether it is the
// newest of its code or an older one a new match superseded, and whether
// or not the end already removed its secret sidecar; until its lifetime,
// counted from the game_end, is over. The reference is the info the same
// events give a live controller.
func TestRecoverTeamInfo(t *testing.T) {
	r := loadReplay(t, "short_3rounds")
	const n = 60 // past match_start and the first scores
	want := func(code string) string {
		c := newController(controllerConfig{Logger: quietLogger()}, nil)
		defer c.Close()
		newTestMatch(t, c, r, code)
		for _, p := range append(obsPayloads(t, r, code)[:n], gameEnd(code)) {
			ingestT(t, c, p)
		}
		info, ok := c.TeamInfo(code)
		if !ok {
			t.Fatalf("%s: no team info after a live game_end", code)
		}
		return string(info)
	}

	dir := t.TempDir()
	now := time.Now()
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	tests := []struct {
		code string
		// files writes the code's replay files.
		files     func(code string)
		restored  bool
		expiresIn time.Duration // left of the lifetime, about (restored only)
	}{
		{"ENDED1", func(code string) { writeFixture(t, dir, code, "S-"+code, ago(10), r, n, gameEnd(code)) }, true, 50 * time.Minute},
		{"NOSEC1", func(code string) {
			p := writeFixture(t, dir, code, "S-"+code, ago(20), r, n, gameEnd(code))
			if err := os.Remove(replayfile.SecretPath(p)); err != nil {
				t.Fatal(err)
			}
		}, true, 40 * time.Minute},
		{"NEXTM1", func(code string) { // map 2 on the same code runs now
			writeFixture(t, dir, code, "S-"+code+"-1", ago(30), r, n, gameEnd(code))
			writeFixture(t, dir, code, "S-"+code+"-2", ago(5), r, n)
		}, true, 30 * time.Minute},
		{"LATER1", func(code string) { // two ended: the later one's info
			writeFixture(t, dir, code, "S-"+code+"-1", ago(50), r, n, gameEnd(code))
			writeFixture(t, dir, code, "S-"+code+"-2", ago(15), r, n, gameEnd(code))
		}, true, 45 * time.Minute},
		{"QUIET1", func(code string) { // untouched for longer than the inactivity expiry
			p := writeFixture(t, dir, code, "S-"+code, ago(45), r, n, gameEnd(code))
			if err := os.Chtimes(p, ago(45), ago(45)); err != nil {
				t.Fatal(err)
			}
		}, true, 15 * time.Minute},
		{"STALE1", func(code string) { writeFixture(t, dir, code, "S-"+code, ago(70), r, n, gameEnd(code)) }, false, 0},
		{"LIVE01", func(code string) { writeFixture(t, dir, code, "S-"+code, ago(5), r, n) }, false, 0},
	}
	for _, tc := range tests {
		tc.files(tc.code)
	}
	var logs logBuf
	ts, _ := recoveringServer(t, dir, &logs)
	ctrl := ts.srv.ctrl
	for _, tc := range tests {
		info, ok := ctrl.TeamInfo(tc.code)
		if ok != tc.restored {
			t.Errorf("%s: team info restored %v, want %v\n%s", tc.code, ok, tc.restored, logs.String())
			continue
		}
		if !ok {
			continue
		}
		if w := want(tc.code); string(info) != w {
			t.Errorf("%s: team info\n%s\nwant\n%s", tc.code, info, w)
		}
		ctrl.finishedMu.Lock()
		left := ctrl.finished[tc.code].expires.Sub(now)
		ctrl.finishedMu.Unlock()
		if d := left - tc.expiresIn; d < -time.Minute || d > time.Minute {
			t.Errorf("%s: team info kept for %v more, want about %v (an hour from the game_end)", tc.code, left.Round(time.Second), tc.expiresIn)
		}
	}
	// The running match of NEXTM1 and LIVE01 came back beside it.
	for _, code := range []string{"NEXTM1", "LIVE01"} {
		if ctrl.get(code) == nil {
			t.Errorf("%s: the running match was not recovered", code)
		}
	}
}
