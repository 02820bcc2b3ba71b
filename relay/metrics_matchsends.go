package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// matchSendsCollector publishes each live match's match_data broadcast
// count, labelled by group code. spectra-bench reads it to know what the
// server owed each match's overlays in a window (its own count, not the
// harness's guess). The series exist only while their match is live and
// are built at scrape time, so the send path pays one atomic add per
// broadcast and nothing per overlay.
type matchSendsCollector struct {
	c    *controller
	desc *prometheus.Desc
}

func newMatchSendsCollector(c *controller) matchSendsCollector {
	return matchSendsCollector{c: c, desc: prometheus.NewDesc(metricPrefix+"match_data_sends_by_match_total",
		"match_data broadcasts of each live match since it started on this node, by group code.",
		[]string{"group_code"}, nil)}
}

func (m matchSendsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// matchSends is one match's count, read under its shard's read lock.
type matchSends struct {
	code string
	n    uint64
}

// Collect reads the counts shard by shard, holding each shard's read lock
// only to copy the counts (never while the registry reads the channel).
func (m matchSendsCollector) Collect(ch chan<- prometheus.Metric) {
	var buf []matchSends
	for i := range m.c.shards {
		sh := &m.c.shards[i]
		sh.mu.RLock()
		for code, lm := range sh.m {
			buf = append(buf, matchSends{code: code, n: lm.sends.Load()})
		}
		sh.mu.RUnlock()
	}
	for _, s := range buf {
		// A group code that is no valid label value (not UTF-8) is left
		// out rather than failing the scrape.
		if pm, err := prometheus.NewConstMetric(m.desc, prometheus.CounterValue, float64(s.n), s.code); err == nil {
			ch <- pm
		}
	}
}
