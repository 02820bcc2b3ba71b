package match

import (
	"testing"

	"spectra-relay/internal/testenv"
)

// benchReplay parses bomb_regular without its final game_end.
func benchReplay(b *testing.B) (replay, []Event) {
	r := loadReplay(b, testenv.Replay(b, "bomb_regular"))
	var evs []Event
	for _, raw := range r.events {
		ev, err := ParseEvent(raw)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Type == "round_info" && string(ev.Data) == `{"roundNumber":21,"roundPhase":"game_end"}` {
			continue
		}
		evs = append(evs, ev)
	}
	return r, evs
}

// BenchmarkAppendJSON encodes a late-match state (10 players, 21 rounds).
func BenchmarkAppendJSON(b *testing.B) {
	r, evs := benchReplay(b)
	m := newReplayMatch(b, r)
	for i, ev := range evs {
		if routes(m, ev) {
			_, _ = m.Apply(ev, replayClock(r.logStart, i))
		}
	}
	buf := m.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = m.AppendJSON(buf[:0])
	}
}

// BenchmarkApply applies the replay's events (already parsed) in a loop.
func BenchmarkApply(b *testing.B) {
	r, evs := benchReplay(b)
	m := newReplayMatch(b, r)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		ev := evs[i%len(evs)]
		_, _ = m.Apply(ev, replayClock(r.logStart, i))
		i++
	}
}

// BenchmarkParseApply includes parsing the raw payload, as the ingest path does.
func BenchmarkParseApply(b *testing.B) {
	r, _ := benchReplay(b)
	m := newReplayMatch(b, r)
	raws := r.events[:len(r.events)-1]
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		ev, err := ParseEvent(raws[i%len(raws)])
		if err == nil {
			_, _ = m.Apply(ev, replayClock(r.logStart, i))
		}
		i++
	}
}
