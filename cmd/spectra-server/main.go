// Command spectra-server is the Spectra relay: observers and auxiliary
// clients send to the ingest port (5100), overlays subscribe on the output
// port (5200), tools use the HTTP extras (5101), operators the admin
// listener (127.0.0.1:5102 by default: status page, metrics, health).
//
//	spectra-server [flags]
//
// Every setting is a flag and an environment variable (also read from a
// .env file in the working directory); flags win over the environment, the
// environment over .env. `spectra-server -h` lists them all with their
// defaults (see config.go).
//
// Port 0 picks a free port. Once listening, the one line
// "spectra-server listening ingest=HOST:PORT output=HOST:PORT extras=HOST:PORT admin=HOST:PORT"
// (admin=off without an admin listener) is printed to stdout; logs go to stderr. SIGINT or SIGTERM shut down
// gracefully: clients are sent a close, replay files are flushed. With TLS on, SIGHUP reloads the
// certificate and key for new connections (certreload.go).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"syscall"
	"time"

	"spectra-relay/engineio"
	"spectra-relay/internal/connlimit"
	"spectra-relay/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	dotenv, dotErr := readDotEnv(".env")
	cfg, err := loadConfig(args, os.LookupEnv, func(k string) (string, bool) { v, ok := dotenv[k]; return v, ok })
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, versionString())
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "spectra-server: %v\n(spectra-server -h lists every setting)\n", err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.logJSON {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	if dotErr != nil {
		log.Warn(".env not read", "err", dotErr)
	}
	// The runtime read GOGC itself at start; the setting's default (50,
	// not Go's 100) applies when the variable was not set.
	debug.SetGCPercent(cfg.gcPercent)
	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			log.Error("spectra-server: -cpuprofile", "err", err)
			return 1
		}
		defer stop()
	}
	if cfg.tracePath != "" {
		stop, err := startTrace(cfg.tracePath)
		if err != nil {
			log.Error("spectra-server: -trace", "err", err)
			return 1
		}
		defer stop()
	}
	if cfg.blockProfile != "" {
		stop := startBlockProfile(cfg.blockProfile, log)
		defer stop()
	}
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("spectra-server failed", "err", err)
		return 1
	}
	return 0
}

