// Over 600 lines on purpose: one suite of multi-node scenarios on one shared redis-server, built on the helpers at its top.

package relay_test

// Cluster tests (issue 9): real spectra-server binaries sharing one real
// redis-server, driven with the crash test's replay driver and checked
// against the golden checkpoints on overlays of several nodes.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spectra-relay/internal/redistest"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

// startNodes starts n cluster nodes on one Redis, each with its own
// replay folder.
// startCluster is the usual start of a cluster scenario: skipped under
// -short, redis-server, the cluster replay fixture and n nodes on it.
func startCluster(t *testing.T, n int) (*redistest.Server, *clusterReplay, []*testServer) {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds cmd/spectra-server, runs %d nodes and redis-server", n)
	}
	rs := redistest.Start(t)
	return rs, loadClusterReplay(t), startNodes(t, rs, n)
}

func startNodes(t *testing.T, rs *redistest.Server, n int) []*testServer {
	t.Helper()
	nodes := make([]*testServer, n)
	for i := range nodes {
		nodes[i] = startServer(t, serverOpts{
			replayDir: filepath.Join(t.TempDir(), "replays"),
			env:       []string{"REDIS_URL=" + rs.URL, fmt.Sprintf("NODE_ID=node%d", i)},
		})
	}
	return nodes
}

// clusterReplay is the fixture of the cluster tests with its golden file.
type clusterReplay struct {
	h      replayfile.Header
	events []replayfile.Event
	golden []goldenCheckpoint
	path   string
	next   int // next golden checkpoint
}

func loadClusterReplay(t *testing.T) *clusterReplay {
	t.Helper()
	const name = "short_3rounds"
	r := &clusterReplay{path: replayPath(t, name+".replay"), golden: loadGoldenCheckpoints(t, name)}
	var err error
	if r.h, r.events, err = replayfile.ReadFile(r.path); err != nil {
		t.Fatal(err)
	}
	return r
}

// cut is the index of the golden checkpoint labelled label.
func (r *clusterReplay) cut(t *testing.T, label string) int {
	t.Helper()
	for i, cp := range r.golden {
		if cp.Label == label {
			return i
		}
	}
	t.Fatalf("golden file has no %s checkpoint", label)
	return 0
}

// play sends events from..to through node s and checks every golden
// checkpoint on the way.
func (r *clusterReplay) play(d *crashDriver, s *testServer, from, to int) {
	for i := from; i <= to; i++ {
		d.send(s, &r.events[i])
		for r.next < len(r.golden) && r.golden[r.next].AfterEvent == i {
			d.checkpoint(r.golden[r.next])
			r.next++
		}
	}
}

func (r *clusterReplay) finished(t *testing.T) {
	t.Helper()
	if r.next != len(r.golden) {
		t.Fatalf("%d golden checkpoints not reached", len(r.golden)-r.next)
	}
}

func matchesRunning(t *testing.T, s *testServer) int {
	t.Helper()
	var st struct {
		MatchesRunning int `json:"matchesRunning"`
	}
	httpGetJSON(t, s.Extras+"/status", &st)
	return st.MatchesRunning
}

