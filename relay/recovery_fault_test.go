package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spectra-relay/internal/redistest"
	"spectra-relay/internal/testenv"
)

// The real observer client through faults (issue 20). testdata/interop/
// connector.mjs plays a recorded match as the Spectra client's connector
// does: socket.io-client 4.8, logon once, reconnection on, every event
// emitted whatever the connection's state. The relay's ingest port sits
// behind tcpProxy (a stand-in for the network and a load balancer), so
// that the client keeps its one URL while a connection is cut, the relay
// is restarted or another node takes over. In every case the overlay's
// final match_data must equal the no-fault run's and every golden
// checkpoint, those after the fault included, must hold.

// tcpProxy forwards 127.0.0.1 connections to a backend that can change,
// and cuts them on demand.
type tcpProxy struct {
	ln net.Listener

	mu      sync.Mutex
	backend string              // host:port; "" refuses (closes at once)
	conns   map[int][2]net.Conn // client's source port → (client, backend)
}

func newTCPProxy(t *testing.T) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, conns: map[int][2]net.Conn{}}
	t.Cleanup(func() { ln.Close(); p.cut(-1) })
	go p.serve()
	return p
}

func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) setBackend(url string) {
	p.mu.Lock()
	p.backend = strings.TrimPrefix(url, "http://")
	p.mu.Unlock()
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	p.mu.Lock()
	addr := p.backend
	p.mu.Unlock()
	if addr == "" {
		c.Close()
		return
	}
	b, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	port := c.RemoteAddr().(*net.TCPAddr).Port
	p.mu.Lock()
	p.conns[port] = [2]net.Conn{c, b}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(b, c)
	go cp(c, b)
	<-done
	c.Close()
	b.Close()
	<-done
	p.mu.Lock()
	if p.conns[port][0] == c {
		delete(p.conns, port)
	}
	p.mu.Unlock()
}

// cut closes the connection from the client's source port (-1: all); it
// reports whether there was one.
func (p *tcpProxy) cut(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	found := false
	for k, pair := range p.conns {
		if port == -1 || k == port {
			pair[0].Close()
			pair[1].Close()
			delete(p.conns, k)
			found = true
		}
	}
	return found
}

// connectorMsg is one line of connector.mjs.
type connectorMsg struct {
	LoggedOn bool                      `json:"loggedOn"`
	ObsDown  string                    `json:"obsDown"`
	At       *int                      `json:"at"`
	ObsPort  int                       `json:"obsPort"`
	Done     bool                      `json:"done"`
	Stats    map[string]connectorStats `json:"stats"`
}

type connectorStats struct {
	Connects, Recovered, Disconnects int
}

// connector is a running connector.mjs.
type connector struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	out   *testenv.Buffer // stderr
}

func startConnector(t *testing.T, ingestURL, replay string, pauses []int) *connector {
	t.Helper()
	needNode(t)
	ps := make([]string, len(pauses))
	for i, p := range pauses {
		ps[i] = strconv.Itoa(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", "connector.mjs")
	cmd.Dir = interopDir(t)
	cmd.Env = append(filteredEnv(), "INGEST_URL="+ingestURL, "REPLAY="+replay, "PAUSE_AT="+strings.Join(ps, ","), "PACE_MS=5")
	c := &connector{t: t, cmd: cmd, lines: make(chan string, 64), out: &testenv.Buffer{}}
	cmd.Stderr = c.out
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("connector.mjs stderr:\n%s", tail(c.out.String(), 6000))
		}
	})
	return c
}

// next is the connector's next message (bounded).
func (c *connector) next() connectorMsg {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			_ = c.cmd.Wait()
			c.t.Fatalf("connector.mjs ended early:\n%s", tail(c.out.String(), 6000))
		}
		var m connectorMsg
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			c.t.Fatalf("connector.mjs printed %q: %v", l, err)
		}
		return m
	case <-time.After(60 * time.Second):
		c.t.Fatalf("connector.mjs silent for 60 s:\n%s", tail(c.out.String(), 6000))
	}
	return connectorMsg{}
}

func (c *connector) goOn() {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		c.t.Fatal(err)
	}
}

// faultRun is one play of the match with one fault injected after event
// faultAt (none when fault is nil).
type faultRun struct {
	name    string
	faultAt int
	// fault breaks something and returns the overlay to watch from then
	// on (the old one when the output port is the same).
	fault func(t *testing.T, r *faultEnv, obsPort int) *overlay
	// cluster: two nodes on one Redis; the observer starts on the first,
	// the overlay watches on the second.
	cluster bool
}

