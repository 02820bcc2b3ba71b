package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTestenvCI(t *testing.T) {
	cases := []struct {
		env  string
		set  bool
		want bool
	}{
		{"", false, false},
		{"", true, false},
		{"true", true, true},
		{"TRUE", true, true},
		{"1", true, true},
		{" true ", true, true},
		{"false", true, false},
		{"0", true, false},
		{"yes", true, false}, // not a ParseBool value: not CI
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			if c.set {
				t.Setenv("CI", c.env)
			} else {
				t.Setenv("CI", "")
				os.Unsetenv("CI")
			}
			if got := CI(); got != c.want {
				t.Errorf("CI=%q: CI() = %v, want %v", c.env, got, c.want)
			}
		})
	}
}

func TestTestenvFixtures(t *testing.T) {
	root := Root(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("Root() = %s has no go.mod: %v", root, err)
	}
	if !filepath.IsAbs(root) {
		t.Errorf("Root() = %s, want an absolute path", root)
	}
	for _, name := range ReplayNames {
		t.Run(name, func(t *testing.T) {
			p := Replay(t, name)
			if want := filepath.Join(root, "testdata", "replays", name+".replay"); p != want {
				t.Errorf("Replay(%q) = %s, want %s", name, p, want)
			}
			if q := Replay(t, name+".replay"); q != p {
				t.Errorf("Replay with the extension = %s, without = %s", q, p)
			}
			g := Golden(t, name)
			if want := filepath.Join(root, "testdata", "replays", "golden", name+".checkpoints.json"); g != want {
				t.Errorf("Golden(%q) = %s, want %s", name, g, want)
			}
			// A replay file starts with its header object.
			b, err := os.ReadFile(p)
			if err != nil || len(b) < 2 || b[0] != '{' {
				t.Errorf("%s does not start with a JSON header (%v)", p, err)
			}
		})
	}
	got, _ := filepath.Glob(filepath.Join(root, "testdata", "replays", "*.replay"))
	if len(got) != len(ReplayNames) {
		t.Errorf("testdata/replays holds %d replays, ReplayNames lists %d: keep them in step", len(got), len(ReplayNames))
	}
}

// childCase selects what TestChildProcess does when this test binary is
// re-run as a child by TestTestenvMissing.
const childCase = "TESTENV_CHILD_CASE"

func TestMain(m *testing.M) { Main(m, map[string]func(*testing.T){"TestChildProcess": childProcess}) }

// childProcess is the body of TestTestenvMissing's child runs, run as the
// helper process TestChildProcess.
func childProcess(t *testing.T) {
	switch os.Getenv(childCase) {
	case "require-false":
		Require(t, false, "the widget %s is missing", "W-42")
	case "require-true":
		Require(t, true, "never shown")
	case "need-tool":
		NeedTool(t, "spectra-no-such-tool-7f3a")
	case "need-node":
		NeedNode(t) // PATH points at an empty folder
	case "replay-missing":
		Replay(t, "no_such_replay")
	}
	t.Log("child reached the end")
}

// TestTestenvMissing runs the helpers in a child test process, because what
// is checked is how that process's test ends (fail, skip or pass).
func TestTestenvMissing(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		name, child string
		env         []string
		want        string // "FAIL", "SKIP" or "PASS"
		output      string // must appear in the child's output
	}{
		{"require CI=true", "require-false", []string{"CI=true"}, "FAIL", "the widget W-42 is missing (CI=true"},
		{"require CI=1", "require-false", []string{"CI=1"}, "FAIL", "the widget W-42 is missing"},
		{"require no CI", "require-false", nil, "SKIP", "the widget W-42 is missing (skipped"},
		{"require CI=false", "require-false", []string{"CI=false"}, "SKIP", "the widget W-42 is missing"},
		{"require ok CI=true", "require-true", []string{"CI=true"}, "PASS", "child reached the end"},
		{"tool CI=true", "need-tool", []string{"CI=true"}, "FAIL", "spectra-no-such-tool-7f3a is not on PATH"},
		{"tool no CI", "need-tool", nil, "SKIP", "spectra-no-such-tool-7f3a is not on PATH"},
		{"node CI=true", "need-node", []string{"CI=true", "PATH=" + empty}, "FAIL", "node is not on PATH"},
		{"node no CI", "need-node", []string{"PATH=" + empty}, "SKIP", "node is not on PATH"},
		{"missing fixture without CI", "replay-missing", nil, "FAIL", "no_such_replay.replay is part of the repository"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := HelperCommand(ctx, "TestChildProcess", "-test.v", "-test.count=1")
			var env []string
			for _, kv := range cmd.Env {
				if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, childCase+"=") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(append(env, childCase+"="+c.child), c.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("running the child: %v", err)
			}
			if got := (err == nil); got != (c.want != "FAIL") {
				t.Errorf("child exit error = %v, want a failing exit: %v\n%s", err, c.want == "FAIL", out)
			}
			if mark := "--- " + c.want + ": TestChildProcess"; !strings.Contains(string(out), mark) {
				t.Errorf("child output lacks %q:\n%s", mark, out)
			}
			if !strings.Contains(string(out), c.output) {
				t.Errorf("child output lacks %q:\n%s", c.output, out)
			}
		})
	}
}

// TestHelperProcessUnknown: a helper name the binary does not have ends the
// child with exit status 2 and says so, rather than running the tests.
func TestHelperProcessUnknown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := HelperCommand(ctx, "NoSuchHelper").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("child ended with %v, want exit status 2:\n%s", err, out)
	}
	if !strings.Contains(string(out), "no helper process NoSuchHelper") || strings.Contains(string(out), "--- ") {
		t.Errorf("child output:\n%s", out)
	}
}
