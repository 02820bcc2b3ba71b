package relay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/testenv"
	"spectra-relay/socketio/sioclient"
)

type hAnswer struct {
	status int
	body   []byte
}

func hDo(t testing.TB, method, url, body string) hAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hAnswer{resp.StatusCode, b}
}

// TestBodyTimeoutIngestAndExtras holds 150 polling POSTs to valid sids on
// the ingest port and 150 PUT /createPreview on the extras port whose
// bodies never finish, against a relay with 1 s body deadlines. Every one is
// closed on time while an observer on polling and an extras client keep
// being served.
func TestBodyTimeoutIngestAndExtras(t *testing.T) {
	const (
		perPort = 150
		timeout = time.Second
		limit   = timeout + 4*time.Second
	)
	ts := newTServer(t, func(c *Config) {
		c.BodyTimeout = timeout
		c.Engine.BodyTimeout = timeout
	})
	ingestAddr := strings.TrimPrefix(ts.ingest, "http://")
	extrasAddr := strings.TrimPrefix(ts.extras, "http://")

	normal := sioclient.New(sioclient.Options{
		EIO:    eioclient.Options{Transports: []string{eioclient.TransportPolling}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := normal.Connect(ctxT(t), ts.ingest); err != nil {
		t.Fatal(err)
	}
	defer normal.Close()

	sids := make([]string, perPort)
	for i := range sids {
		a := hDo(t, "GET", ts.ingest+"/socket.io/?EIO=4&transport=polling", "")
		if a.status != 200 || len(a.body) < 10 {
			t.Fatalf("handshake %d %q", a.status, a.body)
		}
		body := string(a.body)
		i0 := strings.Index(body, `"sid":"`) + len(`"sid":"`)
		sids[i] = body[i0 : i0+strings.IndexByte(body[i0:], '"')]
	}
	var held testenv.SlowBodies
	for _, sid := range sids {
		held.Go(ingestAddr, "POST", "/socket.io/?EIO=4&transport=polling&sid="+sid, "application/json", 1000, "40{\"to\":1}", limit)
		held.Go(extrasAddr, "PUT", "/createPreview", "application/json", 5000, `{"key":`, limit)
	}
	rounds := held.HoldWhile(func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := normal.Barrier(ctx)
		cancel()
		if err != nil {
			t.Fatalf("polling client round trip %d: %v", i, err)
		}
		if a := hDo(t, "GET", ts.extras+"/status", ""); a.status != http.StatusOK {
			t.Fatalf("extras /status: %d %s", a.status, a.body)
		}
	})
	minT, maxT := held.Check(t, timeout)
	if rounds < 2 {
		t.Errorf("only %d normal round trips while the slow bodies were held", rounds)
	}
	t.Logf("%d slow bodies closed after %v..%v; %d normal round trips meanwhile", 2*perPort, minT, maxT, rounds)
	// A complete preview still goes through on the same server.
	if a := hDo(t, "PUT", ts.extras+"/createPreview", `{"key":"`+tKey+`"}`); a.status == http.StatusRequestTimeout || a.status >= 500 {
		t.Errorf("complete createPreview after the hold: %d %s", a.status, a.body)
	}
}
