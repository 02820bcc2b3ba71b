package relay

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
	replayKickBytes = 256 << 10
	replayMaxBytes  = 32 << 20
)

// Durability of the replay files (README "Durability"). An event read
// from an ingest connection is handed to the kernel (one write(2), no
// fsync) before its connection's next event is read (controller.apply,
// writeThrough): a killed process (kill -9, OOM killer, panic) loses no
// event it applied, since what was written is in the page cache and
// reaches the disk without us; only what the kernel had received but the
// relay not read yet is lost, and a reconnecting client cannot tell.
// The flush loop still writes every replayFlushInterval (sooner past
// replayKickBytes) for whatever else is buffered. BenchmarkIngestReplayFile
// compares both: about 1 µs more per event (median 11.2 against 10.1 µs on
// the shared 2-core test VM, noisy), against the tens of events per second
// an observer sends. The files are never fsynced: a machine crash or
// power loss may lose what the kernel had not written back yet (seconds),
// which recovery tolerates as a torn or short tail. An fsync per file per
// interval would put disk latency on the one flush goroutine of every
// match for a guarantee the overlays do not need.
const replayFlushInterval = 100 * time.Millisecond

// replayWriteThrough turns the write of each applied event on the ingest
// path on (a variable for the benchmark that compares both).
var replayWriteThrough = true

// DefaultReplayMaxBytes caps one replay file unless Config.ReplayMaxBytes
// says otherwise: a real match logs a few MB, a flooding observer about
// 4 MB/s.
const DefaultReplayMaxBytes = 64 << 20

// replayCapSlack bounds one logged event: a Socket.IO message of the
// server's 1 MB MaxPayload plus the stamped timestamp.
const replayCapSlack = 1<<20 + 64

// replayConf is what every replay file of a controller shares.
type replayConf struct {
	dir   string
	limit int64 // bytes per file; < 0 = no cap
	log   *slog.Logger
	kick  func()
}

// replayLog writes one match's replay file (SPEC §10): the logon without
// key and type plus logStartTime, then ",\n" and one event per line.
//
// The group secret is kept beside it in <name>.secret (mode 0600), not in
// the header: the header stays the existing server's format (its
// groupSecret member is the observer's, which spectra-replay sends back),
// and a replay file can be shared or played without handing over the
// right to take a live match over. Recovery needs the sidecar; it is
// deleted when the match ends or expires.
type replayLog struct {
	path       string
	secretPath string
	code       string
	conf       replayConf

	mu      sync.Mutex // guards buf, spare, dropped, closed, size, capped
	buf     []byte
	spare   []byte
	dropped int
	closed  bool
	size    int64 // bytes written plus buffered
	capped  bool  // size reached conf.limit: nothing more is logged

	wmu     sync.Mutex // serialises writes to f
	f       *os.File
	written int64 // bytes written by flushLocked, under wmu
}

// openReplay creates <dir>/Match_<groupCode>_<startMs>.replay and its
// secret sidecar and buffers the header. logon is the obs_logon payload as
// received.
func openReplay(conf replayConf, groupCode, secret string, start time.Time, logon []byte) (*replayLog, error) {
	hdr, err := replayfile.AppendHeader(make([]byte, 0, len(logon)+64), ServerVersion, logon, start.UnixMilli())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(conf.dir, 0o755); err != nil {
		return nil, err
	}
	startMs := start.UnixMilli()
	path := filepath.Join(conf.dir, replayfile.FileName(groupCode, startMs))
	// The secret first: a replay file without one cannot be recovered, a
	// secret without a replay file is only removed at the next start.
	secretPath := replayfile.SecretPath(path)
	if err := writeSidecar(secretPath, secret, nil); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		_ = os.Remove(secretPath)
		return nil, err
	}
	return &replayLog{path: path, secretPath: secretPath, code: groupCode, conf: conf, buf: hdr, size: int64(len(hdr)), f: f}, nil
}

// reopenReplay continues a recovered match's file: whatever follows its
// last complete event (a torn line) is cut off, later events are appended.
func reopenReplay(conf replayConf, groupCode, path string, goodEnd int64) (*replayLog, error) {
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
	r := &replayLog{path: path, secretPath: replayfile.SecretPath(path), code: groupCode, conf: conf, size: goodEnd, f: f}
	// Whether the file was capped before is not written down; the event
	// that capped it did not fit into what was left. Logging again after
	// such a gap would make the file a log of another match, so a file
	// closer to its cap than the largest event stays capped.
	r.capped = conf.limit >= 0 && goodEnd > conf.limit-replayCapSlack
	return r, nil
}

// dropSecret deletes the sidecar once the match can no longer be resumed.
func (r *replayLog) dropSecret() error {
	if err := os.Remove(r.secretPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
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
	if r.capped {
		r.mu.Unlock()
		return
	}
	if len(r.buf) > replayMaxBytes {
		r.dropped++
		r.mu.Unlock()
		return
	}
	n := len(r.buf)
	r.buf = replayfile.AppendEvent(r.buf, raw, ts)
	if lim := r.conf.limit; lim >= 0 && r.size+int64(len(r.buf)-n) > lim {
		// The file stays a complete prefix of the match: no later event
		// is logged, even one that would still fit.
		r.buf = r.buf[:n]
		r.capped = true
		size := r.size
		r.mu.Unlock()
		if r.conf.log != nil {
			r.conf.log.Warn("replay file cap reached: later events are applied but not logged",
				"groupCode", r.code, "path", r.path, "bytes", size, "maxBytes", lim)
		}
		return
	}
	r.size += int64(len(r.buf) - n)
	big := len(r.buf) >= replayKickBytes
	r.mu.Unlock()
	if big && r.conf.kick != nil {
		r.conf.kick()
	}
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
