package relay

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/relay/match"
	"spectra-relay/relay/operator"
	"spectra-relay/relay/replaylog"
	"spectra-relay/socketio"
)

// metricPrefix starts every relay metric name.
const metricPrefix = operator.MetricPrefix

// ctrlMetrics are the controller's own numbers. Each update is an atomic
// add (or a histogram bucket add) on handles resolved here, once: no label
// lookup and no allocation on the ingest or send path.
type ctrlMetrics struct {
	events       *prometheus.CounterVec
	evOK         prometheus.Counter
	evNoMatch    prometheus.Counter
	evForeign    prometheus.Counter
	evForeignPl  prometheus.Counter
	evRejected   prometheus.Counter
	sends        prometheus.Counter
	sendBytes    prometheus.Counter
	recipients   prometheus.Counter
	sendLag      prometheus.Histogram
	replayBytes  prometheus.Counter
	replayErrors prometheus.Counter
	bursts       prometheus.Counter
	recoveries   *prometheus.CounterVec
}

// sendLagBuckets span an immediate (leading-edge) send to several send
// intervals; with the default 100 ms interval almost every send lands
// below 0.1 s.
var sendLagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5}

func newCtrlMetrics() *ctrlMetrics {
	m := &ctrlMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "events_total",
			Help: "Game events routed to the match controller, by outcome: ok (applied), no_match (no live match for the group code / match id), foreign_match (group code of another match than the connection's), foreign_player (an auxiliary client's data for another player than its own), rejected (the match refused the data).",
		}, []string{"result"}),
		sends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "match_data_sends_total",
			Help: "match_data broadcasts (one per match state sent to its room, encoded once).",
		}),
		sendBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "match_data_bytes_total",
			Help: "Bytes of the match_data Socket.IO packets broadcast, counted once per broadcast (before framing and compression).",
		}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "match_data_recipients_total",
			Help: "Overlay sockets match_data broadcasts were queued to.",
		}),
		sendLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricPrefix + "send_lag_seconds",
			Help:    "Time from the first change of a match not yet sent to the broadcast that carries it (including the fan-out).",
			Buckets: sendLagBuckets,
		}),
		replayBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "replay_bytes_written_total",
			Help: "Bytes written to replay files.",
		}),
		replayErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "replay_write_errors_total",
			Help: "Failed replay file writes or closes.",
		}),
		bursts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "logon_bursts_total",
			Help: "Overlay logon bursts: times the logon rate reached the burst threshold, from which match_data is sent less often until it passes.",
		}),
	}
	m.recoveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "ingest_recoveries_total",
		Help: "Ingest connections that came back with a recoverable session (Socket.IO connection state recovery), by result: restored (bound again to its match as if it had logged on), and the refusals: unknown (pid not known here), expired (lost longer than RECOVERY_WINDOW ago), refused (its match is no longer live), malformed (pid or offset not as issued).",
	}, []string{"result"})
	for _, r := range []socketio.RecoveryOutcome{socketio.RecoveryRestored, socketio.RecoveryUnknown, socketio.RecoveryExpired, socketio.RecoveryRefused, socketio.RecoveryMalformed} {
		m.recoveries.WithLabelValues(string(r))
	}
	m.evOK = m.events.WithLabelValues("ok")
	m.evNoMatch = m.events.WithLabelValues("no_match")
	m.evForeign = m.events.WithLabelValues("foreign_match")
	m.evForeignPl = m.events.WithLabelValues("foreign_player")
	m.evRejected = m.events.WithLabelValues("rejected")
	return m
}

func (m *ctrlMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.sends, m.sendBytes, m.recipients, m.sendLag, m.replayBytes, m.replayErrors, m.bursts, m.recoveries}
}

// recoveryOutcome counts one recovery attempt on the ingest port. A
// restore the relay then cannot bind (its match ended in between) counts
// as restored and refused: the socket recovered, its binding did not.
func (m *ctrlMetrics) recoveryOutcome(o socketio.RecoveryOutcome) {
	m.recoveries.WithLabelValues(string(o)).Inc()
}

// countEvent records the outcome of routing one event.
func (m *ctrlMetrics) countEvent(err error) {
	switch {
	case err == nil:
		m.evOK.Inc()
	case errors.Is(err, errNoMatch), errors.Is(err, errMatchRemoved):
		m.evNoMatch.Inc()
	case errors.Is(err, errForeignMatch):
		m.evForeign.Inc()
	case errors.Is(err, match.ErrForeignPlayer):
		m.evForeignPl.Inc()
	default:
		m.evRejected.Inc()
	}
}

// sent records one broadcast of lm. lm.sendMu held (it guards dirtySince).
func (m *ctrlMetrics) sent(lm *liveMatch, bytes, recipients int, now time.Time) {
	m.sends.Inc()
	lm.sends.Add(1)
	m.sendBytes.Add(float64(bytes))
	m.recipients.Add(float64(recipients))
	if !lm.dirtySince.IsZero() {
		m.sendLag.Observe(max(now.Sub(lm.dirtySince), 0).Seconds())
		lm.dirtySince = time.Time{}
	}
}

// flushReplay writes rl's buffered events and counts the bytes that
// reached the file (replaylog.Log.FlushGrowth).
func (c *controller) flushReplay(rl *replaylog.Log) error {
	grew, err := rl.FlushGrowth()
	c.m.replayBytes.Add(float64(grew))
	if err != nil {
		c.m.replayErrors.Inc()
	}
	return err
}

// writeThrough writes what rl buffers now, on the ingest path (see the
// durability note in replaylog): usually the one event just applied, one
// write(2). Errors are counted; the flush loop logs them when it meets
// them again.
func (c *controller) writeThrough(rl *replaylog.Log) {
	wrote, err := rl.WriteThrough()
	c.m.replayBytes.Add(float64(wrote))
	if err != nil {
		c.m.replayErrors.Inc()
	}
}

// closeReplay closes a replay file that no longer receives events (the
// caller took it off its match under lm.mu): a counted flush first, so
// that what close writes on its own is at most what arrived in between,
// which is nothing.
func (c *controller) closeReplay(rl *replaylog.Log) error {
	err := c.flushReplay(rl)
	if cerr := rl.Close(); cerr != nil {
		c.m.replayErrors.Inc()
		if err == nil {
			err = cerr
		}
	}
	return err
}

// newRegistry gathers the relay's metrics: one registry per Server (not the
// global default), so that several servers can live in one process.
func (srv *Server) newRegistry() *prometheus.Registry {
	return operator.NewRegistry(
		[]operator.Port{{Name: "ingest", Server: srv.ingest}, {Name: "output", Server: srv.output}},
		operator.Gauges{
			LiveMatches:     func() int { return srv.ctrl.Count() },
			OverlaysWaiting: srv.waitingOverlays,
			RecvBudgetBytes: func() int64 { return srv.budget.Used() },
			Draining:        srv.draining.Load,
		},
		srv.cfg.ConnLimit,
		append(srv.ctrl.m.collectors(), newMatchSendsCollector(srv.ctrl), srv.newWritePathGauge())...)
}
