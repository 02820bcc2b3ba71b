package bench

import (
	"bufio"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseMatchSends(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       map[string]int64
		err        bool
	}{
		{"none", "go_goroutines 12\n", map[string]int64{}, false},
		{"two matches among others", "# HELP spectra_match_data_sends_by_match_total x\n# TYPE spectra_match_data_sends_by_match_total counter\n" +
			"spectra_match_data_sends_by_match_total{group_code=\"BN0000\"} 120\nspectra_match_data_sends_total 300\n" +
			"spectra_match_data_sends_by_match_total{group_code=\"BN0001\"} 180\n",
			map[string]int64{"BN0000": 120, "BN0001": 180}, false},
		{"escaped label", `spectra_match_data_sends_by_match_total{group_code="a\"b\\c\nd"} 1e3` + "\n",
			map[string]int64{"a\"b\\c\nd": 1000}, false},
		{"not a count", `spectra_match_data_sends_by_match_total{group_code="X"} NaN` + "\n", nil, true},
		{"negative", `spectra_match_data_sends_by_match_total{group_code="X"} -1` + "\n", nil, true},
		{"unterminated label", `spectra_match_data_sends_by_match_total{group_code="X} 1` + "\n", nil, true},
		{"bad escape", `spectra_match_data_sends_by_match_total{group_code="\t"} 1` + "\n", nil, true},
		{"second label", `spectra_match_data_sends_by_match_total{group_code="X",node="a"} 1` + "\n", nil, true},
		{"other metric with the same prefix", "spectra_match_data_sends_by_match_total_created 5\n", map[string]int64{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMatchSends(bufio.NewScanner(strings.NewReader(tc.text)))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if !tc.err && !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOwedSends(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		sends0, sends1, slots, probe []int64
		want                         []int64
		from                         string
	}{
		// The server sent fewer than the observer's slots (it coalesced
		// changes): the overlays are owed what it sent, not the slots.
		{"server count wins", []int64{10, 20}, []int64{207, 215}, []int64{200, 199}, []int64{198, 196}, []int64{197, 195}, OwedFromServer},
		{"a counter that went back owes nothing", []int64{50}, []int64{40}, []int64{10}, []int64{9}, []int64{0}, OwedFromServer},
		{"no server counts: estimate", nil, nil, []int64{200, 5}, []int64{198, 9}, []int64{200, 8}, OwedFromEstimate},
		{"one end missing: estimate", []int64{1}, nil, []int64{20}, []int64{30}, []int64{29}, OwedFromEstimate},
		{"a count per match or none", []int64{1}, []int64{9}, []int64{20, 20}, []int64{20, 20}, []int64{20, 20}, OwedFromEstimate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from := owedSends(tc.sends0, tc.sends1, tc.slots, tc.probe)
			if !slices.Equal(got, tc.want) || from != tc.from {
				t.Fatalf("got %v from %s, want %v from %s", got, from, tc.want, tc.from)
			}
		})
	}
}

// FuzzParseMatchSends: any /metrics text gives counts ≥ 0 or an error,
// never a panic.
func FuzzParseMatchSends(f *testing.F) {
	f.Add(`spectra_match_data_sends_by_match_total{group_code="BN0000"} 120` + "\n")
	f.Add(`spectra_match_data_sends_by_match_total{group_code="a\"b\\"} 1` + "\n")
	f.Add(`spectra_match_data_sends_by_match_total{group_code="\` + "\n")
	f.Add("go_goroutines 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := parseMatchSends(bufio.NewScanner(strings.NewReader(text)))
		if err != nil {
			return
		}
		for code, n := range got {
			if n < 0 {
				t.Errorf("parseMatchSends(%q): %q has %d", text, code, n)
			}
		}
	})
}

func TestSendsCell(t *testing.T) {
	for _, tc := range []struct {
		from, want string
	}{
		{OwedFromServer, "7.5"},
		{OwedFromEstimate, "7.5 est."},
		{"", "7.5 est."}, // a report from before the server's counts
	} {
		if got := sendsCell(Result{OwedFrom: tc.from})(7.5); got != tc.want {
			t.Errorf("owed from %q: %q, want %q", tc.from, got, tc.want)
		}
	}
}
