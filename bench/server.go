package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server kinds.
const (
	KindGo    = "go"
	KindFloor = "floor" // bench/floor: the least work a relay must do
	// KindFloorPlus is the floor with spectra-server's deltaflate and
	// io_uring batches: the best minimal server (floor -plus).
	KindFloorPlus = "floor+"
	KindNode      = "node"
	// KindGoUnpinned names the results of spectra-server run with neither
	// it nor the bench pinned (-unpinned-too), beside its pinned run.
	KindGoUnpinned = "go-unpinned"
)

// serverProc is a server under test, started for one step.
type serverProc struct {
	kind   string
	cmd    *exec.Cmd
	pid    int
	ingest string // host:port
	output string
	admin  string // the admin listener (/metrics: spectra-server, the floors), "" when none
	// tls is the harness's TLS configuration for this server (nil: plain).
	tls    *tls.Config
	tlsCrt string
	exited chan struct{}
	log    string
}

// startServer starts a server and waits for its listening line. env adds
// to the environment (a cluster node's REDIS_URL and NODE_ID).
func startServer(ctx context.Context, cfg *Config, kind, logPath string, env ...string) (*serverProc, error) {
	var cmd *exec.Cmd
	tlsCrt := ""
	switch {
	case IsGo(kind) || IsCluster(kind):
		// The admin listener on a free port: the default 5102 would be taken
		// by the first of several servers (cluster3, the unpinned variant).
		cmd = exec.Command(cfg.GoBinary, "-bind", "127.0.0.1", "-ingest-port", "0", "-output-port", "0", "-extras-port", "0", "-admin-bind", "127.0.0.1:0", "-replay-dir", "")
		// Every bench client connects from 127.0.0.1, thousands at once: the
		// per-address limits (and the total, past 20000 overlays) are off.
		cmd.Env = append(os.Environ(), "INSECURE=true", "REQUIRE_AUTH_KEY=false",
			"MAX_CONNS=0", "MAX_CONNS_PER_IP=0", "HANDSHAKE_RATE=0")
		if kind != KindGo && !IsCluster(kind) {
			extra, err := GoVariantEnv(kind)
			if err != nil {
				return nil, err
			}
			cmd.Env = append(cmd.Env, extra...)
			if VariantTLS(kind) {
				key, crt := tlsPair(logPath)
				os.RemoveAll(filepath.Dir(key))
				cmd.Env = append(cmd.Env, "SERVER_KEY="+key, "SERVER_CERT="+crt)
				tlsCrt = crt
			}
		}
	case kind == KindFloor:
		cmd = exec.Command(cfg.FloorBinary, "-bind", "127.0.0.1", "-base-state", cfg.BaseState, "-admin-bind", "127.0.0.1:0")
	case kind == KindFloorPlus:
		cmd = exec.Command(cfg.FloorBinary, "-bind", "127.0.0.1", "-base-state", cfg.BaseState, "-plus", "-admin-bind", "127.0.0.1:0")
	case kind == KindNode:
		cmd = exec.Command("node", filepath.Join(cfg.BaselineDir, "server.js"))
		cmd.Env = append(os.Environ(), "BIND=127.0.0.1", "BASE_STATE="+cfg.BaseState)
	default:
		return nil, fmt.Errorf("unknown server kind %q", kind)
	}
	if len(env) > 0 {
		cmd.Env = append(cmd.Env, env...)
	}
	cmd = pinned(cfg, cmd)
	cmd.Dir = cfg.WorkDir
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &serverProc{kind: kind, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), log: logPath, tlsCrt: tlsCrt}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first && strings.Contains(sc.Text(), "listening") {
				lines <- sc.Text()
				first = false
				continue
			}
			fmt.Fprintln(logf, sc.Text())
		}
	}()
	go func() {
		cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case line := <-lines:
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "ingest":
				s.ingest = v
			case "output":
				s.output = v
			case "admin":
				s.admin = v
			}
		}
		if s.ingest == "" || s.output == "" {
			s.stop()
			return nil, fmt.Errorf("%s server: unexpected listening line %q", kind, line)
		}
		if s.tlsCrt != "" {
			if s.tls, err = clientTLS(s.tlsCrt); err != nil {
				s.stop()
				return nil, fmt.Errorf("%s server: %w", kind, err)
			}
		}
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s server exited at start (see %s)", kind, logPath)
	case <-t.C:
		s.stop()
		return nil, fmt.Errorf("%s server printed no listening line within 30s (see %s)", kind, logPath)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// pinned wraps cmd in taskset when the servers are pinned. taskset execs
// the program, so the pid stays the server's; the Go runtime sizes
// GOMAXPROCS from the affinity it starts with.
func pinned(cfg *Config, cmd *exec.Cmd) *exec.Cmd {
	if cfg.ServerCPUs == "" {
		return cmd
	}
	args := append([]string{"-c", cfg.ServerCPUs, cmd.Path}, cmd.Args[1:]...)
	env := cmd.Env
	cmd = exec.Command("taskset", args...)
	cmd.Env = env
	return cmd
}

func (s *serverProc) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and, after 5 s, SIGKILL.
func (s *serverProc) stop() {
	if !s.alive() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// procSample is what /proc tells about a process at one moment.
type procSample struct {
	at       time.Time
	cpuTicks int64 // utime + stime, in clock ticks
	rss      int64 // bytes
	threads  int
	// majflt counts the page faults that had to read from disk: on a VM
	// that pages out cold file pages (DAMON), a fault on the server's own
	// code stalls its one core for as long as the disk takes.
	majflt int64
}

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.cpuTicks, s.majflt, err = parseProcStat(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
			s.rss = kb << 10
		case "Threads":
			s.threads, _ = strconv.Atoi(v)
		}
	}
	return s, nil
}

// parseProcStat reads utime+stime and majflt from a /proc/<pid>/stat line.
func parseProcStat(stat []byte) (cpuTicks, majflt int64, err error) {
	// Fields after the command name, which is in parentheses and may hold
	// spaces and parentheses itself.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	majflt, _ = strconv.ParseInt(f[9], 10, 64) // field 12 majflt
	ut, _ := strconv.ParseInt(f[11], 10, 64)   // field 14 utime
	st, _ := strconv.ParseInt(f[12], 10, 64)   // field 15 stime
	return ut + st, majflt, nil
}

// cores is the CPU used between two samples, in cores.
func cores(a, b procSample) float64 {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.cpuTicks-a.cpuTicks) / clockTicks / d
}

// selfUsage is this process' user+system CPU time and major page faults.
func selfUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Majflt
}

// RaiseFileLimit lifts RLIMIT_NOFILE to want (the hard limit too when
// allowed, e.g. as root) and returns the soft limit in force.
func RaiseFileLimit(want uint64) uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur >= want {
		return rl.Cur
	}
	try := rl
	try.Cur = want
	if try.Max < want {
		try.Max = want
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) != nil {
		try = rl
		try.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

// EphemeralPorts returns the size of the local port range.
func EphemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return hi - lo + 1
}
