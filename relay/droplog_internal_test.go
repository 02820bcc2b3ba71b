package relay

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// msgCounter is a slog.Handler that counts records by message.
type msgCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *msgCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *msgCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *msgCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *msgCounter) WithGroup(string) slog.Handler      { return h }

func (h *msgCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// TestDroppedEventsLogRateLimited: a flood of forbidden events from one
// connection is dropped with at most one log line per second, and the
// connection stays.
func TestDroppedEventsLogRateLimited(t *testing.T) {
	logs := &msgCounter{n: map[string]int{}}
	ts := newTServer(t, func(c *Config) { c.Logger = slog.New(logs) })
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("FLOOD1", tKey, tVersion))
	sendObs(t, obs, r, "FLOOD1", afterMatchStart())
	aux := dialT(t, ts.ingest)
	emitJSON(t, aux, "aux_logon", map[string]any{
		"type": "aux_authenticate", "clientVersion": tVersion, "name": "Flood#1", "matchId": r.matchID(), "playerId": "p-1",
	})
	if _, raw := aux.ack(t, "aux_logon_ack"); raw != auxAckOK {
		t.Fatalf("aux logon: %s", raw)
	}
	const flood = 200
	for range flood {
		emitJSON(t, aux, "aux_data", map[string]any{
			"playerId": "p-1", "matchId": r.matchID(), "type": "round_info",
			"data": map[string]any{"roundNumber": 1, "roundPhase": "game_end"},
		})
	}
	aux.sync(t)
	n := logs.count("dropped non-auxiliary event from an auxiliary connection")
	if n < 1 || n > 3 {
		t.Errorf("%d log lines for %d dropped events, want 1 (one per second)", n, flood)
	}
	for _, c := range []*tClient{obs, aux} {
		select {
		case <-c.Done():
			t.Fatalf("a client was disconnected: %v", c.Err())
		default:
		}
	}
	if ts.srv.ctrl.Count() != 1 {
		t.Errorf("the match ended")
	}
}
