// Command spectra-server is the Spectra relay: observers and auxiliary
// clients send to the ingest port (5100), overlays subscribe on the output
// port (5200), tools use the HTTP extras (5101).
//
//	spectra-server [-bind ADDR] [-ingest-port N] [-output-port N] [-extras-port N] [-replay-dir DIR]
//
// Configuration comes from flags, then the environment, then a .env file in
// the working directory (the real environment wins over .env):
//
//	INSECURE=true        plain HTTP/WS instead of TLS
//	SERVER_KEY, SERVER_CERT  TLS pair (default keys/server.key, keys/server.crt;
//	                     generated self-signed when missing)
//	REQUIRE_AUTH_KEY     "false" accepts any access key (default true)
//	AUTH_KEY             the access key
//	BIND, INGEST_PORT, OUTPUT_PORT, EXTRAS_PORT, REPLAY_DIR, LOG_LEVEL
//
// Port 0 picks a free port. Once listening, the one line
// "spectra-server listening ingest=HOST:PORT output=HOST:PORT extras=HOST:PORT"
// is printed to stdout; logs go to stderr. SIGINT or SIGTERM shut down
// gracefully: clients are sent a close, replay files are flushed.
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
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"spectra-relay/engineio"
	"spectra-relay/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	bind                  string
	ingest, output, extra int
	replayDir             string
	insecure              bool
	keyPath, certPath     string
	requireKey            bool
	authKey               string
	logLevel              slog.Level
	cpuProfile            string
}

// loadConfig merges flags over the environment over .env.
func loadConfig(args []string, env func(string) (string, bool), stderr io.Writer) (config, error) {
	get := func(k, def string) string {
		if v, ok := env(k); ok {
			return v
		}
		return def
	}
	port := func(k string, def int) int {
		if v, ok := env(k); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
		return def
	}
	var cfg config
	fs := flag.NewFlagSet("spectra-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.bind, "bind", get("BIND", ""), "address to listen on (\"\" = all interfaces)")
	fs.IntVar(&cfg.ingest, "ingest-port", port("INGEST_PORT", 5100), "observer/auxiliary Socket.IO port (0 = any free port)")
	fs.IntVar(&cfg.output, "output-port", port("OUTPUT_PORT", 5200), "overlay Socket.IO port (0 = any free port)")
	fs.IntVar(&cfg.extra, "extras-port", port("EXTRAS_PORT", 5101), "HTTP extras port (0 = any free port)")
	fs.StringVar(&cfg.replayDir, "replay-dir", get("REPLAY_DIR", "replays"), "directory for replay files (\"\" = write none)")
	level := fs.String("log-level", get("LOG_LEVEL", "info"), "debug | info | warn | error")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", get("CPU_PROFILE", ""), "write a CPU profile of the whole run to this file (for load tests)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, p := range []int{cfg.ingest, cfg.output, cfg.extra} {
		if p < 0 || p > 65535 {
			return cfg, fmt.Errorf("port %d out of range", p)
		}
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	cfg.insecure = get("INSECURE", "") == "true"
	cfg.keyPath = get("SERVER_KEY", "keys/server.key")
	cfg.certPath = get("SERVER_CERT", "keys/server.crt")
	cfg.requireKey = get("REQUIRE_AUTH_KEY", "true") != "false"
	cfg.authKey = get("AUTH_KEY", "")
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	dotenv, dotErr := readDotEnv(".env")
	env := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := dotenv[k]
		return v, ok
	}
	cfg, err := loadConfig(args, env, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "spectra-server:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	slog.SetDefault(log)
	if dotErr != nil {
		log.Warn(".env not read", "err", dotErr)
	}
	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			log.Error("spectra-server: -cpuprofile", "err", err)
			return 1
		}
		defer stop()
	}
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("spectra-server failed", "err", err)
		return 1
	}
	return 0
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

func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	var tlsCfg *tls.Config
	if !cfg.insecure {
		cert, created, err := loadOrCreateCert(cfg.keyPath, cfg.certPath)
		if err != nil {
			return err
		}
		if created {
			log.Info("generated a self-signed TLS pair", "key", cfg.keyPath, "cert", cfg.certPath)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.requireKey && cfg.authKey == "" {
		log.Warn("REQUIRE_AUTH_KEY is on but AUTH_KEY is empty: every logon will be refused")
	}

	srv := relay.NewServer(relay.Config{
		RequireAuthKey: cfg.requireKey,
		AuthKey:        cfg.authKey,
		ReplayDir:      cfg.replayDir,
		Logger:         log,
		Engine: engineio.Config{
			PingInterval: 25 * time.Second,
			PingTimeout:  20 * time.Second,
			MaxPayload:   1e6,
			CORSOrigin:   "*",
			// The existing server's zlib level 3 / threshold 1024; the level is
			// left to engineio's default, which gives smaller frames than
			// compress/flate's own level 3 at less CPU (see engineio).
			Deflate: engineio.DeflateConfig{Enabled: true, Threshold: 1024},
			Logger:  log,
		},
	})
	if _, err := srv.RecoverMatches(); err != nil {
		log.Error("match recovery", "err", err)
	}

	type port struct {
		name string
		port int
		h    http.Handler
		ln   net.Listener
		hs   *http.Server
	}
	ports := []*port{
		{name: "ingest", port: cfg.ingest, h: srv.IngestHandler()},
		{name: "output", port: cfg.output, h: srv.OutputHandler()},
		{name: "extras", port: cfg.extra, h: srv.ExtrasHandler()},
	}
	closeAll := func() {
		for _, p := range ports {
			if p.ln != nil {
				p.ln.Close()
			}
		}
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.bind, strconv.Itoa(p.port)))
		if err != nil {
			closeAll()
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("%s port: %w", p.name, err)
		}
		p.ln = ln
	}
	addr := func(ln net.Listener) string {
		a := ln.Addr().(*net.TCPAddr)
		host := a.IP.String()
		if cfg.bind == "" || a.IP.IsUnspecified() {
			host = "0.0.0.0"
		}
		return net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	errc := make(chan error, len(ports))
	for _, p := range ports {
		p.hs = &http.Server{
			Handler:           p.h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		ln := p.ln
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
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
	log.Info("spectra-server started", "scheme", scheme, "ingest", addr(ports[0].ln), "output", addr(ports[1].ln),
		"extras", addr(ports[2].ln), "replayDir", cfg.replayDir, "requireAuthKey", cfg.requireKey)
	fmt.Fprintf(stdout, "spectra-server listening ingest=%s output=%s extras=%s\n",
		addr(ports[0].ln), addr(ports[1].ln), addr(ports[2].ln))

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
