package bench

// How "delivered" is counted. Each overlay's match_data in the window count
// up to what the server owed its match (what the server itself counted as
// sent, see owedSends; for a server without that count the estimate
// expectedSends, and one more for the window's edge, see deliveredCapped), never more, and a match counts
// at most what it was owed in all: no step delivers more than 100 %, and
// extra frames cannot make up for lost ones beyond the edge's one. The probes (the sampled overlays that inflate and parse
// everything) count distinct states only: a match_data whose state equals
// the one before it is a repeat, and one that does not decode is a failure,
// neither is a delivery.

// overlayCount is one overlay's cumulative match_data count at one moment.
type overlayCount struct {
	match int
	n     int64
}

// expectedSends is the harness's estimate of what the server owes each
// overlay of a match in the window, for a server that does not count its
// sends (the Node baseline; see owedSends): one send per 100 ms slot in which the observer sent something (the
// 10/s cap of a change-driven 100 ms loop), or what the busiest probe got if
// that is more (a leading-edge sender may send a little more often), less
// one: a send being fanned out when the window opens or closes is inside one
// probe's window and outside another's, and the busiest probe is the one
// that counted it.
func expectedSends(slots, probeMax int64) int64 {
	return max(slots, probeMax-1, 0)
}

// deliveredCapped sums what each overlay received between t0 and t1 (the
// same overlays in the same order; one missing from t0 had 0). Each
// overlay counts up to edge more than its match was owed, never more (a
// server that sends states twice cannot make up a loss with them), and a
// match counts at most owed × its overlays (never over 100 %). edge is 0
// when owed is the server's own count: the overlays' window then holds
// the server's (see measureWindow), so an overlay that got every send
// counts at least owed. It is 1 for the harness's estimate: there the
// window's edges cut a send's fan-out, an overlay that got every send
// counts one more or one fewer than owed, and those average out over a
// match's overlays. over is what the caps cut off.
func deliveredCapped(t0, t1 []overlayCount, expected []int64, overlays []int, edge int64) (delivered, over int64) {
	perMatch := make([]int64, len(expected))
	for i, c := range t1 {
		got := c.n
		if i < len(t0) {
			got -= t0[i].n
		}
		got = max(got, 0)
		if c.match < 0 || c.match >= len(expected) {
			over += got
			continue
		}
		capped := min(got, expected[c.match]+edge)
		over += got - capped
		perMatch[c.match] += capped
	}
	for m, d := range perMatch {
		owed := expected[m] * int64(overlays[m])
		delivered += min(d, owed)
		over += max(d-owed, 0)
	}
	return delivered, over
}

// overlayCounts lists every overlay's match_data count: the counting
// overlays in the order they connected, then the probes, then the polling
// overlays (each list only grows, and not at all during a window).
func (s *stepState) overlayCounts() []overlayCount {
	var out []overlayCount
	if s.pool != nil {
		s.pool.allMu.Lock()
		for _, c := range s.pool.all {
			out = append(out, overlayCount{match: c.match, n: c.n.Load()})
		}
		s.pool.allMu.Unlock()
	}
	for m, ps := range s.probes {
		for _, p := range ps {
			out = append(out, overlayCount{match: m, n: p.matchData.Load()})
		}
	}
	s.pollMu.Lock()
	for _, o := range s.polling {
		out = append(out, overlayCount{match: o.match, n: o.matchData.Load()})
	}
	s.pollMu.Unlock()
	return out
}
