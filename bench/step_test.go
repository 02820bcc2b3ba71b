package bench

import (
	"slices"
	"testing"
	"time"
)

func TestOverlaysPerMatch(t *testing.T) {
	for _, tc := range []struct {
		overlays, matches int
		want              []int
	}{
		{10, 1, []int{10}},
		{10, 3, []int{4, 3, 3}},
		{2000, 10, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{5, 5, []int{1, 1, 1, 1, 1}},
	} {
		if got := overlaysPerMatch(tc.overlays, tc.matches); !slices.Equal(got, tc.want) {
			t.Errorf("overlaysPerMatch(%d, %d) = %v, want %v", tc.overlays, tc.matches, got, tc.want)
		}
	}
}

func TestNewStepResult(t *testing.T) {
	cfg := &Config{ServerCPUN: 1, HarnessCPUN: 2}
	for _, tc := range []struct {
		kind, name string
		st         Step
		server     string
		status     string
	}{
		{KindGo, KindGo, Step{Matches: 10, Overlays: 2000}, KindGo, "ok"},
		{KindGo, KindGoUnpinned, Step{Matches: 1, Overlays: 1}, KindGoUnpinned, "ok"},
		{KindFloor, "capacity-floor", Step{Kind: StepStorm, Matches: 2, Overlays: 10}, KindFloor, "ok"},
		{KindGo, KindGo, Step{Matches: 0, Overlays: 10}, KindGo, "bad step"},
		{KindGo, KindGo, Step{Matches: 5, Overlays: 4}, KindGo, "bad step"},
	} {
		r := newStepResult(cfg, tc.kind, tc.name, tc.st)
		if r.Server != tc.server || r.Status != tc.status || r.Step() != tc.st || r.ServerCPUs != 1 || r.HarnessCPUs != 2 {
			t.Errorf("newStepResult(%s, %s, %v) = server %s, status %q, step %v, CPUs %d/%d", tc.kind, tc.name, tc.st, r.Server, r.Status, r.Step(), r.ServerCPUs, r.HarnessCPUs)
		}
	}
}

func TestConnectStatus(t *testing.T) {
	deadLog := func() string { return "x.log" }
	for _, tc := range []struct {
		name               string
		status             string
		interrupted, alive bool
		connected, total   int64
		want               string
	}{
		{"all in", "ok", false, true, 100, 100, "ok"},
		{"missing", "ok", false, true, 98, 100, "only 98 of 100 overlays logged on"},
		{"interrupted wins", "ok", true, false, 10, 100, "interrupted"},
		{"server gone", "ok", false, false, 100, 100, "server exited while clients connected (see x.log)"},
		{"RSS abort kept", "aborted: server RSS 5000 MB over the limit", false, true, 10, 100, "aborted: server RSS 5000 MB over the limit"},
	} {
		if got := connectStatus(tc.status, tc.interrupted, tc.alive, deadLog, tc.connected, tc.total); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestConnectLimit(t *testing.T) {
	cfg := &Config{RampRate: 500, ConnectTimeout: 20 * time.Second}
	for _, tc := range []struct {
		tasks int
		storm bool
		want  time.Duration
	}{
		{2000, false, 8*time.Second + 30*time.Second + 20*time.Second},
		{5000, false, 20*time.Second + 30*time.Second + 20*time.Second},
		{10000, true, 180 * time.Second},
	} {
		if got := connectLimit(cfg, tc.tasks, tc.storm); got != tc.want {
			t.Errorf("connectLimit(%d, storm %v) = %s, want %s", tc.tasks, tc.storm, got, tc.want)
		}
	}
	if got := connectLimit(&Config{RampRate: 500, ConnectTimeout: time.Minute}, 10, true); got != 3*time.Minute {
		t.Errorf("storm with a 1 min connect timeout: %s, want 3m", got)
	}
}

func TestWindowStatus(t *testing.T) {
	ok := Result{Status: "ok", WindowSeconds: 20, DeliveredPct: 99.6}
	low := ok
	low.DeliveredPct = 99.0
	aborted := low
	aborted.Aborted, aborted.Status = true, "interrupted"
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{ok, "ok"},
		{low, underStatus(99.0)},
		{aborted, "interrupted"},
	} {
		if got := windowStatus(tc.r); got != tc.want {
			t.Errorf("windowStatus(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestDeliveryFigures(t *testing.T) {
	at := time.Unix(1000, 0)
	// Two matches of 2 overlays; the server sent 100 and 50 in 10 s. Match
	// 0's overlays got 100 and 101 (an edge send), match 1's 50 and 40.
	t0 := &snapshot{at: at, slots: []int64{0, 0}, probeMax: []int64{0, 0}, serverSends: []int64{10, 20},
		overlays: []overlayCount{{0, 5}, {1, 0}, {0, 5}, {1, 0}}}
	t1 := &snapshot{at: at.Add(10 * time.Second), slots: []int64{120, 60}, probeMax: []int64{100, 50}, serverSends: []int64{110, 70},
		overlays: []overlayCount{{0, 105}, {1, 50}, {0, 106}, {1, 40}}}
	var res Result
	deliveryFigures(&res, t0, t1, []int{2, 2})
	if res.OwedFrom != OwedFromServer || res.SendsPerMatchPerSec != 7.5 || res.ExpectedPerSec != 30 {
		t.Fatalf("owed from %s, %v sends/match/s, %v expected/s; want server, 7.5, 30", res.OwedFrom, res.SendsPerMatchPerSec, res.ExpectedPerSec)
	}
	// Match 0: 100 + 101 capped at 200; match 1: 50 + 40.
	if res.DeliveredPerSec != 29 || res.FramesOverOwed != 1 {
		t.Errorf("delivered %v/s, over %d; want 29, 1", res.DeliveredPerSec, res.FramesOverOwed)
	}
	// Without the server's counts: the slot estimate, which here asks for
	// more than the server sent.
	t0.serverSends, t1.serverSends = nil, nil
	res = Result{}
	deliveryFigures(&res, t0, t1, []int{2, 2})
	if res.OwedFrom != OwedFromEstimate || res.SendsPerMatchPerSec != 9 || res.DeliveredPct >= 100*29.0/30 {
		t.Errorf("estimate: owed from %s, %v sends/match/s, %.2f %% delivered", res.OwedFrom, res.SendsPerMatchPerSec, res.DeliveredPct)
	}
}
