package relay_test

// Acceptance 4: a replay file written by the server, played back with
// cmd/spectra-replay into a fresh server, yields the same final state.
//
// short_3rounds has no game_end: the match stays, and its final state is
// read from an overlay. A replay with game_end is compared on the state just
// before game_end (game_end removes the match and the existing server sends
// no last match_data): spectra-replay's manual mode sends every event but
// the last, the test reads the settled state, then lets game_end go.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
)

func TestRoundTripReplayFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: three full replays through two servers each")
	}
	for _, tc := range []struct {
		file    string
		gameEnd bool
	}{
		{"short_3rounds.replay", false},
		{"swift.replay", true},
		{"bomb_overtime.replay", true},
	} {
		t.Run(strings.TrimSuffix(tc.file, ".replay"), func(t *testing.T) {
			src := replayPath(t, tc.file)
			h, evs, err := replayfile.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := evs[len(evs)-1].IsGameEnd(); got != tc.gameEnd {
				t.Fatalf("%s: ends with game_end = %v, want %v", tc.file, got, tc.gameEnd)
			}

			// Server A: the shared file.
			a := startServer(t, serverOpts{authKey: testAuthKey})
			stateA := playAndRead(t, a, src, h.GroupCode, len(evs), tc.gameEnd)
			lastRound := 0
			for _, e := range evs {
				if r, phase, ok := e.RoundInfo(); ok && phase != "game_end" {
					lastRound = r
				}
			}
			if stateA["roundNumber"] != float64(lastRound) {
				t.Fatalf("server A's state is at round %v, the replay's last round is %d", stateA["roundNumber"], lastRound)
			}
			if err := a.stop(); err != nil { // flushes the replay file
				t.Fatalf("stopping server A: %v", err)
			}
			written := writtenReplay(t, a, h.GroupCode)

			// What A wrote: the header without key and type, every event in order.
			raw, err := os.ReadFile(written)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte(testAuthKey)) {
				t.Errorf("%s contains the access key", written)
			}
			wh, wevs, err := replayfile.ReadFile(written)
			if err != nil {
				t.Fatalf("the server's replay file does not parse: %v", err)
			}
			var hdr map[string]json.RawMessage
			json.Unmarshal(wh.Raw, &hdr)
			for _, k := range []string{"key", "type"} {
				if _, ok := hdr[k]; ok {
					t.Errorf("replay header has %q", k)
				}
			}
			if wh.GroupCode != h.GroupCode || wh.LogStartTime == 0 {
				t.Errorf("replay header: groupCode %q logStartTime %d", wh.GroupCode, wh.LogStartTime)
			}
			if !jsonEqual(wh.ToolsData, h.ToolsData) {
				t.Errorf("replay header's toolsData differs from the logon's (playing the file again would apply the server's adjustments twice):\n%s",
					strings.Join(testenv.JSONDiff(nil, "toolsData", decode(h.ToolsData), decode(wh.ToolsData), nil, 10), "\n"))
			}
			if len(wevs) != len(evs) {
				t.Errorf("server A wrote %d events, the replay has %d", len(wevs), len(evs))
			}
			for i := range min(len(wevs), len(evs)) {
				if wevs[i].Type != evs[i].Type || wevs[i].Kind() != evs[i].Kind() || !jsonEqual(wevs[i].Data, evs[i].Data) {
					t.Fatalf("event %d: written %s %s %.120s, sent %s %s %.120s", i, wevs[i].Kind(), wevs[i].Type, wevs[i].Data, evs[i].Kind(), evs[i].Type, evs[i].Data)
				}
				if !wevs[i].HasTimestamp || (i > 0 && wevs[i].Timestamp < wevs[i-1].Timestamp) {
					t.Fatalf("event %d: timestamp %d missing or decreasing", i, wevs[i].Timestamp)
				}
			}

			// Server B: A's file.
			b := startServer(t, serverOpts{authKey: testAuthKey})
			stateB := playAndRead(t, b, written, wh.GroupCode, len(wevs), tc.gameEnd)
			t.Logf("compared states at round %v, rounds won %v", stateA["roundNumber"], roundsWon(stateA))
			if d := testenv.JSONDiff(nil, "$", mask(stateA), mask(stateB), nil, 30); len(d) > 0 {
				t.Errorf("final state from the server's own replay file differs (A vs B):\n%s", strings.Join(d, "\n"))
			}
			if tc.gameEnd {
				for _, s := range []*testServer{b} {
					var st map[string]any
					httpGetJSON(t, s.Extras+"/status", &st)
					if st["matchesRunning"] != float64(0) {
						t.Errorf("matchesRunning after game_end: %v", st["matchesRunning"])
					}
				}
			}
		})
	}
}

