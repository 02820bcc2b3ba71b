package operator

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"spectra-relay/engineio"
	"spectra-relay/internal/connlimit"
	"spectra-relay/socketio"
)

// MetricPrefix starts every relay metric name.
const MetricPrefix = "spectra_"

// Port is one Socket.IO server of the relay as the metrics name it.
type Port struct {
	Name   string
	Server *socketio.Server
}

// engineCollector exports the Engine.IO and Socket.IO counters of both
// ports. It reads their Stats() snapshots at scrape time, so the
// transports pay nothing for being observed.
type engineCollector struct {
	ports []Port

	conns, opened, upgrades, closes, sockets *prometheus.Desc
	dFrames, dIn, dOut                       *prometheus.Desc
	evictions                                *prometheus.Desc
	reasons                                  []engineio.CloseReason
	reasonLabels                             []string
}

func newEngineCollector(ports ...Port) *engineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(MetricPrefix+name, help, append([]string{"port"}, labels...), nil)
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
		st := p.Server.Engine().Stats()
		ch <- prometheus.MustNewConstMetric(ec.conns, gauge, float64(st.PollingOpen), p.Name, "polling")
		ch <- prometheus.MustNewConstMetric(ec.conns, gauge, float64(st.WebSocketOpen), p.Name, "websocket")
		ch <- prometheus.MustNewConstMetric(ec.opened, counter, float64(st.PollingOpened), p.Name, "polling")
		ch <- prometheus.MustNewConstMetric(ec.opened, counter, float64(st.WebSocketOpened), p.Name, "websocket")
		ch <- prometheus.MustNewConstMetric(ec.upgrades, counter, float64(st.Upgrades), p.Name)
		ch <- prometheus.MustNewConstMetric(ec.evictions, counter, float64(st.RecvBudgetEvictions), p.Name)
		for i, r := range ec.reasons {
			ch <- prometheus.MustNewConstMetric(ec.closes, counter, float64(st.Closes[r]), p.Name, ec.reasonLabels[i])
		}
		ch <- prometheus.MustNewConstMetric(ec.sockets, gauge, float64(p.Server.Of("/").Count()), p.Name)
		for _, m := range []struct {
			mode string
			d    engineio.DeflateStats
		}{{"context", st.DeflateContext}, {"standalone", st.DeflateStandalone}} {
			ch <- prometheus.MustNewConstMetric(ec.dFrames, counter, float64(m.d.Frames), p.Name, m.mode)
			ch <- prometheus.MustNewConstMetric(ec.dIn, counter, float64(m.d.BytesIn), p.Name, m.mode)
			ch <- prometheus.MustNewConstMetric(ec.dOut, counter, float64(m.d.BytesOut), p.Name, m.mode)
		}
	}
}

// Gauges are the relay's numbers read at scrape time.
type Gauges struct {
	LiveMatches     func() int   // matches live in the controller
	OverlaysWaiting func() int   // overlays in rooms without a live match
	RecvBudgetBytes func() int64 // bytes held of the receive budget
	Draining        func() bool
}

// NewRegistry gathers the relay's metrics: one registry per relay (not the
// global default), so that several can live in one process. limiter may
// be nil; more are the relay's own collectors.
func NewRegistry(ports []Port, g Gauges, limiter *connlimit.Limiter, more ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newEngineCollector(ports...),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricPrefix + "live_matches",
			Help: "Matches live in the controller.",
		}, func() float64 { return float64(g.LiveMatches()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricPrefix + "overlays_waiting",
			Help: "Overlays logged on to a group code that has no live match (see the status page for the codes).",
		}, func() float64 { return float64(g.OverlaysWaiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricPrefix + "recv_budget_bytes",
			Help: "Bytes held now, over both Socket.IO ports, of messages and polling bodies still arriving (limit: RECV_BUDGET).",
		}, func() float64 { return float64(g.RecvBudgetBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricPrefix + "draining",
			Help: "1 while the server shuts down (readiness fails), else 0.",
		}, func() float64 {
			if g.Draining() {
				return 1
			}
			return 0
		}),
	)
	reg.MustRegister(more...)
	if limiter != nil {
		reg.MustRegister(newConnLimitCollector(limiter))
	}
	return reg
}

// MetricsHandler serves reg; gather errors go to log (nil: the default).
func MetricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{log}})
}

// slogPromLogger sends promhttp's gather errors to the relay's log.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Error("metrics: gather failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
