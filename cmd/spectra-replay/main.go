// Command spectra-replay plays a Spectra replay file into an ingest server
// as the observer client and as each auxiliary client the file contains.
//
//	spectra-replay [flags] file.replay
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
)

// config is everything a run needs; flags fill it in main, tests directly.
type config struct {
	file          string
	ingest        string
	key           string
	mode          string
	delay         time.Duration
	speed         float64
	groupCode     string
	clientVersion string
	transport     string
	deflate       bool
	quiet         bool
	noAux         bool
	logonTimeout  time.Duration
	switchDelay   time.Duration
	insecureTLS   bool
	sync          bool

	stdin  io.Reader
	stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
}

func run(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("spectra-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{stdin: stdin, stderr: stderr}
	fs.StringVar(&cfg.ingest, "ingest", "http://127.0.0.1:5100", "ingest server URL (http, https, ws or wss)")
	fs.StringVar(&cfg.key, "key", "", "access key sent with obs_logon")
	fs.StringVar(&cfg.mode, "mode", "instant", "pacing: instant | delay | timestamps | manual")
	fs.DurationVar(&cfg.delay, "delay", 50*time.Millisecond, "pause between events in -mode delay")
	fs.Float64Var(&cfg.speed, "speed", 1, "in -mode timestamps, divide the recorded gaps by this")
	fs.StringVar(&cfg.groupCode, "group-code", "", "replace the file's group code (to replay one file into many matches)")
	fs.StringVar(&cfg.clientVersion, "client-version", "", "replace the header's clientVersion in the logons")
	fs.StringVar(&cfg.transport, "transport", "default", "websocket | polling | default (polling, then upgrade like socket.io-client)")
	fs.BoolVar(&cfg.deflate, "deflate", true, "offer permessage-deflate on WebSocket connections")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line and no summary")
	fs.BoolVar(&cfg.noAux, "no-aux", false, "skip the auxiliary clients' events")
	fs.DurationVar(&cfg.logonTimeout, "logon-timeout", 15*time.Second, "how long to wait for a connection and its logon ack")
	fs.DurationVar(&cfg.switchDelay, "switch-delay", 0, "pause when the next event goes out on another connection (after flushing the previous one)")
	fs.BoolVar(&cfg.insecureTLS, "insecure-tls", false, "accept any TLS certificate (the server's generated self-signed one)")
	fs.BoolVar(&cfg.sync, "sync", true, "before switching connections and before closing, wait until the server has read the previous connection's events (a CONNECT to an unknown namespace as round trip); off: only flush")
	verbose := fs.Bool("v", false, "debug logging")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: spectra-replay [flags] file.replay\n\nPlays a replay file into a Spectra ingest server as the observer and its auxiliary clients.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg.file = fs.Arg(0)
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "spectra-replay: %v\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := play(ctx, cfg)
	if !cfg.quiet && res != nil {
		fmt.Fprintln(stderr, res.summary())
	}
	if err != nil {
		fmt.Fprintf(stderr, "spectra-replay: %v\n", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}

func (c *config) validate() error {
	switch c.mode {
	case "instant", "delay", "timestamps", "manual":
	default:
		return fmt.Errorf("unknown -mode %q (instant, delay, timestamps, manual)", c.mode)
	}
	switch c.transport {
	case "default", "websocket", "polling":
	default:
		return fmt.Errorf("unknown -transport %q (websocket, polling, default)", c.transport)
	}
	if c.mode == "delay" && c.delay < 0 {
		return errors.New("-delay must not be negative")
	}
	if c.mode == "timestamps" && !(c.speed > 0) {
		return errors.New("-speed must be positive")
	}
	if c.logonTimeout <= 0 {
		return errors.New("-logon-timeout must be positive")
	}
	if !strings.Contains(c.ingest, "://") {
		c.ingest = "http://" + c.ingest
	}
	return nil
}

func (c *config) transports() []string {
	switch c.transport {
	case "websocket":
		return []string{"websocket"}
	case "polling":
		return []string{"polling"}
	}
	return nil
}

func (c *config) tlsConfig() *tls.Config {
	if c.insecureTLS {
		return &tls.Config{InsecureSkipVerify: true}
	}
	return nil
}
