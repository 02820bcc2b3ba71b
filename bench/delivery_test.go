package bench

import "testing"

func TestExpectedSends(t *testing.T) {
	for _, tc := range []struct{ slots, probeMax, want int64 }{
		{200, 150, 200}, // the observer's slots owe more than a probe got
		{200, 205, 204}, // a leading-edge sender: the busiest probe less one
		{200, 201, 200}, // one more than the slots is the window's edge
		{0, 0, 0},       // a quiet match owes nothing
		{0, 1, 0},       // one frame at the edge owes nothing
		{-3, -5, 0},     // never negative
		{10_000, 0, 10_000},
	} {
		if got := expectedSends(tc.slots, tc.probeMax); got != tc.want {
			t.Errorf("expectedSends(%d, %d) = %d, want %d", tc.slots, tc.probeMax, got, tc.want)
		}
	}
}

func TestDeliveredCapped(t *testing.T) {
	oc := func(pairs ...int64) []overlayCount {
		var out []overlayCount
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, overlayCount{match: int(pairs[i]), n: pairs[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		t0, t1          []overlayCount
		expected        []int64
		overlays        []int
		edge            int64 // set to 1 below unless exact
		exact           bool  // edge 0: owed is the server's own count
		delivered, over int64
	}{
		{name: "every send once", t0: oc(0, 5, 0, 7), t1: oc(0, 105, 0, 107), expected: []int64{100}, overlays: []int{2}, delivered: 200},
		{name: "the window's edges average out", t0: oc(0, 0, 0, 0, 0, 0), t1: oc(0, 101, 0, 99, 0, 100), expected: []int64{100},
			overlays: []int{3}, delivered: 300},
		{name: "frames beyond the edge's one do not make up for a loss", t0: oc(0, 0, 0, 0), t1: oc(0, 150, 0, 90), expected: []int64{100},
			overlays: []int{2}, delivered: 191, over: 49},
		{name: "never over 100 %", t0: oc(0, 0, 0, 0, 1, 0), t1: oc(0, 101, 0, 101, 1, 51), expected: []int64{100, 50},
			overlays: []int{2, 1}, delivered: 250, over: 3},
		{name: "an overlay that connected after t0 counts from 0", t0: oc(0, 10), t1: oc(0, 20, 0, 8), expected: []int64{10},
			overlays: []int{2}, delivered: 18},
		{name: "an overlay that never connected is owed all the same", t0: oc(0, 0), t1: oc(0, 10), expected: []int64{10},
			overlays: []int{2}, delivered: 10},
		{name: "a match with nothing owed delivers nothing", t0: oc(0, 0), t1: oc(0, 3), expected: []int64{0}, overlays: []int{1},
			delivered: 0, over: 3},
		{name: "an unknown match is owed nothing", t0: nil, t1: oc(5, 3), expected: []int64{10}, overlays: []int{1}, delivered: 0, over: 3},
		{name: "a count that went down is none", t0: oc(0, 9), t1: oc(0, 4), expected: []int64{10}, overlays: []int{1}, delivered: 0},
		{name: "no overlays", expected: []int64{10}, overlays: []int{0}},
		// Owed by the server's own count: no edge allowance.
		{name: "server count: every send once", exact: true, t0: oc(0, 5, 0, 7), t1: oc(0, 105, 0, 107), expected: []int64{100},
			overlays: []int{2}, delivered: 200},
		{name: "server count: an edge frame cannot make up a lost one", exact: true, t0: oc(0, 0, 0, 0), t1: oc(0, 101, 0, 99),
			expected: []int64{100}, overlays: []int{2}, delivered: 199, over: 1},
		{name: "server count: a duplicating server gets no credit", exact: true, t0: oc(0, 0), t1: oc(0, 200), expected: []int64{100},
			overlays: []int{1}, delivered: 100, over: 100},
	} {
		if !tc.exact {
			tc.edge = 1
		}
		t.Run(tc.name, func(t *testing.T) {
			d, o := deliveredCapped(tc.t0, tc.t1, tc.expected, tc.overlays, tc.edge)
			if d != tc.delivered || o != tc.over {
				t.Errorf("deliveredCapped = %d, over %d; want %d, over %d", d, o, tc.delivered, tc.over)
			}
		})
	}
}
