package main

import (
	"bufio"
	"crypto/tls"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/tlspair"
)

// replacePair writes a fresh self-signed pair beside keyPath and certPath
// and renames it over them (what a certificate renewal does); the serial of
// the new certificate is returned.
func replacePair(t *testing.T, keyPath, certPath string) *big.Int {
	t.Helper()
	tk, tc := keyPath+".new", certPath+".new"
	if err := tlspair.WriteSelfSigned(tk, tc); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(tc, tk)
	if err != nil {
		t.Fatal(err)
	}
	if err := fillLeaf(&pair); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{tk, keyPath}, {tc, certPath}} {
		if err := os.Rename(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	return pair.Leaf.SerialNumber
}

func TestCertStoreReload(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, key, cert string) // what happens to the files
		wantOK bool
	}{
		{"renewed pair", func(t *testing.T, key, cert string) { replacePair(t, key, cert) }, true},
		{"certificate not PEM", func(t *testing.T, key, cert string) {
			if err := os.WriteFile(cert, []byte("not a certificate\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"key of another pair", func(t *testing.T, key, cert string) {
			other := filepath.Join(filepath.Dir(key), "other")
			if err := tlspair.WriteSelfSigned(other+".key", other+".crt"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other+".key", key); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"key removed", func(t *testing.T, key, cert string) {
			if err := os.Remove(key); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"certificate empty", func(t *testing.T, key, cert string) {
			if err := os.WriteFile(cert, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key, cert := filepath.Join(dir, "server.key"), filepath.Join(dir, "server.crt")
			s, created, err := newCertStore(key, cert)
			if err != nil || !created {
				t.Fatalf("created=%v err=%v", created, err)
			}
			before, _ := s.getCertificate(nil)
			tc.change(t, key, cert)
			leaf, err := s.reload()
			after, _ := s.getCertificate(nil)
			if tc.wantOK {
				if err != nil || leaf == nil {
					t.Fatalf("reload: %v", err)
				}
				if after.Leaf.SerialNumber.Cmp(before.Leaf.SerialNumber) == 0 || after.Leaf != leaf {
					t.Fatalf("serial %v still served after a good reload", before.Leaf.SerialNumber)
				}
				return
			}
			if err == nil {
				t.Fatal("reload of a broken pair succeeded")
			}
			if after != before {
				t.Fatalf("a failed reload replaced the pair: %v", err)
			}
			if !strings.Contains(err.Error(), cert) {
				t.Fatalf("error %q does not name the certificate file", err)
			}
		})
	}
}

// serverSerial opens a new TLS connection to addr and returns the serial
// of the certificate it was shown.
func serverSerial(t *testing.T, addr string) *big.Int {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// getStatus sends GET /status on an open keep-alive connection and reads
// the answer.
func getStatus(t *testing.T, c *tls.Conn, br *bufio.Reader) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /status HTTP/1.1\r\nHost: spectra\r\n\r\n")); err != nil {
		t.Fatalf("write on the open connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read on the open connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// waitSerial polls new connections until one is shown the certificate
// with serial want.
func waitSerial(t *testing.T, addr string, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		got := serverSerial(t, addr)
		if got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) || i > 1000 {
			t.Fatalf("new connections still see serial %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
