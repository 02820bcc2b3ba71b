package relay_test

// Golden parity (issue 3, acceptance 1): the built cmd/spectra-server is fed
// every replay of testdata/replays by real socket.io-client 4.8 clients
// (testdata/interop/parity.mjs, all four replays at once against one server)
// and what an overlay sees at each checkpoint is compared with the existing
// server's golden output in testdata/replays/golden.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// parityBudget bounds the Node run for all four replays together (about
// 20 s on the 2-core development box, the longest replay setting the pace).
const parityBudget = 4 * time.Minute

func TestGoldenParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: golden parity replays four matches through the built server (under a minute)")
	}
	goldenParity(t, serverOpts{}, testenv.ReplayNames)
}

// TestGoldenParityTLS replays one match over https/wss through a server
// with TLS on its fast path (TLS_FAST_PATH=true) and compares it with the
// same golden file.
func TestGoldenParityTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: golden parity over TLS replays a match through the built server")
	}
	goldenParity(t, serverOpts{tls: true}, []string{"short_3rounds"})
}

// goldenParity drives the named replays through one server started with
// opts and compares each with its golden file.
func goldenParity(t *testing.T, opts serverOpts, names []string) {
	needNode(t)
	dev := readDeviations(t, filepath.Join("testdata", "deviations.json"))
	replays := make([]string, len(names))
	for i, name := range names {
		replays[i] = testenv.Replay(t, name)
	}
	s := startServer(t, opts)
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), parityBudget)
	defer cancel()
	args := append([]string{"parity.mjs", "--ingest", s.Ingest, "--output", s.Output, "--out-dir", out,
		"--timeout", fmt.Sprint(int(parityBudget.Seconds()))}, replays...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = interopDir(t)
	if opts.tls {
		cmd.Env = append(os.Environ(), nodeTLSEnv+"=0")
	}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	driverOut, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("parity.mjs did not finish within %s:\n%s", parityBudget, driverOut)
	}
	t.Logf("parity.mjs (%s, %v):\n%s", time.Since(start).Round(time.Millisecond), err, bytes.TrimSpace(driverOut))
	// A failed drive still writes its result, with the errors: compare
	// what there is, then fail.

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want := readCheckpoints(t, testenv.Golden(t, name))
			got := readCheckpoints(t, filepath.Join(out, name+".json"))
			for _, w := range got.Warnings {
				t.Logf("driver warning: %s", w)
			}
			diffs := compareParity(want, got, dev.mask())
			if len(diffs) == 0 {
				t.Logf("%d checkpoints identical", len(want.Checkpoints))
				return
			}
			if len(diffs) > 60 {
				diffs = append(diffs[:60], fmt.Sprintf("… and %d more", len(diffs)-60))
			}
			t.Errorf("%s differs from the golden file (%d checkpoints):\n%s", name, len(want.Checkpoints), strings.Join(diffs, "\n"))
		})
	}
}

// ---------------------------------------------------------------- comparison

