package relay_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// TestCrashKeepsTeamInfo: a match ends (game_end), the server is killed
// with SIGKILL and started again on the same replay folder, and
// /getTeamInfoForCode answers for the finished match as before the kill:
// also when a new match on the same group code (the next map) was running
// at the kill and comes back beside it.
func TestCrashKeepsTeamInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server and kills it")
	}
	replay := replayPath(t, "short_3rounds.replay")
	for _, tc := range []struct {
		code    string
		nextMap bool // a new match on the code runs at the kill
	}{{"TIKIL1", false}, {"TIKIL2", true}} {
		t.Run(tc.code, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "replays")
			srv1 := startServer(t, serverOpts{replayDir: dir})
			obs, _ := obsLogon(t, srv1.Ingest, headerLogon(t, replay, "", tc.code))
			obsEvent(t, obs, "Observer1#OBS", tc.code, "score", map[string]any{"team_0": 1, "team_1": 0})
			obsEvent(t, obs, "Observer1#OBS", tc.code, "round_info", map[string]any{"roundNumber": 2, "roundPhase": "game_end"})
			u := "/getTeamInfoForCode?groupCode=" + tc.code
			var before httpAnswer
			if !testenv.Poll(5*time.Second, func() bool { before = do(t, "GET", srv1.Extras+u, nil, nil); return before.status == 200 }) {
				t.Fatalf("no team info after game_end: %d %s", before.status, before.body)
			}
			// The ended match's file is complete on disk (the end closes it).
			first := replayFiles(t, dir, tc.code)
			if len(first) != 1 || !testenv.Poll(5*time.Second, func() bool {
				b, err := os.ReadFile(first[0])
				return err == nil && bytes.Contains(b, []byte("game_end"))
			}) {
				t.Fatalf("the ended match's replay file with its game_end is not on disk: %v", first)
			}
			if tc.nextMap {
				obs2, _ := obsLogon(t, srv1.Ingest, headerLogon(t, replay, "", tc.code))
				obsEvent(t, obs2, "Observer1#OBS", tc.code, "map", "Jam")
				barrier(t, obs2)
				if !testenv.Poll(5*time.Second, func() bool {
					files := replayFiles(t, dir, tc.code)
					if len(files) != 2 {
						return false
					}
					b, err := os.ReadFile(files[1])
					return err == nil && bytes.Contains(b, []byte(`"Jam"`))
				}) {
					t.Fatal("the next map's replay file with its event is not on disk")
				}
			}

			srv1.kill(t)
			srv2 := startServer(t, serverOpts{replayDir: dir})
			after := do(t, "GET", srv2.Extras+u, nil, nil)
			if after.status != 200 || !bytes.Equal(after.body, before.body) {
				t.Fatalf("team info after the restart: %d %s\nwant 200 %s", after.status, after.body, before.body)
			}
			want := 0
			if tc.nextMap {
				want = 1
			}
			if n := matchesRunning(t, srv2); n != want {
				t.Errorf("%d matches running after the restart, want %d", n, want)
			}
		})
	}
}

// replayFiles lists the replay files of code in dir, oldest first (their
// names end in the start time).
func replayFiles(t *testing.T, dir, code string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "Match_"+code+"_*.replay"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}
