package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
)

var (
	matchDataOnce sync.Once
	matchData     string
	matchDataErr  error
)

// MatchData is a late checkpoint of the golden bomb_regular replay,
// compact JSON: the ~15 KB string argument of a match_data broadcast, for
// the codec and broadcast benchmarks.
func MatchData(tb testing.TB) string {
	tb.Helper()
	path := Golden(tb, "bomb_regular")
	matchDataOnce.Do(func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			matchDataErr = err
			return
		}
		var doc struct {
			Checkpoints []struct {
				Data json.RawMessage `json:"data"`
			} `json:"checkpoints"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Checkpoints) < 3 {
			matchDataErr = fmt.Errorf("%s: %d checkpoints, %v", path, len(doc.Checkpoints), err)
			return
		}
		// The relay sends compact JSON; the file is indented.
		var buf bytes.Buffer
		if err := json.Compact(&buf, doc.Checkpoints[len(doc.Checkpoints)-3].Data); err != nil {
			matchDataErr = fmt.Errorf("%s: %w", path, err)
			return
		}
		matchData = buf.String()
	})
	if matchDataErr != nil {
		tb.Fatal(matchDataErr)
	}
	return matchData
}
