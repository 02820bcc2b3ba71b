package bench

import (
	"slices"
	"testing"
)

func TestParseSteps(t *testing.T) {
	for _, tc := range []struct {
		steps, matches, overlays, perMatch string
		want                               []Step
	}{
		{steps: "1x200,10x1000", want: []Step{{Matches: 1, Overlays: 200}, {Matches: 10, Overlays: 1000}}},
		{steps: "storm:50x10000", want: []Step{{Kind: StepStorm, Matches: 50, Overlays: 10000}}},
		{steps: "storm:10x2000, ramp:10x2000", want: []Step{{Kind: StepStorm, Matches: 10, Overlays: 2000}, {Matches: 10, Overlays: 2000}}},
		{matches: "1,10", overlays: "5,1000", want: []Step{{Matches: 1, Overlays: 5}, {Matches: 1, Overlays: 1000}, {Matches: 10, Overlays: 1000}}},
		{matches: "2", perMatch: "100", overlays: "7", want: []Step{{Matches: 2, Overlays: 200}}},
		{steps: "burst:1x10"},
		{steps: "storm:10x5"},
		{steps: "10"},
		{steps: "0x10"},
		{steps: ","},
		{matches: "0", overlays: "10"},
	} {
		got, err := ParseSteps(tc.steps, tc.matches, tc.overlays, tc.perMatch)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSteps(%q, %q, %q, %q) = %v, %v; want %v", tc.steps, tc.matches, tc.overlays, tc.perMatch, got, err, tc.want)
		}
		for _, st := range got {
			back, err := ParseStep(st.String())
			if err != nil || back != st {
				t.Errorf("ParseStep(%q) = %v, %v; want %v", st.String(), back, err, st)
			}
		}
	}
}

func TestParseServers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"go,floor", []string{KindGo, KindFloor}},
		{"both", []string{KindGo, KindNode}},
		{"floor, node ,floor", []string{KindFloor, KindNode}},
		{"go,rust", nil},
		{"go,cluster3", []string{KindGo, "cluster3"}},
		{"cluster2,cluster2,cluster16", []string{"cluster2", "cluster16"}},
		{"cluster", nil},
		{"cluster0", nil},
		{"cluster17", nil},
		{"cluster03", nil},
		{"go,go+URING=true,go+SNDBUF=16KiB,floor", []string{KindGo, "go+URING=true", "go+SNDBUF=16KiB", KindFloor}},
		{"go+URING=true+SNDBUF=64KiB,go+URING=true+SNDBUF=64KiB", []string{"go+URING=true+SNDBUF=64KiB"}},
		{"go,floor,floor+", []string{KindGo, KindFloor, KindFloorPlus}},
		{"floor++", nil},
		{"go+", nil},
		{"go+URING", nil},
		{"go+uring=true", nil},
		{"go+INSECURE=false", []string{KindGoTLS}},
		{"go+INSECURE=maybe", nil},
		{"go+REQUIRE_AUTH_KEY=true", nil},
		{"", nil},
	} {
		got, err := ParseServers(tc.in)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseServers(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
