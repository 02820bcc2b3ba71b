package operator

import (
	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/internal/connlimit"
)

// connLimitCollector exports the connection limiter's counters
// (the relay's Config.ConnLimit), read at scrape time.
type connLimitCollector struct {
	l                      *connlimit.Limiter
	refused, open, tracked *prometheus.Desc
	reasons                []connlimit.Reason
}

func newConnLimitCollector(l *connlimit.Limiter) *connLimitCollector {
	return &connLimitCollector{
		l: l,
		refused: prometheus.NewDesc(MetricPrefix+"conn_refused_total",
			"Connections and handshakes refused by the connection limits, by reason: max_conns (MAX_CONNS reached), "+
				"max_conns_per_ip (the address has MAX_CONNS_PER_IP open), handshake_rate (the address's HANDSHAKE_RATE bucket is empty).",
			[]string{"reason"}, nil),
		open: prometheus.NewDesc(MetricPrefix+"conns_open",
			"TCP connections open on the three public ports, as MAX_CONNS counts them.", nil, nil),
		tracked: prometheus.NewDesc(MetricPrefix+"conn_limit_addresses",
			"Addresses the connection limits keep state for: conns (with a connection open), handshakes (in the bounded handshake-rate table).",
			[]string{"table"}, nil),
		reasons: connlimit.Reasons(),
	}
}

func (c *connLimitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.refused
	ch <- c.open
	ch <- c.tracked
}

func (c *connLimitCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	for _, r := range c.reasons {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused[r]), r.String())
	}
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(c.tracked, prometheus.GaugeValue, float64(st.ConnAddrs), "conns")
	ch <- prometheus.MustNewConstMetric(c.tracked, prometheus.GaugeValue, float64(st.RateAddrs), "handshakes")
}
