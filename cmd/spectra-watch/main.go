// Command spectra-watch logs on to a Spectra output server as an overlay
// would and prints one line per match_data it receives: round, phase, score,
// size and the time since the previous one.
//
//	spectra-watch -group-code GU3Z72 [-url http://127.0.0.1:5200] [-transport default]
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/socketio/sioclient"
)

type config struct {
	url         string
	groupCode   string
	transport   string
	count       int
	jsonOut     bool
	insecureTLS bool
	timeout     time.Duration
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spectra-watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:5200", "output server URL (http, https, ws or wss)")
	fs.StringVar(&cfg.groupCode, "group-code", "", "group code of the match to watch (required)")
	fs.StringVar(&cfg.transport, "transport", "default", "websocket | polling | default (polling, then upgrade like socket.io-client)")
	fs.IntVar(&cfg.count, "n", 0, "exit after this many match_data (0: run until interrupted)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print each match_data's JSON instead of a summary line")
	fs.BoolVar(&cfg.insecureTLS, "insecure-tls", false, "accept any TLS certificate (the server's generated self-signed one)")
	fs.DurationVar(&cfg.timeout, "connect-timeout", 10*time.Second, "how long to wait for the connection and logon_success")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: spectra-watch -group-code CODE [flags]\n\nLogs on to a Spectra output server as an overlay and prints one line per match_data.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if cfg.groupCode == "" {
		fmt.Fprintln(stderr, "spectra-watch: -group-code is required (the observer's group code, e.g. GU3Z72 for testdata/replays/short_3rounds.replay)")
		return 2
	}
	switch cfg.transport {
	case "default", "websocket", "polling":
	default:
		fmt.Fprintf(stderr, "spectra-watch: unknown -transport %q (websocket, polling, default)\n", cfg.transport)
		return 2
	}
	if !strings.Contains(cfg.url, "://") {
		cfg.url = "http://" + cfg.url
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := watch(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "spectra-watch: %v\n", err)
		return 1
	}
	return 0
}

// summary is the part of match_data a line shows.
type summary struct {
	GroupCode   string `json:"groupCode"`
	Map         string `json:"map"`
	RoundNumber int    `json:"roundNumber"`
	RoundPhase  string `json:"roundPhase"`
	Teams       []struct {
		TeamTricode string `json:"teamTricode"`
		RoundsWon   int    `json:"roundsWon"`
	} `json:"teams"`
}

