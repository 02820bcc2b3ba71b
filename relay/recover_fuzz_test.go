package relay

import (
	"bytes"
	"testing"
	"time"

	"spectra-relay/fuzz"
	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// FuzzScanReplay feeds arbitrary files to the reader recovery uses, with
// the match rebuilt as recovery does. Whatever it accepts must read again
// whole once cut at goodEnd (nothing torn left), and must stay readable
// when the recovered match appends to it.
func FuzzScanReplay(f *testing.F) {
	for _, s := range fuzz.Seeds("relay-recover") {
		f.Add(s)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte("{},\n{\"obsName\":\"o\",\"groupCode\":\"G\",\"type\":\"map\",\"data\":\"Jam\",\"timestamp\":5},\n{\"obs"))
	f.Add([]byte("{},\n1,\n[],\n\"x\",\n{}"))
	f.Fuzz(func(t *testing.T, content []byte) {
		scan := func(b []byte) (replayScan, int, error) {
			var m *match.Match
			n := 0
			sc, err := scanReplay(bytes.NewReader(b), int64(len(b)), func(h replayfile.Header) error {
				l, err := match.ParseLogon(h.Raw)
				if err == nil {
					m, _ = match.New(l, "FUZZSECRET00", time.UnixMilli(h.LogStartTime))
				}
				return nil
			}, func(ev *match.Event, ts int64) bool {
				n++
				if m != nil {
					_, _ = m.Apply(*ev, time.UnixMilli(ts))
					return m.Ended()
				}
				return false
			})
			return sc, n, err
		}
		sc, n, err := scan(content)
		if err != nil {
			return
		}
		if sc.goodEnd <= 0 || sc.goodEnd > int64(len(content)) || n != sc.events {
			t.Fatalf("goodEnd %d of %d bytes, %d events applied, %d counted", sc.goodEnd, len(content), n, sc.events)
		}
		kept := content[:sc.goodEnd:sc.goodEnd]
		again, n2, err := scan(kept)
		if err != nil || again.torn != nil || n2 != n || again.goodEnd != sc.goodEnd {
			t.Fatalf("the kept prefix reads differently: err %v, torn %v, %d/%d events, end %d/%d",
				err, again.torn, n2, n, again.goodEnd, sc.goodEnd)
		}
		more := replayfile.AppendEvent(kept, `{"obsName":"o","groupCode":"G","type":"map","data":"Jam"}`, 7)
		third, _, err := scan(more)
		if err != nil || third.torn != nil || third.invalid != again.invalid {
			t.Fatalf("the continued file does not read: err %v, torn %v", err, third.torn)
		}
	})
}