func awaitLog(t *testing.T, s *testServer, what string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(s.log.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v:\n%s", what, wait, tail(s.log.String(), 6000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricLine fails the test unless s's /metrics has the exact sample line.
func metricLine(t *testing.T, s *testServer, line string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.Admin + "/metrics") // the admin listener: no CORS, unlike do's extras
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", s.Admin, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d, %v", s.Admin, resp.StatusCode, err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("%s/metrics has no line %q", s.Admin, line)
}

func closeClients(d *crashDriver) {
	for _, c := range append([]*sioclient.Client{d.obs}, mapValues(d.aux)...) {
		c.Close()
	}
}

// TestClusterGoldenAndFailover: three nodes, the observer and its
// auxiliary clients on one, overlays on all three (one logged on before
// the match exists). Every checkpoint is golden on every overlay. Then the
// owner is killed with SIGKILL; the driver reconnects to a surviving node
// with the group secret, that node rebuilds the match from the Redis
// stream, and the remaining checkpoints are golden on overlays of both
// surviving nodes.
func TestClusterGoldenAndFailover(t *testing.T) {
	_, r, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	early := newOverlay(t, b.Output, r.h.GroupCode) // before the match exists
	// On the node that will own the match, also before it exists: it
	// listens to Redis first, then gets the owner's own sends, once.
	earlyOwner := newOverlay(t, a.Output, r.h.GroupCode)
	d := &crashDriver{t: t, replay: r.path}
	ack := d.connect(a, r.h.GroupCode, "")
	secret := ack.Reason
	late := newOverlay(t, c.Output, r.h.GroupCode)
	d.also = []*overlay{early, late, earlyOwner}

	// A second observer with the same code on another node is refused:
	// the code is live in the cluster.
	if _, ack := obsLogon(t, c.Ingest, headerLogon(t, r.path, "", "")); ack.Value {
		t.Fatalf("a second match with a live group code on another node: %+v", ack)
	}

	killAt := r.cut(t, "tech_pause_r2")
	cut := r.golden[killAt].AfterEvent
	r.play(d, a, 0, cut)
	for _, s := range nodes {
		if n := matchesRunning(t, s); n != 1 {
			t.Errorf("%s/status: matchesRunning %d, want 1 (the cluster's)", s.Extras, n)
		}
	}
	metricLine(t, a, "spectra_cluster_remote_rooms 0")
	// The owner's overlay that logged on before the match got each send
	// once: as many states as the one logged on after it, plus at most the
	// first send that one's logon snapshot stood in for.
	if e, o := earlyOwner.count(), d.ov.count(); e > o+1 {
		t.Errorf("overlay on the owner from before the match: %d match_data, the owner's later overlay %d: sent twice?", e, o)
	}
	before := r.next

	a.kill(t)
	killed := time.Now()
	closeClients(d)
	// The load balancer sends the reconnect to a surviving node.
	ack = d.connect(b, r.h.GroupCode, secret)
	took := time.Since(killed)
	if ack.Reason != "reconnected" {
		t.Fatalf("observer reconnect to a surviving node: %+v", ack)
	}
	t.Logf("failover: observer's reconnect to another node (connect, logon, rebuild from the stream, ack) took %v", took.Round(time.Millisecond))
	awaitLog(t, b, `msg="match taken over" groupCode=`+r.h.GroupCode, 5*time.Second)
	metricLine(t, b, "spectra_cluster_takeovers_total 1")
	metricLine(t, b, "spectra_cluster_owned_matches 1")
	metricLine(t, c, "spectra_cluster_remote_rooms 1")
	// The overlays that stayed connected see the rebuilt state: the last
	// golden one before the kill.
	for i, ov := range []*overlay{early, late, d.ov} {
		if diffs := ov.awaitGolden(r.golden[killAt], 5*time.Second); diffs != nil {
			t.Fatalf("overlay %d after the failover: %s", i, strings.Join(diffs, "\n"))
		}
	}
	d.also = []*overlay{early, late}
	r.play(d, b, cut+1, len(r.events)-1)
	r.finished(t)
	t.Logf("%d checkpoints before the kill and %d after it match the golden file on overlays of every node", before, len(r.golden)-before)
	for _, s := range []*testServer{b, c} {
		if n := matchesRunning(t, s); n != 1 {
			t.Errorf("%s/status after the failover: matchesRunning %d, want 1", s.Extras, n)
		}
	}
	for _, ov := range []*overlay{early, late, d.ov} {
		ov.mu.Lock()
		for _, s := range ov.states {
			if strings.Contains(string(s), secret) {
				t.Error("a match_data carries the group secret")
			}
		}
		ov.mu.Unlock()
	}
}

// TestClusterSplitBrain: the owner is paused (SIGSTOP) past its lease,
// the observer reconnects to another node, which takes the match over;
// when the old owner resumes (SIGCONT), an event reaching it over the
// observer's old connection is neither applied nor appended nor
// published, and the old owner's overlays follow the new owner.
func TestClusterSplitBrain(t *testing.T) {
	rs, r, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	d := &crashDriver{t: t, replay: r.path}
	secret := d.connect(a, r.h.GroupCode, "").Reason
	ovA := d.ov
	ovB := newOverlay(t, b.Output, r.h.GroupCode)
	d.also = []*overlay{ovB}
	at := r.cut(t, "combat_start_r1")
	cut := r.golden[at].AfterEvent
	r.play(d, a, 0, cut)

	if err := testenv.PauseProcess(a.cmd.Process); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = testenv.ResumeProcess(a.cmd.Process)
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Paused past its lease: wait until Redis has let it expire.
	leaseKey := "spectra:m:" + r.h.GroupCode + ":lease"
	for deadline := time.Now().Add(15 * time.Second); ; {
		n, err := rdb.Exists(ctx, leaseKey).Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paused owner's lease did not expire within 15s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	oldObs := d.obs
	oldAux := d.aux
	d.last = nil
	_, ackB := obsLogon(t, b.Ingest, func() map[string]any {
		p := headerLogon(t, r.path, "", "")
		p["groupSecret"] = secret
		return p
	}())
	if ackB.Reason != "reconnected" {
		t.Fatalf("takeover by the observer's reconnect: %+v", ackB)
	}
	awaitLog(t, b, `msg="match taken over" groupCode=`+r.h.GroupCode, 5*time.Second)

	streamKey := "spectra:m:" + r.h.GroupCode + ":events"
	lenBefore, err := rdb.XLen(ctx, streamKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if int(lenBefore) != d.sent {
		t.Fatalf("stream holds %d events, %d were sent", lenBefore, d.sent)
	}

	if err := testenv.ResumeProcess(a.cmd.Process); err != nil {
		t.Fatal(err)
	}
	stopped = false
	// The old observer connection still reaches A: its next event must
	// not be applied there. Whether A's overdue renewal (which fires
	// first thing after SIGCONT) or this event's fenced append tells A
	// first is a race; either way A drops the match and closes the
	// connection, which may cut the barrier short.
	p, err := r.events[cut+1].Payload("")
	if err != nil {
		t.Fatal(err)
	}
	if err := oldObs.Emit("obs_data", string(p)); err != nil {
		t.Logf("old observer connection already closed by A: %v", err)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := oldObs.Barrier(bctx); err != nil {
		t.Logf("barrier on the old connection: %v (A closed it)", err)
		// A lost connection, not a DISCONNECT: after a DISCONNECT
		// socket.io-client would not reconnect to the new owner.
		if strings.Contains(err.Error(), "io server disconnect") {
			t.Errorf("the fenced node sent the observer a DISCONNECT: %v", err)
		}
	}
	bcancel()
	awaitLog(t, a, "owned by another node now", 5*time.Second)
	metricLine(t, a, "spectra_cluster_matches_lost_total 1")
	if n, err := rdb.XLen(ctx, streamKey).Result(); err != nil || n != lenBefore {
		t.Fatalf("stream length %d after the old owner's event (err %v), want %d: the fenced owner appended", n, err, lenBefore)
	}
	// Neither node's overlays saw the old owner apply it: both still show
	// the checkpoint's state, A's now fed by B through Redis.
	for i, ov := range []*overlay{ovA, ovB} {
		if diffs := ov.awaitGolden(r.golden[at], 3*time.Second); diffs != nil {
			t.Fatalf("overlay %d after the old owner resumed: %s", i, strings.Join(diffs, "\n"))
		}
	}
	oldObs.Close()
	for _, c := range oldAux {
		c.Close()
	}
	// The match goes on through B, golden on the overlays of both nodes.
	d.connect(b, r.h.GroupCode, secret)
	d.also = []*overlay{ovA, ovB}
	r.play(d, b, cut+1, len(r.events)-1)
	r.finished(t)
	if !strings.Contains(a.log.String(), "match removed") {
		t.Errorf("old owner did not log dropping the match:\n%s", tail(a.log.String(), 4000))
	}
}

// twoNodeMatch starts redis-server and two nodes, logs the observer on to
// the first (it owns the match) and one overlay on to the second.
func twoNodeMatch(t *testing.T) (*redistest.Server, *clusterReplay, *crashDriver, []*testServer, string, *overlay) {
	t.Helper()
	rs := redistest.Start(t)
	r := loadClusterReplay(t)
	nodes := startNodes(t, rs, 2)
	d := &crashDriver{t: t, replay: r.path}
	secret := d.connect(nodes[0], r.h.GroupCode, "").Reason
	ovB := newOverlay(t, nodes[1].Output, r.h.GroupCode)
	d.also = []*overlay{ovB}
	return rs, r, d, nodes, secret, ovB
}

// failOverAndFinish kills the owner a, reconnects the observer to b with
// its secret, checks that ovB gets the golden state of checkpoint killAt
// rebuilt from the stream, and plays the rest of the replay through b.
func failOverAndFinish(t *testing.T, r *clusterReplay, d *crashDriver, a, b *testServer, secret string, ovB *overlay, killAt int, when string) {
	t.Helper()
	a.kill(t)
	closeClients(d)
	if ack := d.connect(b, r.h.GroupCode, secret); ack.Reason != "reconnected" {
		t.Fatalf("observer reconnect %s: %+v", when, ack)
	}
	if diffs := ovB.awaitGolden(r.golden[killAt], 5*time.Second); diffs != nil {
		t.Fatalf("state rebuilt from the stream %s: %s", when, strings.Join(diffs, "\n"))
	}
	d.also = []*overlay{ovB}
	r.play(d, b, r.golden[killAt].AfterEvent+1, len(r.events)-1)
	r.finished(t)
}

// TestClusterRedisRestart: Redis restarts empty mid-match. The owner
// notices, writes the match back from its replay file and says so; the
// overlays on both nodes stay golden; and a failover after the restart
// still rebuilds the full match from the restored stream.
func TestClusterRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server, runs two nodes and redis-server")
	}
	rs, r, d, nodes, secret, ovB := twoNodeMatch(t)
	a, b := nodes[0], nodes[1]
	restartAt := r.golden[r.cut(t, "score_r1")].AfterEvent
	r.play(d, a, 0, restartAt)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rs.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, a, "cluster: Redis restarted", 10*time.Second)
	awaitLog(t, a, "match restored in Redis from the replay file", 10*time.Second)
	metricLine(t, a, "spectra_cluster_restores_total 1")
	for _, s := range nodes {
		awaitLog(t, s, "cluster: Redis restarted", 10*time.Second)
	}

	killAt := r.cut(t, "spike_planted_r2")
	cut := r.golden[killAt].AfterEvent
	r.play(d, a, restartAt+1, cut)

	failOverAndFinish(t, r, d, a, b, secret, ovB, killAt, "after the Redis restart")
	for _, l := range strings.Split(a.log.String(), "\n") {
		if strings.Contains(l, "cluster:") && (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) {
			t.Logf("node A: %s", l)
		}
	}
}

// TestClusterAuxOnOtherNode: the auxiliary clients land on another node
// than the observer; their data reaches the owner through Redis, and the
// overlays on both nodes see the golden states. The overlay of the third
// node never gets more than the 10/s ceiling allows.
func TestClusterAuxOnOtherNode(t *testing.T) {
	rs, r, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	d := &crashDriver{t: t, replay: r.path, auxAt: b}
	// The owner appends every event to the stream before applying it, in
	// the order it applies them: once the stream holds every event sent,
	// the forwarded ones are applied, and the next observer event cannot
	// overtake them (the order a real client pair has no way to force).
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	d.settle = func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := rdb.XLen(context.Background(), "spectra:m:"+r.h.GroupCode+":events").Result()
			if err == nil && int(n) >= d.sent {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream holds %d of %d events sent after 5s (%v)", n, d.sent, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	d.connect(a, r.h.GroupCode, "")
	ovB := newOverlay(t, b.Output, r.h.GroupCode)
	ovC := newOverlay(t, c.Output, r.h.GroupCode)
	d.also = []*overlay{ovB, ovC}
	r.play(d, a, 0, len(r.events)-1)
	r.finished(t)
	if !strings.Contains(b.log.String(), "auxiliary client logged on for a match owned by another node") {
		t.Fatalf("the auxiliary clients did not log on to node B as remote clients:\n%s", tail(b.log.String(), 3000))
	}
	// The ceiling: at most 10 sends a second, on a node that only relays
	// what the owner sends; two seconds' window, and two for the delivery
	// jitter of a busy test machine.
	ovC.mu.Lock()
	times := append([]time.Time(nil), ovC.times...)
	ovC.mu.Unlock()
	worst := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < 2*time.Second; j++ {
			n++
		}
		worst = max(worst, n)
	}
	t.Logf("overlay on the third node: %d match_data, at most %d within two seconds", len(times), worst)
	if worst > 22 {
		t.Errorf("%d match_data within two seconds on a relaying node: the 10/s ceiling does not hold", worst)
	}
}

// TestClusterSharedExtras: every node answers the extras the same: the
// cluster's match count, the team info of a match finished on another
// node, a preview created on another node; and a game_end removes the
// match from the whole cluster.
func TestClusterSharedExtras(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server, runs three nodes and redis-server")
	}
	rs := redistest.Start(t)
	replay := replayPath(t, "short_3rounds.replay")
	nodes := startNodes(t, rs, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	logon := headerLogon(t, replay, "", "TEAMC1")
	obs, _ := obsLogon(t, a.Ingest, logon)
	obs2, _ := obsLogon(t, b.Ingest, headerLogon(t, replay, "", "TEAMC2"))
	barrier(t, obs2)
	for _, s := range nodes {
		if n := matchesRunning(t, s); n != 2 {
			t.Errorf("%s/status: matchesRunning %d, want 2", s.Extras, n)
		}
	}
	ovC := newOverlay(t, c.Output, "TEAMC1")
	obsEvent(t, obs, "Observer1#OBS", "TEAMC1", "score", map[string]any{"team_0": 1, "team_1": 0})
	obsEvent(t, obs, "Observer1#OBS", "TEAMC1", "round_info", map[string]any{"roundNumber": 2, "roundPhase": "game_end"})
	u := "/getTeamInfoForCode?groupCode=TEAMC1"
	var ans httpAnswer
	deadline := time.Now().Add(5 * time.Second)
	for {
		ans = do(t, "GET", c.Extras+u, nil, nil)
		if ans.status != 404 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := expectJSON(t, "team info on another node", ans, 200, nil)
	if d := testenv.JSONDiff(nil, "leftTeam", logon["leftTeam"], got["leftTeam"], nil, 5); d != nil || got["higherScore"] != float64(0) {
		t.Errorf("team info from node C: %v %v", d, got["higherScore"])
	}
	if expectJSON(t, "team info on the third node", do(t, "GET", b.Extras+u, nil, nil), 200, nil) == nil {
		t.Error("no team info on node B")
	}
	// The team info is stored just before the match leaves the cluster.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := matchesRunning(t, c)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after game_end: matchesRunning %d on node C, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ovC.count() == 0 {
		t.Error("the overlay on node C got no match_data of the match owned by A")
	}

	body, _ := json.Marshal(map[string]any{"key": "k", "previewCode": "CLU123", "leftTeam": logon["leftTeam"], "rightTeam": logon["rightTeam"], "toolsData": logon["toolsData"]})
	expectJSON(t, "createPreview on A", do(t, "PUT", a.Extras+"/createPreview", body, map[string]string{"Content-Type": "application/json"}), 200, map[string]any{"previewCode": "CLU123"})
	pv := expectJSON(t, "preview on C", do(t, "GET", c.Extras+"/preview/CLU123", nil, nil), 200, nil)
	if pv == nil {
		t.Fatal("no preview on node C")
	}
	expectJSON(t, "unknown preview on B", do(t, "GET", b.Extras+"/preview/NOPE12", nil, nil), 404, map[string]any{"error": "Preview not found"})
}

// TestClusterFailoverTimeFullMatch measures the failover of a whole match
// (the longest replay's observer events, all before the kill): the
// observer's reconnect to a surviving node, which rebuilds the match from
// the stream, and the state an overlay that stayed connected sees next,
// which must be the last one before the kill. (The replay's auxiliary
// clients send before the match has its id, which the driver does not
// model; the golden tests above cover them.)
func TestClusterFailoverTimeFullMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server, runs two nodes and redis-server")
	}
	const name = "bomb_overtime"
	rs := redistest.Start(t)
	path := replayPath(t, name+".replay")
	h, events, err := replayfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, rs, 2)
	a, b := nodes[0], nodes[1]
	d := &crashDriver{t: t, replay: path}
	secret := d.connect(a, h.GroupCode, "").Reason
	ovB := newOverlay(t, b.Output, h.GroupCode)
	n := 0
	for i := range events {
		if events[i].Kind() == replayfile.KindObserver && !events[i].IsGameEnd() {
			d.send(a, &events[i])
			n++
		}
	}
	barrier(t, d.obs)
	// The state before the kill: what the owner's overlay shows once it
	// stops changing, and the overlay on B shows the same.
	before := d.ov.settle(200*time.Millisecond, 500*time.Millisecond, 10*time.Second)
	if before == nil {
		t.Fatal("no state before the kill")
	}
	d.ov.mu.Lock()
	last := goldenCheckpoint{Label: "last state before the kill", Data: d.ov.states[len(d.ov.states)-1]}
	d.ov.mu.Unlock()
	if diffs := ovB.awaitGolden(last, 5*time.Second); diffs != nil {
		t.Fatalf("overlay on B before the kill: %s", strings.Join(diffs, "\n"))
	}
	ovB.mu.Lock()
	seen := len(ovB.states)
	ovB.mu.Unlock()

	a.kill(t)
	killed := time.Now()
	closeClients(d)
	if ack := d.connect(b, h.GroupCode, secret); ack.Reason != "reconnected" {
		t.Fatalf("observer reconnect: %+v", ack)
	}
	reconnect := time.Since(killed)
	deadline := time.Now().Add(5 * time.Second)
	for ovB.count() == seen {
		if time.Now().After(deadline) {
			t.Fatal("the overlay that stayed connected got no state after the failover")
		}
		time.Sleep(time.Millisecond)
	}
	firstState := time.Since(killed)
	if diffs := ovB.awaitGolden(last, 0); diffs != nil {
		t.Fatalf("first state after the failover is not the last before it: %s", strings.Join(diffs, "\n"))
	}
	t.Logf("%s: %d events rebuilt; observer reconnect with rebuild %v, first state on a connected overlay of the surviving node %v after the kill",
		name, n, reconnect.Round(time.Millisecond), firstState.Round(time.Millisecond))
}

