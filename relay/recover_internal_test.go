package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replaylog"
)

// logBuf collects a server's log lines for assertions.
type logBuf struct{ testenv.Buffer }

func (l *logBuf) count(s string) int { return strings.Count(l.String(), s) }

// recoveringServer starts a relay on dir the way cmd/spectra-server does:
// recovery first, then the clients.
func recoveringServer(t *testing.T, dir string, logs *logBuf, mods ...func(*Config)) (*tServer, RecoveryReport) {
	t.Helper()
	var rep RecoveryReport
	ts := newTServer(t, func(c *Config) {
		c.ReplayDir = dir
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		for _, m := range mods {
			m(c)
		}
	})
	rep, err := ts.srv.RecoverMatches()
	if err != nil {
		t.Fatal(err)
	}
	return ts, rep
}

func shutdown(t *testing.T, ts *tServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func onlyReplay(t *testing.T, dir, code string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "Match_"+code+"_*.replay"))
	if len(files) != 1 {
		t.Fatalf("replay files of %s: %v", code, files)
	}
	return files[0]
}

// maskedState is a match_data state without the clock-derived values.
func maskedState(t *testing.T, e tEvent) string {
	t.Helper()
	m := matchData(t, e)
	for _, k := range []string{"roundTimeoutTime", "spikeDetonationTime", "agentSelectStartTime"} {
		if _, ok := m[k]; ok {
			m[k] = "<clock>"
		}
	}
	return string(mustMarshal(t, m))
}

// A graceful restart and a torn last line: the match comes back from its
// file, the observer continues it with its secret, the file continues, and
// the end state is what one uninterrupted run gives.
func TestRecoverAfterRestartWithTornLine(t *testing.T) {
	dir := t.TempDir()
	r := loadReplay(t, "short_3rounds")
	const code = "RCV001"
	var logs logBuf
	ts1, rep := recoveringServer(t, dir, &logs)
	if rep != (RecoveryReport{}) {
		t.Fatalf("empty dir: %+v", rep)
	}
	obs, secret := logonObserver(t, ts1, r.logon(code, tKey, tVersion))
	inRound2 := func(e replayfile.Event) bool {
		round, phase, ok := e.RoundInfo()
		return ok && round == 2 && phase == "combat"
	}
	sent := sendObs(t, obs, r, code, inRound2)
	ov1 := overlay(t, ts1, code)
	before, _ := ov1.waitFor(t, 0, named("match_data"))
	shutdown(t, ts1)

	path := onlyReplay(t, dir, code)
	sidecar := replayfile.SecretPath(path)
	st, err := os.Stat(sidecar)
	if err != nil {
		t.Fatalf("no group secret sidecar: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("sidecar mode %v, want 0600", st.Mode().Perm())
	}
	// The secret on the first line, then the ingest sessions' bindings.
	if b, _ := os.ReadFile(sidecar); !strings.HasPrefix(string(b), secret+"\n") {
		t.Fatalf("sidecar holds %q", b)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(secret)) {
		t.Fatal("the group secret is in the replay file")
	}
	// The process died inside a write.
	torn := []byte(",\n{\"obsName\":\"o\",\"groupCode\":\"" + code + "\",\"type\":\"scoreb")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ts2, rep := recoveringServer(t, dir, &logs)
	if rep != (RecoveryReport{Recovered: 1}) {
		t.Fatalf("report %+v\n%s", rep, logs.String())
	}
	for _, line := range []string{"match recovery: torn last line dropped", "msg=\"match recovered\" groupCode=" + code, "msg=\"match recovery done\" recovered=1 skipped=0"} {
		if logs.count(line) != 1 {
			t.Fatalf("log line %q: %d times\n%s", line, logs.count(line), logs.String())
		}
	}
	// An overlay gets the rebuilt state at once, the state it had before.
	ov2 := overlay(t, ts2, code)
	after, _ := ov2.waitFor(t, 0, named("match_data"))
	if after.arg != before.arg {
		t.Fatalf("rebuilt state differs from the state before the restart:\n%.300s\n%.300s", before.arg, after.arg)
	}
	// Only the secret continues the match.
	stranger := dialT(t, ts2.ingest)
	emitJSON(t, stranger, "obs_logon", r.logon(code, tKey, tVersion))
	if a, _ := stranger.ack(t, "obs_logon_ack"); a.Value {
		t.Fatal("a logon without the secret took the recovered match over")
	}
	l := r.logon(code, tKey, tVersion)
	l.GroupSecret = secret
	obs2 := dialT(t, ts2.ingest)
	emitJSON(t, obs2, "obs_logon", l)
	if a, raw := obs2.ack(t, "obs_logon_ack"); !a.Value || a.Reason != "reconnected" {
		t.Fatalf("reconnect ack %s", raw)
	}
	started := false
	rest := func(e replayfile.Event) bool {
		started = started || inRound2(e)
		return false
	}
	total := sent
	for i := range r.events {
		e := &r.events[i]
		if rest(*e); !started || e.Kind() != replayfile.KindObserver {
			continue
		}
		p, err := e.Payload(code)
		if err != nil {
			t.Fatal(err)
		}
		if err := obs2.Emit("obs_data", string(p)); err != nil {
			t.Fatal(err)
		}
		total++
	}
	obs2.sync(t)
	final := latestState(t, obs2, ov2, code)
	total++
	// game_end: the match can never resume, its secret goes.
	emitJSON(t, obs2, "obs_data", map[string]any{"obsName": "o", "groupCode": code, "type": "round_info",
		"data": map[string]any{"roundNumber": 3, "roundPhase": "game_end"}})
	total++
	waitDone(t, obs2)
	testenv.WaitFor(t, tTimeout, "the group secret sidecar to go after game_end", func() bool {
		_, err := os.Stat(sidecar)
		return err != nil
	})
	shutdown(t, ts2)

	// One file, continued: the torn line is gone and every event is there.
	if got := onlyReplay(t, dir, code); got != path {
		t.Fatalf("file %s, want the original %s", got, path)
	}
	if _, evs, err := replayfile.ReadFile(path); err != nil || len(evs) != total {
		t.Fatalf("continued file: %d events (want %d), err %v", len(evs), total, err)
	}

	// The same events without a restart end in the same state.
	ref := newTServer(t, nil)
	refObs, _ := logonObserver(t, ref, r.logon(code, tKey, tVersion))
	sendObs(t, refObs, r, code, nil)
	want := latestState(t, refObs, overlay(t, ref, code), code)
	if want != final {
		t.Fatalf("final state after recovery differs from an uninterrupted run:\n%s\n%s", final, want)
	}
}

// latestState sends a marker (a map change to "Jam", shown as Lotus)
// after everything obs sent and returns the masked state that shows it.
func latestState(t *testing.T, obs *tClient, ov *tClient, code string) string {
	t.Helper()
	emitJSON(t, obs, "obs_data", map[string]any{"obsName": "o", "groupCode": code, "type": "map", "data": "Jam"})
	ev, _ := ov.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == "Lotus" })
	return maskedState(t, ev)
}

