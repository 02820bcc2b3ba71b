package relay_test

// Acceptance 5: the README's quick start, as a newcomer runs it on a fresh
// clone: `make run`, then in a second terminal spectra-watch, then
// spectra-replay with short_3rounds. Also cmd/spectra-watch on its own.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// watchLine is one line of spectra-watch, e.g.
// "#12 round 2 combat   NWE 1-1 CRV  map Split  48213 bytes  +103 ms".
var watchLine = regexp.MustCompile(`^#(\d+) round (\d+) (\S+)\s+(.+)  map (.*)  (\d+) bytes  (first|\+\d+ ms)$`)

// proc is a started command whose output lines are collected.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr []string
	notify chan struct{}
	exited chan struct{}
	err    error
}

func startProc(t *testing.T, name, dir string, env []string, group bool, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(filteredEnv(), env...)
	if group {
		newProcessGroup(p.cmd)
	}
	so, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	var wg sync.WaitGroup
	read := func(r io.Reader, dst *[]string) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		for sc.Scan() {
			p.mu.Lock()
			*dst = append(*dst, sc.Text())
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
	}
	wg.Add(2)
	go read(so, &p.stdout)
	go read(se, &p.stderr)
	go func() {
		wg.Wait()
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.output(), 12000))
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	signalProcess(p.cmd, sig)
}

func (p *proc) lines() (stdout, stderr []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...), append([]string(nil), p.stderr...)
}

func (p *proc) output() string {
	o, e := p.lines()
	return "stdout:\n" + strings.Join(o, "\n") + "\nstderr:\n" + strings.Join(e, "\n")
}

// waitLine waits for a line (stdout or stderr) matching re.
func (p *proc) waitLine(re *regexp.Regexp, d time.Duration) []string {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		o, e := p.lines()
		for _, l := range append(o, e...) {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.notify:
		case <-p.exited:
			o, e := p.lines()
			for _, l := range append(o, e...) {
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			}
			p.t.Fatalf("%s exited (%v) without printing /%s/:\n%s", p.name, p.err, re, tail(p.output(), 6000))
		case <-deadline.C:
			p.t.Fatalf("%s: no line /%s/ within %s:\n%s", p.name, re, d, tail(p.output(), 6000))
		}
	}
}

// wait waits for the exit and returns the exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s:\n%s", p.name, d, tail(p.output(), 6000))
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// checkWatchLines checks spectra-watch's stdout and returns its last line's fields.
func checkWatchLines(t *testing.T, lines []string) []string {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("spectra-watch printed no match_data line")
	}
	var last []string
	for i, l := range lines {
		m := watchLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("spectra-watch line %d does not look like `#N round R phase  L a-b R  map M  S bytes  +T ms`: %q", i+1, l)
		}
		if m[1] != strconv.Itoa(i+1) {
			t.Errorf("line %d numbered #%s", i+1, m[1])
		}
		if (i == 0) != (m[7] == "first") {
			t.Errorf("line %d: %q", i+1, m[7])
		}
		last = m
	}
	return last
}

// walkthroughReplay is the README's replay, relative to the repository root.
const walkthroughReplay = "testdata/replays/short_3rounds.replay"

var finalShortLine = regexp.MustCompile(`round 3 end\s+NWE 1-2 CRV  map Split`)

func TestSpectraWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the commands and replays a match over three transports")
	}
	replay := replayPath(t, "short_3rounds.replay")
	watch := binary(t, "spectra-watch")
	replayBin := binary(t, "spectra-replay")
	for _, transport := range []string{"default", "polling", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			s := startServer(t, serverOpts{})
			w := startProc(t, "spectra-watch", t.TempDir(), nil, false, watch, "-url", s.Output, "-group-code", "GU3Z72", "-transport", transport)
			w.waitLine(regexp.MustCompile(`^logged on to .* for group code GU3Z72`), 10*time.Second)
			// Paced, so that the overlay's connection lives through a few
			// seconds of large match_data frames.
			runReplay(t, replayBin, "-ingest", s.Ingest, "-transport", transport, "-mode", "timestamps", "-speed", "400", "-quiet", replay)
			w.waitLine(finalShortLine, 10*time.Second)
			// A quiet period before the stop: the one match_data that may
			// follow game_end reaches the watcher; there is no event to await.
			time.Sleep(300 * time.Millisecond)
			w.signal(syscall.SIGINT)
			if code := w.wait(5 * time.Second); code != 0 {
				t.Errorf("spectra-watch exit code %d after SIGINT, want 0:\n%s", code, w.output())
			}
			out, errs := w.lines()
			checkWatchLines(t, out)
			if len(errs) == 0 || !regexp.MustCompile(`^\d+ match_data in `).MatchString(errs[len(errs)-1]) {
				t.Errorf("spectra-watch: no summary on stderr: %q", errs)
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			msg  string
		}{
			{nil, 2, "-group-code is required"},
			{[]string{"-group-code", "X", "-transport", "carrier-pigeon"}, 2, "unknown -transport"},
			{[]string{"-group-code", "X", "-url", "http://127.0.0.1:1", "-connect-timeout", "2s"}, 1, "make run"},
		} {
			out, err := exec.Command(watch, c.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != c.code || !strings.Contains(string(out), c.msg) {
				t.Errorf("spectra-watch %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, out, c.code, c.msg)
			}
		}
	})
}

