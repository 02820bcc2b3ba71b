package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"spectra-relay/internal/tlspair"
)

// certStore holds the TLS pair every listener serves. tls.Config's
// GetCertificate reads it through an atomic pointer, so a reload swaps the
// pair for the handshakes that follow while the connections already
// established keep the keys they negotiated: nothing is dropped.
type certStore struct {
	keyPath, certPath string
	cur               atomic.Pointer[tls.Certificate]
}

// newCertStore loads the pair at the two paths, first writing a self-signed
// one when either file is missing (see tlspair.LoadOrCreate).
func newCertStore(keyPath, certPath string) (s *certStore, created bool, err error) {
	cert, created, err := tlspair.LoadOrCreate(keyPath, certPath)
	if err != nil {
		return nil, created, err
	}
	if err := fillLeaf(&cert); err != nil {
		return nil, created, fmt.Errorf("TLS certificate %s: %w", certPath, err)
	}
	s = &certStore{keyPath: keyPath, certPath: certPath}
	s.cur.Store(&cert)
	return s, created, nil
}

// reload reads the pair from the files again. On any error (a file
// missing or half written, a key that does not match the certificate) the
// pair in use stays and the error says why; a missing pair is not
// regenerated, since a reload is asked for after the files were replaced.
func (s *certStore) reload() (*x509.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certPath, s.keyPath)
	if err != nil {
		return nil, fmt.Errorf("load TLS pair %s, %s: %w", s.certPath, s.keyPath, err)
	}
	if err := fillLeaf(&cert); err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", s.certPath, err)
	}
	s.cur.Store(&cert)
	return cert.Leaf, nil
}

// fillLeaf parses the leaf once, so handshakes do not, and so a reload can
// log what it loaded.
func fillLeaf(c *tls.Certificate) error {
	if c.Leaf != nil {
		return nil
	}
	if len(c.Certificate) == 0 {
		return fmt.Errorf("no certificate in the file")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return err
	}
	c.Leaf = leaf
	return nil
}

// getCertificate is tls.Config.GetCertificate.
func (s *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// tlsConfig is the server configuration of every TLS listener.
func (s *certStore) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: s.getCertificate, MinVersion: tls.VersionTLS12}
}

// reloadOnHUP reloads the pair on each SIGHUP until the returned stop is
// called, logging the outcome (one line per signal, so a signal storm costs
// one file read and one line each, nothing more).
func (s *certStore) reloadOnHUP(log *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-ch:
				leaf, err := s.reload()
				if err != nil {
					log.Error("TLS pair not reloaded on SIGHUP; still serving the previous one", "err", err)
					continue
				}
				log.Info("TLS pair reloaded on SIGHUP", "cert", s.certPath, "subject", leaf.Subject.String(),
					"serial", leaf.SerialNumber.Text(16), "notAfter", leaf.NotAfter)
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-exited
	}
}
