package testenv

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// helperEnv names the helper process a test binary is re-run as.
const helperEnv = "SPECTRA_TEST_HELPER"

// Main is a package's TestMain when some of its tests re-run the test
// binary as a helper process (a server measured alone, a fleet of clients,
// a test whose way of ending is what is checked). Started by
// HelperCommand, the binary runs only the helper it names, as a test of
// that name, and exits; otherwise it runs the package's tests. The helpers
// are not Test functions, so a normal run neither lists them nor counts
// them as passing tests.
func Main(m *testing.M, helpers map[string]func(*testing.T)) {
	name := os.Getenv(helperEnv)
	if name == "" {
		os.Exit(m.Run())
	}
	f, ok := helpers[name]
	if !ok {
		os.Stderr.WriteString("testenv: no helper process " + name + " in this test binary\n")
		os.Exit(2)
	}
	os.Exit(runHelper(m, name, f))
}

// runHelper runs f as the test name. testing.RunTests alone runs nothing
// before m.Run has read the test flags (-test.cpu above all), so m.Run goes
// first, told to run no test and with its "no tests" lines sent nowhere.
func runHelper(m *testing.M, name string, f func(*testing.T)) int {
	quiet, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		os.Stderr.WriteString("testenv: " + err.Error() + "\n")
		return 2
	}
	defer quiet.Close()
	run := flag.Lookup("test.run")
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = quiet, quiet
	flag.Parse()
	want := run.Value.String()
	_ = run.Value.Set("^$")
	code := m.Run()
	os.Stdout, os.Stderr = stdout, stderr
	_ = run.Value.Set(want)
	if code != 0 {
		return code
	}
	if !testing.RunTests(regexp.MatchString, []testing.InternalTest{{Name: name, F: f}}) {
		return 1
	}
	return 0
}

// HelperCommand is a command that runs this test binary as the helper
// process name (one of those given to Main), with the test flags args
// (-test.v, …) and the environment of this process; ctx ends it.
func HelperCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^" + regexp.QuoteMeta(name) + "$", "-test.bench=^$"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	return cmd
}