// playAndRead plays file into s with spectra-replay (instant) and returns
// the settled match_data: the final one, or the one before game_end.
func playAndRead(t *testing.T, s *testServer, file, groupCode string, n int, gameEnd bool) map[string]any {
	t.Helper()
	ov := newOverlay(t, s.Output, groupCode)
	bin := binary(t, "spectra-replay")
	args := []string{"-ingest", s.Ingest, "-key", testAuthKey, "-quiet"}
	if !gameEnd {
		runReplay(t, bin, append(args, "-mode", "instant", file)...)
		st := ov.settle(300*time.Millisecond, 300*time.Millisecond, 10*time.Second)
		if st == nil {
			t.Fatal("no match_data")
		}
		return st
	}
	// Manual mode: send n-1 events, read the state, then send game_end.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "-mode", "manual", file)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out testenv.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	prompts := make(chan int, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		re := regexp.MustCompile(`next (\d+)/(\d+)`)
		sc := bufio.NewScanner(io.TeeReader(stderr, &out))
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				var k int
				fmt.Sscan(m[1], &k)
				select {
				case prompts <- k:
				default:
				}
			}
		}
	}()
	go func() { wg.Wait(); waited <- cmd.Wait() }()
	waitPrompt := func(want int) {
		t.Helper()
		for {
			select {
			case k := <-prompts:
				if k == want {
					return
				}
			case err := <-waited:
				t.Fatalf("spectra-replay exited (%v) before event %d:\n%s", err, want, tail(out.String(), 4000))
			case <-ctx.Done():
				t.Fatalf("spectra-replay: no prompt for event %d:\n%s", want, tail(out.String(), 4000))
			}
		}
	}
	waitPrompt(1)
	fmt.Fprintf(stdin, "%d\n", n-1)
	waitPrompt(n)
	st := ov.settle(400*time.Millisecond, 300*time.Millisecond, 10*time.Second)
	if st == nil {
		t.Fatal("no match_data before game_end")
	}
	before := ov.count()
	fmt.Fprintln(stdin)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("spectra-replay: %v\n%s", err, tail(out.String(), 4000))
		}
	case <-ctx.Done():
		t.Fatalf("spectra-replay did not finish after game_end:\n%s", tail(out.String(), 4000))
	}
	// At most one last state may follow game_end (SPEC §6); it is not
	// compared. The sleep is a quiet period: what must not arrive has no
	// event to await.
	time.Sleep(200 * time.Millisecond)
	if extra := ov.count() - before; extra > 1 {
		t.Errorf("%d match_data after game_end, at most 1 allowed", extra)
	}
	return st
}

func runReplay(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("spectra-replay %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 4000))
	}
	return string(out)
}

// writtenReplay returns the single Match_<groupCode>_<ms>.replay in s's replay folder.
func writtenReplay(t *testing.T, s *testServer, groupCode string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.ReplayDir, "Match_"+groupCode+"_*.replay"))
	if len(files) != 1 {
		all, _ := os.ReadDir(s.ReplayDir)
		var names []string
		for _, e := range all {
			names = append(names, e.Name())
		}
		t.Fatalf("want one Match_%s_<ms>.replay in %s, found %d (folder: %v)", groupCode, s.ReplayDir, len(files), names)
	}
	if !regexp.MustCompile(`^Match_` + regexp.QuoteMeta(groupCode) + `_\d{13}\.replay$`).MatchString(filepath.Base(files[0])) {
		t.Errorf("replay file name %s is not Match_<groupCode>_<ms>.replay", filepath.Base(files[0]))
	}
	return files[0]
}

func decode(raw json.RawMessage) any {
	var v any
	json.Unmarshal(raw, &v)
	return v
}

func jsonEqual(a, b json.RawMessage) bool {
	return len(testenv.JSONDiff(nil, "$", decode(a), decode(b), nil, 1)) == 0
}

func roundsWon(state map[string]any) []any {
	var out []any
	teams, _ := state["teams"].([]any)
	for _, tm := range teams {
		if m, ok := tm.(map[string]any); ok {
			out = append(out, m["roundsWon"])
		}
	}
	return out
}
