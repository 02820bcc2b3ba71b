package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

func TestParseDotEnv(t *testing.T) {
	src := "# comment\n" +
		"SERVER_KEY=keys/server.key\r\n" +
		"INSECURE=true # Set to false to use HTTPS\n" +
		"export AUTH_KEY = 'a b#c' \n" +
		"QUOTED=\"line1\\nline2\"\n" +
		"MULTI=\"x\ny\"\n" +
		"EMPTY=\n" +
		"BAD LINE\n" +
		"  SPACED  =  v  \n" +
		"BACK=`b`\n"
	got := parseDotEnv(src)
	want := map[string]string{
		"SERVER_KEY": "keys/server.key", "INSECURE": "true", "AUTH_KEY": "a b#c", "QUOTED": "line1\nline2",
		"MULTI": "x\ny", "EMPTY": "", "SPACED": "v", "BACK": "b",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("parsed %v", got)
	}
}

// lookupIn serves variables from a map.
func lookupIn(m map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// noKey is the environment that passes the auth-key check.
var noKey = map[string]string{"REQUIRE_AUTH_KEY": "false"}

func TestConfigMerge(t *testing.T) {
	tests := []struct {
		name        string
		dotenv, env map[string]string
		args        []string
		check       func(c config) bool
	}{
		{"defaults", nil, noKey, nil, func(c config) bool {
			return c.bind == "" && c.ingest == 5100 && c.output == 5200 && c.extra == 5101 && c.replayDir == "replays" &&
				!c.insecure && c.keyPath == "keys/server.key" && c.certPath == "keys/server.crt" && !c.requireKey &&
				c.logLevel == slog.LevelInfo && !c.logJSON && c.cpuProfile == "" && c.bodyTimeout == 10*time.Second &&
				c.replayMaxBytes == 64<<20 && !c.pprof && c.recover && c.gcPercent == 50 && c.sndbuf == 0 && c.uring && !c.uringAIO && !c.streamFlate &&
				c.adminBind == "127.0.0.1:5102" && c.adminToken == "" &&
				c.outputMaxPayload == 4<<10 && c.recvBudget == 128<<20 &&
				c.maxConns == 20000 && c.maxConnsPerIP == 500 && c.handshakeRate == 20 && c.handshakeBurst == 200 && len(c.trustedProxies) == 0
		}},
		{"URING=aio", nil, map[string]string{"URING": "AIO", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.uring && c.uringAIO }},
		{"-uring=false over URING=aio", nil, map[string]string{"URING": "aio", "REQUIRE_AUTH_KEY": "false"}, []string{"-uring=false"},
			func(c config) bool { return !c.uring && !c.uringAIO }},
		{"GOGC off and percent", nil, map[string]string{"GOGC": "OFF", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.gcPercent == -1 }},
		{"GOGC flag over variable", nil, map[string]string{"GOGC": "off", "REQUIRE_AUTH_KEY": "false"}, []string{"-gogc", "200"},
			func(c config) bool { return c.gcPercent == 200 }},
		{".env alone", map[string]string{"INSECURE": "true", "INGEST_PORT": "6100", "AUTH_KEY": "k", "REQUIRE_AUTH_KEY": "true"}, nil, nil,
			func(c config) bool { return c.insecure && c.ingest == 6100 && c.requireKey && c.authKey == "k" }},
		{"environment over .env", map[string]string{"INSECURE": "true", "LOG_LEVEL": "debug", "REPLAY_DIR": "a"},
			map[string]string{"INSECURE": "0", "REQUIRE_AUTH_KEY": "0", "REPLAY_DIR": ""}, nil,
			func(c config) bool { return !c.insecure && c.logLevel == slog.LevelDebug && c.replayDir == "" }},
		{"flags over environment and .env", map[string]string{"OUTPUT_PORT": "1"}, map[string]string{"OUTPUT_PORT": "2", "AUTH_KEY": "env", "PPROF": "false"},
			[]string{"-output-port", "0", "-auth-key", "flag", "-pprof", "-recover=false", "-body-timeout", "1m30s", "-log-format", "json"},
			func(c config) bool {
				return c.output == 0 && c.authKey == "flag" && c.pprof && !c.recover && c.bodyTimeout == 90*time.Second && c.logJSON
			}},
		{"every setting from the environment", nil, map[string]string{
			"BIND": "127.0.0.1", "INGEST_PORT": "1", "OUTPUT_PORT": "2", "EXTRAS_PORT": "3", "REPLAY_DIR": "r", "REPLAY_MAX_BYTES": "1000",
			"RECOVER": "FALSE", "INSECURE": "TRUE", "SERVER_KEY": "k", "SERVER_CERT": "c", "REQUIRE_AUTH_KEY": "1", "AUTH_KEY": "a",
			"BODY_TIMEOUT": "500ms", "LOG_LEVEL": "warn", "LOG_FORMAT": "JSON", "PPROF": "1", "CPU_PROFILE": "p", "SNDBUF": "64KiB", "URING": "false", "DEFLATE_STREAM": "Flate", "LOGON_BURST": "250",
			"OUTPUT_MAX_PAYLOAD": "8KiB", "RECV_BUDGET": "1GiB",
			"MAX_CONNS": "7", "MAX_CONNS_PER_IP": "0", "HANDSHAKE_RATE": "0.5", "HANDSHAKE_BURST": "9", "TRUSTED_PROXIES": "10.0.0.0/8, ::1"}, nil,
			func(c config) bool {
				return c.bind == "127.0.0.1" && c.ingest == 1 && c.output == 2 && c.extra == 3 && c.replayDir == "r" &&
					c.replayMaxBytes == 1000 && !c.recover && c.insecure && c.keyPath == "k" && c.certPath == "c" && c.requireKey &&
					c.authKey == "a" && c.bodyTimeout == 500*time.Millisecond && c.logLevel == slog.LevelWarn && c.logJSON &&
					c.pprof && c.cpuProfile == "p" && c.sndbuf == 64<<10 && !c.uring && c.streamFlate && c.logonBurst == 250 &&
					c.outputMaxPayload == 8<<10 && c.recvBudget == 1<<30 &&
					c.maxConns == 7 && c.maxConnsPerIP == 0 && c.handshakeRate == 0.5 && c.handshakeBurst == 9 &&
					fmt.Sprint(c.trustedProxies) == "[10.0.0.0/8 ::1/128]"
			}},
		{"empty typed variable is unset", map[string]string{"INSECURE": "true"}, map[string]string{"INSECURE": "", "INGEST_PORT": " ", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.insecure && c.ingest == 5100 }},
		{"a flag overrides a bad variable", nil, map[string]string{"INSECURE": "yes", "REQUIRE_AUTH_KEY": "false"}, []string{"-insecure=1"},
			func(c config) bool { return c.insecure }},
		{"auth key given: no refusal", nil, map[string]string{"AUTH_KEY": "secret"}, nil,
			func(c config) bool { return c.requireKey && c.authKey == "secret" }},
		{"admin off", nil, map[string]string{"ADMIN_BIND": "", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.adminBind == "" }},
		{"admin off by flag, token ignored", nil, noKey, []string{"-admin-bind", "", "-admin-token", "x"},
			func(c config) bool { return c.adminBind == "" && c.adminToken == "x" }},
		{"admin on IPv6 loopback", nil, noKey, []string{"-admin-bind", "[::1]:0"},
			func(c config) bool { return c.adminBind == "[::1]:0" }},
		{"admin on localhost", nil, map[string]string{"ADMIN_BIND": "localhost:9102", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.adminBind == "localhost:9102" }},
		{"admin on loopback with a token", nil, map[string]string{"ADMIN_TOKEN": "0123456789abcdef", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.adminBind == "127.0.0.1:5102" && c.adminToken == "0123456789abcdef" }},
		{"admin on every interface with a token", nil, map[string]string{"ADMIN_BIND": "0.0.0.0:5102", "ADMIN_TOKEN": "0123456789abcdef", "REQUIRE_AUTH_KEY": "false"}, nil,
			func(c config) bool { return c.adminBind == "0.0.0.0:5102" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, lookupIn(tc.env), lookupIn(tc.dotenv))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestConfigSizes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"67108864", 64 << 20}, {"64MiB", 64 << 20}, {"64 mib", 64 << 20}, {"500KB", 500e3}, {"2GiB", 2 << 30},
		{"1gb", 1e9}, {"10b", 10}, {"0", 0},
	}
	for _, tc := range tests {
		var got int64
		if err := parseSize(tc.in, &got); err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name        string
		dotenv, env map[string]string
		args        []string
		want        []string // all in the error
	}{
		{"bad boolean variable", nil, map[string]string{"INSECURE": "yes", "REQUIRE_AUTH_KEY": "false"}, nil,
			[]string{`INSECURE="yes"`, "environment", "true, false, 1 or 0"}},
		{"bad boolean in .env", map[string]string{"PPROF": "on"}, noKey, nil, []string{`PPROF="on"`, ".env", "true, false, 1 or 0"}},
		{"bad boolean flag", nil, noKey, []string{"-recover=maybe"}, []string{"-recover", "true, false, 1 or 0"}},
		{"bad duration", nil, map[string]string{"BODY_TIMEOUT": "10", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"BODY_TIMEOUT", "duration"}},
		{"zero duration flag", nil, noKey, []string{"-body-timeout", "0s"}, []string{"-body-timeout", "positive duration"}},
		{"bad size", nil, map[string]string{"REPLAY_MAX_BYTES": "64 potatoes", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"REPLAY_MAX_BYTES", "not a size"}},
		{"overlay payload too small", nil, map[string]string{"OUTPUT_MAX_PAYLOAD": "10", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"OUTPUT_MAX_PAYLOAD", "out of range"}},
		{"negative size", nil, noKey, []string{"-replay-max-bytes", "-5"}, []string{"-replay-max-bytes", "not a size"}},
		{"overflowing size", nil, noKey, []string{"-replay-max-bytes", "99999999999GiB"}, []string{"not a size"}},
		{"send buffer too large", nil, noKey, []string{"-sndbuf", "2GiB"}, []string{"-sndbuf", "at most 1GiB"}},
		{"bad uring", nil, map[string]string{"URING": "maybe", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"URING"}},
		{"bad stream encoder", nil, map[string]string{"DEFLATE_STREAM": "zstd", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"DEFLATE_STREAM", "delta or flate"}},
		{"bad logon burst", nil, noKey, []string{"-logon-burst", "-1"}, []string{"-logon-burst", "0 (off) to 1000000"}},
		{"bad max conns", nil, noKey, []string{"-max-conns", "-1"}, []string{"-max-conns", "0 to 1000000"}},
		{"bad max conns per ip", nil, map[string]string{"MAX_CONNS_PER_IP": "lots", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"MAX_CONNS_PER_IP", "not a count"}},
		{"bad handshake rate", nil, noKey, []string{"-handshake-rate", "NaN"}, []string{"-handshake-rate", "0 (off) to 1000000"}},
		{"zero handshake burst", nil, map[string]string{"HANDSHAKE_BURST": "0", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"HANDSHAKE_BURST", "1 to 1000000"}},
		{"bad trusted proxy", nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.lan", "REQUIRE_AUTH_KEY": "false"}, nil,
			[]string{"TRUSTED_PROXIES", "proxy.lan", "not an address or CIDR prefix"}},
		{"bad recovery window", nil, noKey, []string{"-recovery-window", "-1m"}, []string{"-recovery-window", "positive duration"}},
		{"bad recovery cap", nil, map[string]string{"RECOVERY_MAX_SESSIONS": "0", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"RECOVERY_MAX_SESSIONS", "1 to 10000000"}},
		{"bad port", nil, map[string]string{"EXTRAS_PORT": "70000", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"EXTRAS_PORT", "0 to 65535"}},
		{"bad GOGC", nil, map[string]string{"GOGC": "fast", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"GOGC", "1 to 100000 or off"}},
		{"zero GOGC", nil, noKey, []string{"-gogc", "0"}, []string{"-gogc", "GC percentage"}},
		{"bad log level", nil, noKey, []string{"-log-level", "loud"}, []string{"-log-level", "debug, info, warn or error"}},
		{"bad log format", nil, map[string]string{"LOG_FORMAT": "xml", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"LOG_FORMAT", "text or json"}},
		{"unknown flag", nil, noKey, []string{"-insecur"}, []string{"-insecur"}},
		{"stray argument", nil, noKey, []string{"serve"}, []string{"serve"}},
		{"auth key required but empty", nil, nil, nil, []string{"REQUIRE_AUTH_KEY", "AUTH_KEY", "REQUIRE_AUTH_KEY=false"}},
		{"auth key required by flag", nil, nil, []string{"-require-auth-key"}, []string{"AUTH_KEY is empty"}},
		{"admin on every interface without a token", nil, map[string]string{"ADMIN_BIND": "0.0.0.0:5102", "REQUIRE_AUTH_KEY": "false"}, nil,
			[]string{`ADMIN_BIND="0.0.0.0:5102" is not a loopback address`, "ADMIN_TOKEN is empty", "ssh -L 5102:127.0.0.1:5102", "ADMIN_BIND= (empty)"}},
		{"admin with an empty host without a token", nil, noKey, []string{"-admin-bind", ":5102"}, []string{"not a loopback address", "ADMIN_TOKEN"}},
		{"admin on IPv6 any without a token", nil, noKey, []string{"-admin-bind", "[::]:5102"}, []string{"not a loopback address"}},
		{"admin on a LAN address without a token", nil, noKey, []string{"-admin-bind", "192.168.1.10:5102"}, []string{"not a loopback address"}},
		{"admin on a host name without a token", nil, noKey, []string{"-admin-bind", "relay.example.org:5102"}, []string{"not a loopback address"}},
		{"admin token too short", nil, map[string]string{"ADMIN_BIND": "0.0.0.0:5102", "ADMIN_TOKEN": "short-tok", "REQUIRE_AUTH_KEY": "false"}, nil,
			[]string{"ADMIN_TOKEN is shorter than 16 characters"}},
		{"admin token too short on loopback", nil, map[string]string{"ADMIN_TOKEN": "short-tok", "REQUIRE_AUTH_KEY": "false"}, nil,
			[]string{"ADMIN_TOKEN is shorter"}},
		{"admin address without a port", nil, noKey, []string{"-admin-bind", "127.0.0.1"}, []string{"-admin-bind", "HOST:PORT"}},
		{"admin port out of range", nil, map[string]string{"ADMIN_BIND": "127.0.0.1:70000", "REQUIRE_AUTH_KEY": "false"}, nil, []string{"ADMIN_BIND", "HOST:PORT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, lookupIn(tc.env), lookupIn(tc.dotenv))
			if err != nil && strings.Contains(err.Error(), "short-tok") {
				t.Errorf("error %q shows the token", err)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// clearServerEnv makes the test's environment hold none of the settings,
// whatever the shell running the tests has set.
func clearServerEnv(t *testing.T) {
	for _, s := range settings {
		t.Setenv(s.env, "") // restores the old value after the test
		os.Unsetenv(s.env)
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	clearServerEnv(t)
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	help := out.String()
	// The list is spelled out so that dropping a setting from the table fails.
	envs := []string{"BIND", "INGEST_PORT", "OUTPUT_PORT", "EXTRAS_PORT", "ADMIN_BIND", "ADMIN_TOKEN", "REPLAY_DIR", "REPLAY_MAX_BYTES", "RECOVER", "REDIS_URL", "NODE_ID", "INSECURE",
		"SERVER_KEY", "SERVER_CERT", "REQUIRE_AUTH_KEY", "AUTH_KEY", "BODY_TIMEOUT", "OUTPUT_MAX_PAYLOAD", "RECV_BUDGET", "SNDBUF", "DEFLATE_STREAM", "URING", "TLS_FAST_PATH", "LOGON_BURST", "RECOVERY_WINDOW", "RECOVERY_MAX_SESSIONS",
		"MAX_CONNS", "MAX_CONNS_PER_IP", "HANDSHAKE_RATE", "HANDSHAKE_BURST", "TRUSTED_PROXIES", "LOG_LEVEL", "LOG_FORMAT", "GOGC", "PPROF", "CPU_PROFILE",
		"TRACE", "BLOCK_PROFILE"}
	if len(envs) != len(settings) {
		t.Errorf("%d settings, %d expected: update this test and the README", len(settings), len(envs))
	}
	for _, e := range envs {
		if !strings.Contains(help, "(env "+e+",") {
			t.Errorf("-h lacks %s", e)
		}
	}
	for _, s := range settings {
		if !strings.Contains(help, "-"+s.flag+" ") || !strings.Contains(help, "(env "+s.env+", default ") {
			t.Errorf("-h lacks -%s / %s", s.flag, s.env)
		}
	}
	for _, w := range []string{"-version", "reverse proxy", "INSECURE=true"} {
		if !strings.Contains(help, w) {
			t.Errorf("-h lacks %q", w)
		}
	}
}

func TestVersion(t *testing.T) {
	clearServerEnv(t)
	t.Chdir(t.TempDir())
	for _, v := range []string{"", "v1.2.3-4-gabcdef0-dirty"} {
		t.Run("version="+v, func(t *testing.T) {
			old := version
			version = v
			defer func() { version = old }()
			var out bytes.Buffer
			// -version works even where the settings would refuse to start.
			if code := run(context.Background(), []string{"-version"}, &out, io.Discard); code != 0 {
				t.Fatalf("exit %d", code)
			}
			want := v
			if v == "" {
				want = "devel"
			}
			if !regexp.MustCompile(`^spectra-server \S*` + regexp.QuoteMeta(want) + `\S* \(go`).MatchString(out.String()) {
				t.Fatalf("-version printed %q", out.String())
			}
		})
	}
}

// TestVersionLdflag builds the binary with the version ldflag of `make
// build` and the Dockerfile (not their -trimpath and CGO_ENABLED=0, which
// would rebuild the standard library outside the build cache).
func TestVersionLdflag(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "spectra-server")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "spectra-server v0.0.0-test (go") {
		t.Fatalf("-version: %q, %v", out, err)
	}
}

func TestRefusesEmptyAuthKey(t *testing.T) {
	clearServerEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-ingest-port", "0", "-output-port", "0", "-extras-port", "0"}, &out, &errOut)
	if code != 2 || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	for _, w := range []string{"AUTH_KEY is empty", "set AUTH_KEY", "REQUIRE_AUTH_KEY=false", "-h lists every setting"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr lacks %q: %s", w, errOut.String())
		}
	}
	// Refused before anything is written to the working directory.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}

func TestRelayConfigWiring(t *testing.T) {
	tests := []struct {
		env        map[string]string
		maxBytes   int64
		logonBurst int           // the relay's: 0 its default, < 0 never
		recvBudget int64         // the relay's: 0 its default, < 0 none
		recovery   time.Duration // the relay's: < 0 off
		recMax     int
	}{
		{map[string]string{"REQUIRE_AUTH_KEY": "false"}, 64 << 20, 100, 128 << 20, 2 * time.Minute, 10000},
		{map[string]string{"AUTH_KEY": "k", "BODY_TIMEOUT": "3s", "REPLAY_MAX_BYTES": "0", "PPROF": "true", "REPLAY_DIR": "d", "SNDBUF": "16KiB", "URING": "1", "TLS_FAST_PATH": "true", "DEFLATE_STREAM": "flate", "LOGON_BURST": "0", "RECV_BUDGET": "0", "OUTPUT_MAX_PAYLOAD": "1000", "RECOVERY_WINDOW": "0"}, -1, -1, -1, -1, 10000},
		{map[string]string{"REQUIRE_AUTH_KEY": "false", "LOGON_BURST": "40", "RECV_BUDGET": "64MiB", "ADMIN_TOKEN": "0123456789abcdef", "RECOVERY_WINDOW": "30s", "RECOVERY_MAX_SESSIONS": "5"}, 64 << 20, 40, 64 << 20, 30 * time.Second, 5},
	}
	for _, tc := range tests {
		c, err := loadConfig(nil, lookupIn(tc.env), lookupIn(nil))
		if err != nil {
			t.Fatal(err)
		}
		rc := relayConfig(c, slog.Default())
		if rc.RequireAuthKey != c.requireKey || rc.AuthKey != c.authKey || rc.ReplayDir != c.replayDir || rc.Pprof != c.pprof ||
			rc.BodyTimeout != c.bodyTimeout || rc.Engine.BodyTimeout != c.bodyTimeout || rc.ReplayMaxBytes != tc.maxBytes ||
			int64(rc.Engine.SendBuffer) != c.sndbuf || rc.Engine.Uring != c.uring || rc.Engine.UringAIO != c.uringAIO || rc.Engine.TLSFastPath != c.tlsFastPath || rc.Engine.Deflate.StreamFlate != c.streamFlate ||
			rc.LogonBurst != tc.logonBurst || rc.RecvBudget != tc.recvBudget || rc.OutputMaxPayload != c.outputMaxPayload ||
			rc.AdminToken != c.adminToken || rc.RecoveryWindow != tc.recovery || rc.RecoveryMaxSessions != tc.recMax {
			t.Errorf("env %v: relay config %+v from %+v", tc.env, rc, c)
		}
	}
}

func TestEffectiveMaxConns(t *testing.T) {
	tests := []struct {
		maxConns int
		nofile   uint64
		known    bool
		want     int
	}{
		{20000, 1 << 20, true, 20000},
		{20000, 20256, true, 20000},
		{20000, 20000, true, 19744},
		{20000, 1024, true, 768},
		{20000, 300, true, 150}, // at least half the limit
		{20000, 0, false, 20000},
		{0, 1024, true, 0}, // no cap stays no cap
	}
	for _, tc := range tests {
		if got := effectiveMaxConns(tc.maxConns, tc.nofile, tc.known); got != tc.want {
			t.Errorf("effectiveMaxConns(%d, %d, %v) = %d, want %d", tc.maxConns, tc.nofile, tc.known, got, tc.want)
		}
	}
}

var line = regexp.MustCompile(`^spectra-server listening ingest=(\S+) output=(\S+) extras=(\S+) admin=(\S+)\n$`)

// runServer runs the command in dir until the test cancels it, its admin
// listener on a free loopback port; logs collects its stderr.
func runServer(t *testing.T, dir string, env map[string]string) (extras string, logs *testenv.Buffer, stop func() int) {
	t.Helper()
	addrs, logs, stop := runServerAddrs(t, dir, env, "127.0.0.1:0")
	return addrs[2], logs, stop
}

// runServerAdmin is runServer with -admin-bind adminBind; admin is the
// listening line's admin= field.
func runServerAdmin(t *testing.T, dir string, env map[string]string, adminBind string) (extras, admin string, logs *testenv.Buffer, stop func() int) {
	t.Helper()
	addrs, logs, stop := runServerAddrs(t, dir, env, adminBind)
	return addrs[2], addrs[3], logs, stop
}

// runServerAddrs is runServer with -admin-bind adminBind and the ingest,
// output, extras and admin addresses of the listening line.
func runServerAddrs(t *testing.T, dir string, env map[string]string, adminBind string) (addrs [4]string, logs *testenv.Buffer, stop func() int) {
	t.Helper()
	clearServerEnv(t)
	t.Chdir(dir)
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &testenv.Buffer{}, &testenv.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-admin-bind", adminBind}, out, logs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(out.String(), "\n") {
		select {
		case code := <-done:
			t.Fatalf("exited with %d: %s", code, logs.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no listening line")
		}
	}
	m := line.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout %q", out.String())
	}
	return [4]string{m[1], m[2], m[3], m[4]}, logs, func() int { cancel(); return <-done }
}

// TestRunConnLimitsUnderTLS: with TLS on, the TLS listeners wrap the
// limited ones (a connection over MAX_CONNS_PER_IP is refused before its
// TLS handshake, on any port) and the handshake rate still finds each
// request's address; both show in /metrics.
func TestRunConnLimitsUnderTLS(t *testing.T) {
	dir := t.TempDir()
	addrs, _, stop := runServerAddrs(t, dir, map[string]string{"INSECURE": "false", "SERVER_KEY": "k.pem", "SERVER_CERT": "c.pem",
		"REQUIRE_AUTH_KEY": "false", "RECOVER": "0", "MAX_CONNS_PER_IP": "2", "HANDSHAKE_RATE": "0.01", "HANDSHAKE_BURST": "1"}, "127.0.0.1:0")
	defer stop()
	ingest, output, extras, admin := addrs[0], addrs[1], addrs[2], addrs[3]
	get := func(url string) (int, error) {
		// A client of its own each time: one connection, closed after.
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// Two silent connections take 127.0.0.1's slots on two ports.
	var held []net.Conn
	for _, a := range []string{ingest, output} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	testenv.WaitFor(t, 5*time.Second, "a third connection refused", func() bool {
		_, err := get("https://" + extras + "/status")
		return err != nil
	})
	for _, c := range held {
		c.Close()
	}
	testenv.WaitFor(t, 5*time.Second, "the slots back", func() bool {
		code, err := get("https://" + extras + "/status")
		return err == nil && code == 200
	})
	// Burst 1: the second handshake from the address gets a 503, on
	// either Socket.IO port (they share the bucket).
	for i, tc := range []struct {
		addr string
		want int
	}{{output, 200}, {ingest, 503}, {output, 503}} {
		// The connection of the request before may still hold one of the
		// address's two slots (net/http lingers after a last response):
		// a connection refused for that is tried again.
		var code int
		testenv.WaitFor(t, 5*time.Second, "a handshake answered", func() bool {
			var err error
			code, err = get("https://" + tc.addr + "/socket.io/?EIO=4&transport=polling")
			return err == nil
		})
		if code != tc.want {
			t.Fatalf("handshake %d: %d, want %d", i, code, tc.want)
		}
	}
	// The admin listener, plain on loopback, is not limited.
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`spectra_conn_refused_total{reason="handshake_rate"} 2`, `spectra_conn_refused_total{reason="max_conns_per_ip"} `} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(body), `spectra_conn_refused_total{reason="max_conns_per_ip"} 0`) {
		t.Error("no max_conns_per_ip refusal counted")
	}
}

func TestRunInsecureAndShutdown(t *testing.T) {
	dir := t.TempDir()
	// .env provides INSECURE and LOG_FORMAT; the real environment wins for
	// REQUIRE_AUTH_KEY.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("INSECURE=true # plain\nREQUIRE_AUTH_KEY=true\nLOG_FORMAT=json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extras, logs, stop := runServer(t, dir, map[string]string{"REQUIRE_AUTH_KEY": "false"})
	resp, err := http.Get("http://" + extras + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"status":"UP","matchesRunning":0}` || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status %s %v", body, resp.Header)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// LOG_FORMAT=json: every line is one JSON object; recovery reported
	// before the start line; no TLS hint on a plain server.
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		msgs = append(msgs, rec.Msg)
	}
	joined := strings.Join(msgs, "|")
	if !strings.Contains(joined, "match recovery|spectra-server started") || strings.Contains(joined, "reverse proxy") {
		t.Fatalf("log messages %q", msgs)
	}
}

func TestRunTLSGeneratesPair(t *testing.T) {
	dir := t.TempDir()
	extras, logs, stop := runServer(t, dir, map[string]string{"INSECURE": "false", "SERVER_KEY": "tls/k.pem", "SERVER_CERT": "tls/c.pem",
		"REQUIRE_AUTH_KEY": "false", "RECOVER": "0", "TLS_FAST_PATH": "false"})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + extras + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d tls=%v", resp.StatusCode, resp.TLS != nil)
	}
	for _, p := range []string{"tls/k.pem", "tls/c.pem"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	l := logs.String()
	if strings.Count(l, "reverse proxy") != 1 || !strings.Contains(l, "INSECURE=true") || strings.Contains(l, "match recovery") {
		t.Fatalf("want one TLS-at-proxy hint and no recovery (RECOVER=0):\n%s", l)
	}
}

// httpStatus is the status of GET url with an optional bearer token.
func httpStatus(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunAdminListener: the operator endpoints are on the admin listener
// (plain HTTP on loopback even with TLS on), behind ADMIN_TOKEN but for
// the health checks, and not on the extras port; the start-up line names
// the listener.
func TestRunAdminListener(t *testing.T) {
	const token = "tok-0123456789abcdef"
	dir := t.TempDir()
	extras, admin, logs, stop := runServerAdmin(t, dir, map[string]string{"INSECURE": "false", "SERVER_KEY": "k.pem", "SERVER_CERT": "c.pem",
		"REQUIRE_AUTH_KEY": "false", "RECOVER": "0", "ADMIN_TOKEN": token, "PPROF": "true"}, "127.0.0.1:0")
	if !strings.HasPrefix(admin, "127.0.0.1:") {
		t.Fatalf("admin=%s", admin)
	}
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	plain := &http.Client{Timeout: 10 * time.Second}
	cases := []struct {
		c      *http.Client
		url    string
		token  string
		status int
	}{
		{tlsClient, "https://" + extras + "/status", "", 200},
		{tlsClient, "https://" + extras + "/metrics", token, 404},
		{tlsClient, "https://" + extras + "/status/matches", token, 404},
		{tlsClient, "https://" + extras + "/healthz", "", 404},
		{tlsClient, "https://" + extras + "/debug/pprof/", token, 404},
		{tlsClient, "https://" + extras + "/", "", 404},
		{plain, "http://" + admin + "/healthz", "", 200},
		{plain, "http://" + admin + "/readyz", "", 200},
		{plain, "http://" + admin + "/metrics", "", 401},
		{plain, "http://" + admin + "/metrics", token, 200},
		{plain, "http://" + admin + "/status/matches", "wrong-0123456789abcdef", 401},
		{plain, "http://" + admin + "/status/matches", token, 200},
		{plain, "http://" + admin + "/debug/pprof/", token, 200},
		{plain, "http://" + admin + "/", token, 200},
	}
	for _, tc := range cases {
		if got := httpStatus(t, tc.c, tc.url, tc.token); got != tc.status {
			t.Errorf("GET %s (token %v): %d, want %d", tc.url, tc.token != "", got, tc.status)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	l := logs.String()
	if !strings.Contains(l, "admin="+admin) || !strings.Contains(l, "adminScheme=http ") || !strings.Contains(l, "adminToken=true") || strings.Contains(l, token) {
		t.Errorf("start-up log does not name the admin listener (or shows the token):\n%s", l)
	}
}

// TestRunAdminOff: ADMIN_BIND empty opens no admin listener.
func TestRunAdminOff(t *testing.T) {
	_, admin, _, stop := runServerAdmin(t, t.TempDir(), map[string]string{"INSECURE": "true", "REQUIRE_AUTH_KEY": "false", "RECOVER": "0"}, "")
	if admin != "off" {
		t.Errorf("admin=%s, want off", admin)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRefusesOpenAdmin: an admin listener off loopback without a token
// stops the start, before any port opens or file is written.
func TestRefusesOpenAdmin(t *testing.T) {
	clearServerEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("REQUIRE_AUTH_KEY", "false")
	t.Setenv("ADMIN_BIND", "0.0.0.0:0")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0"}, &out, &errOut)
	if code != 2 || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	for _, w := range []string{"not a loopback address", "ADMIN_TOKEN is empty", "ssh -L", "-h lists every setting"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr lacks %q: %s", w, errOut.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}
