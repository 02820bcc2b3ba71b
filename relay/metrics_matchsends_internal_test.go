package relay

import (
	"strings"
	"testing"
)

// TestMatchSendsByMatch plays two matches through a relay on loopback and
// checks the per-match broadcast counts on /metrics: one series per live
// match, each moving, together equal to the total match_data sends.
func TestMatchSendsByMatch(t *testing.T) {
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	codes := []string{"MSA001", "MSB001"}
	for i, code := range codes {
		obs, _ := logonObserver(t, ts, r.logon(code, tKey, tVersion))
		ov := overlay(t, ts, code)
		// The second match plays one round fewer: the counts differ.
		sendObs(t, obs, r, code, untilRound(3-i))
		ov.waitFor(t, 0, func(e tEvent) bool {
			return e.name == "match_data" && strings.Contains(e.arg, `"roundPhase":"end"`)
		})
	}
	var ms metricSet
	eventually(t, "the per-match counts add up to the total", func() bool {
		ms = scrapeMetrics(t, ts.admin)
		sum := 0.0
		for _, code := range codes {
			sum += ms.sum("spectra_match_data_sends_by_match_total", `group_code="`+code+`"`)
		}
		return sum > 0 && sum == ms.sum("spectra_match_data_sends_total")
	})
	for _, code := range codes {
		if v := ms.sum("spectra_match_data_sends_by_match_total", `group_code="`+code+`"`); v < 2 {
			t.Errorf("%s: %v sends, want at least the leading edge and one trailing send", code, v)
		}
	}
	if v := ms.sum("spectra_match_data_sends_by_match_total", `group_code="NONE01"`); v != 0 {
		t.Errorf("a group code without a match has %v sends", v)
	}
}
