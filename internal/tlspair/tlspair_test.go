package tlspair

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateWritesSelfSignedOnce(t *testing.T) {
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "k", "server.key"), filepath.Join(dir, "k", "server.crt")
	c, created, err := LoadOrCreate(key, cert)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if _, created, err := LoadOrCreate(key, cert); err != nil || created {
		t.Fatalf("second load created=%v err=%v", created, err)
	}
}
