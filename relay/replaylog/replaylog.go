// Package replaylog writes and reads back a match's replay file, the
// match's event log and the source of truth after a restart: Log buffers
// the events the controller applies and writes them to disk, Scan reads a
// file back for recovery (cutting a torn last line), and the secret
// sidecar beside each file keeps the group secret and whatever lines its
// owner adds (the relay's ingest session bindings). It knows files, not
// matches: rebuilding a live match from a scan is the relay's job.
package replaylog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"spectra-relay/relay/replayfile"
)

// Replay buffering: events are appended to memory on the ingest path and
// written by the flush loop. A buffer this large asks for an early flush;
// one past the limit (the disk is stuck) drops events rather than grow.
const (
	kickBytes      = 256 << 10
	maxBufferBytes = 32 << 20
)

// Durability of the replay files (README "Durability"). An event read
// from an ingest connection is handed to the kernel (one write(2), no
// fsync) before its connection's next event is read (the relay's
// controller.apply, WriteThrough): a killed process (kill -9, OOM killer, panic) loses no
// event it applied, since what was written is in the page cache and
// reaches the disk without us; only what the kernel had received but the
// relay not read yet is lost, and a reconnecting client cannot tell.
// The flush loop still writes every FlushInterval (sooner past
// kickBytes) for whatever else is buffered. BenchmarkIngestReplayFile
// compares both: about 1 µs more per event (median 11.2 against 10.1 µs on
// the shared 2-core test VM, noisy), against the tens of events per second
// an observer sends. The files are never fsynced: a machine crash or
// power loss may lose what the kernel had not written back yet (seconds),
// which recovery tolerates as a torn or short tail. An fsync per file per
// interval would put disk latency on the one flush goroutine of every
// match for a guarantee the overlays do not need.
const FlushInterval = 100 * time.Millisecond

// DefaultMaxBytes caps one replay file unless the relay's Config.ReplayMaxBytes
// says otherwise: a real match logs a few MB, a flooding observer about
// 4 MB/s.
const DefaultMaxBytes = 64 << 20

// capSlack bounds one logged event: a Socket.IO message of the
// server's 1 MB MaxPayload plus the stamped timestamp.
const capSlack = 1<<20 + 64

// Conf is what every replay file of a controller shares.
type Conf struct {
	Dir    string
	Limit  int64        // bytes per file; < 0 = no cap
	Logger *slog.Logger // nil logs nothing
	Kick   func()       // asks for an early flush; nil = none
}

// Log writes one match's replay file (SPEC §10): the logon without
// key and type plus logStartTime, then ",\n" and one event per line.
//
// The group secret is kept beside it in <name>.secret (mode 0600), not in
// the header: the header stays the existing server's format (its
// groupSecret member is the observer's, which spectra-replay sends back),
// and a replay file can be shared or played without handing over the
// right to take a live match over. Recovery needs the sidecar; it is
// deleted when the match ends or expires.
type Log struct {
	path       string
	secretPath string
	code       string
	conf       Conf

	mu      sync.Mutex // guards buf, spare, dropped, closed, size, capped
	buf     []byte
	spare   []byte
	dropped int
	closed  bool
	size    int64 // bytes written plus buffered
	capped  bool  // size reached conf.Limit: nothing more is logged

	wmu     sync.Mutex // serialises writes to f
	f       *os.File
	written int64 // bytes written by flushLocked, under wmu
}

// Open creates <dir>/Match_<groupCode>_<startMs>.replay and its
// secret sidecar and buffers the header. logon is the obs_logon payload as
// received; serverVersion goes into the header.
func Open(conf Conf, serverVersion, groupCode, secret string, start time.Time, logon []byte) (*Log, error) {
	hdr, err := replayfile.AppendHeader(make([]byte, 0, len(logon)+64), serverVersion, logon, start.UnixMilli())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(conf.Dir, 0o755); err != nil {
		return nil, err
	}
	startMs := start.UnixMilli()
	path := filepath.Join(conf.Dir, replayfile.FileName(groupCode, startMs))
	// The secret first: a replay file without one cannot be recovered, a
	// secret without a replay file is only removed at the next start.
	secretPath := replayfile.SecretPath(path)
	if err := WriteSidecar(secretPath, secret, nil); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		_ = os.Remove(secretPath)
		return nil, err
	}
	return &Log{path: path, secretPath: secretPath, code: groupCode, conf: conf, buf: hdr, size: int64(len(hdr)), f: f}, nil
}

