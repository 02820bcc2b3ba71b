package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"spectra-relay/internal/connlimit"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version string

type config struct {
	bind                  string
	ingest, output, extra int
	adminBind             string // HOST:PORT of the admin listener; "" = none
	adminToken            string // required by the admin endpoints but the health checks; "" = none
	replayDir             string
	insecure              bool
	keyPath, certPath     string
	requireKey            bool
	authKey               string
	logLevel              slog.Level
	logJSON               bool
	cpuProfile            string
	tracePath             string
	blockProfile          string
	bodyTimeout           time.Duration
	replayMaxBytes        int64 // 0 = no cap
	pprof                 bool
	recover               bool
	redisURL              string // cluster mode when set
	nodeID                string
	sndbuf                int64   // SO_SNDBUF of overlay/observer WebSockets; 0 = kernel default
	uring                 bool    // batch broadcast writes through io_uring
	uringAIO              bool    // URING=aio: batch through Linux AIO, never io_uring
	tlsFastPath           bool    // TLS WebSockets on the epoll read path and the inline/io_uring writes
	streamFlate           bool    // compress broadcasts with compress/flate, not deltaflate
	gcPercent             int     // debug.SetGCPercent; -1 = off
	logonBurst            int     // overlay logons per second that slow the sends; 0 = never
	outputMaxPayload      int64   // largest message / polling body on the overlay port
	recvBudget            int64   // bytes held in messages still arriving, both ports; 0 = no budget
	maxConns              int     // open connections of the three ports; 0 = no cap
	maxConnsPerIP         int     // open connections of one address; 0 = no cap
	handshakeRate         float64 // Engine.IO handshakes per second per address; 0 = no limit
	handshakeBurst        int
	trustedProxies        []netip.Prefix
	recoveryWindow        time.Duration // ingest connection state recovery; 0 = off
	recoveryMax           int           // lost ingest sessions remembered at once
}

// setting is one configuration knob: a flag and an environment variable
// with one parser, so the two can never drift apart.
type setting struct {
	flag, env string
	arg       string // placeholder in the usage; "" for booleans
	def       string // parsed like any other value, so it is the documented default
	meaning   string
	text      bool // a string setting: an empty variable is a value, not "unset"
	set       func(c *config, v string) error
}

