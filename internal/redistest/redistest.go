// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary folder, without persistence, stopped at the end of
// the test. A missing redis-server skips the test, and fails it under
// CI=true (scripts/ensure-redis.sh installs it; make test-deps runs that).
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

// Server is one redis-server process; Restart keeps its port.
type Server struct {
	Addr string // host:port
	URL  string // redis://host:port/0

	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a redis-server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.NeedTool(t, "redis-server")
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	// A free port: listen, note it, close; redis-server binds it next. The
	// window in between is tiny on loopback, and a lost race shows as a
	// start failure, which Start retries on another port.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	// No RDB, no AOF: a restart loses everything, the case the cluster's
	// recovery has to handle.
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.port) == nil {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("exited at start (port %d taken?)", s.port)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no PONG on port %d within 10s", s.port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// ping sends PING in RESP and expects +PONG.
func ping(port int) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("answer %q", line)
	}
	return nil
}

// Stop kills the server (SIGKILL: nothing to save anyway).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = testenv.ResumeProcess(cmd.Process) // a paused process dies only once continued
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redis-server did not exit within 10s of SIGKILL")
	}
}

// Pause stops the server process (SIGSTOP): connections stay open but
// nothing answers, as with a hung Redis or a network partition.
func (s *Server) Pause() error { return s.signal(testenv.PauseProcess) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.signal(testenv.ResumeProcess) }

func (s *Server) signal(send func(*os.Process) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("redis-server not running")
	}
	return send(s.cmd.Process)
}

// Restart stops the server and starts an empty one on the same port:
// Redis restarted without persistence.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	var err error
	for ctx.Err() == nil {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redis-server restart on port %d: %w", s.port, err)
}
