//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// seccompProfile is the part of a Docker seccomp profile the test reads.
type seccompProfile struct {
	DefaultAction string `json:"defaultAction"`
	ArchMap       []struct {
		Architecture string `json:"architecture"`
	} `json:"archMap"`
	Syscalls []struct {
		Names    []string          `json:"names"`
		Action   string            `json:"action"`
		Args     []json.RawMessage `json:"args"`
		Includes struct {
			Caps   []string `json:"caps"`
			Arches []string `json:"arches"`
		} `json:"includes"`
	} `json:"syscalls"`
}

// allowed is what the profile lets an unprivileged container (no added
// capabilities) on this architecture call: name → whether only for some
// arguments.
func (p *seccompProfile) allowed() map[string]bool {
	out := map[string]bool{}
	for _, r := range p.Syscalls {
		if r.Action != "SCMP_ACT_ALLOW" || len(r.Includes.Caps) > 0 {
			continue
		}
		if len(r.Includes.Arches) > 0 && !contains(r.Includes.Arches, runtime.GOARCH) {
			continue
		}
		for _, n := range r.Names {
			if cond, seen := out[n]; !seen || cond {
				out[n] = len(r.Args) > 0
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func loadSeccompProfile(t *testing.T) *seccompProfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "deploy", "seccomp-io_uring.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p seccompProfile
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("deploy/seccomp-io_uring.json: %v", err)
	}
	return &p
}

// TestSeccompProfile: deploy/seccomp-io_uring.json is a Docker seccomp
// profile that refuses by default, lets the io_uring calls through
// unconditionally, and allows every system call the server made during a
// short real session under strace: TLS with a generated pair, an observer
// playing a replay into the ingest (spectra-replay), an overlay watching
// it (spectra-watch, polling then WebSocket), the HTTP extras and the
// admin /metrics, a graceful shutdown on SIGTERM; once with io_uring and
// once with URING=aio, the batches the relay falls back to where io_uring
// is refused.
func TestSeccompProfile(t *testing.T) {
	p := loadSeccompProfile(t)
	if p.DefaultAction != "SCMP_ACT_ERRNO" || len(p.ArchMap) == 0 {
		t.Fatalf("defaultAction %q, %d archMap entries: not a refuse-by-default profile", p.DefaultAction, len(p.ArchMap))
	}
	allow := p.allowed()
	for _, n := range []string{"io_uring_setup", "io_uring_enter", "io_uring_register"} {
		if cond, ok := allow[n]; !ok || cond {
			t.Errorf("%s is not allowed unconditionally", n)
		}
	}
	strace := testenv.NeedTool(t, "strace")
	root, dir := testenv.Root(t), t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"spectra-server", "spectra-replay", "spectra-watch"} {
		bins[name] = filepath.Join(dir, name)
		build := exec.Command("go", "build", "-o", bins[name], "./cmd/"+name)
		build.Dir = root
		// As the Dockerfile builds it: static, the Go runtime's own clone
		// for threads (glibc's pthread_create tries clone3 first, which
		// Docker's profile answers with ENOSYS to make it fall back).
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	for _, tc := range []struct {
		uring, path, batchCall string
	}{
		{"true", "io_uring", "io_uring_enter"},
		{"aio", "aio", "io_submit"},
	} {
		t.Run("URING="+tc.uring, func(t *testing.T) {
			names := traceSession(t, strace, bins, t.TempDir(), tc.uring, tc.path)
			if len(names) < 10 {
				t.Fatalf("strace saw only %v", names)
			}
			var missing []string
			for _, n := range names {
				if _, ok := allow[n]; !ok {
					missing = append(missing, n)
				}
			}
			if len(missing) > 0 {
				t.Errorf("the profile refuses system calls the server made: %v (all made: %v)", missing, names)
			}
			if !contains(names, tc.batchCall) && testenv.CI() {
				t.Errorf("the session never called %s: %v", tc.batchCall, names)
			}
		})
	}
}

// traceSession runs the server under strace -f -c through a short session
// and returns the names of the system calls it made.
func traceSession(t *testing.T, strace string, bins map[string]string, dir, uring, path string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	summary := filepath.Join(dir, "strace.txt")
	srv := exec.CommandContext(ctx, strace, "-f", "-qq", "-c", "-o", summary, bins["spectra-server"],
		"-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-admin-bind", "127.0.0.1:0")
	srv.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !isSetting(kv) {
			env = append(env, kv)
		}
	}
	srv.Env = append(env, "INSECURE=false", "SERVER_KEY=k.pem", "SERVER_CERT=c.pem", "REQUIRE_AUTH_KEY=false",
		"REPLAY_DIR="+filepath.Join(dir, "replays"), "URING="+uring)
	logs := &testenv.Buffer{}
	srv.Stderr = logs
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		_ = srv.Wait()
		t.Fatalf("no listening line; log:\n%s", logs.String())
	}
	m := line.FindStringSubmatch(sc.Text() + "\n")
	if m == nil {
		t.Fatalf("stdout %q", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	ingest, output, extras, admin := m[1], m[2], m[3], m[4]

	watch := exec.CommandContext(ctx, bins["spectra-watch"], "-group-code", "SECCOMP", "-insecure-tls",
		"-url", "https://"+output, "-n", "5", "-connect-timeout", "30s")
	watchOut := &testenv.Buffer{}
	watch.Stdout, watch.Stderr = watchOut, watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	// The overlay waits for its match: logged on once the server counts it.
	testenv.WaitFor(t, 30*time.Second, "the overlay waiting", func() bool {
		return strings.Contains(scrape(t, "http://"+admin+"/metrics"), "spectra_overlays_waiting 1")
	})
	// Paced (about 2 s for the file's 495 events), so that the overlay's
	// match_data after its first come from broadcasts, which batch.
	replay := exec.CommandContext(ctx, bins["spectra-replay"], "-ingest", "https://"+ingest, "-insecure-tls",
		"-group-code", "SECCOMP", "-mode", "delay", "-delay", "4ms", "-quiet", testenv.Replay(t, "short_3rounds"))
	if out, err := replay.CombinedOutput(); err != nil {
		t.Fatalf("spectra-replay: %v\n%s", err, out)
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("spectra-watch: %v\n%s", err, watchOut.String())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + extras + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(scrape(t, "http://"+admin+"/metrics"), `spectra_write_path{path="`+path+`"`) && testenv.CI() {
		t.Errorf("the traced server did not batch through %s", path)
	}

	// SIGTERM to the server (strace's child), a graceful shutdown.
	pid := tracedChild(t, srv.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("server under strace: %v", err)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	return straceNames(string(b))
}

// tracedChild is the pid of strace's one child process.
func tracedChild(t *testing.T, stracePID int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", stracePID, stracePID))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("strace's children: %q", b)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// straceNames reads the system call names of strace -c's table.
func straceNames(summary string) []string {
	var names []string
	for _, l := range strings.Split(summary, "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || strings.HasPrefix(f[0], "-") || f[0] == "%" || f[len(f)-1] == "total" {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue
		}
		names = append(names, f[len(f)-1])
	}
	return names
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
