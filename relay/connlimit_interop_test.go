package relay_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replayplayer"
)

// Issue 21, connection limits: the flood, the overlay beside it.
const (
	floodConns   = 5000 // connections from the attacker's address beyond its cap
	floodPerIP   = 64   // MAX_CONNS_PER_IP of the server under test
	floodWorkers = 32   // dials under way at once
	// The flood goes on past floodConns for at least floodMin while
	// nothing is accepted, so that the overlay's rate is measured over
	// tens of send intervals; never more than floodMax connections.
	floodMin = 5 * time.Second
	floodMax = 50000
	// A connection still open this long after its dial was accepted by the
	// server: a refused one is reset within a millisecond or so.
	acceptedAfter = time.Second
)

// dialFromAddr dials addr from the loopback address src.
func dialFromAddr(ctx context.Context, src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.DialContext(ctx, "tcp", addr)
}

// floodResult is what the attacker saw.
type floodResult struct {
	accepted, refused, failed int
	took                      time.Duration
}

func (r floodResult) total() int {
	return r.accepted + r.refused + r.failed
}

// flood opens n connections (more, see floodMin) from src, spread over
// targets, floodWorkers at a time, and sorts each into refused (the server closed it) or accepted
// (still open acceptedAfter its dial); accepted ones stay open until the
// test ends, as an attacker would hold them.
func flood(t *testing.T, src string, targets []string, n int) floodResult {
	t.Helper()
	var accepted, refused, failed atomic.Int64
	var held sync.Mutex
	var keep []net.Conn
	t.Cleanup(func() {
		held.Lock()
		defer held.Unlock()
		for _, c := range keep {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	jobs := make(chan int)
	var dialers, readers sync.WaitGroup
	for range floodWorkers {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := range jobs {
				c, err := dialFromAddr(ctx, src, targets[i%len(targets)])
				if errors.Is(err, syscall.ECONNRESET) {
					// Reset between the handshake and connect's return:
					// refused as it was accepted.
					refused.Add(1)
					continue
				}
				if err != nil {
					if failed.Add(1) <= 3 {
						t.Logf("dial %d: %v", i, err)
					}
					continue
				}
				readers.Add(1)
				go func() { // one reader a connection: the dialers never wait
					defer readers.Done()
					_ = c.SetReadDeadline(time.Now().Add(acceptedAfter))
					var b [1]byte
					_, err := c.Read(b[:])
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						accepted.Add(1)
						held.Lock()
						keep = append(keep, c)
						held.Unlock()
						return
					}
					refused.Add(1)
					c.Close()
				}()
			}
		}()
	}
	for i := 0; i < floodMax && (i < n || time.Since(start) < floodMin && accepted.Load() == 0); i++ {
		jobs <- i
	}
	close(jobs)
	dialers.Wait()
	readers.Wait()
	return floodResult{int(accepted.Load()), int(refused.Load()), int(failed.Load()), time.Since(start)}
}

// feedObserver sends the replay's observer events to the match, one every
// pace, until stop is closed or the replay ends.
func feedObserver(t *testing.T, ingest, replay string, pace time.Duration, stop <-chan struct{}) (done <-chan struct{}, groupCode string) {
	t.Helper()
	src, err := replayplayer.Load(replay)
	if err != nil {
		t.Fatal(err)
	}
	obs, ack := obsLogon(t, ingest, headerLogon(t, replay, testAuthKey, ""))
	if !ack.Value {
		t.Fatalf("observer logon refused: %+v", ack)
	}
	groupCode = src.Header.GroupCode
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for i := range src.Events {
			e := &src.Events[i]
			if e.Kind() != replayfile.KindObserver {
				continue
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p, err := e.Payload(groupCode)
			if err != nil {
				t.Errorf("event %d: %v", i, err)
				return
			}
			if err := obs.Emit("obs_data", string(p)); err != nil {
				t.Errorf("observer: %v", err)
				return
			}
		}
	}()
	return ch, groupCode
}

// arrivals counts o's match_data received in [from, to).
func (o *overlay) arrivals(from, to time.Time) (n int, maxGap time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev := from
	for _, at := range o.times {
		if at.Before(from) || !at.Before(to) {
			continue
		}
		n++
		maxGap = max(maxGap, at.Sub(prev))
		prev = at
	}
	return n, max(maxGap, to.Sub(prev))
}

// procFigures reads a process's RSS and CPU time (user + system) from
// /proc; ok false where there is none.
func procFigures(pid int) (rssKiB int64, cpu time.Duration, ok bool) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(l, "VmRSS:"); found {
			rssKiB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the line, in clock ticks (100 a second on Linux).
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 || rssKiB == 0 {
		return 0, 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return rssKiB, time.Duration(ut+st) * 10 * time.Millisecond, true
}

// refusalMetrics reads spectra_conn_refused_total by reason from the
// server's /metrics (the one place that knows where /metrics is served).
func refusalMetrics(t testing.TB, s *testServer) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.Admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `spectra_conn_refused_total{reason="`)
		if !ok {
			continue
		}
		reason, val, ok := strings.Cut(rest, `"} `)
		if f, err := strconv.ParseFloat(val, 64); ok && err == nil {
			out[reason] = f
		}
	}
	return out
}