// settings lists every setting in the order -h shows them.
var settings = []setting{
	{flag: "bind", env: "BIND", arg: "ADDR", def: "", text: true,
		meaning: "address to listen on; empty = all interfaces",
		set:     func(c *config, v string) error { c.bind = v; return nil }},
	{flag: "ingest-port", env: "INGEST_PORT", arg: "PORT", def: "5100",
		meaning: "Socket.IO port of the observer and auxiliary clients; 0 picks a free port",
		set:     func(c *config, v string) error { return parsePort(v, &c.ingest) }},
	{flag: "output-port", env: "OUTPUT_PORT", arg: "PORT", def: "5200",
		meaning: "Socket.IO port of the overlays; 0 picks a free port",
		set:     func(c *config, v string) error { return parsePort(v, &c.output) }},
	{flag: "extras-port", env: "EXTRAS_PORT", arg: "PORT", def: "5101",
		meaning: "HTTP extras port (/status, team info, previews); 0 picks a free port",
		set:     func(c *config, v string) error { return parsePort(v, &c.extra) }},
	{flag: "admin-bind", env: "ADMIN_BIND", arg: "HOST:PORT", def: "127.0.0.1:5102", text: true,
		meaning: "address of the admin listener (status page, /status/matches, /metrics, /healthz, /readyz, pprof); empty = none. Anything but loopback needs ADMIN_TOKEN and uses TLS unless INSECURE=true",
		set:     parseAdminBind},
	{flag: "admin-token", env: "ADMIN_TOKEN", arg: "TOKEN", def: "", text: true,
		meaning: "token the admin listener requires (Authorization: Bearer, or the password of Basic auth), except on /healthz and /readyz; at least 16 characters; empty = none, for a loopback ADMIN_BIND only; prefer the variable, a flag shows in the process list",
		set:     func(c *config, v string) error { c.adminToken = v; return nil }},
	{flag: "replay-dir", env: "REPLAY_DIR", arg: "DIR", def: "replays", text: true,
		meaning: "directory of the replay files, one per match; empty = write none",
		set:     func(c *config, v string) error { c.replayDir = v; return nil }},
	{flag: "replay-max-bytes", env: "REPLAY_MAX_BYTES", arg: "SIZE", def: "64MiB",
		meaning: "cap on one match's replay file (bytes, or with a unit: 500KB, 64MiB, 1GiB); past it the match goes on unrecorded; 0 = no cap",
		set:     func(c *config, v string) error { return parseSize(v, &c.replayMaxBytes) }},
	{flag: "recover", env: "RECOVER", def: "true",
		meaning: "on start, rebuild the unfinished matches from the replay files, so a restart keeps them live",
		set:     func(c *config, v string) error { return parseBool(v, &c.recover) }},
	{flag: "redis", env: "REDIS_URL", arg: "URL", def: "", text: true,
		meaning: "cluster mode: redis://[user:pass@]host:port/db shared by every relay node (see README, Cluster); empty = this node alone",
		set:     func(c *config, v string) error { c.redisURL = v; return nil }},
	{flag: "node-id", env: "NODE_ID", arg: "NAME", def: "", text: true,
		meaning: "this node's name in cluster leases and logs; empty = hostname-pid",
		set:     func(c *config, v string) error { c.nodeID = v; return nil }},
	{flag: "insecure", env: "INSECURE", def: "false",
		meaning: "true: plain HTTP/WS; false: TLS (https/wss) on all three ports",
		set:     func(c *config, v string) error { return parseBool(v, &c.insecure) }},
	{flag: "server-key", env: "SERVER_KEY", arg: "FILE", def: "keys/server.key", text: true,
		meaning: "TLS private key; a self-signed pair is generated when key or certificate is missing",
		set:     func(c *config, v string) error { c.keyPath = v; return nil }},
	{flag: "server-cert", env: "SERVER_CERT", arg: "FILE", def: "keys/server.crt", text: true,
		meaning: "TLS certificate (PEM, may hold the chain)",
		set:     func(c *config, v string) error { c.certPath = v; return nil }},
	{flag: "require-auth-key", env: "REQUIRE_AUTH_KEY", def: "true",
		meaning: "observers and previews must present AUTH_KEY; false accepts any key (local use)",
		set:     func(c *config, v string) error { return parseBool(v, &c.requireKey) }},
	{flag: "auth-key", env: "AUTH_KEY", arg: "KEY", def: "", text: true,
		meaning: "the access key observers present; prefer the variable, a flag shows in the process list",
		set:     func(c *config, v string) error { c.authKey = v; return nil }},
	{flag: "body-timeout", env: "BODY_TIMEOUT", arg: "DURATION", def: "10s",
		meaning: "longest time to read one request body (polling POSTs, extras uploads); bounds slow senders",
		set:     func(c *config, v string) error { return parseDuration(v, &c.bodyTimeout) }},
	{flag: "output-max-payload", env: "OUTPUT_MAX_PAYLOAD", arg: "SIZE", def: "4KiB",
		meaning: "largest message or polling body an overlay may send on the output port (it sends a logon and pings); larger ones close the connection at their header. The ingest port takes 1 MB",
		set: func(c *config, v string) error {
			if err := parseSize(v, &c.outputMaxPayload); err != nil {
				return err
			}
			if c.outputMaxPayload < 256 || c.outputMaxPayload > 1<<30 {
				return errors.New("out of range: 256 bytes to 1GiB")
			}
			return nil
		}},
	{flag: "recv-budget", env: "RECV_BUDGET", arg: "SIZE", def: "128MiB",
		meaning: "memory both Socket.IO ports may hold for messages and polling bodies still arriving; past it the connection holding the most is closed first; 0 = no budget",
		set:     func(c *config, v string) error { return parseSize(v, &c.recvBudget) }},
	{flag: "max-conns", env: "MAX_CONNS", arg: "N", def: "20000",
		meaning: "open TCP connections of the three ports together; past it a new one is closed as it is accepted (capped below the process's descriptor limit); 0 = no cap",
		set:     func(c *config, v string) error { return parseCount(v, &c.maxConns) }},
	{flag: "max-conns-per-ip", env: "MAX_CONNS_PER_IP", arg: "N", def: "500",
		meaning: "open TCP connections from one address (IPv6: one /64) on the three ports together, room for a studio's browser sources and observer PCs behind one NAT; past it a new one is closed as it is accepted; 0 = no cap",
		set:     func(c *config, v string) error { return parseCount(v, &c.maxConnsPerIP) }},
	{flag: "handshake-rate", env: "HANDSHAKE_RATE", arg: "PER_SECOND", def: "20",
		meaning: "new Socket.IO sessions (Engine.IO handshakes) one address may open per second in the long run, after HANDSHAKE_BURST; more get a 503; 0 = no limit",
		set: func(c *config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 1e6) {
				return errors.New("not a rate: use 0 (off) to 1000000 handshakes per second, e.g. 20 or 0.5")
			}
			c.handshakeRate = f
			return nil
		}},
	{flag: "handshake-burst", env: "HANDSHAKE_BURST", arg: "N", def: "200",
		meaning: "handshakes one address may open at once before HANDSHAKE_RATE applies (a studio reloading every browser source at once)",
		set: func(c *config, v string) error {
			if err := parseCount(v, &c.handshakeBurst); err != nil || c.handshakeBurst < 1 {
				return errors.New("not a burst: use 1 to 1000000 handshakes")
			}
			return nil
		}},
	{flag: "trusted-proxies", env: "TRUSTED_PROXIES", arg: "LIST", def: "", text: true,
		meaning: "reverse proxies (addresses or CIDR prefixes, comma-separated) whose X-Forwarded-For names the client for the connection limits; a WebSocket through them counts against its client, pooled polling connections against none; empty = trust no header",
		set: func(c *config, v string) error {
			p, err := connlimit.ParseTrustedProxies(v)
			c.trustedProxies = p
			return err
		}},
	{flag: "sndbuf", env: "SNDBUF", arg: "SIZE", def: "0",
		meaning: "socket send buffer (SO_SNDBUF) of each WebSocket connection (bytes, or with a unit: 64KiB); 0 = the kernel's default with autotuning",
		set: func(c *config, v string) error {
			if err := parseSize(v, &c.sndbuf); err != nil {
				return err
			}
			if c.sndbuf > 1<<30 {
				return errors.New("too large: at most 1GiB")
			}
			return nil
		}},
	{flag: "deflate-stream", env: "DEFLATE_STREAM", arg: "ENCODER", def: "delta",
		meaning: "compressor of the match_data broadcasts: delta (made for successive states: fast, ~57 KB per match) or flate (compress/flate level 6: frames about 40% smaller, ~8x the CPU, ~800 KB per match)",
		set: func(c *config, v string) error {
			switch strings.ToLower(v) {
			case "delta":
				c.streamFlate = false
			case "flate":
				c.streamFlate = true
			default:
				return errors.New("not an encoder: use delta or flate")
			}
			return nil
		}},
	{flag: "uring", env: "URING", def: "true",
		meaning: "batch each broadcast's socket writes through io_uring (Linux); where io_uring is refused (e.g. Docker's default seccomp profile) batch them through Linux AIO (io_submit), else write(2), with one log line; aio: through Linux AIO without trying io_uring; false: one write(2) per overlay",
		set: func(c *config, v string) error {
			c.uringAIO = strings.EqualFold(v, "aio")
			if c.uringAIO {
				c.uring = true
				return nil
			}
			if err := parseBool(v, &c.uring); err != nil {
				return errors.New("use true, false or aio")
			}
			return nil
		}},
	{flag: "tls-fast-path", env: "TLS_FAST_PATH", def: "true",
		meaning: "with TLS on (Linux), read TLS WebSocket connections through the epoll set (no goroutine per idle connection) and write them inline or in the io_uring batch like plain ones (TLS 1.3 AES-GCM sessions on the relay's own record layer once upgraded, others with crypto/tls encrypting into a buffer); false: a reader goroutine each, written by workers",
		set:     func(c *config, v string) error { return parseBool(v, &c.tlsFastPath) }},
	{flag: "logon-burst", env: "LOGON_BURST", arg: "N", def: "100",
		meaning: "overlay logons per second from which each match is sent every 400 ms instead of every 100 ms until the burst passes, so that a tournament reconnecting at once is back on its overlays sooner; 0 = never slow the sends",
		set: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				return errors.New("not a logon rate: use 0 (off) to 1000000 logons per second")
			}
			c.logonBurst = n
			return nil
		}},
	{flag: "recovery-window", env: "RECOVERY_WINDOW", arg: "DURATION", def: "2m",
		meaning: "how long an observer or auxiliary client whose connection was lost may come back into its session without a new logon, as socket.io-client >= 4.6 does by itself (after a relay restart or on another cluster node: while its match is live); 0 = off (the client must log on again)",
		set: func(c *config, v string) error {
			if v == "0" {
				c.recoveryWindow = 0
				return nil
			}
			return parseDuration(v, &c.recoveryWindow)
		}},
	{flag: "recovery-max-sessions", env: "RECOVERY_MAX_SESSIONS", arg: "N", def: "10000",
		meaning: "lost ingest sessions remembered at once for RECOVERY_WINDOW; past it the oldest is forgotten",
		set: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10_000_000 {
				return errors.New("not a session count: use 1 to 10000000")
			}
			c.recoveryMax = n
			return nil
		}},
	{flag: "log-level", env: "LOG_LEVEL", arg: "LEVEL", def: "info",
		meaning: "debug, info, warn or error",
		set: func(c *config, v string) error {
			if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
				return errors.New("not a level: use debug, info, warn or error")
			}
			return nil
		}},
	{flag: "log-format", env: "LOG_FORMAT", arg: "FORMAT", def: "text",
		meaning: "text (key=value lines) or json (one JSON object per line, for log collectors)",
		set: func(c *config, v string) error {
			switch strings.ToLower(v) {
			case "text":
				c.logJSON = false
			case "json":
				c.logJSON = true
			default:
				return errors.New("not a log format: use text or json")
			}
			return nil
		}},
	{flag: "gogc", env: "GOGC", arg: "PERCENT", def: "50",
		meaning: "garbage collector target, as Go's own GOGC: heap growth over live data before a collection (off: none); below Go's 100 it keeps the RSS per overlay down for a little CPU",
		set:     parseGOGC},
	{flag: "pprof", env: "PPROF", def: "false",
		meaning: "serve net/http/pprof under /debug/pprof/ on the admin listener (ADMIN_BIND; behind ADMIN_TOKEN when set)",
		set:     func(c *config, v string) error { return parseBool(v, &c.pprof) }},
	{flag: "cpuprofile", env: "CPU_PROFILE", arg: "FILE", def: "", text: true,
		meaning: "write a CPU profile of the whole run to this file (for load tests)",
		set:     func(c *config, v string) error { c.cpuProfile = v; return nil }},
	{flag: "trace", env: "TRACE", arg: "FILE", def: "", text: true,
		meaning: "write a runtime/trace execution trace of the whole run to this file (for load tests; large)",
		set:     func(c *config, v string) error { c.tracePath = v; return nil }},
	{flag: "blockprofile", env: "BLOCK_PROFILE", arg: "FILE", def: "", text: true,
		meaning: "record blocking and lock contention and write them at exit to FILE and FILE.mutex (for load tests)",
		set:     func(c *config, v string) error { c.blockProfile = v; return nil }},
}

