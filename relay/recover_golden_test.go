package relay_test

// Golden comparison for the crash test: the checkpoints of a replay as the
// existing server produced them, compared with masked clock fields (the
// same masks as the golden parity test).

import (
	"encoding/json"
	"os"
	"testing"

	"spectra-relay/internal/testenv"
)

type goldenCheckpoint struct {
	Label      string          `json:"label"`
	AfterEvent int             `json:"afterEvent"`
	Data       json.RawMessage `json:"data"`
}

// loadGoldenCheckpoints reads testdata/replays/golden/<name>.checkpoints.json.
func loadGoldenCheckpoints(t testing.TB, name string) []goldenCheckpoint {
	t.Helper()
	b, err := os.ReadFile(testenv.Golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Checkpoints []goldenCheckpoint `json:"checkpoints"`
	}
	if err := json.Unmarshal(b, &g); err != nil || len(g.Checkpoints) == 0 {
		t.Fatalf("golden %s: %d checkpoints, %v", name, len(g.Checkpoints), err)
	}
	return g.Checkpoints
}

// goldenDiff lists where a match_data state differs from a checkpoint's,
// clock-derived values masked; nil when they agree.
func goldenDiff(t testing.TB, cp goldenCheckpoint, state json.RawMessage) []string {
	t.Helper()
	var want, got any
	if err := json.Unmarshal(cp.Data, &want); err != nil {
		t.Fatalf("golden %s: %v", cp.Label, err)
	}
	if err := json.Unmarshal(state, &got); err != nil {
		t.Fatalf("match_data: %v", err)
	}
	return testenv.JSONDiff(nil, "$", mask(want), mask(got), nil, 20)
}
