package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// What the overlays are owed. spectra-server and the floor servers count
// their own match_data broadcasts per match and publish the counts on
// their admin /metrics (spectra_match_data_sends_by_match_total, one
// series per group code); the bench reads them at both ends of a window,
// so that a match's overlays are owed exactly what the server sent it,
// never more. The Node baseline publishes nothing: for it the bench keeps
// its own estimate (expectedSends), and the report says so.

// Where a result's owed sends came from (Result.OwedFrom).
const (
	OwedFromServer   = "server"
	OwedFromEstimate = "harness estimate"
)

// matchSendsMetric is the per-match send counter's name.
const matchSendsMetric = "spectra_match_data_sends_by_match_total"

// parseMatchSends reads the per-match send counts out of a Prometheus text
// page: group code → sends. Lines of other metrics are skipped; a
// malformed line of this one is an error (the count would be unknown).
func parseMatchSends(sc *bufio.Scanner) (map[string]int64, error) {
	out := map[string]int64{}
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), matchSendsMetric+`{group_code="`)
		if !ok {
			continue
		}
		code, v, ok := cutLabel(rest)
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", matchSendsMetric, sc.Text())
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= 0 && f < 1<<53) {
			return nil, fmt.Errorf("%s{group_code=%q}: %q is not a count", matchSendsMetric, code, v)
		}
		out[code] = int64(f)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// cutLabel splits `value"} rest` (a label value as Prometheus escapes it,
// the only label, and what follows the closing brace).
func cutLabel(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteByte(s[i])
			default:
				return "", "", false
			}
		case '"':
			rest, ok := strings.CutPrefix(s[i+1:], "}")
			if !ok || !strings.HasPrefix(rest, " ") {
				return "", "", false
			}
			return b.String(), rest, true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// serverMatchSends reads the per-match send counts from a server's admin
// listener (plain HTTP on loopback).
func serverMatchSends(ctx context.Context, admin string) (map[string]int64, error) {
	if admin == "" || admin == "off" {
		return nil, errors.New("no admin listener")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", res.Status)
	}
	return parseMatchSends(bufio.NewScanner(&limitReader{r: res.Body, n: maxMetricsBytes}))
}

// matchSends is each match's send count as the servers report it (the
// largest over a cluster's nodes: the owner counts every send of its
// matches), by match index; nil when any match has no count (a server
// without the counter, a failed scrape): then the whole step falls back to
// the estimate.
func (g *serverGroup) matchSends(ctx context.Context, matches int) []int64 {
	out := make([]int64, matches)
	found := make([]bool, matches)
	for _, p := range g.nodes {
		byCode, err := serverMatchSends(ctx, p.admin)
		if err != nil {
			continue
		}
		for m := range out {
			if n, ok := byCode[groupCode(m)]; ok {
				out[m], found[m] = max(out[m], n), true
			}
		}
	}
	for _, f := range found {
		if !f {
			return nil
		}
	}
	return out
}

// owedSends is what each match's overlays were owed in a window: the
// server's own send counts between its two readings when both exist for
// every match, else the harness's estimate from the observer's slots and
// the busiest probe (expectedSends).
func owedSends(sends0, sends1, slots, probeMax []int64) (owed []int64, from string) {
	owed = make([]int64, len(slots))
	if len(sends0) == len(slots) && len(sends1) == len(slots) {
		for m := range owed {
			owed[m] = max(sends1[m]-sends0[m], 0)
		}
		return owed, OwedFromServer
	}
	for m := range owed {
		owed[m] = expectedSends(slots[m], probeMax[m])
	}
	return owed, OwedFromEstimate
}
