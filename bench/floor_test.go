package bench

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"spectra-relay/bench/floor"
	"spectra-relay/internal/testenv"
	"spectra-relay/internal/uring"
)

// TestFloorSmoke runs the floor server in-process with the bench's own
// clients: one observer replaying a match, one probe (inflates every message
// with the shared window, parses every match_data, times latency markers)
// and one counting overlay.
// The same for floor+ (deltaflate and io_uring batches): its frames must
// decode just the same.
func TestFloorSmoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		plus bool
	}{{"floor", false}, {"floor+", true}} {
		t.Run(tc.name, func(t *testing.T) { floorSmoke(t, tc.plus) })
	}
}

func floorSmoke(t *testing.T, plus bool) {
	srv, err := floor.New(floor.Config{BaseState: testenv.Golden(t, "bomb_regular"), Plus: plus})
	if err != nil {
		t.Fatal(err)
	}
	in, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeIngest(in)
	go srv.ServeOutput(out)
	defer srv.Close()

	src, err := loadReplay(testenv.Replay(t, "bomb_regular"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	gc := groupCode(0)
	// Markers further apart than the send interval: each activating toast is
	// still active at the next send, so each gives a latency sample.
	o := &observer{src: src, groupCode: gc, matchID: src.matchID + "-" + gc, ingest: "http://" + in.Addr().String(),
		speed: 20, markerEvery: 150 * time.Millisecond, markers: &markerLog{}}
	ready := make(chan error, 1)
	go o.run(ctx, ready)
	defer o.close()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("observer: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("observer not ready")
	}

	p := &probe{match: 0, groupCode: gc, markers: o.markers, deflate: true}
	up := make(chan error, 1)
	go p.run(ctx, out.Addr().String(), 5*time.Second, up)
	if err := <-up; err != nil {
		t.Fatalf("probe: %v", err)
	}
	now := time.Now()
	p.setWindow(&window{start: now, end: now.Add(time.Hour)}, false)

	counters := &overlayCounters{}
	pool, err := newCountPool(counters, 1, out.Addr().String(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.close()
	if err := pool.dial(0, gc, true, 5*time.Second); err != nil {
		t.Fatalf("counting overlay: %v", err)
	}

	// Enough frames that the probe has decoded shared-context ones (after
	// 32 KiB of consecutive context-free frames), and a few latency samples.
	for {
		lat, _, _ := p.results()
		if p.matchData.Load() >= 8 && len(lat) >= 2 && counters.matchData.Load() >= 3 {
			break
		}
		if ctx.Err() != nil || p.failed.Load() {
			t.Fatalf("probe: %d match_data, %d latency samples, error %q; counting overlay: logged on %d, %d match_data",
				p.matchData.Load(), len(lat), p.errString(), counters.loggedOn.Load(), counters.matchData.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, d := p.invalidJSON.Load(), p.decodeFails.Load(); n != 0 || d != 0 {
		t.Fatalf("%d match_data were not valid JSON, %d frames did not inflate", n, d)
	}
	if counters.loggedOn.Load() != 1 || counters.errors.Load() != 0 {
		t.Fatalf("counting overlay: logged on %d, errors %d", counters.loggedOn.Load(), counters.errors.Load())
	}
	// Shared-context frames are deltas: far smaller than the ~4 KB a whole
	// state compresses to on its own.
	if per := float64(p.matchWire.Load()) / float64(p.matchData.Load()); per > 3000 {
		t.Fatalf("%.0f wire bytes per match_data: the shared context is not used", per)
	}
	if plus {
		if r, err := uring.New(8); err != nil {
			t.Logf("no io_uring here (%v): floor+ wrote with write(2)", err)
		} else if r.Close(); srv.RingSends() == 0 {
			t.Error("floor+ sent nothing through io_uring")
		}
	}
	// The floor counts its own sends for the bench: at least what the probe
	// got, less the frame it was given at logon.
	var page bytes.Buffer
	if err := srv.WriteMetrics(&page); err != nil {
		t.Fatal(err)
	}
	sends, err := parseMatchSends(bufio.NewScanner(&page))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.matchData.Load(); sends[gc] < got-1 {
		t.Errorf("the floor counted %d sends of %s, the probe received %d", sends[gc], gc, got)
	}
	lat, _, _ := p.results()
	t.Logf("probe: %d match_data, %.0f B each on the wire, latencies %v", p.matchData.Load(),
		float64(p.matchWire.Load())/float64(p.matchData.Load()), lat)
}
