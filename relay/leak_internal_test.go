package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/socketio/sioclient"
)

// openFDs counts this process's open descriptors: both ends of every
// loopback connection of the test live here.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("counting descriptors: %v", err)
		}
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// liveGoroutines counts goroutines, leaving out idle engine.io pool workers:
// they are reused by the next task and exit on their own after
// workerIdle (10 s), so they are capacity, not leaks.
func liveGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("[select")) && bytes.Contains(g, []byte("engineio.(*workerPool).worker")) &&
			!bytes.Contains(g, []byte("engineio.(*Socket)")) {
			continue
		}
		n++
	}
	return n
}

// leakTransports are the three ways a client reaches the server.
// An upgrade cycle mostly waits: a poll the client sends while the probe
// is under way is held up to the server's upgradeGrace (100 ms), so that
// leg runs with more clients at once.
var leakTransports = []struct {
	name    string
	opts    eioclient.Options
	workers int
}{
	{"polling", eioclient.Options{Transports: []string{eioclient.TransportPolling}, NoUpgrade: true}, 8},
	{"websocket", eioclient.Options{Transports: []string{eioclient.TransportWebSocket}}, 8},
	{"upgrade", eioclient.Options{Transports: []string{eioclient.TransportPolling, eioclient.TransportWebSocket}}, 48},
}

// TestNoLeakAfterCycles runs connect → logon → disconnect cycles over each
// transport against an in-process relay, half of them overlays logging on
// to a live match on the output port, half auxiliary clients logging on to
// it on the ingest port, with some concurrency. Afterwards goroutines and
// open descriptors return to their idle level. 5 000 cycles per transport,
// under -race too (make test runs it so).
func TestNoLeakAfterCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 15 000 connections")
	}
	const cycles = 5000
	const slack = 3 // a goroutine or descriptor the runtime may still be closing
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("LEAK01", tKey, tVersion))
	sendObs(t, obs, r, "LEAK01", afterMatchStart())
	matchID := r.matchID()

	// The clients' own HTTP pool, so its idle keep-alive connections can be
	// closed before counting.
	tr := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	cycle := func(i int, opts eioclient.Options) error {
		ctx, cancel := context.WithTimeout(context.Background(), tTimeout)
		defer cancel()
		opts.HTTPClient = hc
		c := sioclient.New(sioclient.Options{EIO: opts, Logger: quiet})
		acked := make(chan struct{}, 1)
		for _, ev := range []string{"logon_success", "aux_logon_ack"} {
			c.On(ev, func([]json.RawMessage) { acked <- struct{}{} })
		}
		url, event, payload := ts.output, "logon", `{"groupCode":"LEAK01"}`
		if i%2 == 1 {
			url, event = ts.ingest, "aux_logon"
			payload = fmt.Sprintf(`{"type":"aux_authenticate","clientVersion":%q,"name":"Leak#%d","matchId":%q,"playerId":"leak-%d"}`,
				tVersion, i, matchID, i)
		}
		if err := c.Connect(ctx, url); err != nil {
			return fmt.Errorf("cycle %d: connect: %w", i, err)
		}
		defer c.Close()
		if err := c.Emit(event, payload); err != nil {
			return fmt.Errorf("cycle %d: %s: %w", i, event, err)
		}
		select {
		case <-acked:
		case <-ctx.Done():
			return fmt.Errorf("cycle %d: no answer to %s", i, event)
		}
		if len(opts.Transports) == 2 {
			select {
			case <-c.EIO().Upgraded():
			case <-ctx.Done():
				return fmt.Errorf("cycle %d: no upgrade", i)
			}
		}
		return nil
	}
	settle := func(what string, fds0, g0 int) {
		t.Helper()
		tr.CloseIdleConnections()
		var fds, g int
		if !testenv.Poll(15*time.Second, func() bool {
			fds, g = openFDs(t), liveGoroutines()
			return fds <= fds0+slack && g <= g0+slack
		}) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d descriptors (idle %d), %d goroutines (idle %d) after 15 s\n%s",
				what, fds, fds0, g, g0, buf[:runtime.Stack(buf, true)])
		}
		t.Logf("%s: %d descriptors (idle %d), %d goroutines (idle %d)", what, fds, fds0, g, g0)
	}

	// Warm up: lazily started machinery (pool workers, timers) is part of
	// the idle level, not a leak.
	for _, lt := range leakTransports {
		for i := range 4 {
			if err := cycle(i, lt.opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr.CloseIdleConnections()
	// The idle level: the counts once they stop moving (the closed
	// connections' goroutines end within a few ms).
	fds0, g0 := openFDs(t), liveGoroutines()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond) // a quiet period: the counts must stop moving
		fds, g := openFDs(t), liveGoroutines()
		if fds == fds0 && g == g0 {
			break
		}
		fds0, g0 = fds, g
	}

	for _, lt := range leakTransports {
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, lt.workers)
		for range lt.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= cycles {
						return
					}
					if err := cycle(i, lt.opts); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("%s: %d cycles in %v", lt.name, cycles, time.Since(start).Round(time.Millisecond))
		settle(lt.name, fds0, g0)
	}
	select {
	case <-obs.Done():
		t.Fatalf("the observer was disconnected: %v", obs.Err())
	default:
	}
}