// TestConnLimitFlood: 5 000 connections from one address (127.0.0.2)
// beyond its MAX_CONNS_PER_IP, spread over the three ports, are refused as
// they are accepted, while an overlay from another address (127.0.0.3)
// keeps receiving match_data once a send interval from an observer
// streaming a match, and the attacker's sessions within its cap live on.
//
// SPECTRA_FLOOD_SERVER=<binary> runs the same flood against another
// spectra-server build (the figures are logged; a build without limits
// fails the refusal checks), for the before/after comparison.
func TestConnLimitFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 5 000-connection flood (make test runs it)")
	}
	if lim := raiseFileLimit(floodConns + 1024); lim < floodConns+1024 {
		testenv.Missing(t, "RLIMIT_NOFILE is %d; the flood needs %d descriptors", lim, floodConns+1024)
	}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		c, err := dialFromAddr(context.Background(), src, probe.Addr().String())
		if err != nil {
			probe.Close()
			testenv.Missing(t, "dialing from %s (Linux routes 127.0.0.0/8 to lo; elsewhere add the address): %v", src, err)
		}
		c.Close()
	}
	probe.Close()

	s := startServer(t, serverOpts{authKey: testAuthKey, bin: os.Getenv("SPECTRA_FLOOD_SERVER"),
		env: []string{"MAX_CONNS_PER_IP=" + strconv.Itoa(floodPerIP)}})
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	targets := []string{hostOf(s.Output), hostOf(s.Ingest), hostOf(s.Extras)}

	stop := make(chan struct{})
	fed, group := feedObserver(t, s.Ingest, replayPath(t, "bomb_overtime.replay"), 10*time.Millisecond, stop)
	defer func() { close(stop); <-fed }()
	ov := newOverlayOpts(t, s.Output, group, eioclient.Options{Transports: []string{"websocket"},
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}})

	// The attacker's address fills its cap with real sessions on both
	// Socket.IO ports (they answer pings and live on).
	var sessions []*eioclient.Conn
	t.Cleanup(func() {
		for _, c := range sessions {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range floodPerIP {
		url := []string{s.Output, s.Ingest}[i%2] + "/socket.io/"
		c, err := eioclient.Dial(ctx, url, eioclient.Options{Transports: []string{"websocket"},
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}})
		if err != nil {
			t.Fatalf("session %d of %d from 127.0.0.2: %v", i+1, floodPerIP, err)
		}
		sessions = append(sessions, c)
	}

	// A quiet window for the overlay's normal rate, then the flood.
	testenv.WaitFor(t, 10*time.Second, "the first match_data", func() bool { return ov.count() > 0 })
	quietFrom := time.Now()
	time.Sleep(2 * time.Second) // the window measured, not synchronisation
	floodFrom := time.Now()
	quiet, _ := ov.arrivals(quietFrom, floodFrom)
	rss0, cpu0, procOK := procFigures(s.cmd.Process.Pid)
	res := flood(t, "127.0.0.2", targets, floodConns)
	floodTo := time.Now()
	rss1, cpu1, _ := procFigures(s.cmd.Process.Pid)
	during, gap := ov.arrivals(floodFrom, floodTo)
	select {
	case <-fed:
		t.Fatal("the replay ended before the flood did: the rate was not measured over a streaming match")
	default:
	}
	quietRate := float64(quiet) / floodFrom.Sub(quietFrom).Seconds()
	rate := float64(during) / floodTo.Sub(floodFrom).Seconds()
	t.Logf("flood from 127.0.0.2 (%d sessions held first): %d connections in %s: %d accepted, %d refused, %d dials failed",
		floodPerIP, res.total(), res.took.Round(time.Millisecond), res.accepted, res.refused, res.failed)
	t.Logf("overlay on 127.0.0.3: %.1f match_data/s before, %.1f/s during the flood (%d in %s, longest gap %s)",
		quietRate, rate, during, floodTo.Sub(floodFrom).Round(time.Millisecond), gap.Round(time.Millisecond))

	if procOK {
		t.Logf("server during the flood: RSS %d → %d KiB (%+d), CPU %s (%.1f µs per connection)", rss0, rss1, rss1-rss0,
			(cpu1 - cpu0).Round(10*time.Millisecond), float64((cpu1-cpu0).Microseconds())/float64(max(res.total(), 1)))
		// A refused connection holds nothing: no goroutine, no buffer. (A
		// goroutine and read buffer each would be hundreds of MiB here.)
		if res.accepted == 0 && rss1-rss0 > 32<<10 {
			t.Errorf("the server's RSS grew by %d KiB while refusing %d connections", rss1-rss0, res.refused)
		}
	}
	if res.accepted != 0 || res.refused < floodConns || res.failed != 0 {
		t.Errorf("%d of the %d connections beyond the cap accepted, %d refused, %d dials failed", res.accepted, res.total(), res.refused, res.failed)
	}
	// One send per 100 ms interval while changes stream: about 10/s. The
	// attacker shares the machine's cores with the server here (on 2 busy
	// cores the rate measured 8.2-9.7/s during the flood, 7.9 with a server
	// without limits); the floor leaves room for that, a starved or
	// stalled overlay is far below it.
	if rate < 6 || rate < 0.7*quietRate || gap > time.Second {
		t.Errorf("overlay's match_data during the flood: %.1f/s (before: %.1f/s), longest gap %s", rate, quietRate, gap)
	}
	for i, c := range sessions {
		select {
		case <-c.Done():
			t.Fatalf("session %d within the cap ended during the flood: %v", i, c.Err())
		default:
		}
	}
	if m := refusalMetrics(t, s); m["max_conns_per_ip"] < floodConns {
		t.Errorf("spectra_conn_refused_total %v, want max_conns_per_ip >= %d", m, floodConns)
	}
	if n := strings.Count(s.log.String(), "connections refused since the last line"); n < 1 || float64(n) > res.took.Seconds()+2 {
		t.Errorf("%d refusal summaries over a %s flood: want at most one a second", n, res.took)
	}

	// Closing the held sessions gives the address its slots back.
	for _, c := range sessions {
		c.Close()
	}
	sessions = nil
	testenv.WaitFor(t, 10*time.Second, "a new session from 127.0.0.2 after its others closed", func() bool {
		c, err := eioclient.Dial(ctx, s.Output+"/socket.io/", eioclient.Options{Transports: []string{"websocket"},
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}
