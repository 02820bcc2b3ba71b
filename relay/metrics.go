package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"spectra-relay/engineio"
	"spectra-relay/relay/match"
	"spectra-relay/socketio"
)

// metricPrefix starts every relay metric name.
const metricPrefix = "spectra_"

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
	m.sendBytes.Add(float64(bytes))
	m.recipients.Add(float64(recipients))
	if !lm.dirtySince.IsZero() {
		m.sendLag.Observe(max(now.Sub(lm.dirtySince), 0).Seconds())
		lm.dirtySince = time.Time{}
	}
}

// flushReplay writes rl's buffered events and counts the bytes that reached
// the file, as its size grew: exact whatever flush does inside (and for a
// recovered file opened to append), and each byte is counted once because
// the size is read under the write lock.
func (c *controller) flushReplay(rl *replayLog) error {
	rl.wmu.Lock()
	before := replaySize(rl)
	err := rl.flushLocked()
	c.m.replayBytes.Add(float64(max(replaySize(rl)-before, 0)))
	rl.wmu.Unlock()
	if err != nil {
		c.m.replayErrors.Inc()
	}
	return err
}

// writeThrough writes what rl buffers now, on the ingest path (see the
// durability note in replaylog.go): usually the one event just applied,
// one write(2). It waits for a flush of the loop in progress, which may
// hold that event. Errors are counted; the flush loop logs them when it
// meets them again.
func (c *controller) writeThrough(rl *replayLog) {
	rl.wmu.Lock()
	before := rl.written
	err := rl.flushLocked()
	c.m.replayBytes.Add(float64(rl.written - before))
	rl.wmu.Unlock()
	if err != nil {
		c.m.replayErrors.Inc()
	}
}

// closeReplay closes a replay file that no longer receives events (the
// caller took it off its match under lm.mu): a counted flush first, so
// that what close writes on its own is at most what arrived in between,
// which is nothing.
func (c *controller) closeReplay(rl *replayLog) error {
	err := c.flushReplay(rl)
	if cerr := rl.close(); cerr != nil {
		c.m.replayErrors.Inc()
		if err == nil {
			err = cerr
		}
	}
	return err
}

// replaySize is the size of rl's file; 0 once closed. rl.wmu held.
func replaySize(rl *replayLog) int64 {
	if rl.f == nil {
		return 0
	}
	st, err := rl.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// relayPort is one Socket.IO server of the relay as the metrics name it.
type relayPort struct {
	name string
	sio  *socketio.Server
}

// engineCollector exports the Engine.IO and Socket.IO counters of both
// ports. It reads their Stats() snapshots at scrape time, so the
// transports pay nothing for being observed.
type engineCollector struct {
	ports []relayPort

	conns, opened, upgrades, closes, sockets *prometheus.Desc
	dFrames, dIn, dOut                       *prometheus.Desc
	evictions                                *prometheus.Desc
	reasons                                  []engineio.CloseReason
	reasonLabels                             []string
}

func newEngineCollector(ports ...relayPort) *engineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(metricPrefix+name, help, append([]string{"port"}, labels...), nil)
	}
	ec := &engineCollector{
		ports:     ports,
		conns:     d("connections", "Engine.IO sessions open now, by the transport they are on.", "transport"),
		opened:    d("connections_opened_total", "Engine.IO sessions opened, by the transport they started on.", "transport"),
		upgrades:  d("upgrades_total", "Sessions upgraded from HTTP long-polling to WebSocket."),
		closes:    d("connection_closes_total", "Engine.IO sessions ended, by reason.", "reason"),
		sockets:   d("sockets", "Socket.IO sockets connected to the main namespace."),
		dFrames:   d("deflate_frames_total", "Broadcast frames compressed for permessage-deflate clients, once per frame and mode (context: with the room's shared deflate context; standalone: for clients whose window misses the room's history).", "mode"),
		dIn:       d("deflate_in_bytes_total", "Message bytes of broadcast frames before compression.", "mode"),
		dOut:      d("deflate_out_bytes_total", "Payload bytes of broadcast frames after compression; out/in is the deflate ratio.", "mode"),
		evictions: d("recv_budget_evictions_total", "Connections closed because the receive budget (RECV_BUDGET) was spent and they held the most of it."),
		reasons:   engineio.CloseReasons(),
	}
	for _, r := range ec.reasons {
		ec.reasonLabels = append(ec.reasonLabels, strings.ReplaceAll(r.String(), " ", "_"))
	}
	return ec
}