// writeFixture writes a replay file and its secret sidecar through the
// relay's own writer: code's logon at start, then the replay's first n
// observer events 100 ms apart and the extra payloads after them.
func writeFixture(t *testing.T, dir, code, secret string, start time.Time, r tReplay, n int, extra ...string) string {
	t.Helper()
	rl, err := replaylog.Open(replaylog.Conf{Dir: dir, Limit: -1}, ServerVersion, code, secret, start, mustMarshal(t, r.logon(code, tKey, tVersion)))
	if err != nil {
		t.Fatal(err)
	}
	ts := start.UnixMilli()
	payloads := append(obsPayloads(t, r, code)[:n], extra...)
	for _, p := range payloads {
		ts += 100
		rl.Add(p, ts)
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	return rl.Path()
}

func gameEnd(code string) string {
	return `{"obsName":"o","groupCode":"` + code + `","type":"round_info","data":{"roundNumber":3,"roundPhase":"game_end"}}`
}

// Which files come back: finished, expired, superseded, secret-less and
// damaged ones do not; of one group code only the newest file decides.
func TestRecoverSelection(t *testing.T) {
	dir := t.TempDir()
	r := loadReplay(t, "short_3rounds")
	now := time.Now()
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	const n = 60 // past match_start: the match id is known
	type file struct{ path, secret string }
	w := func(code, secret string, start time.Time, extra ...string) file {
		return file{writeFixture(t, dir, code, secret, start, r, n, extra...), secret}
	}
	finished := w("FIN001", "S-FIN001", ago(10), gameEnd("FIN001"))
	expired := w("EXP001", "S-EXP001", ago(40)) // last event 6 s after its start
	old := w("OLD001", "S-OLD001", ago(180))
	if err := os.Chtimes(old.path, ago(170), ago(170)); err != nil {
		t.Fatal(err)
	}
	twoOld := w("TWO001", "S-TWO001-old", ago(20))
	twoNew := w("TWO001", "S-TWO001-new", ago(10))
	w("TWO002", "S-TWO002-old", ago(20), gameEnd("TWO002"))
	w("TWO002", "S-TWO002-new", ago(5))
	w("TWO003", "S-TWO003-old", ago(20))
	w("TWO003", "S-TWO003-new", ago(10), gameEnd("TWO003"))
	noSecret := w("NOS001", "S-NOS001", ago(5))
	os.Remove(replayfile.SecretPath(noSecret.path))
	bad := w("BAD001", "S-BAD001", ago(5))
	content, _ := os.ReadFile(bad.path)
	lines := bytes.Split(content, []byte("\n"))
	lines[10] = lines[10][:len(lines[10])/2] // damage before the last line
	os.WriteFile(bad.path, bytes.Join(lines, []byte("\n")), 0o644)
	rl, err := replaylog.Open(replaylog.Conf{Dir: dir, Limit: -1}, ServerVersion, "HDR001", "S-HDR001", ago(1), mustMarshal(t, r.logon("HDR001", tKey, tVersion)))
	if err != nil {
		t.Fatal(err)
	}
	rl.Close()

	var logs logBuf
	ts, rep := recoveringServer(t, dir, &logs)
	if want := (RecoveryReport{Recovered: 3, Skipped: 9}); rep != want {
		t.Fatalf("report %+v, want %+v\n%s", rep, want, logs.String())
	}
	ctrl := ts.srv.ctrl
	live := map[string]bool{"TWO001": true, "TWO002": true, "HDR001": true}
	for _, code := range []string{"FIN001", "EXP001", "OLD001", "TWO001", "TWO002", "TWO003", "NOS001", "BAD001", "HDR001"} {
		if got := ctrl.get(code) != nil; got != live[code] {
			t.Errorf("%s live = %v, want %v", code, got, live[code])
		}
	}
	if ctrl.Count() != 3 || logs.count(`msg="match recovered"`) != 3 {
		t.Fatalf("%d matches, %d recovery lines", ctrl.Count(), logs.count(`msg="match recovered"`))
	}
	// The recovered match is indexed by its in-game id for the aux clients.
	if got := ctrl.byMatchID(nil, r.matchID()); len(got) != 2 {
		t.Fatalf("%d matches under the match id, want TWO001 and TWO002", len(got))
	}
	// Secrets of what can never resume are removed, the rest stays.
	for f, keep := range map[file]bool{finished: false, expired: false, old: false, twoOld: false, twoNew: true, bad: true} {
		_, err := os.Stat(replayfile.SecretPath(f.path))
		if (err == nil) != keep {
			t.Errorf("sidecar of %s: kept %v, want %v", filepath.Base(f.path), err == nil, keep)
		}
	}
	// The newest file's secret continues TWO001, the older one's does not.
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{twoOld.secret, false}, {twoNew.secret, true}} {
		l := r.logon("TWO001", tKey, tVersion)
		l.GroupSecret = tc.secret
		c := dialT(t, ts.ingest)
		emitJSON(t, c, "obs_logon", l)
		if a, raw := c.ack(t, "obs_logon_ack"); a.Value != tc.ok || tc.ok && a.Reason != "reconnected" {
			t.Errorf("logon with %s: %s", tc.secret, raw)
		}
	}
	ov := overlay(t, ts, "HDR001")
	ev, _ := ov.waitFor(t, 0, named("match_data"))
	if m := matchData(t, ev); m["groupCode"] != "HDR001" {
		t.Fatalf("state of %v", m["groupCode"])
	}
}

