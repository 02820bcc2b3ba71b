package socketio

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection state recovery (what socket.io 4.6+ servers do with
// connectionStateRecovery). A namespace that enables it gives every socket
// a private session id (pid) beside its sid in the CONNECT reply, and adds
// an offset as the last string argument of each event it emits to the
// socket; socket.io-client records both. When a connection is lost (not
// when either side disconnects on purpose), the namespace remembers the
// pid for Window. A client reconnecting within it sends {"pid":…,
// "offset":…} in its CONNECT payload; the namespace then gives the new
// socket the old sid and pid and marks it Recovered, so that the
// application can restore what the socket was to it.
//
// Unlike socket.io, events the server emitted while the client was away
// are not replayed: the namespaces that use this send their clients only
// a handful of acknowledgements.
//
// What a client sends costs at most one map lookup and one small JSON
// decode: the pid and offset are bounded in length, and the table of
// remembered sessions is bounded by MaxSessions (oldest forgotten first).

// Recovery defaults, those of socket.io (2 minutes) and a cap sized for
// a relay's handful of clients per match times many matches.
const (
	DefaultRecoveryWindow      = 2 * time.Minute
	DefaultRecoveryMaxSessions = 10000
)

// Limits on what a reconnecting client may present.
const (
	pidBytes     = 18      // random bytes of a pid
	pidLen       = 24      // their unpadded base64url length
	maxOffsetLen = 32      // offsets this server makes are a few characters
	maxAuthScan  = 4 << 10 // a CONNECT payload larger than this is not decoded for a pid
)

// RecoveryOutcome is what became of one recovery attempt.
type RecoveryOutcome string

// The outcomes. Every refusal still connects the client, as a new session.
const (
	RecoveryRestored  RecoveryOutcome = "restored"  // same sid and pid again
	RecoveryMalformed RecoveryOutcome = "malformed" // pid or offset not strings of the expected size
	RecoveryUnknown   RecoveryOutcome = "unknown"   // pid never issued here, forgotten (cap), or already used
	RecoveryExpired   RecoveryOutcome = "expired"   // remembered, but disconnected longer than Window
	RecoveryRefused   RecoveryOutcome = "refused"   // the application's Lookup said no
)

// RecoveryConfig turns connection state recovery on for a namespace.
type RecoveryConfig struct {
	// Window is how long a lost session can be recovered. Default
	// DefaultRecoveryWindow.
	Window time.Duration
	// MaxSessions caps the sessions remembered at once; past it the
	// oldest is forgotten. Default DefaultRecoveryMaxSessions.
	MaxSessions int
	// Lookup is asked about a pid the namespace does not remember (it was
	// issued before a restart, or by another node): the sid to give the
	// socket back and whether to recover it at all. It is also asked about
	// a remembered pid, with its remembered sid, so that the application can
	// refuse a session it no longer wants (e.g. its match ended); nil
	// recovers every remembered session and nothing else. It runs on the
	// connection's message path: keep it quick.
	Lookup func(pid, rememberedSID string, remembered bool) (sid string, ok bool)
	// Observe, when set, is told the outcome of every attempt (a CONNECT
	// that carried a pid).
	Observe func(RecoveryOutcome)
}

// recovery is a namespace's table of lost sessions.
type recovery struct {
	cfg RecoveryConfig

	mu    sync.Mutex
	byPID map[string]lostSession
	order []lostEntry // insertion order, for expiry and the cap; may hold stale entries
}

type lostSession struct {
	sid    string
	at     time.Time
	offset uint64
}

type lostEntry struct {
	pid string
	at  time.Time
}

// EnableRecovery turns connection state recovery on for the namespace.
// Call it before clients connect; sockets connected before keep none.
func (n *Namespace) EnableRecovery(cfg RecoveryConfig) {
	if cfg.Window <= 0 {
		cfg.Window = DefaultRecoveryWindow
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultRecoveryMaxSessions
	}
	n.rec.Store(&recovery{cfg: cfg, byPID: make(map[string]lostSession)})
}

// newPID makes a private session id: 18 bytes from crypto/rand.
func newPID() string {
	var b [pidBytes]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// recoverable reports whether a socket that left for reason may come back:
// a lost connection, not a disconnect either side asked for.
func recoverable(reason string) bool {
	switch reason {
	case "transport close", "transport error", "ping timeout", "forced close", "server shutting down":
		return true
	}
	return false
}

// remember keeps a lost socket's session for the window.
func (r *recovery) remember(pid, sid string, offset uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	for len(r.byPID) >= r.cfg.MaxSessions && len(r.order) > 0 {
		e := r.order[0]
		r.order = r.order[1:]
		if s, ok := r.byPID[e.pid]; ok && s.at.Equal(e.at) {
			delete(r.byPID, e.pid)
		}
	}
	r.byPID[pid] = lostSession{sid: sid, at: now, offset: offset}
	r.order = append(r.order, lostEntry{pid: pid, at: now})
	// The head of order is dropped by reslicing; copy once it is mostly
	// dead weight so the backing array does not grow without bound.
	if cap(r.order) > 64 && len(r.order) < cap(r.order)/4 {
		r.order = append(make([]lostEntry, 0, 2*len(r.order)), r.order...)
	}
}

// expireLocked forgets sessions lost longer than the window ago.
func (r *recovery) expireLocked(now time.Time) {
	for len(r.order) > 0 && now.Sub(r.order[0].at) > r.cfg.Window {
		e := r.order[0]
		r.order = r.order[1:]
		if s, ok := r.byPID[e.pid]; ok && s.at.Equal(e.at) {
			delete(r.byPID, e.pid)
		}
	}
}

// take removes and returns the session of pid. expired tells a session
// that was remembered but is past the window.
func (r *recovery) take(pid string, now time.Time) (s lostSession, ok, expired bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok = r.byPID[pid]
	if !ok {
		return s, false, false
	}
	delete(r.byPID, pid)
	if now.Sub(s.at) > r.cfg.Window {
		return s, false, true
	}
	return s, true, false
}

// remembered is the number of sessions kept now (tests, metrics).
func (r *recovery) remembered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byPID)
}

