package relay

// Golden parity (issue 3, acceptance 1): cmd/spectra-server, started fresh
// for each replay, is driven by shared/tools/parity/diffdrive.mjs and its
// output compared with the existing server's golden file by compare.mjs.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// parityReplays run in this order, sequentially (the budget is 2 cores).
var parityReplays = []string{"short_3rounds", "swift", "bomb_regular", "bomb_overtime"}

// diffdriveArgs shorten the driver's pauses at checkpoints: it waits for a
// match_data newer than the last event and then 200 ms without one, which
// is twice this server's send interval. The cross-socket switch delay
// stays at its default, which orders observer and auxiliary events.
var diffdriveArgs = []string{"--pause", "100", "--quiet-ms", "200"}

func TestGoldenParity(t *testing.T) {
	if testing.Short() {
		t.Skip("parity runs the four shared replays through Node (about 3 minutes)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the golden parity test")
	}
	shared := sharedDir(t)
	_, file, _, _ := runtime.Caller(0)
	relayDir := filepath.Dir(file)
	nodeModules := filepath.Join(relayDir, "testdata", "node", "node_modules")
	if _, err := os.Stat(filepath.Join(nodeModules, "socket.io-client")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = filepath.Dir(nodeModules)
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", npm.Dir, err, out)
		}
	}
	bin := filepath.Join(t.TempDir(), "spectra-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spectra-server")
	build.Dir = filepath.Dir(relayDir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	deviations := filepath.Join(relayDir, "testdata", "deviations.json")
	tools := filepath.Join(shared, "tools", "parity")

	for _, name := range parityReplays {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			srv := startParityServer(t, bin, dir)
			actual := filepath.Join(dir, "actual.json")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := append([]string{filepath.Join(tools, "diffdrive.mjs"), filepath.Join(shared, "replays", name+".replay"),
				"--ingest", "http://" + srv.ingest, "--output", "http://" + srv.output, "--out", actual, "--quiet"}, diffdriveArgs...)
			drive := exec.CommandContext(ctx, node, args...)
			drive.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
			start := time.Now()
			if out, err := drive.CombinedOutput(); err != nil {
				t.Fatalf("diffdrive: %v\n%s\nserver log tail:\n%s", err, out, srv.logTail())
			}
			golden := filepath.Join(shared, "replays", "golden", name+".checkpoints.json")
			checked := filepath.Join(dir, "actual.checked.json")
			if err := normaliseAuxDisconnects(golden, actual, checked); err != nil {
				t.Fatal(err)
			}
			cmp := exec.Command(node, filepath.Join(tools, "compare.mjs"), golden, checked, "--deviations", deviations)
			out, err := cmp.CombinedOutput()
			if err != nil {
				t.Fatalf("compare.mjs %s: %v\n%s", name, err, out)
			}
			t.Logf("%s: %s (%.0fs)", name, strings.TrimSpace(string(out)), time.Since(start).Seconds())
			if code := srv.stop(t); code != 0 {
				t.Fatalf("server exit status %d after SIGTERM\n%s", code, srv.logTail())
			}
		})
	}
}

// normaliseAuxDisconnects copies actual to out, rewriting the auxiliary
// disconnect reasons that differ only because the existing server fails to
// disconnect every other auxiliary client (see testdata/deviations.json).
// It fails if any auxiliary client was not disconnected by this server.
func normaliseAuxDisconnects(golden, actual, out string) error {
	var g, a map[string]any
	for path, v := range map[string]*map[string]any{golden: &g, actual: &a} {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	ge, _ := g["epilogue"].(map[string]any)
	ae, _ := a["epilogue"].(map[string]any)
	if ge["gameEnd"] == true {
		byServer, _ := ae["auxDisconnectedByServer"].(map[string]any)
		for id, v := range byServer {
			if v != true {
				return fmt.Errorf("auxiliary client %s was not disconnected by the server at game_end", id)
			}
		}
		gDropped, _ := ge["auxDisconnectedByServer"].(map[string]any)
		gAux, _ := g["auxClients"].(map[string]any)
		aAux, _ := a["auxClients"].(map[string]any)
		for id, v := range aAux {
			ac, _ := v.(map[string]any)
			gc, _ := gAux[id].(map[string]any)
			if gc == nil || ac == nil || gDropped[id] != false {
				continue
			}
			if gc["disconnectReason"] == "io client disconnect" && ac["disconnectReason"] == "io server disconnect" {
				ac["disconnectReason"] = gc["disconnectReason"]
			}
		}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

type parityServer struct {
	cmd            *exec.Cmd
	ingest, output string
	log            *os.File
	done           chan error
}

var listenLine = regexp.MustCompile(`^spectra-server listening ingest=(\S+) output=(\S+) extras=(\S+)$`)

func startParityServer(t *testing.T, bin, dir string) *parityServer {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0",
		"-replay-dir", filepath.Join(dir, "replays"))
	cmd.Dir = dir // no .env from the developer's checkout
	cmd.Env = append(os.Environ(), "INSECURE=true", "REQUIRE_AUTH_KEY=false")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &parityServer{cmd: cmd, log: logf, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
		logf.Close()
	})
	select {
	case line := <-lines:
		m := listenLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected first stdout line %q", line)
		}
		s.ingest, s.output = m[1], m[2]
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not report its ports\n%s", s.logTail())
	}
	return s
}

// stop sends SIGTERM and returns the exit status.
func (s *parityServer) stop(t *testing.T) int {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
		return -1
	}
}

func (s *parityServer) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

var _ = io.Discard
