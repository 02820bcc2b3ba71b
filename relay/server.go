package relay

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"spectra-relay/engineio"
	"spectra-relay/internal/connlimit"
	"spectra-relay/internal/recvbudget"
	"spectra-relay/relay/extras"
	"spectra-relay/relay/operator"
	"spectra-relay/socketio"
)

// Config configures a Server.
type Config struct {
	// RequireAuthKey makes logons and previews present AuthKey; an empty
	// AuthKey then refuses every key.
	RequireAuthKey bool
	AuthKey        string
	// ReplayDir receives Match_<groupCode>_<ms>.replay files; "" writes none.
	ReplayDir string
	// Engine configures both Socket.IO servers' Engine.IO layer; its
	// MaxPayload is the ingest port's (the output port has its own) and its
	// RecvBudget is replaced by the one built from RecvBudget below.
	Engine engineio.Config
	// OutputMaxPayload bounds one message and one polling body on the
	// overlay port, which only ever receives a logon and pings. 0 =
	// DefaultOutputMaxPayload.
	OutputMaxPayload int64
	// RecvBudget bounds the bytes held, over both Socket.IO ports, in
	// messages and polling bodies still arriving; past it the connection
	// holding the most is closed. 0 = DefaultRecvBudget, < 0 = no budget.
	RecvBudget int64
	// Timing; zero values take the existing server's (100 ms sends, 30 min
	// inactivity, 1 h finished-team info, 10 min previews).
	SendInterval      time.Duration
	InactivityTimeout time.Duration
	TeamInfoTTL       time.Duration
	PreviewTTL        time.Duration
	// LogonBurst is the overlay logon rate (per second) from which each
	// match is sent at most every 4 send intervals until the burst passes,
	// so that a reconnecting tournament is back on its overlays sooner:
	// 0 = DefaultLogonBurst (100), < 0 = never slow the sends.
	LogonBurst int
	// BodyTimeout bounds reading one request body on the extras port (the
	// Socket.IO ports take Engine.BodyTimeout). Default 10s.
	BodyTimeout time.Duration
	// ReplayMaxBytes caps one match's replay file: past it events are still
	// applied but no longer logged (one warning). Default 64 MiB; < 0 = no cap.
	ReplayMaxBytes int64
	// RecoveryWindow is how long an observer or auxiliary client whose
	// connection was lost can come back into its session without a new
	// logon (Socket.IO connection state recovery on the ingest port):
	// 0 = DefaultRecoveryWindow, < 0 = off.
	RecoveryWindow time.Duration
	// RecoveryMaxSessions caps the lost ingest sessions remembered at once:
	// 0 = DefaultRecoveryMaxSessions.
	RecoveryMaxSessions int
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin
	// handler.
	Pprof bool
	// AdminToken, when set, is required by the admin handler's endpoints
	// except /healthz and /readyz (see adminHandler); empty = none, for a
	// loopback listener.
	AdminToken string
	// ConnLimit, when set, is the connection limiter the caller wrapped the
	// listeners and handlers with (internal/connlimit); its counters are
	// exported with the relay's metrics.
	ConnLimit *connlimit.Limiter
	Logger    *slog.Logger

	// waitingShown caps the status page's waiting list (tests); 0 =
	// maxWaitingShown.
	waitingShown int
}

// DefaultOutputMaxPayload is the overlay port's largest message: an
// overlay sends a Socket.IO connect, one logon ({"groupCode":"…"}, under
// 100 bytes with a 64-byte code) and pings, so 4 KiB leaves a wide margin
// while a connection announcing a large frame is refused at its header.
const DefaultOutputMaxPayload = 4 << 10

// DefaultRecvBudget bounds what both Socket.IO ports hold of messages
// still arriving: a 1-2 GB VPS stays up whatever clients announce or send.
const DefaultRecvBudget = 128 << 20

// Connection state recovery defaults of the ingest port.
const (
	DefaultRecoveryWindow      = socketio.DefaultRecoveryWindow
	DefaultRecoveryMaxSessions = socketio.DefaultRecoveryMaxSessions
)

// RecoveryReport says what RecoverMatches rebuilt from the replay files.
type RecoveryReport struct {
	Recovered int // matches live again
	Skipped   int // finished, expired or unreadable files left alone
}

// RecoverMatches rebuilds every unfinished, unexpired match from the replay
// files in ReplayDir (see recover.go). Call it once, after NewServer and
// before the listeners open.
func (srv *Server) RecoverMatches() (RecoveryReport, error) {
	return srv.ctrl.recoverMatches()
}

// Server is the relay: handlers for the three ports sharing one controller.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ctrl *controller

	overlayLogonFn socketio.EventHandler // srv.overlayLogon, made once
	ingest         *socketio.Server
	output         *socketio.Server
	budget         *recvbudget.Budget // shared by both ports; nil: none

	ingestH, outputH, extrasH, adminH http.Handler

	// Observability (metrics.go, status.go; served by relay/operator).
	started  time.Time
	reg      *prometheus.Registry
	metricsH http.Handler
	draining atomic.Bool // set first thing in Shutdown: /readyz fails
}