// zeroOff maps a setting's 0 ("none", "off") to the relay's -1.
func zeroOff[T int | int64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// relayConfig is the relay's configuration for cfg.
func relayConfig(cfg config, log *slog.Logger) relay.Config {
	// A setting's 0 (no cap, never, no budget, off) is the relay's -1: the
	// relay's 0 means its default.
	maxBytes := zeroOff(cfg.replayMaxBytes)
	logonBurst := zeroOff(cfg.logonBurst)
	recvBudget := zeroOff(cfg.recvBudget)
	recoveryWindow := zeroOff(cfg.recoveryWindow)
	return relay.Config{
		OutputMaxPayload:    cfg.outputMaxPayload,
		RecvBudget:          recvBudget,
		RecoveryWindow:      recoveryWindow,
		RecoveryMaxSessions: cfg.recoveryMax,
		RequireAuthKey:      cfg.requireKey,
		AuthKey:             cfg.authKey,
		ReplayDir:           cfg.replayDir,
		ReplayMaxBytes:      maxBytes,
		BodyTimeout:         cfg.bodyTimeout,
		LogonBurst:          logonBurst,
		Pprof:               cfg.pprof,
		AdminToken:          cfg.adminToken,
		Logger:              log,
		Engine: engineio.Config{
			PingInterval: 25 * time.Second,
			PingTimeout:  20 * time.Second,
			MaxPayload:   1e6,
			CORSOrigin:   "*",
			BodyTimeout:  cfg.bodyTimeout,
			// The existing server's zlib level 3 / threshold 1024; the level is
			// left to engineio's default, which gives smaller frames than
			// compress/flate's own level 3 at less CPU (see engineio).
			Deflate:     engineio.DeflateConfig{Enabled: true, Threshold: 1024, StreamFlate: cfg.streamFlate},
			SendBuffer:  int(cfg.sndbuf),
			Uring:       cfg.uring,
			UringAIO:    cfg.uringAIO,
			TLSFastPath: cfg.tlsFastPath,
			Logger:      log,
		},
	}
}

// fdReserve is what MAX_CONNS leaves of the descriptor limit for replay
// files, the epoll and io_uring descriptors, Redis and the like.
const fdReserve = 256

// connLimiter is the connection limiter of the three ports for cfg.
func connLimiter(cfg config, log *slog.Logger) *connlimit.Limiter {
	n, known := fileLimit()
	maxConns := effectiveMaxConns(cfg.maxConns, n, known)
	if maxConns != cfg.maxConns {
		log.Info("MAX_CONNS lowered to fit the descriptor limit (raise `ulimit -n` for more)",
			"maxConns", cfg.maxConns, "nofile", n, "effective", maxConns)
	}
	return connlimit.New(connlimit.Config{
		MaxConns:       maxConns,
		MaxConnsPerIP:  cfg.maxConnsPerIP,
		HandshakeRate:  cfg.handshakeRate,
		HandshakeBurst: cfg.handshakeBurst,
		TrustedProxies: cfg.trustedProxies,
		Logger:         log,
	})
}

// effectiveMaxConns is MAX_CONNS lowered to what a descriptor limit of
// nofile holds with fdReserve to spare (at least half of it): a clean
// refusal at the cap beats accept failing with EMFILE, which stalls every
// port's accept loop. 0 (no cap) stays 0.
func effectiveMaxConns(maxConns int, nofile uint64, known bool) int {
	if !known || maxConns <= 0 || nofile >= uint64(maxConns)+fdReserve {
		return maxConns
	}
	n := int(min(nofile, 1<<30))
	return max(n/2, n-fdReserve)
}

// startCPUProfile profiles the process until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// startTrace records an execution trace until the returned stop is called.
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

// startBlockProfile samples every blocking event and lock contention; the
// returned stop writes the block profile to path and the mutex profile to
// path+".mutex".
func startBlockProfile(path string, log *slog.Logger) (stop func()) {
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	return func() {
		for _, p := range []struct{ name, path string }{{"block", path}, {"mutex", path + ".mutex"}} {
			f, err := os.Create(p.path)
			if err == nil {
				err = pprof.Lookup(p.name).WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				log.Error("spectra-server: -blockprofile", "profile", p.name, "err", err)
			}
		}
	}
}

func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	var tlsCfg *tls.Config
	if !cfg.insecure {
		certs, created, err := newCertStore(cfg.keyPath, cfg.certPath)
		if err != nil {
			return err
		}
		if created {
			log.Info("generated a self-signed TLS pair", "key", cfg.keyPath, "cert", cfg.certPath)
		}
		tlsCfg = certs.tlsConfig()
		// SIGHUP re-reads the pair (a renewed certificate) for the
		// connections that follow; open ones keep theirs.
		stopHUP := certs.reloadOnHUP(log)
		defer stopHUP()
	}
	lim := connLimiter(cfg, log)
	rc := relayConfig(cfg, log)
	rc.ConnLimit = lim
	srv := relay.NewServer(rc)
	if cfg.redisURL != "" {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := srv.JoinCluster(jctx, relay.ClusterConfig{RedisURL: cfg.redisURL, NodeID: cfg.nodeID})
		cancel()
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		// In a cluster the match's Redis stream is its log: an observer's
		// reconnect to any node rebuilds it from there, so the local files
		// are not replayed (they may hold matches another node owns now).
		if cfg.recover && cfg.replayDir != "" {
			log.Info("match recovery from replay files off in cluster mode; matches come back from Redis on the observer's reconnect")
		}
	} else if cfg.recover && cfg.replayDir != "" {
		// Recovery runs before the listeners open, so an observer reconnecting
		// after a restart finds its match already there.
		rep, err := srv.RecoverMatches()
		if err != nil {
			// Starting without the old matches beats not starting mid-event.
			log.Error("match recovery failed; starting without recovered matches", "replayDir", cfg.replayDir, "err", err)
		} else {
			log.Info("match recovery", "replayDir", cfg.replayDir, "recovered", rep.Recovered, "skipped", rep.Skipped)
		}
	}

	type port struct {
		name    string
		addr    string // HOST:PORT to listen on
		h       http.Handler
		tls     bool
		limited bool // counted by the connection limiter
		ln      net.Listener
		hs      *http.Server
	}
	// The Socket.IO ports take the handshake rate; every public port counts
	// its connections in the limiter, refused ones closed as they are
	// accepted. The admin listener is the operator's, not limited.
	public := func(n int) string { return net.JoinHostPort(cfg.bind, strconv.Itoa(n)) }
	ports := []*port{
		{name: "ingest", addr: public(cfg.ingest), h: lim.Handler(srv.IngestHandler()), tls: tlsCfg != nil, limited: true},
		{name: "output", addr: public(cfg.output), h: lim.Handler(srv.OutputHandler()), tls: tlsCfg != nil, limited: true},
		{name: "extras", addr: public(cfg.extra), h: srv.ExtrasHandler(), tls: tlsCfg != nil, limited: true},
	}
	if cfg.adminBind != "" {
		// On loopback the admin listener is plain HTTP: the traffic never
		// leaves the machine, and the ssh tunnel, the container's health
		// check and a local Prometheus need no certificate. Elsewhere it
		// uses TLS like the other ports unless INSECURE=true.
		host, _, _ := net.SplitHostPort(cfg.adminBind)
		ports = append(ports, &port{name: "admin", addr: cfg.adminBind, h: srv.AdminHandler(),
			tls: tlsCfg != nil && !loopbackHost(host)})
	}
	closeAll := func() {
		for _, p := range ports {
			if p.ln != nil {
				p.ln.Close()
			}
		}
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			closeAll()
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("%s port: %w", p.name, err)
		}
		p.ln = ln
		if p.limited {
			p.ln = lim.Listen(ln)
		}
	}
	addr := func(p *port) string {
		a := p.ln.Addr().(*net.TCPAddr)
		host := a.IP.String()
		if a.IP.IsUnspecified() {
			host = "0.0.0.0"
		}
		return net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	adminAddr, adminScheme := "off", ""
	if len(ports) > 3 {
		adminAddr, adminScheme = addr(ports[3]), "http"
		if ports[3].tls {
			adminScheme = "https"
		}
	}
	errc := make(chan error, len(ports))
	for _, p := range ports {
		p.hs = &http.Server{
			Handler:           p.h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			ConnContext:       lim.ConnContext,
		}
		ln := p.ln
		if p.tls {
			if cfg.tlsFastPath {
				ln = engineio.NewTLSListener(ln, tlsCfg)
			} else {
				ln = tls.NewListener(ln, tlsCfg)
			}
		}
		go func(p *port, ln net.Listener) {
			if err := p.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s port: %w", p.name, err)
			}
		}(p, ln)
	}
	scheme := "https"
	if tlsCfg == nil {
		scheme = "http"
	}
	writePath, writeReason := srv.WritePath()
	log.Info("spectra-server started", "scheme", scheme, "ingest", addr(ports[0]), "output", addr(ports[1]),
		"extras", addr(ports[2]), "admin", adminAddr, "adminScheme", adminScheme, "adminToken", cfg.adminToken != "",
		"replayDir", cfg.replayDir, "requireAuthKey", cfg.requireKey, "version", buildVersion(),
		"maxConnsPerIP", cfg.maxConnsPerIP, "handshakeRate", cfg.handshakeRate, "trustedProxies", len(cfg.trustedProxies),
		"writePath", writePath, "writePathReason", writeReason)
	if tlsCfg != nil && cfg.tlsFastPath && runtime.GOOS == "linux" {
		log.Info("TLS is on, on the fast path (TLS_FAST_PATH=true): TLS WebSockets are read through the epoll set and written like plain ones")
	} else if tlsCfg != nil {
		log.Info("TLS is on: each TLS connection is read by its own goroutine; for large matches terminate TLS at a " +
			"reverse proxy and run this relay with INSECURE=true behind it, so plain connections use the epoll fast path")
	}
	fmt.Fprintf(stdout, "spectra-server listening ingest=%s output=%s extras=%s admin=%s\n",
		addr(ports[0]), addr(ports[1]), addr(ports[2]), adminAddr)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Add(1)
		go func(p *port) {
			defer wg.Done()
			if err := p.hs.Shutdown(sctx); err != nil {
				log.Warn("HTTP shutdown", "port", p.name, "err", err)
			}
		}(p)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("relay shutdown", "err", err)
	}
	wg.Wait()
	log.Info("stopped")
	return runErr
}
