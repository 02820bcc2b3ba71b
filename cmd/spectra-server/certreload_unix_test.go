//go:build unix

package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunReloadsCertOnSIGHUP: the running server gets SIGHUP after its
// pair was replaced; new connections see the new certificate, a connection
// opened before keeps working on its old one; a broken pair on the next
// SIGHUP is refused with a log line and the good pair stays.
func TestRunReloadsCertOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	extras, logs, stop := runServer(t, dir, map[string]string{"INSECURE": "false", "SERVER_KEY": "k/server.key", "SERVER_CERT": "k/server.crt",
		"REQUIRE_AUTH_KEY": "false", "RECOVER": "0"})
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	key, cert := filepath.Join(dir, "k", "server.key"), filepath.Join(dir, "k", "server.crt")

	old, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", extras, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBR := bufio.NewReader(old)
	getStatus(t, old, oldBR)
	oldSerial := old.ConnectionState().PeerCertificates[0].SerialNumber

	newSerial := replacePair(t, key, cert)
	if newSerial.Cmp(oldSerial) == 0 {
		t.Fatal("the new pair has the old serial")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, extras, newSerial)
	getStatus(t, old, oldBR) // the connection from before the reload
	if s := old.ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(oldSerial) != 0 {
		t.Fatalf("open connection's certificate changed to %v", s)
	}

	// A broken certificate: refused, logged, the renewed pair stays.
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !strings.Contains(logs.String(), "TLS pair not reloaded"); i++ {
		if time.Now().After(deadline) || i > 1000 {
			t.Fatalf("no log line for the failed reload:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := serverSerial(t, extras); got.Cmp(newSerial) != 0 {
		t.Fatalf("after a failed reload new connections see %v, want %v", got, newSerial)
	}
	getStatus(t, old, oldBR)
	stopped = true
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if l := logs.String(); strings.Count(l, "TLS pair reloaded on SIGHUP") != 1 || !strings.Contains(l, "server.crt") {
		t.Fatalf("want one successful reload logged:\n%s", l)
	}
	// TLS_FAST_PATH is on by default: its start line, not the proxy hint.
	if l := logs.String(); !strings.Contains(l, "on the fast path (TLS_FAST_PATH=true)") || strings.Contains(l, "reverse proxy") {
		t.Fatalf("want the TLS fast path's start line and no proxy hint:\n%s", l)
	}
}