// faultEnv is what a fault acts on.
type faultEnv struct {
	proxy   *tcpProxy
	srv     *testServer
	code    string
	dir     string
	ov      *overlay
	ovOn    *testServer                    // where the overlay logs on; default srv
	others  []*testServer                  // cluster mode: the other nodes
	started func(t *testing.T) *testServer // another server on dir
}

// playWithFault plays short_3rounds through the connector, checks every
// golden checkpoint on the overlay, injects the fault, and returns the
// final match_data and the time from the fault to the first match_data
// reflecting an event emitted after it.
func playWithFault(t *testing.T, run faultRun, env *faultEnv) (json.RawMessage, time.Duration, map[string]connectorStats) {
	t.Helper()
	const name = "short_3rounds"
	replay := replayPath(t, name+".replay")
	golden := loadGoldenCheckpoints(t, name)
	pauseSet := map[int]bool{}
	for _, cp := range golden {
		pauseSet[cp.AfterEvent] = true
	}
	if run.fault != nil {
		pauseSet[run.faultAt] = true
	}
	pauses := make([]int, 0, len(pauseSet))
	for p := range pauseSet {
		pauses = append(pauses, p)
	}
	sort.Ints(pauses)

	c := startConnector(t, env.proxy.URL(), replay, pauses)
	if m := c.next(); !m.LoggedOn {
		t.Fatalf("connector: %+v, want the logon", m)
	}
	ovOn := env.srv
	if env.ovOn != nil {
		ovOn = env.ovOn
	}
	env.ov = newOverlay(t, ovOn.Output, env.code)
	next := 0
	var (
		faultAt   time.Time
		afterSeen chan time.Duration
	)
	for {
		m := c.next()
		if m.Done {
			final := env.ov.latest()
			b, _ := json.Marshal(final)
			var took time.Duration
			if afterSeen != nil {
				select {
				case took = <-afterSeen:
				case <-time.After(30 * time.Second):
					t.Fatal("no match_data reflecting an event after the fault")
				}
			}
			if next != len(golden) {
				t.Fatalf("%d golden checkpoints not reached", len(golden)-next)
			}
			return b, took, m.Stats
		}
		if m.ObsDown != "" {
			t.Fatalf("the observer's connection went down outside a fault: %q", m.ObsDown)
		}
		if m.At == nil {
			t.Fatalf("connector: unexpected %+v", m)
		}
		i := *m.At
		for next < len(golden) && golden[next].AfterEvent == i {
			if diffs := env.ov.awaitGolden(golden[next], 10*time.Second); diffs != nil {
				t.Fatalf("%s: checkpoint %s (after event %d) differs from the golden state:\n%s", run.name, golden[next].Label, i, strings.Join(diffs, "\n"))
			}
			next++
		}
		if run.fault != nil && i == run.faultAt {
			// The measure: the next event is the observer's and makes the
			// next checkpoint's state, which the state before the fault is
			// not.
			if next >= len(golden) || golden[next].AfterEvent != i+1 {
				t.Fatalf("fault after event %d: event %d must be a golden checkpoint", i, i+1)
			}
			target := golden[next]
			pre := env.ov.settle(0, 300*time.Millisecond, 5*time.Second)
			preJSON, _ := json.Marshal(pre)
			if goldenDiff(t, target, preJSON) == nil {
				t.Fatalf("the state before the fault is already checkpoint %s's", target.Label)
			}
			faultAt = time.Now()
			env.ov = run.fault(t, env, m.ObsPort)
			afterSeen = make(chan time.Duration, 1)
			go watchAfterFault(t, env.ov, target, faultAt, afterSeen)
			// Go on once the observer client knows its connection is gone
			// (see connector.mjs).
			if m := c.next(); m.ObsDown == "" {
				t.Fatalf("connector: %+v, want the observer's disconnect", m)
			} else {
				t.Logf("observer client saw %q %v after the fault", m.ObsDown, time.Since(faultAt).Round(time.Millisecond))
			}
		}
		c.goOn()
	}
}

// watchAfterFault reports the time from the fault to the first match_data
// that shows the checkpoint of the first event emitted after it.
func watchAfterFault(t *testing.T, ov *overlay, target goldenCheckpoint, at time.Time, out chan<- time.Duration) {
	var took time.Duration
	testenv.Poll(60*time.Second, func() bool {
		ov.mu.Lock()
		defer ov.mu.Unlock()
		for k, s := range ov.states {
			if ov.times[k].After(at) && goldenDiff(t, target, s) == nil {
				took = ov.times[k].Sub(at)
				return true
			}
		}
		return false
	})
	out <- took
}