// The replay cap: past it events still change the state but are no longer
// logged, with one warning; the file stays a readable prefix.
func TestReplayFileCap(t *testing.T) {
	r := loadReplay(t, "short_3rounds")
	for _, tc := range []struct {
		name   string
		max    int64
		capped bool
	}{
		{"capped", 16 << 10, true},
		{"no cap", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuf
			ts := newTServer(t, func(c *Config) {
				c.ReplayMaxBytes = tc.max
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			code := "CAP00" + map[bool]string{true: "1", false: "2"}[tc.capped]
			obs, secret := logonObserver(t, ts, r.logon(code, tKey, tVersion))
			sent := sendObs(t, obs, r, code, nil)
			// The marker is applied even past the cap.
			latestState(t, obs, overlay(t, ts, code), code)
			shutdown(t, ts)
			path := onlyReplay(t, ts.replayDir, code)
			st, _ := os.Stat(path)
			_, evs, err := replayfile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			warnings := logs.count("replay file cap reached")
			if tc.capped {
				if st.Size() > tc.max || len(evs) >= sent || len(evs) == 0 || warnings != 1 {
					t.Fatalf("capped file: %d bytes (cap %d), %d of %d events, %d warnings", st.Size(), tc.max, len(evs), sent, warnings)
				}
				// Recovered, the match goes on and its file stays capped:
				// logging again would leave a gap in it.
				ts2, rep := recoveringServer(t, ts.replayDir, &logs, func(c *Config) { c.ReplayMaxBytes = tc.max })
				if rep.Recovered != 1 {
					t.Fatalf("report %+v", rep)
				}
				l := r.logon(code, tKey, tVersion)
				l.GroupSecret = secret
				obs2, _ := logonObserver(t, ts2, l)
				emitJSON(t, obs2, "obs_data", map[string]any{"obsName": "o", "groupCode": code, "type": "map", "data": "Juliett"})
				ov := overlay(t, ts2, code)
				ov.waitFor(t, 0, func(e tEvent) bool { return e.name == "match_data" && matchData(t, e)["map"] == "Sunset" })
				shutdown(t, ts2)
				if st2, _ := os.Stat(path); st2.Size() != st.Size() {
					t.Fatalf("capped file grew after recovery: %d -> %d bytes", st.Size(), st2.Size())
				}
				return
			}
			if len(evs) != sent+1 || warnings != 0 {
				t.Fatalf("uncapped file: %d events (want %d), %d warnings", len(evs), sent+1, warnings)
			}
		})
	}
}

// Auxiliary clients that fed a recovered match and do not log on again
// within the grace have their players marked disconnected; those that
// come back keep their flags.
func TestRecoverAuxRejoinGrace(t *testing.T) {
	// The grace ends when the test fires its timer: after the auxiliary
	// client that comes back has logged on and the overlay has the
	// recovered state, however slow the machine.
	graceTimers := make(chan func(), 4)
	defer func(f func(time.Duration, func())) { auxRejoinAfter = f }(auxRejoinAfter)
	auxRejoinAfter = func(d time.Duration, f func()) {
		if d != auxRejoinGrace {
			t.Errorf("grace timer of %v, want auxRejoinGrace (%v)", d, auxRejoinGrace)
		}
		graceTimers <- f
	}
	dir := t.TempDir()
	r := loadReplay(t, "short_3rounds")
	matchID := r.matchID()
	names := map[string]string{}
	for _, e := range r.events {
		var d struct{ PlayerID, Name string }
		if e.Type == "roster" && json.Unmarshal(e.Data, &d) == nil {
			names[d.PlayerID] = d.Name
		}
	}
	var players []string
	for _, e := range r.events {
		if e.Kind() == replayfile.KindAux && len(players) < 2 && (len(players) == 0 || players[0] != e.PlayerID) {
			players = append(players, e.PlayerID)
		}
	}
	if len(players) != 2 || names[players[0]] == "" || names[players[1]] == "" {
		t.Fatalf("replay lacks two named auxiliary players: %v", players)
	}
	var extra []string
	for _, p := range players {
		extra = append(extra, `{"playerId":"`+p+`","matchId":"`+matchID+`","type":"aux_health","data":77}`)
	}
	writeFixture(t, dir, "AUXR01", "S-AUXR01", time.Now().Add(-time.Minute), r, 60, extra...)

	var logs logBuf
	ts, rep := recoveringServer(t, dir, &logs)
	if rep.Recovered != 1 {
		t.Fatalf("report %+v\n%s", rep, logs.String())
	}
	back := dialT(t, ts.ingest)
	emitJSON(t, back, "aux_logon", map[string]any{"type": "aux_authenticate", "clientVersion": tVersion, "name": "P#1", "matchId": matchID, "playerId": players[1]})
	if a, raw := back.ack(t, "aux_logon_ack"); !a.Value {
		t.Fatalf("aux logon after recovery: %s", raw)
	}
	health := func(e tEvent, name string) any {
		for _, tm := range matchData(t, e)["teams"].([]any) {
			for _, p := range tm.(map[string]any)["players"].([]any) {
				if pm := p.(map[string]any); pm["name"] == name {
					return pm["auxiliaryAvailable"].(map[string]any)["health"]
				}
			}
		}
		return nil
	}
	ov := overlay(t, ts, "AUXR01")
	first, i := ov.waitFor(t, 0, named("match_data"))
	if health(first, names[players[0]]) != true || health(first, names[players[1]]) != true {
		t.Fatal("the recovered state lost the auxiliary flags of the log")
	}
	var graceEnds func()
	select {
	case graceEnds = <-graceTimers:
	default:
		t.Fatal("recovery started no grace timer for the auxiliary clients")
	}
	before := len(ov.all())
	graceEnds()
	// The first state in which the absent player's flag fell; the one that
	// came back must still have its own there. (A copy of the snapshot may
	// come before it: an overlay logging on while a send is due gets that
	// version twice, issue 23.)
	ev, j := ov.waitFor(t, i+1, func(e tEvent) bool {
		return e.name == "match_data" && health(e, names[players[0]]) != true
	})
	if j < before {
		t.Fatalf("the absent player's flag fell before the grace ended (event %d of %d)", j, before)
	}
	if health(ev, names[players[0]]) != false || health(ev, names[players[1]]) != true {
		t.Fatalf("after the grace: health flags %v (gone) and %v (back), want false and true",
			health(ev, names[players[0]]), health(ev, names[players[1]]))
	}
}
