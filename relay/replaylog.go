package relay

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Replay buffering: events are appended to memory on the ingest path and
// written by the flush loop. A buffer this large asks for an early flush;
// one past the limit (the disk is stuck) drops events rather than grow.
const (
	replayKickBytes = 256 << 10
	replayMaxBytes  = 32 << 20
)

// replayLog writes one match's replay file (SPEC §10): the logon without
// key and type plus logStartTime, then ",\n" and one event per line.
type replayLog struct {
	path string
	kick func()

	mu      sync.Mutex // guards buf, spare, dropped, closed
	buf     []byte
	spare   []byte
	dropped int
	closed  bool

	wmu sync.Mutex // serialises writes to f
	f   *os.File
}

// openReplay creates <dir>/Match_<groupCode>_<startMs>.replay and buffers
// its header. logon is the obs_logon payload as received.
func openReplay(dir, groupCode string, start time.Time, logon []byte, kick func()) (*replayLog, error) {
	ms, err := objectMembers(logon)
	if err != nil {
		return nil, fmt.Errorf("replay header: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	startMs := start.UnixMilli()
	name := "Match_" + fileSafe(groupCode) + "_" + strconv.FormatInt(startMs, 10) + ".replay"
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, len(logon)+64)
	hdr = append(hdr, `{"serverVersion":"`+ServerVersion+`"`...)
	hdr = appendMembers(hdr, ms, true, func(k string) bool {
		return k == "key" || k == "type" || k == "serverVersion" || k == "logStartTime"
	})
	hdr = append(hdr, `,"logStartTime":`...)
	hdr = strconv.AppendInt(hdr, startMs, 10)
	hdr = append(hdr, '}')
	return &replayLog{path: path, kick: kick, buf: hdr, f: f}, nil
}

// fileSafe keeps a group code usable as part of a file name: a code is
// client input, and "../x" must not leave the replay directory.
func fileSafe(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !isFileSafe(s[i]) {
			ok = false
			break
		}
	}
	if ok && len(s) <= 64 {
		return s
	}
	b := []byte(s)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !isFileSafe(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func isFileSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// add buffers one event: the payload as the client sent it, compacted,
// with "timestamp" set to the server's receipt time as the existing server
// records it.
func (r *replayLog) add(raw string, ts int64) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if len(r.buf) > replayMaxBytes {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.buf = appendReplayEvent(r.buf, raw, ts)
	big := len(r.buf) >= replayKickBytes
	r.mu.Unlock()
	if big && r.kick != nil {
		r.kick()
	}
}

func appendReplayEvent(dst []byte, raw string, ts int64) []byte {
	dst = append(dst, ',', '\n')
	if !strings.Contains(raw, `"timestamp"`) {
		n := len(dst)
		dst = compactJSON(dst, raw)
		if len(dst) > n && dst[len(dst)-1] == '}' {
			dst = dst[:len(dst)-1]
			if len(dst) > n+1 { // not "{}"
				dst = append(dst, ',')
			}
			dst = append(dst, `"timestamp":`...)
			dst = strconv.AppendInt(dst, ts, 10)
			return append(dst, '}')
		}
		return dst
	}
	// A payload with its own timestamp: the server's value replaces it in
	// place, as the existing server's assignment does.
	ms, err := objectMembers([]byte(raw))
	if err != nil {
		return compactJSON(dst, raw)
	}
	stamp := []byte(strconv.FormatInt(ts, 10))
	found := false
	for i := range ms {
		if ms[i].key == "timestamp" {
			ms[i].val, found = stamp, true
		}
	}
	if !found {
		ms = append(ms, member{"timestamp", stamp})
	}
	dst = append(dst, '{')
	dst = appendMembers(dst, ms, false, nil)
	return append(dst, '}')
}

// flush writes what is buffered. The buffer is swapped out under mu so
// that ingest never waits for the disk.
func (r *replayLog) flush() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.flushLocked()
}

func (r *replayLog) flushLocked() error {
	if r.f == nil {
		return nil
	}
	r.mu.Lock()
	b := r.buf
	r.buf = r.spare[:0]
	r.spare = nil
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if len(b) == 0 {
		r.recycle(b)
		return nil
	}
	_, err := r.f.Write(b)
	r.recycle(b)
	if err == nil && dropped > 0 {
		err = fmt.Errorf("%d events dropped while the disk lagged", dropped)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	return nil
}

func (r *replayLog) recycle(b []byte) {
	if cap(b) > 4<<20 {
		return
	}
	r.mu.Lock()
	if r.spare == nil {
		r.spare = b[:0]
	}
	r.mu.Unlock()
}

// close flushes and closes the file; later adds are ignored.
func (r *replayLog) close() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.f == nil {
		return nil
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.flushLocked()
	if cerr := r.f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	r.f = nil
	return err
}
