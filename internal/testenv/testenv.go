// Package testenv gives tests the repository's fixtures and decides what a
// test does when something it needs is missing: under CI (CI=true) a missing
// tool, fixture or free port is a failure, so a green CI run means the tests
// really ran; on a developer's machine the test is skipped with the reason.
//
// Only tests (and test helper packages) import it.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// CI reports whether the environment says it is a CI run (CI=true, as set by
// GitHub Actions, GitLab and most other CI systems; any value
// strconv.ParseBool accepts as true counts).
func CI() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("CI")))
	return err == nil && v
}

// Require stops the test when ok is false: t.Fatal under CI, t.Skip
// elsewhere, with the reason formatted from format and args.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	Missing(t, format, args...)
}

// Missing stops the test because something it needs is not there: t.Fatal
// under CI, t.Skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI=true: a missing prerequisite fails the run)", why)
	}
	t.Skipf("%s (skipped; with CI=true this fails)", why)
}

// NeedTool returns the path of the named program on PATH, or stops the test
// as Missing does.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not on PATH: %v", name, err)
	}
	return p
}

// NeedNode returns the path of the node binary (the interop tests drive the
// real socket.io-client from npm), or stops the test as Missing does.
func NeedNode(t testing.TB) string {
	t.Helper()
	return NeedTool(t, "node")
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// Root returns the module root: the nearest folder holding go.mod above the
// working directory, which `go test` sets to the package's folder. The
// working directory rather than the source path keeps it right under
// -trimpath and in copies of the repository.
func Root(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() { rootDir, rootErr = findRoot() })
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

func findRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: working directory: %w", err)
	}
	for dir := wd; ; {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && st.Mode().IsRegular() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testenv: no go.mod in %s or above", wd)
		}
		dir = parent
	}
}

// ReplayDir is testdata/replays, relative to the module root.
const ReplayDir = "testdata/replays"

// ReplayNames are the replays in testdata/replays, each with a golden file.
var ReplayNames = []string{"bomb_overtime", "bomb_regular", "short_3rounds", "swift"}

// Replay returns the absolute path of testdata/replays/<name>.replay (name
// with or without the extension). The fixtures are part of the repository,
// so a missing one fails the test everywhere.
func Replay(t testing.TB, name string) string {
	t.Helper()
	return fixture(t, filepath.Join(ReplayDir, strings.TrimSuffix(name, ".replay")+".replay"))
}

// Golden returns the absolute path of the golden checkpoints of the named
// replay, testdata/replays/golden/<name>.checkpoints.json.
func Golden(t testing.TB, name string) string {
	t.Helper()
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".replay"), ".checkpoints.json")
	return fixture(t, filepath.Join(ReplayDir, "golden", name+".checkpoints.json"))
}

func fixture(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Root(t), rel)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("fixture %s is part of the repository but cannot be read: %v", rel, err)
	}
	if !st.Mode().IsRegular() {
		t.Fatalf("fixture %s is not a regular file", rel)
	}
	return p
}