// TestClusterRedisPause: Redis hangs (SIGSTOP) mid-match for less than a
// lease. The owner keeps applying (its own overlays stay golden), and
// when Redis answers again it writes the events the stream missed back
// from its replay file, so a failover afterwards still rebuilds the
// whole match.
func TestClusterRedisPause(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server, runs two nodes and redis-server")
	}
	rs, r, d, nodes, secret, ovB := twoNodeMatch(t)
	a, b := nodes[0], nodes[1]
	// After every auxiliary client logged on: a logon during the hang
	// finds no match id in Redis (refused, the client retries later).
	pauseAt := r.golden[r.cut(t, "combat_start_r1")].AfterEvent
	r.play(d, a, 0, pauseAt)

	if err := rs.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = rs.Resume()
		}
	}()
	// Events during the pause: the owner's overlay follows them.
	resumeAt := r.golden[r.cut(t, "score_r1")].AfterEvent
	d.also = nil
	r.play(d, a, pauseAt+1, resumeAt)
	if err := rs.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	awaitLog(t, a, "cluster: Redis unreachable", 5*time.Second)
	d.also = []*overlay{ovB}
	killAt := r.cut(t, "combat_start_r2")
	cut := r.golden[killAt].AfterEvent
	r.play(d, a, resumeAt+1, cut)
	awaitLog(t, a, "match restored in Redis from the replay file", 10*time.Second)

	failOverAndFinish(t, r, d, a, b, secret, ovB, killAt, "after the Redis pause")
}