// TestRealClientSurvivesFaults: (a) the observer's connection cut
// mid-match, (b) kill -9 and a restart mid-match, (c) in cluster mode the
// owner node killed mid-match, its clients reconnecting to the other
// node; the no-fault run first, as the reference.
func TestRealClientSurvivesFaults(t *testing.T) {
	needNode(t)
	const code = "GU3Z72"
	// Round 2's buy phase, after score_r1: events 190-196 are the
	// observer's, and event 194 makes checkpoint tech_pause_r2.
	const faultAt = 193
	var reference json.RawMessage
	runs := []faultRun{
		{name: "no fault"},
		{name: "observer connection cut", faultAt: faultAt, fault: func(t *testing.T, e *faultEnv, obsPort int) *overlay {
			if obsPort == 0 || !e.proxy.cut(obsPort) {
				t.Fatalf("no observer WebSocket connection to cut (port %d)", obsPort)
			}
			return e.ov
		}},
		{name: "kill -9 and restart", faultAt: faultAt, fault: func(t *testing.T, e *faultEnv, _ int) *overlay {
			e.proxy.setBackend("")
			e.srv.kill(t)
			e.proxy.cut(-1)
			e.srv = e.started(t)
			if !testenv.Poll(10*time.Second, func() bool {
				return strings.Contains(e.srv.log.String(), `msg="match recovered" groupCode=`+code)
			}) {
				t.Fatalf("no recovery log line:\n%s", e.srv.log.String())
			}
			e.proxy.setBackend(e.srv.Ingest)
			return newOverlay(t, e.srv.Output, code)
		}},
		{name: "cluster owner killed", faultAt: faultAt, cluster: true, fault: func(t *testing.T, e *faultEnv, _ int) *overlay {
			// The load balancer sends every reconnect to the surviving node.
			e.proxy.setBackend("")
			e.srv.kill(t)
			e.proxy.cut(-1)
			e.srv = e.others[0]
			e.proxy.setBackend(e.srv.Ingest)
			return e.ov // on the surviving node all along
		}},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			if run.fault != nil && reference == nil {
				t.Skip("the no-fault run failed")
			}
			dir := filepath.Join(t.TempDir(), "replays")
			e := &faultEnv{proxy: newTCPProxy(t), code: code, dir: dir}
			e.started = func(t *testing.T) *testServer { return startServer(t, serverOpts{replayDir: dir}) }
			if run.cluster {
				nodes := startNodes(t, redistest.Start(t), 2)
				e.srv, e.others, e.ovOn = nodes[0], nodes[1:], nodes[1]
			} else {
				e.srv = e.started(t)
			}
			e.proxy.setBackend(e.srv.Ingest)
			final, took, stats := playWithFault(t, run, e)
			if run.fault == nil {
				reference = final
				t.Logf("no-fault run: %d bytes of final match_data", len(final))
				return
			}
			if diffs := goldenDiff(t, goldenCheckpoint{Label: "no-fault final", Data: reference}, final); diffs != nil {
				t.Fatalf("final match_data differs from the no-fault run's:\n%s", strings.Join(diffs, "\n"))
			}
			if st := stats["obs"]; st.Recovered < 1 {
				t.Fatalf("the observer's session was not recovered: %+v", st)
			}
			t.Logf("%s: first match_data reflecting an event after the fault %v after it; sockets: %+v", run.name, took.Round(time.Millisecond), stats)
			if err := checkRecoveredLog(e.srv.log.String()); err != nil {
				t.Fatal(err)
			}
			recovered := 0
			for _, st := range stats {
				recovered += st.Recovered
			}
			metricLine(t, e.srv, fmt.Sprintf(`spectra_ingest_recoveries_total{result="restored"} %d`, recovered))
			if run.cluster && !strings.Contains(e.srv.log.String(), `msg="match taken over" groupCode=`+code) {
				t.Fatal("the surviving node did not take the match over")
			}
		})
	}
}

// checkRecoveredLog: the relay logged the recovery, and no log line
// carries a pid (a pid is 24 base64url characters after "pid").
func checkRecoveredLog(log string) error {
	if !strings.Contains(log, `msg="ingest session recovered" kind=observer`) {
		return errors.New("no \"ingest session recovered\" log line for the observer")
	}
	if strings.Contains(log, "pid=") {
		return fmt.Errorf("a log line names a pid:\n%s", log)
	}
	return nil
}
