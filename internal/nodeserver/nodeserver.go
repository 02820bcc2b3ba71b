// Package nodeserver starts the reference Node socket.io 4.8 / engine.io
// server of ./node for interop tests of the Go clients.
package nodeserver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// Dir is the folder holding package.json, the lockfile and server.js.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "node")
}

var (
	installOnce sync.Once
	installErr  error
)

// ensureModules runs `npm ci` once per process when node_modules is missing.
func ensureModules() error {
	installOnce.Do(func() {
		dir := Dir()
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	return installErr
}

// Start launches the reference server and returns its base URL
// (http://127.0.0.1:port). env entries (KEY=value) are added to the
// environment, e.g. PING_INTERVAL=200. The test is skipped when node is not
// installed (a failure under CI=true). The process is stopped when the
// test ends.
func Start(t testing.TB, env ...string) string {
	t.Helper()
	return StartScript(t, filepath.Join(Dir(), "server.js"), env...)
}

// StartScript is Start for another script, which finds socket.io through
// NODE_PATH. Like server.js it must print its port as its first line of
// output and exit when stdin closes.
func StartScript(t testing.TB, script string, env ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping interop against the reference socket.io server (make test runs it)")
	}
	testenv.NeedNode(t)
	if err := ensureModules(); err != nil {
		t.Fatalf("installing the reference server's modules: %v", err)
	}
	cmd := exec.Command("node", script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(Dir(), "node_modules"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close() // the server exits when stdin closes
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			portc <- strings.TrimSpace(sc.Text())
		}
		close(portc)
		for sc.Scan() {
		}
	}()
	select {
	case port, ok := <-portc:
		if !ok || port == "" {
			t.Fatal("node server exited before printing its port")
		}
		return "http://127.0.0.1:" + port
	case <-exited:
		t.Fatal("node server exited before printing its port")
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for the node server's port")
	}
	return ""
}
