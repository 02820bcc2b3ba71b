package relay

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"spectra-relay/relay/match"
)

type countBroadcaster struct{ n atomic.Int64 }

func (c *countBroadcaster) BroadcastRaw(string, []byte, bool) int { c.n.Add(1); return 1 }

// BenchmarkIngest measures observer events through the ingest path
// (ParseEvent, shard lookup, per-match lock, Apply, send scheduling with
// the encode of each send) with one observer goroutine per match.
func BenchmarkIngest(b *testing.B) {
	r := loadReplay(b, "short_3rounds")
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("matches=%d", n), func(b *testing.B) {
			out := &countBroadcaster{}
			c := newController(controllerConfig{Logger: quietLogger()}, out)
			defer c.Close()
			payloads := make([][]string, n)
			for i := range n {
				code := fmt.Sprintf("B%05d", i)
				newTestMatch(b, c, r, code)
				payloads[i] = obsPayloads(b, r, code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range n {
				count := b.N / n
				if i < b.N%n {
					count++
				}
				wg.Add(1)
				go func(ps []string, count int) {
					defer wg.Done()
					for k := range count {
						p := ps[k%len(ps)]
						ev, err := match.ParseEvent(unsafe.Slice(unsafe.StringData(p), len(p)))
						if err != nil {
							panic(err)
						}
						_ = c.ingest(ev, p, nil)
					}
				}(payloads[i], count)
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(out.n.Load()), "sends")
		})
	}
}

// BenchmarkIngestReplayFile is BenchmarkIngest for one match whose events
// are logged to a replay file, with each event written through to the
// kernel on the ingest path (the default; replaylog.go) and without (the
// flush loop alone): the cost of losing no applied event to a kill -9.
func BenchmarkIngestReplayFile(b *testing.B) {
	r := loadReplay(b, "short_3rounds")
	for _, through := range []bool{true, false} {
		b.Run(fmt.Sprintf("writeThrough=%v", through), func(b *testing.B) {
			defer func(v bool) { replayWriteThrough = v }(replayWriteThrough)
			replayWriteThrough = through
			c := newController(controllerConfig{Logger: quietLogger(), ReplayDir: b.TempDir(), ReplayMaxBytes: -1}, &countBroadcaster{})
			defer c.Close()
			newTestMatch(b, c, r, "R00001")
			ps := obsPayloads(b, r, "R00001")
			b.ReportAllocs()
			b.ResetTimer()
			for k := range b.N {
				p := ps[k%len(ps)]
				ev, err := match.ParseEvent(unsafe.Slice(unsafe.StringData(p), len(p)))
				if err != nil {
					b.Fatal(err)
				}
				_ = c.ingest(ev, p, nil)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkMatchDataEncode is one send: the state as JSON into a pooled
// buffer, wrapped as the string argument of 42["match_data",...].
func BenchmarkMatchDataEncode(b *testing.B) {
	r := loadReplay(b, "short_3rounds")
	c := newController(controllerConfig{Logger: quietLogger()}, nil)
	defer c.Close()
	lm := newTestMatch(b, c, r, "ENC001")
	for _, p := range obsPayloads(b, r, "ENC001") {
		ev, err := match.ParseEvent([]byte(p))
		if err != nil {
			b.Fatal(err)
		}
		_ = c.ingest(ev, p, nil)
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	js := lm.m.AppendJSON(nil)
	b.Run("append+wrap", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			bp := jsonBufPool.Get().(*[]byte)
			out := lm.m.AppendJSON((*bp)[:0])
			pkt := newMatchDataPacket(out)
			*bp = out
			jsonBufPool.Put(bp)
			_ = pkt
		}
	})
	b.Run("wrap", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		buf := make([]byte, 0, 2*len(js))
		for b.Loop() {
			buf = appendMatchDataPacket(buf[:0], js)
		}
	})
}
