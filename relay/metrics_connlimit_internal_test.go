package relay

import (
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"spectra-relay/internal/connlimit"
	"spectra-relay/internal/testenv"
)

// TestConnLimitMetrics: the limiter's counters are in the relay's
// registry (read in-process, wherever /metrics is served).
func TestConnLimitMetrics(t *testing.T) {
	lim := connlimit.New(connlimit.Config{MaxConnsPerIP: 1, HandshakeRate: 1, HandshakeBurst: 1})
	ts := newTServer(t, func(c *Config) { c.ConnLimit = lim })
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: lim.Handler(ts.srv.OutputHandler()), ConnContext: lim.ConnContext}
	go hs.Serve(lim.Listen(inner))
	t.Cleanup(func() { hs.Close() })
	base := "http://" + inner.Addr().String()

	// 127.0.0.2's one slot taken, a second connection from it is refused.
	// A dial gives nil when it saw the reset itself: the refusal (accept,
	// then RST) can come before Go reads the outcome of its non-blocking
	// connect.
	from2 := func() net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		if err != nil {
			testenv.Missing(t, "dialing from 127.0.0.2: %v", err)
		}
		return c
	}
	held := from2()
	if held == nil {
		t.Fatal("the first connection from 127.0.0.2 was reset")
	}
	testenv.WaitFor(t, 5*time.Second, "the held connection counted", func() bool { return lim.Stats().Open == 1 })
	extra := from2()
	testenv.WaitFor(t, 5*time.Second, "the second connection refused", func() bool {
		return lim.Stats().Refused[connlimit.ReasonMaxConnsPerIP] == 1
	})
	if extra != nil {
		extra.Close()
	}
	held.Close()
	testenv.WaitFor(t, 5*time.Second, "the slot back", func() bool { return lim.Stats().Open == 0 })
	// Burst 1: the second handshake of an address is refused. A client
	// without a connection pool, so that nothing holds a connection after.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, want := range []int{200, 503} {
		// 127.0.0.1 has one slot too: the last connection has to be gone.
		testenv.WaitFor(t, 5*time.Second, "no connection open", func() bool { return lim.Stats().Open == 0 })
		resp, err := client.Get(base + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("handshake: %d, want %d", resp.StatusCode, want)
		}
	}

	fams, err := ts.srv.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, lp := range m.GetLabel() {
				key += "/" + lp.GetValue()
			}
			got[key] = value(m)
		}
	}
	for k, want := range map[string]float64{
		"spectra_conn_refused_total/max_conns_per_ip": 1,
		"spectra_conn_refused_total/handshake_rate":   1,
		"spectra_conn_refused_total/max_conns":        0,
		"spectra_conn_limit_addresses/handshakes":     1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if _, ok := got["spectra_conns_open"]; !ok {
		t.Error("spectra_conns_open missing")
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}