// TestClusterFailoverRecoveredClients: the owner is killed and the
// observer and its auxiliary clients come back to the surviving node as
// the real Spectra client does, without a logon: with their Socket.IO
// sessions, which the surviving node finds in Redis; the observer's
// recovery takes the match over, and every later checkpoint is golden.
func TestClusterFailoverRecoveredClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server, runs two nodes and redis-server")
	}
	_, r, d, nodes, _, ovB := twoNodeMatch(t)
	a, b := nodes[0], nodes[1]
	killAt := r.cut(t, "tech_pause_r2")
	r.play(d, a, 0, r.golden[killAt].AfterEvent)
	a.kill(t)
	closeClients(d)
	d.recoverClients(b, r.h.GroupCode)
	awaitLog(t, b, `msg="match taken over" groupCode=`+r.h.GroupCode, 5*time.Second)
	if diffs := ovB.awaitGolden(r.golden[killAt], 5*time.Second); diffs != nil {
		t.Fatalf("state rebuilt from the stream: %s", strings.Join(diffs, "\n"))
	}
	d.also = []*overlay{ovB}
	r.play(d, b, r.golden[killAt].AfterEvent+1, len(r.events)-1)
	r.finished(t)
	metricLine(t, b, fmt.Sprintf(`spectra_ingest_recoveries_total{result="restored"} %d`, 1+len(d.aux)))
}
