// Package tlspair loads a server's TLS key pair from files, first writing
// a self-signed pair where either file is missing: spectra-server's
// default when no certificate is given, and the conformance server's
// https mode.
package tlspair

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// LoadOrCreate loads the TLS pair, first generating a self-signed
// ECDSA pair at the two paths when either file is missing (what the
// existing server's Docker entrypoint does with openssl).
func LoadOrCreate(keyPath, certPath string) (cert tls.Certificate, created bool, err error) {
	if !exists(keyPath) || !exists(certPath) {
		if err := WriteSelfSigned(keyPath, certPath); err != nil {
			return tls.Certificate{}, false, fmt.Errorf("generate self-signed pair: %w", err)
		}
		created = true
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, created, fmt.Errorf("load TLS pair %s, %s: %w", certPath, keyPath, err)
	}
	return cert, created, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// WriteSelfSigned writes a new self-signed ECDSA P-256 pair valid for
// localhost, 127.0.0.1, ::1 and "spectra" for ten years: the key 0600,
// the certificate 0644, creating their folders.
func WriteSelfSigned(keyPath, certPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "spectra"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"spectra", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, p := range []string{keyPath, certPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