// lookupFunc finds one variable, like os.LookupEnv.
type lookupFunc func(key string) (string, bool)

// errVersion asks run to print the version.
var errVersion = errors.New("version requested")

// loadConfig merges, lowest first: the defaults, .env, the environment,
// the flags.
func loadConfig(args []string, env, dotenv lookupFunc) (config, error) {
	var cfg config
	for _, s := range settings {
		if err := s.set(&cfg, s.def); err != nil {
			panic(fmt.Sprintf("default of %s: %v", s.env, err)) // a programming error, caught by the tests
		}
	}
	envErrs := map[string]error{}
	for _, s := range settings {
		v, src, ok := lookupSetting(s, env, dotenv)
		if !ok {
			continue
		}
		if err := s.set(&cfg, strings.TrimSpace(v)); err != nil {
			envErrs[s.flag] = fmt.Errorf("%s=%q (from the %s): %w", s.env, v, src, err)
		}
	}

	fs := flag.NewFlagSet("spectra-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error and the usage itself
	fs.Usage = func() {}
	for _, s := range settings {
		fs.Var(settingValue{s: s, cfg: &cfg}, s.flag, s.meaning)
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *showVersion {
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q: every setting is a -flag", fs.Args())
	}
	// A flag replaces the variable, so a bad value it overrides is moot.
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	for _, s := range settings {
		if err := envErrs[s.flag]; err != nil {
			return cfg, err
		}
	}
	if cfg.requireKey && cfg.authKey == "" {
		return cfg, errors.New("REQUIRE_AUTH_KEY is on (the default) but AUTH_KEY is empty, so every observer logon would be refused.\n" +
			"  For a real deployment: set AUTH_KEY to the key your observers use (environment, .env or -auth-key).\n" +
			"  For local use without a key: set REQUIRE_AUTH_KEY=false (or -require-auth-key=false); `make run` does this and sets INSECURE=true")
	}
	if err := checkAdmin(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// minAdminToken is the shortest ADMIN_TOKEN accepted: the admin listener
// may face the internet, and a short token can be guessed by trying.
const minAdminToken = 16

// checkAdmin refuses an admin listener that anyone could read: one off
// loopback without a token. Its messages never quote the token.
func checkAdmin(cfg config) error {
	if cfg.adminBind == "" {
		return nil
	}
	if cfg.adminToken != "" && len(cfg.adminToken) < minAdminToken {
		return fmt.Errorf("ADMIN_TOKEN is shorter than %d characters; use a long random one, e.g. `openssl rand -hex 24`", minAdminToken)
	}
	host, _, _ := net.SplitHostPort(cfg.adminBind) // checked by parseAdminBind
	if cfg.adminToken == "" && !loopbackHost(host) {
		return fmt.Errorf("ADMIN_BIND=%q is not a loopback address but ADMIN_TOKEN is empty: anyone reaching it would read every live match's group code and match id.\n"+
			"  Either set ADMIN_TOKEN (at least %d characters, e.g. `openssl rand -hex 24`; prefer the variable to -admin-token),\n"+
			"  or keep the admin listener on loopback (the default 127.0.0.1:5102) and reach it through `ssh -L 5102:127.0.0.1:5102 HOST` or a reverse proxy with authentication;\n"+
			"  ADMIN_BIND= (empty) turns it off", cfg.adminBind, minAdminToken)
	}
	return nil
}

// parseAdminBind takes HOST:PORT, or "" for no admin listener. An empty
// HOST means every interface, as for net.Listen.
func parseAdminBind(c *config, v string) error {
	if v != "" {
		_, port, err := net.SplitHostPort(v)
		var n int
		if err != nil || parsePort(port, &n) != nil {
			return errors.New("not an address: use HOST:PORT (127.0.0.1:5102), or empty for no admin listener")
		}
	}
	c.adminBind = v
	return nil
}

// loopbackHost reports whether a listen host is on loopback only:
// localhost or a loopback IP. Empty (every interface) is not.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lookupSetting finds s in the environment, else in .env; an empty value
// of a typed setting counts as unset there, so `INSECURE=` in a compose
// file leaves .env or the default in charge.
func lookupSetting(s setting, env, dotenv lookupFunc) (v, source string, ok bool) {
	for _, l := range []struct {
		f   lookupFunc
		src string
	}{{env, "environment"}, {dotenv, ".env file"}} {
		if v, ok := l.f(s.env); ok && (s.text || strings.TrimSpace(v) != "") {
			return v, l.src, true
		}
	}
	return "", "", false
}

type settingValue struct {
	s   setting
	cfg *config
}

func (v settingValue) String() string { return "" }
func (v settingValue) Set(x string) error {
	return v.s.set(v.cfg, strings.TrimSpace(x))
}

// IsBoolFlag lets a boolean be given as a bare -insecure.
func (v settingValue) IsBoolFlag() bool { return v.s.arg == "" }

// usage lists every setting with its flag, variable and default.
func usage(w io.Writer) {
	fmt.Fprint(w, `usage: spectra-server [flags]

The Spectra relay: observers send game events to the ingest port, overlays
receive match_data on the output port, tools use the HTTP extras port.

Every setting is a flag and an environment variable; a .env file in the
working directory is read too. Flags win over the environment, the
environment wins over .env. Booleans take true, false, 1 or 0; durations
look like 10s or 1m30s; sizes are bytes or take a unit (KB, MB, GB, KiB,
MiB, GiB). An empty variable counts as unset, except for the text settings
(BIND, REPLAY_DIR, AUTH_KEY, ...) where empty is a value.

`)
	for _, s := range settings {
		name := "-" + s.flag
		if s.arg != "" {
			name += " " + s.arg
		}
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %s   (env %s, default %s)\n", name, s.env, def)
		fmt.Fprintf(w, "        %s\n", s.meaning)
	}
	fmt.Fprint(w, `  -version
        print the version and exit
  -h
        print this help

For large matches with TLS on, terminate TLS at a reverse proxy and run the
relay with INSECURE=true behind it: plain connections are read through the
epoll netpoller, TLS ones take a goroutine each.
`)
}

// versionString is what -version prints.
func versionString() string {
	return fmt.Sprintf("spectra-server %s (%s %s/%s)", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildVersion is the -ldflags version, else what the Go toolchain
// recorded (module version or VCS revision).
func buildVersion() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			switch {
			case bi.Main.Version != "" && bi.Main.Version != "(devel)":
				v = bi.Main.Version
			case rev != "":
				v = "devel-" + rev[:min(12, len(rev))]
				if modified == "true" {
					v += "-dirty"
				}
			}
		}
	}
	return v
}

// parseGOGC reads a GOGC value the way the Go runtime does: a percentage
// or off.
func parseGOGC(c *config, v string) error {
	if strings.EqualFold(v, "off") {
		c.gcPercent = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100000 {
		return errors.New("not a GC percentage: use 1 to 100000 or off")
	}
	c.gcPercent = n
	return nil
}

func parseBool(v string, dst *bool) error {
	switch strings.ToLower(v) {
	case "true", "1":
		*dst = true
	case "false", "0":
		*dst = false
	default:
		return errors.New("not a boolean: use true, false, 1 or 0")
	}
	return nil
}

// parseCount reads a count from 0 to 1000000.
func parseCount(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1_000_000 {
		return errors.New("not a count: use 0 to 1000000")
	}
	*dst = n
	return nil
}

func parsePort(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("not a port: use 0 to 65535")
	}
	*dst = n
	return nil
}

func parseDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("not a positive duration: use e.g. 10s, 500ms or 1m")
	}
	*dst = d
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"b", 1},
}

func parseSize(v string, dst *int64) error {
	bad := errors.New("not a size: use bytes (67108864) or a number with KB, MB, GB, KiB, MiB or GiB (64MiB)")
	num, mult := strings.ToLower(v), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return bad
	}
	*dst = n * mult
	return nil
}
