package replaylog

import (
	"bytes"
	"testing"
	"time"

	"spectra-relay/fuzz"
	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// FuzzScan feeds arbitrary files to the reader recovery uses, with
// the match rebuilt as recovery does. Whatever it accepts must read again
// whole once cut at goodEnd (nothing torn left), and must stay readable
// when the recovered match appends to it.
func FuzzScan(f *testing.F) {
	for _, s := range fuzz.Seeds("relay-recover") {
		f.Add(s)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte("{},\n{\"obsName\":\"o\",\"groupCode\":\"G\",\"type\":\"map\",\"data\":\"Jam\",\"timestamp\":5},\n{\"obs"))
	f.Add([]byte("{},\n1,\n[],\n\"x\",\n{}"))
	f.Fuzz(func(t *testing.T, content []byte) {
		scan := func(b []byte) (ScanResult, int, error) {
			var m *match.Match
			n := 0
			sc, err := Scan(bytes.NewReader(b), int64(len(b)), func(h replayfile.Header) error {
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
		if sc.GoodEnd <= 0 || sc.GoodEnd > int64(len(content)) || n != sc.Events {
			t.Fatalf("goodEnd %d of %d bytes, %d events applied, %d counted", sc.GoodEnd, len(content), n, sc.Events)
		}
		kept := content[:sc.GoodEnd:sc.GoodEnd]
		again, n2, err := scan(kept)
		if err != nil || again.Torn != nil || n2 != n || again.GoodEnd != sc.GoodEnd {
			t.Fatalf("the kept prefix reads differently: err %v, torn %v, %d/%d events, end %d/%d",
				err, again.Torn, n2, n, again.GoodEnd, sc.GoodEnd)
		}
		more := replayfile.AppendEvent(kept, `{"obsName":"o","groupCode":"G","type":"map","data":"Jam"}`, 7)
		third, _, err := scan(more)
		if err != nil || third.Torn != nil || third.Invalid != again.Invalid {
			t.Fatalf("the continued file does not read: err %v, torn %v", err, third.Torn)
		}
	})
}
