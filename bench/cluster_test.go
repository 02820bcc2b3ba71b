package bench

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
)

func TestClusterNodes(t *testing.T) {
	for _, tc := range []struct {
		kind string
		n    int
		ok   bool
	}{
		{"cluster3", 3, true},
		{"cluster1", 1, true},
		{"cluster16", 16, true},
		{"cluster17", 0, false},
		{"cluster0", 0, false},
		{"cluster-1", 0, false},
		{"cluster+3", 0, false},
		{"cluster", 0, false},
		{"go", 0, false},
		{"Cluster3", 0, false},
	} {
		n, ok := ClusterNodes(tc.kind)
		if n != tc.n || ok != tc.ok {
			t.Errorf("ClusterNodes(%q) = %d, %v; want %d, %v", tc.kind, n, ok, tc.n, tc.ok)
		}
	}
	if k := ClusterKind(3); k != "cluster3" || !IsCluster(k) {
		t.Errorf("ClusterKind(3) = %q", k)
	}
}

func TestWithCluster(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		n    int
		want []string
	}{
		{[]string{KindGo, KindFloor}, 0, []string{KindGo, KindFloor}},
		{[]string{KindGo, KindFloor}, 3, []string{KindGo, KindFloor, "cluster3"}},
		{[]string{KindFloor}, 3, []string{KindGo, KindFloor, "cluster3"}},
		{[]string{KindGo, "cluster3"}, 3, []string{KindGo, "cluster3"}},
		{[]string{KindGo}, -1, nil},
		{[]string{KindGo}, 17, nil},
	} {
		got, err := WithCluster(tc.in, tc.n)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("WithCluster(%v, %d) = %v, %v; want %v", tc.in, tc.n, got, err, tc.want)
		}
	}
}

// TestNodeFor: overlays i = 0, 1, 2, … go to nodes 0, 1, 2, 0, …; one
// server takes all.
func TestNodeFor(t *testing.T) {
	var got []int
	for i := range 7 {
		got = append(got, nodeFor(i, 3))
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("nodeFor(i, 3) = %v, want %v", got, want)
	}
	for _, n := range []int{0, 1} {
		if g := nodeFor(5, n); g != 0 {
			t.Errorf("nodeFor(5, %d) = %d, want 0", n, g)
		}
	}
}