func watch(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	opts := sioclient.Options{EIO: eioclient.Options{Deflate: true}}
	switch cfg.transport {
	case "websocket":
		opts.EIO.Transports = []string{"websocket"}
	case "polling":
		opts.EIO.Transports = []string{"polling"}
	}
	if cfg.insecureTLS {
		opts.EIO.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c := sioclient.New(opts)

	type item struct {
		at  time.Time
		raw string
		err error
	}
	items := make(chan item, 1024)
	c.On("match_data", func(args []json.RawMessage) {
		it := item{at: time.Now()}
		if len(args) == 0 || json.Unmarshal(args[0], &it.raw) != nil {
			it.err = errors.New("match_data without a JSON string argument")
		}
		items <- it
	})
	logonOK := make(chan string, 1)
	c.On("logon_success", func(args []json.RawMessage) {
		var s string
		if len(args) > 0 {
			json.Unmarshal(args[0], &s)
		}
		select {
		case logonOK <- s:
		default:
		}
	})

	cctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := c.Connect(cctx, cfg.url); err != nil {
		// Some transport errors end in the server's newline-terminated body.
		return fmt.Errorf("connecting to %s: %s (%s)", cfg.url, strings.TrimSpace(err.Error()), connectHint(ctx, cfg, err))
	}
	defer c.Close()
	logon, _ := json.Marshal(map[string]string{"groupCode": cfg.groupCode})
	if err := c.Emit("logon", string(logon)); err != nil {
		return fmt.Errorf("sending logon: %w", err)
	}
	select {
	case <-logonOK:
	case <-c.Done():
		return fmt.Errorf("the server closed the connection before logon_success: %v", c.Err())
	case <-cctx.Done():
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("no logon_success within %s", cfg.timeout)
	}
	fmt.Fprintf(stderr, "logged on to %s (%s) for group code %s; waiting for match_data (Ctrl-C to stop)\n",
		cfg.url, c.EIO().Transport(), cfg.groupCode)

	var (
		n     int
		prev  time.Time
		start = time.Now()
	)
	defer func() {
		fmt.Fprintf(stderr, "%d match_data in %s\n", n, time.Since(start).Round(time.Millisecond))
	}()
	show := func(it item) {
		n++
		if cfg.jsonOut {
			fmt.Fprintln(stdout, it.raw)
		} else {
			fmt.Fprintln(stdout, line(n, it.raw, it.at, prev))
		}
		prev = it.at
	}
	for {
		select {
		case it := <-items:
			if it.err != nil {
				return it.err
			}
			show(it)
			if cfg.count > 0 && n >= cfg.count {
				return nil
			}
		case <-c.Done():
			// Show what arrived before the connection ended.
			for len(items) > 0 {
				if it := <-items; it.err == nil {
					show(it)
				}
			}
			return fmt.Errorf("connection closed: %v", c.Err())
		case <-ctx.Done():
			return nil
		}
	}
}

// connectHint guesses why a connection failed: most often an http URL for a
// relay that speaks TLS (its default) or the other way round, which the
// transport's own error does not make plain.
func connectHint(ctx context.Context, cfg config, connErr error) string {
	const notRunning = "is the server running? `make run` starts one"
	u, err := url.Parse(cfg.url)
	if err != nil || u.Host == "" {
		return notRunning
	}
	secure := u.Scheme == "https" || u.Scheme == "wss"
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[secure])
	}
	speaksTLS, err := probeTLS(ctx, host, u.Hostname())
	if err != nil {
		return notRunning
	}
	switch {
	case speaksTLS && !secure:
		alt := *u
		alt.Scheme = map[string]string{"ws": "wss"}[u.Scheme]
		if alt.Scheme == "" {
			alt.Scheme = "https"
		}
		hint := "the server speaks TLS: use " + alt.String()
		if !cfg.insecureTLS {
			hint += ", with -insecure-tls for the relay's generated self-signed certificate"
		}
		return hint
	case !speaksTLS && secure:
		alt := *u
		alt.Scheme = map[string]string{"wss": "ws"}[u.Scheme]
		if alt.Scheme == "" {
			alt.Scheme = "http"
		}
		return "the server speaks plain HTTP, not TLS: use " + alt.String()
	case speaksTLS && !cfg.insecureTLS && certError(connErr):
		return "the server's certificate is not trusted here; for the relay's generated self-signed one add -insecure-tls"
	}
	return notRunning
}

// certError: the handshake failed on the server's certificate. The client
// does not always wrap the crypto/tls error, hence the text fallback.
func certError(err error) bool {
	var cv *tls.CertificateVerificationError
	return errors.As(err, &cv) || strings.Contains(err.Error(), "failed to verify certificate")
}

// probeTLS reports whether the server at host completes a TLS handshake;
// err is set when it cannot be reached or says nothing recognisable.
func probeTLS(ctx context.Context, host, serverName string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// Only the protocol is in question here, not the certificate.
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: serverName})
	err = tc.HandshakeContext(ctx)
	var rh tls.RecordHeaderError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &rh):
		return false, nil // the server answered with something that is not TLS
	}
	return false, err
}

// line renders one match_data, e.g.
//
//	#12 round 2 combat    NWE 1-1 CRV  map Split  48213 bytes  +103 ms
func line(n int, raw string, at, prev time.Time) string {
	var s summary
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return fmt.Sprintf("#%d unparsable match_data (%d bytes): %v", n, len(raw), err)
	}
	score := "-"
	if len(s.Teams) == 2 {
		score = fmt.Sprintf("%s %d-%d %s", s.Teams[0].TeamTricode, s.Teams[0].RoundsWon, s.Teams[1].RoundsWon, s.Teams[1].TeamTricode)
	}
	since := "first"
	if !prev.IsZero() {
		since = fmt.Sprintf("+%d ms", at.Sub(prev).Milliseconds())
	}
	return fmt.Sprintf("#%d round %d %-8s %s  map %s  %d bytes  %s", n, s.RoundNumber, s.RoundPhase, score, s.Map, len(raw), since)
}