// checkpointFile is the part of a golden file (and of parity.mjs's output)
// that is compared; values stay generic JSON (numbers as json.Number).
type checkpointFile struct {
	Sent        any                       `json:"sent"`
	Logon       any                       `json:"logon"`
	AuxClients  map[string]map[string]any `json:"auxClients"`
	Checkpoints []struct {
		Label      string `json:"label"`
		AfterEvent int    `json:"afterEvent"`
		Data       any    `json:"data"`
	} `json:"checkpoints"`
	Epilogue struct {
		GameEnd                      bool            `json:"gameEnd"`
		ObserverDisconnectedByServer *bool           `json:"observerDisconnectedByServer"`
		AuxDisconnectedByServer      map[string]bool `json:"auxDisconnectedByServer"`
	} `json:"epilogue"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

func readCheckpoints(t *testing.T, path string) checkpointFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f checkpointFile
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// parityMasked hold values derived from the server's clock, which differ
// between any two runs: their presence is compared, not their values.
var parityMasked = []string{"timestamp", "logStartTime", "roundTimeoutTime", "spikeDetonationTime", "agentSelectStartTime", "groupSecret"}

// deviations is testdata/deviations.json: fields where this server
// deliberately differs from the existing one ("mask", compared by presence
// only), each with its reason.
type deviations struct {
	Mask    []string          `json:"mask"`
	Reasons map[string]string `json:"reasons"`
}

func readDeviations(t *testing.T, path string) deviations {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d deviations
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, k := range d.Mask {
		if strings.TrimSpace(d.Reasons[k]) == "" {
			t.Errorf("%s: masked field %q has no reason", path, k)
		}
	}
	return d
}

func (d deviations) mask() map[string]bool {
	m := make(map[string]bool, len(parityMasked)+len(d.Mask))
	for _, k := range parityMasked {
		m[k] = true
	}
	for _, k := range d.Mask {
		m[k] = true
	}
	return m
}

// compareParity lists the differences between the golden output and this
// server's, one line each, in a stable order.
//
// Besides the checkpoints, the logon result, the counts sent and the
// auxiliary logons are compared. Two things after game_end are not taken
// from the golden: a last match_data after it is allowed, and every
// auxiliary client must be disconnected by the server. The existing server
// drops only every other one (it splices its client list while iterating
// it), so the golden records "io client disconnect" for the rest; an
// auxiliary client's disconnectReason is therefore left out once the golden
// reached game_end, and the epilogue check asks for all of them instead.
func compareParity(want, got checkpointFile, mask map[string]bool) []string {
	var d []string
	for _, e := range got.Errors {
		d = append(d, "driver error: "+firstLine(e))
	}
	if len(want.Checkpoints) != len(got.Checkpoints) {
		d = append(d, fmt.Sprintf("checkpoints: %d, want %d", len(got.Checkpoints), len(want.Checkpoints)))
	}
	for i := range min(len(want.Checkpoints), len(got.Checkpoints)) {
		w, g := want.Checkpoints[i], got.Checkpoints[i]
		p := fmt.Sprintf("cp[%d:%s]", i, w.Label)
		if w.Label != g.Label || w.AfterEvent != g.AfterEvent {
			d = append(d, fmt.Sprintf("%s: checkpoint %s@%d, want %s@%d", p, g.Label, g.AfterEvent, w.Label, w.AfterEvent))
		}
		d = testenv.JSONDiff(d, p+".data", w.Data, g.Data, mask, 0)
	}
	d = testenv.JSONDiff(d, "logon", want.Logon, got.Logon, mask, 0)
	d = testenv.JSONDiff(d, "sent", want.Sent, got.Sent, nil, 0)

	we, ge := want.Epilogue, got.Epilogue
	if we.GameEnd != ge.GameEnd {
		d = append(d, fmt.Sprintf("epilogue.gameEnd: %v, want %v", ge.GameEnd, we.GameEnd))
	}
	if !reflect.DeepEqual(we.ObserverDisconnectedByServer, ge.ObserverDisconnectedByServer) {
		d = append(d, fmt.Sprintf("epilogue.observerDisconnectedByServer: %s, want %s", showBool(ge.ObserverDisconnectedByServer), showBool(we.ObserverDisconnectedByServer)))
	}
	if we.GameEnd {
		for _, id := range sortedKeys(got.AuxClients) {
			if got.AuxClients[id]["accepted"] == true && !ge.AuxDisconnectedByServer[id] {
				d = append(d, fmt.Sprintf("epilogue.auxDisconnectedByServer.%s: the server did not disconnect this auxiliary client at game_end", id))
			}
		}
	}
	auxWant, auxGot := auxForComparison(want.AuxClients, we.GameEnd), auxForComparison(got.AuxClients, we.GameEnd)
	d = testenv.JSONDiff(d, "auxClients", auxWant, auxGot, nil, 0)
	return d
}

// auxForComparison converts the auxiliary clients to generic JSON, without
// their disconnectReason once the match reached game_end (see compareParity).
func auxForComparison(aux map[string]map[string]any, gameEnd bool) any {
	out := make(map[string]any, len(aux))
	for id, info := range aux {
		c := make(map[string]any, len(info))
		for k, v := range info {
			if gameEnd && k == "disconnectReason" {
				continue
			}
			c[k] = v
		}
		out[id] = c
	}
	return out
}

func showBool(b *bool) string {
	if b == nil {
		return "absent"
	}
	return fmt.Sprint(*b)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// paritySample is a small golden file in the shape of the real ones: a
// match that reached game_end, with two auxiliary clients of which the
// existing server disconnected one.
const paritySample = `{
 "sent": {"obs": 3, "aux": 2, "auxDropped": 0},
 "logon": {"type": "authenticate", "value": true, "reason": "<groupSecret>", "initialMatchData": true},
 "auxClients": {
  "p1": {"accepted": true, "reason": null, "disconnectReason": "io server disconnect", "firstEvent": 3},
  "p2": {"accepted": true, "reason": null, "disconnectReason": "io client disconnect", "firstEvent": 4}
 },
 "checkpoints": [
  {"label": "map", "afterEvent": 1, "data": {"map": "Ascent", "timestamp": 1764200000001, "teams": [{"kills": 0}]}},
  {"label": "score_r1", "afterEvent": 5, "data": {"map": "Ascent", "timestamp": 1764200000009, "teams": [{"kills": 1.5}], "spikeDetonationTime": null}}
 ],
 "epilogue": {"gameEnd": true, "matchDataAfterGameEnd": 0, "observerDisconnectedByServer": true,
  "auxDisconnectedByServer": {"p1": true, "p2": false}},
 "errors": [], "warnings": []
}`

func TestGoldenParityCompare(t *testing.T) {
	// ours is the sample as this server should produce it: clock values
	// differ, both auxiliary clients disconnected by the server.
	ours := strings.NewReplacer(
		`"timestamp": 1764200000001`, `"timestamp": 1999`,
		`"timestamp": 1764200000009`, `"timestamp": 2999`,
		`"io client disconnect"`, `"io server disconnect"`,
		`"p2": false`, `"p2": true`,
	).Replace(paritySample)
	noGameEnd := strings.NewReplacer(`"gameEnd": true`, `"gameEnd": false`).Replace(paritySample)
	cases := []struct {
		name        string
		want, got   string
		replace     []string // old, new pairs applied to got
		mask        []string // deviations
		wantDiffs   []string // substrings, one per expected difference, in order
		wantNoDiffs bool
	}{
		{name: "identical", want: noGameEnd, got: noGameEnd, wantNoDiffs: true},
		{name: "clock values and aux disconnects as expected", want: paritySample, got: ours, wantNoDiffs: true},
		{name: "masked field missing", want: paritySample, got: ours,
			replace:   []string{`, "spikeDetonationTime": null`, ``},
			wantDiffs: []string{"cp[1:score_r1].data.spikeDetonationTime: absent, want null"}},
		{name: "extra field", want: paritySample, got: ours,
			replace:   []string{`"map": "Ascent", "timestamp": 1999`, `"map": "Ascent", "extra": 1, "timestamp": 1999`},
			wantDiffs: []string{"cp[0:map].data.extra: 1, want it absent"}},
		{name: "number differs", want: paritySample, got: ours,
			replace:   []string{`"kills": 1.5`, `"kills": 1.50`},
			wantDiffs: []string{`cp[1:score_r1].data.teams[0].kills: 1.50, want 1.5`}},
		{name: "deviation masks a field", want: paritySample, got: ours,
			replace: []string{`"map": "Ascent", "timestamp": 2999`, `"map": "Haven", "timestamp": 2999`},
			mask:    []string{"map"}, wantNoDiffs: true},
		{name: "array length", want: paritySample, got: ours,
			replace:   []string{`"teams": [{"kills": 0}]`, `"teams": [{"kills": 0}, {"kills": 0}]`},
			wantDiffs: []string{"cp[0:map].data.teams.length: 2, want 1"}},
		{name: "checkpoint label and event", want: paritySample, got: ours,
			replace:   []string{`"label": "score_r1", "afterEvent": 5`, `"label": "score_r2", "afterEvent": 6`},
			wantDiffs: []string{"cp[1:score_r1]: checkpoint score_r2@6, want score_r1@5"}},
		{name: "missing checkpoint", want: paritySample, got: ours,
			replace: []string{`,
  {"label": "score_r1", "afterEvent": 5, "data": {"map": "Ascent", "timestamp": 2999, "teams": [{"kills": 1.5}], "spikeDetonationTime": null}}`, ``},
			wantDiffs: []string{"checkpoints: 1, want 2"}},
		{name: "golden itself: aux left connected at game_end", want: paritySample, got: paritySample,
			wantDiffs: []string{"epilogue.auxDisconnectedByServer.p2: the server did not disconnect"}},
		{name: "observer left connected", want: paritySample, got: ours,
			replace:   []string{`"observerDisconnectedByServer": true`, `"observerDisconnectedByServer": false`},
			wantDiffs: []string{"epilogue.observerDisconnectedByServer: false, want true"}},
		{name: "aux disconnect reason compared without game_end", want: noGameEnd, got: strings.Replace(noGameEnd, `"io client disconnect"`, `"io server disconnect"`, 1),
			wantDiffs: []string{`auxClients.p2.disconnectReason: "io server disconnect", want "io client disconnect"`}},
		{name: "aux logon refused", want: paritySample, got: ours,
			replace:   []string{`"accepted": true, "reason": null, "disconnectReason": "io server disconnect", "firstEvent": 4`, `"accepted": false, "reason": "no match", "disconnectReason": "io server disconnect", "firstEvent": 4`},
			wantDiffs: []string{"auxClients.p2.accepted: false, want true", `auxClients.p2.reason: "no match", want null`}},
		{name: "counts sent", want: paritySample, got: ours,
			replace:   []string{`"auxDropped": 0`, `"auxDropped": 1`},
			wantDiffs: []string{"sent.auxDropped: 1, want 0"}},
		{name: "driver error", want: paritySample, got: ours,
			replace:   []string{`"errors": []`, `"errors": ["Error: observer disconnected\n    at drive"]`},
			wantDiffs: []string{"driver error: Error: observer disconnected"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.got
			for i := 0; i+1 < len(c.replace); i += 2 {
				if !strings.Contains(got, c.replace[i]) {
					t.Fatalf("case text %q not found", c.replace[i])
				}
				got = strings.Replace(got, c.replace[i], c.replace[i+1], 1)
			}
			dir := t.TempDir()
			for name, s := range map[string]string{"want.json": c.want, "got.json": got} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			diffs := compareParity(readCheckpoints(t, filepath.Join(dir, "want.json")), readCheckpoints(t, filepath.Join(dir, "got.json")),
				deviations{Mask: c.mask}.mask())
			if c.wantNoDiffs {
				if len(diffs) != 0 {
					t.Errorf("differences:\n%s", strings.Join(diffs, "\n"))
				}
				return
			}
			if len(diffs) != len(c.wantDiffs) {
				t.Fatalf("%d differences, want %d:\n%s", len(diffs), len(c.wantDiffs), strings.Join(diffs, "\n"))
			}
			for i, w := range c.wantDiffs {
				if !strings.Contains(diffs[i], w) {
					t.Errorf("difference %d = %q, want it to contain %q", i, diffs[i], w)
				}
			}
		})
	}
}
