package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// tlsPair names the key and certificate files of a TLS server started for
// one step: next to its log, fresh for the step, so spectra-server generates
// its self-signed pair there at start.
func tlsPair(logPath string) (key, cert string) {
	dir := strings.TrimSuffix(logPath, ".log") + "-tls"
	return dir + "/server.key", dir + "/server.crt"
}

// clientTLS is the harness's TLS configuration for a server whose
// certificate is at certPath: that certificate is the only root it trusts.
func clientTLS(certPath string) (*tls.Config, error) {
	pem, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server certificate %s: no PEM certificate in it", certPath)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(64)}, nil
}

// dialMaybeTLS connects to hostport, over TLS when cfg is not nil (the
// handshake done before it returns, within ctx).
func dialMaybeTLS(ctx context.Context, hostport string, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil || cfg == nil {
		return c, err
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// httpScheme is the scheme the harness's Socket.IO clients use.
func httpScheme(cfg *tls.Config) string {
	if cfg != nil {
		return "https://"
	}
	return "http://"
}

// maxMetricsBytes bounds what the bench reads of a /metrics page.
const maxMetricsBytes = 4 << 20

// serverGoroutines reads go_goroutines from spectra-server's /metrics on
// its admin listener (plain HTTP on loopback).
func serverGoroutines(ctx context.Context, admin string) (int, error) {
	if admin == "" || admin == "off" {
		return 0, errors.New("no admin listener")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", res.Status)
	}
	return parseGoroutines(bufio.NewScanner(&limitReader{r: res.Body, n: maxMetricsBytes}))
}

// parseGoroutines finds the go_goroutines sample in Prometheus text.
func parseGoroutines(sc *bufio.Scanner) (int, error) {
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "go_goroutines ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		// Not NaN, not infinite, within an int: a count.
		if err != nil || !(f >= 0 && f < 1<<53) {
			return 0, fmt.Errorf("go_goroutines %q: not a count", v)
		}
		return int(f), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_goroutines in /metrics")
}

type limitReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("/metrics is larger than the bench reads")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