func TestQuantileMs(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct{ q, want float64 }{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantileMs(d, tc.q); got != tc.want {
			t.Errorf("quantileMs(1…100 ms, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantileMs(nil, 0.99); got != 0 {
		t.Errorf("quantileMs(nil) = %v", got)
	}
}

// TestClusterCostReport: the cluster section puts the cluster beside the
// one node of the same step and states the cost of crossing Redis.
func TestClusterCostReport(t *testing.T) {
	one := measured(KindGo, StepRamp, 10, 1000, 99.9, 120, 0.30, 10000, 10)
	cl := measured("cluster3", StepRamp, 10, 1000, 99.8, 135, 0.45, 10000, 12)
	cl.Nodes, cl.RedisCores, cl.RedisCPUPerMsgUs = 3, 0.05, 5
	cl.LocalSamples, cl.LocalP99ms, cl.RemoteSamples, cl.RemoteP99ms = 40, 118, 80, 136
	floor := measured(KindFloor, StepRamp, 10, 1000, 100, 105, 0.2, 10000, 8)
	failed := Result{Server: "cluster3", Matches: 10, Overlays: 5000, Status: "server: redis-server: not found"}
	oneBig := measured(KindGo, StepRamp, 10, 5000, 99, 150, 1, 50000, 10)

	results := []Result{one, floor, cl, oneBig, failed}
	cs := Compare(results, "cluster3", KindGo)
	if len(cs) != 2 {
		t.Fatalf("%d comparisons, want 2", len(cs))
	}
	rc := ClusterCost(cs[0])
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !rc.HasP99Delta || !near(rc.P99Delta, 15) || !rc.HasCrossDelta || !near(rc.CrossDelta, 18) ||
		!rc.HasCPU || !near(rc.CPUDeltaUs, 15) || !near(rc.CPURatio, 1.5) || rc.RedisUs != 5 {
		t.Errorf("cost = %+v", rc)
	}
	want := "10x1000: p99 +18 ms through Redis (other nodes' probes against node 0's); p99 +15 ms against one node; " +
		"CPU +15.0 µs per delivered match_data against one node (×1.50); redis-server itself 5.0 µs per delivered match_data (0.05 cores)."
	if s := rc.Sentence(); s != want {
		t.Errorf("sentence:\n got %s\nwant %s", s, want)
	}
	if rc := ClusterCost(cs[1]); rc.HasCPU || rc.HasP99Delta || rc.HasCrossDelta {
		t.Errorf("failed step has a cost: %+v", rc)
	}

	md := (&Report{Results: results}).Markdown("x.svg")
	for _, s := range []string{
		"## cluster3: 3 nodes on Redis beside one node",
		"| 10x1000 | 99.8% / 99.9% (×1.00) | 135 / 120 (×1.12) (Δ +15) | 118 / 136 (Δ +18) | 45.0 / 30.0 (×1.50) (Δ +15.0) | 0.05, 5.0 |",
		"| 10x5000 | — / 99.0% | — / 150 | — | — / 20.0 | — |",
		"**Cost of a message crossing Redis** (cluster3 against one node):",
		"- " + want,
		"**clusterN**",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q:\n%s", s, md)
		}
	}
	if strings.Count(md, "- 10x5000:") != 0 {
		t.Errorf("report states a cost for the failed step:\n%s", md)
	}
	if Chart(&Report{Results: results}) == "" {
		t.Error("no chart")
	}
}

// TestClusterSmoke runs a real three-node cluster step: redis-server and
// three built spectra-server nodes, one match observed on node 0, overlays
// and probes spread over the nodes, a short window. With two thirds of the
// overlays on nodes 1 and 2, near-full delivery means match_data crossed
// Redis; the probes there give latency samples of their own.
func TestClusterSmoke(t *testing.T) {
	redis := testenv.NeedTool(t, "redis-server")
	cfg, src := smokeStep(t, 6)
	cfg.RedisBinary = redis
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res := runStep(ctx, cfg, []*replaySource{src}, "cluster3", Step{Matches: 1, Overlays: 12})
	t.Logf("%s (in %s)", res.summary(), time.Since(start).Round(time.Millisecond))
	if !res.Measured() || res.Status != "ok" {
		t.Fatalf("status %q, first error %q (logs in %s)", res.Status, res.FirstError, cfg.LogDir)
	}
	if res.Nodes != 3 || res.Connected != 12 || res.Probes != 6 {
		t.Errorf("nodes %d, connected %d, probes %d; want 3, 12, 6", res.Nodes, res.Connected, res.Probes)
	}
	if res.DeliveredPct < 95 {
		t.Errorf("delivered %.1f%%: the overlays of nodes 1 and 2 do not get the match through Redis", res.DeliveredPct)
	}
	if res.OwedFrom != OwedFromServer {
		t.Errorf("owed from %q: the owner node's per-match send counts were not read", res.OwedFrom)
	}
	if res.LocalSamples == 0 || res.RemoteSamples == 0 {
		t.Errorf("latency samples: node 0 %d, other nodes %d; want both", res.LocalSamples, res.RemoteSamples)
	}
	// redis-server carries the events and the match_data: it did work.
	if res.RedisCores <= 0 || res.ServerCores <= res.RedisCores {
		t.Errorf("redis-server %.3f cores, all processes %.3f cores", res.RedisCores, res.ServerCores)
	}
	if res.Errors != 0 || res.InvalidJSON != 0 || res.ConnectFails != 0 {
		t.Errorf("errors %d, invalid JSON %d, connect failures %d (first: %q)", res.Errors, res.InvalidJSON, res.ConnectFails, res.FirstError)
	}
}

// smokeStep builds spectra-server and loads bomb_regular for a short real
// step: 3 s window at speed 20, probes probes per match, logs in a
// temporary folder.
func smokeStep(t *testing.T, probes int) (*Config, *replaySource) {
	t.Helper()
	root := testenv.Root(t)
	dir := t.TempDir()
	bin := buildServer(t, root, dir)
	src, err := loadReplay(testenv.Replay(t, "bomb_regular"))
	if err != nil {
		t.Fatal(err)
	}
	return &Config{
		Speed: 20, RampRate: 200, Duration: 3 * time.Second, Settle: 500 * time.Millisecond,
		Probes: probes, MarkerEvery: 150 * time.Millisecond, Readers: 1, Dialers: 4, StormDialers: 4,
		Deflate: true, MaxServerRSS: 2 << 30, ConnectTimeout: 5 * time.Second,
		WorkDir: root, BaselineDir: filepath.Join(root, "bench", "baseline"),
		GoBinary: bin, LogDir: dir,
	}, src
}

// buildServer builds cmd/spectra-server of the module at root into dir
// and returns the binary's path.
func buildServer(t *testing.T, root, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "spectra-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spectra-server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