func (ec *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ec.conns, ec.opened, ec.upgrades, ec.closes, ec.sockets, ec.dFrames, ec.dIn, ec.dOut, ec.evictions} {
		ch <- d
	}
}

func (ec *engineCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := prometheus.GaugeValue
	counter := prometheus.CounterValue
	for _, p := range ec.ports {
		st := p.sio.Engine().Stats()
		ch <- prometheus.MustNewConstMetric(ec.conns, gauge, float64(st.PollingOpen), p.name, "polling")
		ch <- prometheus.MustNewConstMetric(ec.conns, gauge, float64(st.WebSocketOpen), p.name, "websocket")
		ch <- prometheus.MustNewConstMetric(ec.opened, counter, float64(st.PollingOpened), p.name, "polling")
		ch <- prometheus.MustNewConstMetric(ec.opened, counter, float64(st.WebSocketOpened), p.name, "websocket")
		ch <- prometheus.MustNewConstMetric(ec.upgrades, counter, float64(st.Upgrades), p.name)
		ch <- prometheus.MustNewConstMetric(ec.evictions, counter, float64(st.RecvBudgetEvictions), p.name)
		for i, r := range ec.reasons {
			ch <- prometheus.MustNewConstMetric(ec.closes, counter, float64(st.Closes[r]), p.name, ec.reasonLabels[i])
		}
		ch <- prometheus.MustNewConstMetric(ec.sockets, gauge, float64(p.sio.Of("/").Count()), p.name)
		for _, m := range []struct {
			mode string
			d    engineio.DeflateStats
		}{{"context", st.DeflateContext}, {"standalone", st.DeflateStandalone}} {
			ch <- prometheus.MustNewConstMetric(ec.dFrames, counter, float64(m.d.Frames), p.name, m.mode)
			ch <- prometheus.MustNewConstMetric(ec.dIn, counter, float64(m.d.BytesIn), p.name, m.mode)
			ch <- prometheus.MustNewConstMetric(ec.dOut, counter, float64(m.d.BytesOut), p.name, m.mode)
		}
	}
}

// newRegistry gathers the relay's metrics: one registry per Server (not the
// global default), so that several servers can live in one process.
func (srv *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newEngineCollector(relayPort{"ingest", srv.ingest}, relayPort{"output", srv.output}),
		srv.newWritePathGauge(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "live_matches",
			Help: "Matches live in the controller.",
		}, func() float64 { return float64(srv.ctrl.Count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "overlays_waiting",
			Help: "Overlays logged on to a group code that has no live match (see the status page for the codes).",
		}, func() float64 { return float64(srv.waitingOverlays()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "recv_budget_bytes",
			Help: "Bytes held now, over both Socket.IO ports, of messages and polling bodies still arriving (limit: RECV_BUDGET).",
		}, func() float64 { return float64(srv.budget.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "draining",
			Help: "1 while the server shuts down (readiness fails), else 0.",
		}, func() float64 {
			if srv.draining.Load() {
				return 1
			}
			return 0
		}),
	)
	reg.MustRegister(srv.ctrl.m.collectors()...)
	if srv.cfg.ConnLimit != nil {
		reg.MustRegister(newConnLimitCollector(srv.cfg.ConnLimit))
	}
	return reg
}

func (srv *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(srv.reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{srv}})
}

// slogPromLogger sends promhttp's gather errors to the relay's log.
type slogPromLogger struct{ srv *Server }

func (l slogPromLogger) Println(v ...any) {
	l.srv.log.Error("metrics: gather failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
