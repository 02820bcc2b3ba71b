package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEnsureAptPackage runs scripts/ensure-apt-package.sh (make test-deps)
// with a PATH of its own: the real sh, env and chmod, and stand-ins for id,
// apt-get and sudo that log their calls, apt-get "installing" the binary
// into that PATH. It checks each way the script can go.
func TestEnsureAptPackage(t *testing.T) {
	script := filepath.Join(Root(t), "scripts", "ensure-apt-package.sh")
	shPath, err := exec.LookPath("sh")
	Require(t, err == nil, "sh is not on PATH")
	var real [][2]string // tools the script and the stand-ins run, linked in
	for _, name := range []string{"env", "chmod"} {
		p, err := exec.LookPath(name)
		Require(t, err == nil, "%s is not on PATH", name)
		real = append(real, [2]string{p, name})
	}
	cases := []struct {
		name    string
		uid     string
		tools   []string // stand-ins present: apt-get, sudo, have (the binary already there), broken (apt-get fails)
		wantErr bool
		calls   string // the log of the stand-ins' calls
		output  string
	}{
		{"present", "1000", []string{"have"}, false, "", ""},
		{"root", "0", []string{"apt-get"}, false, "apt-get update -qq\napt-get install -y -qq widget-pkg\n", "installing Debian's widget-pkg package for the widget tests"},
		{"sudo", "1000", []string{"apt-get", "sudo"}, false, "sudo env\napt-get update -qq\nsudo env\napt-get install -y -qq widget-pkg\n", "installing Debian's widget-pkg package with sudo"},
		{"no sudo", "1000", []string{"apt-get"}, true, "", "no widget on PATH, and neither root nor sudo to run apt-get as"},
		{"no apt-get", "0", nil, true, "", "no widget on PATH and no apt-get to install it with"},
		{"install fails", "0", []string{"apt-get", "broken"}, true, "apt-get update -qq\napt-get install -y -qq widget-pkg\n", "apt-get install widget-pkg failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "calls.log")
			write := func(name, body string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("#!"+shPath+"\n"+body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range append(real, [2]string{shPath, "sh"}) {
				if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
					t.Fatal(err)
				}
			}
			write("id", "echo "+c.uid+"\n")
			for _, tool := range c.tools {
				switch tool {
				case "have":
					write("widget", "")
				case "sudo":
					write("sudo", `echo "sudo $1" >> `+log+"\nexec \"$@\"\n")
				case "apt-get":
					install := `[ "$1" = install ] && printf '' > ` + filepath.Join(dir, "widget") + ` && chmod +x ` + filepath.Join(dir, "widget")
					if slices.Contains(c.tools, "broken") {
						install = `[ "$1" = install ] && exit 100`
					}
					write("apt-get", `echo "apt-get $*" >> `+log+"\n"+install+"\nexit 0\n")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, shPath, script, "widget-pkg", "the widget tests", "widget")
			cmd.Env = []string{"PATH=" + dir}
			out, err := cmd.CombinedOutput()
			if (err != nil) != c.wantErr {
				t.Fatalf("exit %v, want failure %v:\n%s", err, c.wantErr, out)
			}
			if !strings.Contains(string(out), c.output) {
				t.Errorf("output lacks %q:\n%s", c.output, out)
			}
			calls, _ := os.ReadFile(log)
			if string(calls) != c.calls {
				t.Errorf("calls:\n%s\nwant:\n%s", calls, c.calls)
			}
		})
	}
}
