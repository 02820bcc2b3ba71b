package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KindClusterPrefix names a cluster server kind: "cluster3" is three
// spectra-server nodes sharing one redis-server started for the step.
const KindClusterPrefix = "cluster"

// MaxClusterNodes bounds -cluster: every node is a process on this box.
const MaxClusterNodes = 16

// ClusterNodes returns the node count of a cluster kind ("cluster3" → 3)
// and whether kind is one.
func ClusterNodes(kind string) (int, bool) {
	rest, ok := strings.CutPrefix(kind, KindClusterPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > MaxClusterNodes || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// IsCluster reports whether kind is a cluster kind.
func IsCluster(kind string) bool {
	_, ok := ClusterNodes(kind)
	return ok
}

// ClusterKind is the server kind for n nodes.
func ClusterKind(n int) string { return KindClusterPrefix + strconv.Itoa(n) }

// serverGroup is what one step measures: one server, or the nodes of a
// cluster and their redis-server. Observers and auxiliary clients go to node
// 0; overlays are spread round-robin over the nodes' output ports, so that
// most of them (all but 1/n) get their match_data through Redis.
type serverGroup struct {
	nodes []*serverProc
	redis *serverProc // nil unless a cluster
}

func (g *serverGroup) ingest() string { return g.nodes[0].ingest }

// goroutines sums go_goroutines over the nodes that have an admin
// listener (0 when none has).
func (g *serverGroup) goroutines(ctx context.Context) int {
	n := 0
	for _, p := range g.nodes {
		if c, err := serverGoroutines(ctx, p.admin); err == nil {
			n += c
		}
	}
	return n
}

// tls is the harness's TLS configuration for the group (nil: plain).
func (g *serverGroup) tls() *tls.Config { return g.nodes[0].tls }

// output is the output address for the i-th overlay (probes included).
func (g *serverGroup) output(i int) string { return g.nodes[nodeFor(i, len(g.nodes))].output }

// nodeFor spreads overlay i over n nodes, round-robin.
func nodeFor(i, n int) int {
	if n <= 1 {
		return 0
	}
	return i % n
}

func (g *serverGroup) procs() []*serverProc {
	ps := append([]*serverProc(nil), g.nodes...)
	if g.redis != nil {
		ps = append(ps, g.redis)
	}
	return ps
}

func (g *serverGroup) alive() bool {
	for _, p := range g.procs() {
		if !p.alive() {
			return false
		}
	}
	return true
}

// deadLog names the log of a process that exited, for the step's status.
func (g *serverGroup) deadLog() string {
	for _, p := range g.procs() {
		if !p.alive() {
			return p.log
		}
	}
	return g.nodes[0].log
}

// stop stops the nodes first, then Redis, so that no node logs a lost Redis
// on its way out.
func (g *serverGroup) stop() {
	for _, p := range g.nodes {
		p.stop()
	}
	if g.redis != nil {
		g.redis.stop()
	}
}

// sample sums the samples of every process of the group (the nodes and
// redis-server: what the cluster costs on the box), and returns Redis's own.
func (g *serverGroup) sample() (sum, redis procSample) {
	sum.at = time.Now()
	for _, p := range g.procs() {
		s, err := sampleProc(p.pid)
		if err != nil {
			continue
		}
		sum.cpuTicks += s.cpuTicks
		sum.rss += s.rss
		sum.threads += s.threads
		sum.majflt += s.majflt
		if p == g.redis {
			redis = s
		}
	}
	redis.at = sum.at
	return sum, redis
}

// startGroup starts the servers of one step: one process, or, for a
// cluster kind, a redis-server and the nodes pointing at it.
func startGroup(ctx context.Context, cfg *Config, kind, logBase string) (*serverGroup, error) {
	n, cluster := ClusterNodes(kind)
	if !cluster {
		p, err := startServer(ctx, cfg, kind, logBase+".log")
		if err != nil {
			return nil, err
		}
		return &serverGroup{nodes: []*serverProc{p}}, nil
	}
	g := &serverGroup{}
	var err error
	if g.redis, err = startRedis(ctx, cfg, logBase+"-redis"); err != nil {
		return nil, err
	}
	url := "redis://" + g.redis.ingest + "/0"
	for i := range n {
		p, err := startServer(ctx, cfg, kind, fmt.Sprintf("%s-node%d.log", logBase, i),
			"REDIS_URL="+url, fmt.Sprintf("NODE_ID=bench-%d", i))
		if err != nil {
			g.stop()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		g.nodes = append(g.nodes, p)
	}
	return g, nil
}

// startRedis runs a throwaway redis-server (no RDB, no AOF, its own folder)
// on a free loopback port, pinned like the servers, and waits for PONG. Its
// address is in ingest.
func startRedis(ctx context.Context, cfg *Config, dir string) (*serverProc, error) {
	bin := cfg.RedisBinary
	if bin == "" {
		bin = "redis-server"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	// The port is free when looked up and taken by redis-server a moment
	// later; a lost race shows as an early exit and gets another port.
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "redis.log")
		cmd := pinned(cfg, exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", logPath))
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("redis-server: %w (scripts/ensure-redis.sh installs it)", err)
		}
		s := &serverProc{kind: "redis", cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), log: logPath,
			ingest: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		go func() {
			cmd.Wait()
			close(s.exited)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if redisPing(s.ingest) == nil {
				return s, nil
			}
			if !s.alive() {
				lastErr = fmt.Errorf("redis-server exited at start on port %d (see %s)", port, logPath)
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				s.stop()
				return nil, fmt.Errorf("redis-server: no PONG on port %d within 10s (see %s)", port, logPath)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// redisPing sends an inline PING and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
