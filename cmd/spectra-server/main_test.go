package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{"INGEST_PORT": "6100", "REQUIRE_AUTH_KEY": "false", "INSECURE": "true", "REPLAY_DIR": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := loadConfig([]string{"-output-port", "0"}, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ingest != 6100 || cfg.output != 0 || cfg.extra != 5101 || cfg.requireKey || !cfg.insecure || cfg.replayDir != "" {
		t.Fatalf("config %+v", cfg)
	}
	if cfg.keyPath != "keys/server.key" || cfg.certPath != "keys/server.crt" {
		t.Fatalf("TLS defaults %s %s", cfg.keyPath, cfg.certPath)
	}
	cfg, _ = loadConfig(nil, func(string) (string, bool) { return "", false }, io.Discard)
	if !cfg.requireKey || cfg.insecure || cfg.replayDir != "replays" || cfg.ingest != 5100 || cfg.output != 5200 {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestSelfSignedCert(t *testing.T) {
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "k", "server.key"), filepath.Join(dir, "k", "server.crt")
	c, created, err := loadOrCreateCert(key, cert)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if _, created, err := loadOrCreateCert(key, cert); err != nil || created {
		t.Fatalf("second load created=%v err=%v", created, err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

var line = regexp.MustCompile(`^spectra-server listening ingest=(\S+) output=(\S+) extras=(\S+)\n$`)

// runServer runs the command in dir until the test cancels it.
func runServer(t *testing.T, dir string, env map[string]string) (extras string, stop func() int) {
	t.Helper()
	t.Chdir(dir)
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-log-level", "error"}, out, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(out.String(), "\n") {
		select {
		case code := <-done:
			t.Fatalf("exited with %d", code)
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
	return m[3], func() int { cancel(); return <-done }
}

func TestRunInsecureAndShutdown(t *testing.T) {
	dir := t.TempDir()
	// .env provides INSECURE; the real environment wins for REQUIRE_AUTH_KEY.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("INSECURE=true # plain\nREQUIRE_AUTH_KEY=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extras, stop := runServer(t, dir, map[string]string{"REQUIRE_AUTH_KEY": "false"})
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
}

func TestRunTLSGeneratesPair(t *testing.T) {
	dir := t.TempDir()
	extras, stop := runServer(t, dir, map[string]string{"INSECURE": "false", "SERVER_KEY": "tls/k.pem", "SERVER_CERT": "tls/c.pem"})
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
}