func portsFree(ports ...int) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return err
		}
		l.Close()
	}
	return nil
}

// freshCopy copies the files a clone would have (tracked and untracked, not
// ignored) to <dir>/main: the fixtures the README uses are among them, so
// nothing outside the copy is needed.
func freshCopy(t *testing.T) string {
	t.Helper()
	root := moduleRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "-co", "--exclude-standard").Output()
	if err != nil {
		testenv.Missing(t, "the walk-through copies the files git lists, and git ls-files in %s failed: %v", root, err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "main")
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		src := filepath.Join(root, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestReadmeWalkthrough runs the README's quick start on the default ports,
// in a fresh copy of the repository:
//
//	make run                                                                            # terminal 1
//	go run ./cmd/spectra-replay -mode timestamps -speed 20 testdata/replays/short_3rounds.replay  # terminal 2
//	go run ./cmd/spectra-watch -group-code GU3Z72                                       # terminal 3
//
// The replay runs at -speed 100 instead of 20 to keep the test short
// (SPECTRA_WALKTHROUGH_SPEED overrides it).
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the walk-through builds the commands in a fresh copy")
	}
	testenv.NeedTool(t, "make")
	testenv.NeedTool(t, "git")
	replayPath(t, filepath.Base(walkthroughReplay)) // the fixture is there, in the repository
	if err := portsFree(5100, 5200, 5101, 5102); err != nil {
		testenv.Missing(t, "the walk-through needs the default ports 5100, 5200, 5101 and 5102: %v", err)
	}
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Errorf("README.md: %v", err)
	}
	for _, want := range []string{"make run", "cmd/spectra-replay", walkthroughReplay, "cmd/spectra-watch", "-group-code", "http://127.0.0.1:5102/"} {
		if err == nil && !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not mention %q: the walk-through this test follows has changed", want)
		}
	}
	dir := freshCopy(t)
	speed := os.Getenv("SPECTRA_WALKTHROUGH_SPEED")
	if speed == "" {
		speed = "100"
	}
	// -trimpath lets the builds in the copy reuse the build cache.
	env := []string{"GOFLAGS=-trimpath"}
	goBin := goTool()

	server := startProc(t, "make run", dir, env, true, "make", "run")
	m := server.waitLine(regexp.MustCompile(`spectra-server listening ingest=(\S+) output=(\S+) extras=(\S+) admin=(\S+)`), 3*time.Minute)
	if m[4] != "127.0.0.1:5102" {
		t.Errorf("make run: admin listener on %s, want 127.0.0.1:5102", m[4])
	}
	for i, port := range []string{"5100", "5200", "5101"} {
		if !strings.HasSuffix(m[i+1], ":"+port) {
			t.Errorf("make run: listening on %s, want port %s", m[i+1], port)
		}
	}

	// Terminal 2: the replay; terminal 3, while it runs: the overlay.
	rp := startProc(t, "spectra-replay", dir, env, true, goBin, "run", "./cmd/spectra-replay", "-mode", "timestamps", "-speed", speed, walkthroughReplay)
	rp.waitLine(regexp.MustCompile(`^observer logged on to http://127\.0\.0\.1:5100 .*group code GU3Z72`), 2*time.Minute)
	watch := startProc(t, "spectra-watch", dir, env, true, goBin, "run", "./cmd/spectra-watch", "-group-code", "GU3Z72")
	watch.waitLine(regexp.MustCompile(`^logged on to http://127\.0\.0\.1:5200 .* for group code GU3Z72`), 2*time.Minute)
	if code := rp.wait(2 * time.Minute); code != 0 {
		t.Fatalf("spectra-replay exit %d:\n%s", code, rp.output())
	}
	rp.waitLine(regexp.MustCompile(`^sent 495/495 events`), time.Second)
	watch.waitLine(finalShortLine, 10*time.Second)

	var st map[string]any
	httpGetJSON(t, "http://127.0.0.1:5101/status", &st)
	if st["status"] != "UP" || st["matchesRunning"] != float64(1) {
		t.Errorf("/status after the walk-through: %v", st)
	}
	// The README sends the operator to the status page on the admin port.
	var sm struct{ Matches []struct{ GroupCode string } }
	httpGetJSON(t, "http://127.0.0.1:5102/status/matches", &sm)
	if len(sm.Matches) != 1 || sm.Matches[0].GroupCode != "GU3Z72" {
		t.Errorf("/status/matches on the admin port after the walk-through: %+v", sm)
	}

	// Ctrl-C in both terminals.
	// (go run itself exits 1 on Ctrl-C even when the program exits 0, so
	// the clean exit shows in spectra-watch's summary line instead.)
	watch.signal(syscall.SIGINT)
	watch.wait(10 * time.Second)
	watch.waitLine(regexp.MustCompile(`^\d+ match_data in `), time.Second)
	out, _ := watch.lines()
	var lines []string
	for _, l := range out {
		if strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	checkWatchLines(t, lines)
	server.signal(syscall.SIGINT)
	server.wait(15 * time.Second)
	files, _ := filepath.Glob(filepath.Join(dir, "replays", "Match_GU3Z72_*.replay"))
	if len(files) != 1 {
		t.Errorf("make run: want one replays/Match_GU3Z72_<ms>.replay in the working directory, found %v", files)
	}
	t.Logf("walk-through: %d match_data lines, last %q", len(lines), lines[len(lines)-1])
}