// Reopen continues a recovered match's file: whatever follows its
// last complete event (a torn line) is cut off, later events are appended.
func Reopen(conf Conf, groupCode, path string, goodEnd int64) (*Log, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > goodEnd {
		if err := os.Truncate(path, goodEnd); err != nil {
			return nil, fmt.Errorf("cutting the torn tail: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	r := &Log{path: path, secretPath: replayfile.SecretPath(path), code: groupCode, conf: conf, size: goodEnd, f: f}
	// Whether the file was capped before is not written down; the event
	// that capped it did not fit into what was left. Logging again after
	// such a gap would make the file a log of another match, so a file
	// closer to its cap than the largest event stays capped.
	r.capped = conf.Limit >= 0 && goodEnd > conf.Limit-capSlack
	return r, nil
}

// DropSecret deletes the sidecar once the match can no longer be resumed.
func (r *Log) DropSecret() error {
	if err := os.Remove(r.secretPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Add buffers one event: the payload as the client sent it, compacted,
// with "timestamp" set to the server's receipt time as the existing server
// records it.
func (r *Log) Add(raw string, ts int64) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.capped {
		r.mu.Unlock()
		return
	}
	if len(r.buf) > maxBufferBytes {
		r.dropped++
		r.mu.Unlock()
		return
	}
	n := len(r.buf)
	r.buf = replayfile.AppendEvent(r.buf, raw, ts)
	if lim := r.conf.Limit; lim >= 0 && r.size+int64(len(r.buf)-n) > lim {
		// The file stays a complete prefix of the match: no later event
		// is logged, even one that would still fit.
		r.buf = r.buf[:n]
		r.capped = true
		size := r.size
		r.mu.Unlock()
		if r.conf.Logger != nil {
			r.conf.Logger.Warn("replay file cap reached: later events are applied but not logged",
				"groupCode", r.code, "path", r.path, "bytes", size, "maxBytes", lim)
		}
		return
	}
	r.size += int64(len(r.buf) - n)
	big := len(r.buf) >= kickBytes
	r.mu.Unlock()
	if big && r.conf.Kick != nil {
		r.conf.Kick()
	}
}

// Flush writes what is buffered. The buffer is swapped out under mu so
// that ingest never waits for the disk.
func (r *Log) Flush() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.flushLocked()
}

func (r *Log) flushLocked() error {
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
	n, err := r.f.Write(b)
	r.written += int64(n)
	r.recycle(b)
	if err == nil && dropped > 0 {
		err = fmt.Errorf("%d events dropped while the disk lagged", dropped)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	return nil
}

func (r *Log) recycle(b []byte) {
	if cap(b) > 4<<20 {
		return
	}
	r.mu.Lock()
	if r.spare == nil {
		r.spare = b[:0]
	}
	r.mu.Unlock()
}

// Close flushes and closes the file; later Adds are ignored.
func (r *Log) Close() error {
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

// Path is the replay file's path.
func (r *Log) Path() string { return r.path }

// SecretPath is the path of its secret sidecar.
func (r *Log) SecretPath() string { return r.secretPath }

// FlushGrowth writes the buffered events and returns by how much the file
// grew: exact whatever flushing does inside (and for a reopened file),
// and each byte is counted once because the size is read under the write
// lock.
func (r *Log) FlushGrowth() (int64, error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	before := r.sizeLocked()
	err := r.flushLocked()
	return max(r.sizeLocked()-before, 0), err
}

// WriteThrough writes what is buffered now, on the ingest path (see the
// durability note above): usually the one event just applied, one
// write(2). It waits for a flush in progress, which may hold that event.
// It returns the bytes written.
func (r *Log) WriteThrough() (int64, error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	before := r.written
	err := r.flushLocked()
	return r.written - before, err
}

// sizeLocked is the size of the file; 0 once closed. wmu held.
func (r *Log) sizeLocked() int64 {
	if r.f == nil {
		return 0
	}
	st, err := r.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}
