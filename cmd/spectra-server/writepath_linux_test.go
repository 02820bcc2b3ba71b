//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spectra-relay/internal/testenv"
	"spectra-relay/internal/uring"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(*testing.T){"writePathServer": writePathServer})
}

// writePathServer is the server of TestRunWritePath as a helper process:
// with SPECTRA_TEST_DENY_URING=1 it first installs a seccomp filter that
// refuses io_uring_setup with EPERM, as Docker's default profile does
// (=2: io_setup too, as some stricter profiles do). It serves until its
// stdin closes.
func writePathServer(t *testing.T) {
	deny := map[string][]uint32{"1": {unix.SYS_IO_URING_SETUP}, "2": {unix.SYS_IO_URING_SETUP, unix.SYS_IO_SETUP}}[os.Getenv("SPECTRA_TEST_DENY_URING")]
	if len(deny) > 0 {
		if err := testenv.DenySyscalls(deny...); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	args := []string{"-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-admin-bind", "127.0.0.1:0"}
	if code := run(ctx, args, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRunWritePath: the start-up line and the admin /metrics say which
// write path the broadcasts take and why: Linux AIO batches when a seccomp
// filter refuses io_uring_setup (the reason names it), write(2) when it
// refuses io_setup too or with URING=false, io_uring where the kernel
// allows it.
func TestRunWritePath(t *testing.T) {
	probe, err := uring.New(8)
	if err == nil {
		probe.Close()
	}
	const eperm = "io_uring_setup: operation not permitted (seccomp profile, or sysctl kernel.io_uring_disabled?)"
	for _, tc := range []struct {
		name       string
		deny       string // SPECTRA_TEST_DENY_URING
		uring      string
		path       string
		reason     string
		needsUring bool
	}{
		{name: "seccomp refuses io_uring", deny: "1", uring: "true", path: "aio", reason: eperm},
		{name: "seccomp refuses io_uring and AIO", deny: "2", uring: "true", path: "write", reason: eperm},
		{name: "URING=false", uring: "false", path: "write", reason: "URING=false"},
		{name: "URING=aio", uring: "aio", path: "aio", reason: "URING=aio"},
		{name: "io_uring", uring: "true", path: "io_uring", needsUring: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsUring {
				testenv.Require(t, err == nil, "io_uring unavailable here: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := testenv.HelperCommand(ctx, "writePathServer")
			cmd.Dir = t.TempDir()
			var env []string
			for _, kv := range cmd.Env {
				if !isSetting(kv) {
					env = append(env, kv)
				}
			}
			cmd.Env = append(env, "INSECURE=true", "REQUIRE_AUTH_KEY=false", "RECOVER=0", "URING="+tc.uring)
			if tc.deny != "" {
				cmd.Env = append(cmd.Env, "SPECTRA_TEST_DENY_URING="+tc.deny)
			}
			logs := &testenv.Buffer{}
			cmd.Stderr = logs
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("server: %v\n%s", err, logs.String())
				}
			}()
			sc := bufio.NewScanner(stdout)
			if !sc.Scan() {
				t.Fatalf("no listening line; log:\n%s", logs.String())
			}
			m := line.FindStringSubmatch(sc.Text() + "\n")
			if m == nil {
				t.Fatalf("stdout %q", sc.Text())
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			resp, err := http.Get("http://" + m[4] + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := `spectra_write_path{path="` + tc.path + `",reason="` + tc.reason + `"} 1`
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(body), "write_path"))
			}
			started := grepLines(logs.String(), "spectra-server started")
			wantLog := "writePath=" + tc.path + " writePathReason=" + quoteIfNeeded(tc.reason)
			if !strings.Contains(started, wantLog) {
				t.Errorf("start-up line lacks %s:\n%s", wantLog, logs.String())
			}
			if n := strings.Count(logs.String(), "io_uring unavailable"); (tc.deny != "") != (n == 1) || n > 1 {
				t.Errorf("%d fallback warnings, want %d:\n%s", n, len(tc.deny), logs.String())
			}
		})
	}
}

// isSetting reports whether the environment entry kv is one of the
// server's settings (the test sets its own).
func isSetting(kv string) bool {
	for _, s := range settings {
		if strings.HasPrefix(kv, s.env+"=") {
			return true
		}
	}
	return false
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// quoteIfNeeded is v as slog's text handler writes it.
func quoteIfNeeded(v string) string {
	if v == "" || strings.ContainsAny(v, " =\"") {
		return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
	}
	return v
}