// NewServer builds the relay and starts its background loops; Shutdown
// stops them.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 10 * time.Second
	}
	if cfg.waitingShown <= 0 {
		cfg.waitingShown = maxWaitingShown
	}
	if cfg.PreviewTTL <= 0 {
		cfg.PreviewTTL = DefaultPreviewTTL
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	// The relay never reads a client's request headers or query after the
	// handshake; not keeping them is most of an idle overlay's memory.
	cfg.Engine.ForgetRequest = true
	if cfg.OutputMaxPayload <= 0 {
		cfg.OutputMaxPayload = DefaultOutputMaxPayload
	}
	if cfg.RecvBudget == 0 {
		cfg.RecvBudget = DefaultRecvBudget
	}
	srv := &Server{cfg: cfg, log: cfg.Logger}
	// One budget for both ports: an attacker gains nothing by spreading.
	srv.budget = recvbudget.New(cfg.RecvBudget)
	cfg.Engine.RecvBudget = srv.budget
	// The ingest side broadcasts to a handful of clients: its writes are
	// not worth io_uring rings (nor a second "unavailable" log line).
	ingestEngine := cfg.Engine
	ingestEngine.Uring = false
	outputEngine := cfg.Engine
	outputEngine.MaxPayload = cfg.OutputMaxPayload
	srv.ingest = socketio.NewServer(socketio.Config{Engine: ingestEngine, Logger: cfg.Logger})
	srv.output = socketio.NewServer(socketio.Config{Engine: outputEngine, Logger: cfg.Logger})
	outNsp := srv.output.Of("/")
	srv.ctrl = newController(controllerConfig{
		SendInterval:      cfg.SendInterval,
		InactivityTimeout: cfg.InactivityTimeout,
		TeamInfoTTL:       cfg.TeamInfoTTL,
		LogonBurst:        cfg.LogonBurst,
		ReplayDir:         cfg.ReplayDir,
		ReplayMaxBytes:    cfg.ReplayMaxBytes,
		PreviewTTL:        cfg.PreviewTTL,
		Logger:            cfg.Logger,
	}, outNsp)
	if cfg.RecoveryWindow >= 0 {
		srv.ingest.Of("/").EnableRecovery(socketio.RecoveryConfig{
			Window:      cfg.RecoveryWindow,
			MaxSessions: cfg.RecoveryMaxSessions,
			Lookup:      srv.lookupSession,
			Observe:     srv.ctrl.m.recoveryOutcome,
		})
	}
	srv.ingest.Of("/").OnConnection(srv.onIngestConnection)
	srv.overlayLogonFn = srv.overlayLogon
	outNsp.OnConnection(srv.onOutputConnection)
	srv.started = time.Now()
	srv.reg = srv.newRegistry()
	srv.metricsH = operator.MetricsHandler(srv.reg, srv.log)
	srv.ingestH = socketIOMux(srv.ingest)
	srv.outputH = socketIOMux(srv.output)
	srv.extrasH = extras.Handler(publicSource{srv}, previewsOf{srv}, extras.Config{
		BodyTimeout:    cfg.BodyTimeout,
		RequireAuthKey: cfg.RequireAuthKey,
		Logger:         cfg.Logger,
	})
	srv.adminH = operator.Handler(operatorSource{srv}, srv.metricsH, operator.Config{AdminToken: cfg.AdminToken, Pprof: cfg.Pprof})
	return srv
}

func socketIOMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", h)
	return mux
}

// IngestHandler serves the observer and auxiliary clients (port 5100).
func (srv *Server) IngestHandler() http.Handler { return srv.ingestH }

// OutputHandler serves the overlays (port 5200).
func (srv *Server) OutputHandler() http.Handler { return srv.outputH }

// ExtrasHandler serves the public HTTP extras (5101): /status,
// /getTeamInfoForCode and previews, exactly the existing server's.
func (srv *Server) ExtrasHandler() http.Handler { return srv.extrasH }

// AdminHandler serves the operators (a private listener, ADMIN_BIND): the
// status page (/), /status/matches, /metrics, /healthz, /readyz and, with
// Config.Pprof, /debug/pprof/; Config.AdminToken guards all but the
// health checks.
func (srv *Server) AdminHandler() http.Handler { return srv.adminH }

// validKey is the existing server's key check without its backend: any
// key when keys are not required, else exactly AuthKey.
func (srv *Server) validKey(key string) bool {
	if !srv.cfg.RequireAuthKey {
		return true
	}
	return srv.cfg.AuthKey != "" && secretEqual(key, srv.cfg.AuthKey)
}

// Shutdown marks the server draining (/readyz answers 503 from then
// on), closes every Socket.IO connection (clients get a close packet),
// waits for the transports to flush or ctx to end, then stops the
// controller and flushes the replay files. The HTTP listeners are the
// caller's to stop.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.draining.Store(true)
	errOut := make(chan error, 1)
	go func() { errOut <- srv.output.Shutdown(ctx) }()
	errIn := srv.ingest.Shutdown(ctx)
	err := errors.Join(errIn, <-errOut)
	srv.ctrl.Close()
	srv.ctrl.broker.close()
	return err
}