// RecoverySessions is the number of lost sessions the namespace remembers
// now; 0 when recovery is off.
func (n *Namespace) RecoverySessions() int {
	if r := n.rec.Load(); r != nil {
		return r.remembered()
	}
	return 0
}

// recoveryAuth reads pid and offset from a CONNECT payload. ok is false
// when the payload does not try to recover; malformed when it tries with
// values this server cannot have issued.
func recoveryAuth(auth []byte) (pid string, ok, malformed bool) {
	if len(auth) > maxAuthScan || !bytes.Contains(auth, []byte(`"pid"`)) {
		return "", false, false
	}
	var a struct {
		PID    json.RawMessage `json:"pid"`
		Offset json.RawMessage `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil || a.PID == nil {
		return "", false, false
	}
	var p, off string
	if json.Unmarshal(a.PID, &p) != nil || len(p) != pidLen {
		return "", true, true
	}
	// socket.io restores only with both; a client that never received an
	// event has no offset to send.
	if a.Offset == nil || json.Unmarshal(a.Offset, &off) != nil || off == "" || len(off) > maxOffsetLen {
		return "", true, true
	}
	return p, true, false
}

// restore decides a CONNECT's recovery: the sid and offset to give the new
// socket when it is recovered.
func (r *recovery) restore(auth []byte, now time.Time) (pid, sid string, offset uint64, out RecoveryOutcome, tried bool) {
	pid, tried, malformed := recoveryAuth(auth)
	if !tried {
		return "", "", 0, "", false
	}
	if malformed {
		return "", "", 0, RecoveryMalformed, true
	}
	s, ok, expired := r.take(pid, now)
	switch {
	case expired:
		return "", "", 0, RecoveryExpired, true
	case ok && r.cfg.Lookup == nil:
		return pid, s.sid, s.offset, RecoveryRestored, true
	case r.cfg.Lookup == nil:
		return "", "", 0, RecoveryUnknown, true
	}
	got, yes := r.cfg.Lookup(pid, s.sid, ok)
	switch {
	case yes && got != "":
		return pid, got, s.offset, RecoveryRestored, true
	case ok:
		return "", "", 0, RecoveryRefused, true
	}
	return "", "", 0, RecoveryUnknown, true
}

// socketRecovery is a socket's part: its pid, whether it took over a lost
// session, and the count of events emitted with an offset. Broadcasts
// carry no offset: the namespaces that recover send their clients only
// their own events.
type socketRecovery struct {
	pid       string
	recovered bool
	offset    atomic.Uint64
}

// nextOffset is the offset argument of the next event emitted.
func (r *socketRecovery) nextOffset() string { return offsetArg(r.offset.Add(1)) }

// offsetArg is a socket's next offset as the last argument of an event.
func offsetArg(n uint64) string { return strconv.FormatUint(n, 36) }
