package replaylog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The secret sidecar, <name>.secret beside a replay file (mode 0600): the
// group secret on the first line, then one line per item its owner keeps
// with the match (the relay's ingest session bindings, which survive a
// restart with it). Recovery needs it; a file without one is not resumed.

// WriteSidecar writes the sidecar at path: secret, then each line. It
// replaces the file through a temporary one, so that a crash leaves the
// old or the new file, never a torn one; both are mode 0600. A line must
// not hold a newline.
func WriteSidecar(path, secret string, lines [][]byte) error {
	var buf bytes.Buffer
	buf.WriteString(secret)
	buf.WriteByte('\n')
	for _, l := range lines {
		if bytes.IndexByte(l, '\n') >= 0 {
			return errors.New("group secret sidecar: a line holds a newline")
		}
		buf.Write(l)
		buf.WriteByte('\n')
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("group secret sidecar: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Chmod(0o600); err == nil {
		err = cerr // an older file of the same name may have been wider
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("group secret sidecar: %w", err)
	}
	return nil
}

// ReadSidecar reads the sidecar at path: the secret and the non-empty
// lines after it. A missing or empty secret fails.
func ReadSidecar(path string) (string, [][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	first, rest, _ := bytes.Cut(data, []byte{'\n'})
	secret := strings.TrimSpace(string(first))
	if secret == "" {
		return "", nil, errors.New("empty group secret sidecar")
	}
	var lines [][]byte
	for line := range bytes.Lines(rest) {
		if line = bytes.TrimRight(line, "\r\n"); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return secret, lines, nil
}
