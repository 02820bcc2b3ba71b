package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"spectra-relay/internal/jsontext"
	"spectra-relay/relay/match"
	"spectra-relay/socketio"
)

// kickGrace is how long a connection told to leave (DISCONNECT) may keep
// its transport open before the server closes it: socket.io-client closes
// at once, a hostile client would otherwise hold it forever.
const kickGrace = 5 * time.Second

// ingestConn is one observer or auxiliary connection on the ingest port.
type ingestConn struct {
	s       *socketio.Socket
	claimed atomic.Bool // the first logon event, of either kind, wins

	mu       sync.Mutex
	lm       *liveMatch // the match this connection logged on to
	aux      bool
	playerID string // as the existing server keeps it: aux disconnects reset this player
	// auxOwner is the only player an auxiliary connection may change: the
	// logon's playerId string, else the first player id (of at most
	// maxNameLen bytes, as a logon takes) its events name.
	auxOwner string

	// Dropped-data logging, at most one line per connection per
	// dropLogEvery: a hostile client must not turn each event into a log
	// line.
	dropLogAt  atomic.Int64 // unix nanoseconds of the last line
	dropLogged atomic.Int64 // drops not logged since
}

const dropLogEvery = time.Second

// logDrop logs a dropped event unless this connection logged one less
// than dropLogEvery ago; the next line carries the count of those skipped.
func (srv *Server) logDrop(ic *ingestConn, level slog.Level, msg string, attrs ...any) {
	now := time.Now().UnixNano()
	last := ic.dropLogAt.Load()
	if now-last < int64(dropLogEvery) || !ic.dropLogAt.CompareAndSwap(last, now) {
		ic.dropLogged.Add(1)
		return
	}
	if n := ic.dropLogged.Swap(0); n > 0 {
		attrs = append(attrs, "alsoDropped", n)
	}
	srv.log.Log(context.Background(), level, msg, append(attrs, "remote", ic.s.Handshake().Address)...)
}

// match is the match the connection logged on to, nil before a logon.
func (ic *ingestConn) match() *liveMatch {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.lm
}

// mayWrite reports whether group-code data from this connection may go to
// lm: only the match it logged on to.
func (ic *ingestConn) mayWrite(lm *liveMatch) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.lm == lm
}

// kick sends the client a DISCONNECT, the way the existing server ends a
// refused logon or an ended match. The ack emitted before stays in order:
// closing the transport at once could cut a pending poll short of it.
func (ic *ingestConn) kick() {
	ic.s.Disconnect(false)
	time.AfterFunc(kickGrace, func() { ic.s.Disconnect(true) })
}

func (srv *Server) onIngestConnection(s *socketio.Socket) {
	ic := &ingestConn{s: s}
	if s.Recovered() {
		srv.restoreSession(ic) // bound as by its logon; else a new connection
	}
	s.On("obs_logon", func(_ *socketio.Socket, e *socketio.Event) {
		if !ic.claimed.Swap(true) {
			srv.obsLogon(ic, e)
		}
	})
	s.On("aux_logon", func(_ *socketio.Socket, e *socketio.Event) {
		if !ic.claimed.Swap(true) {
			srv.auxLogon(ic, e)
		}
	})
	s.OnDisconnect(func(string) { srv.ingestClosed(ic) })
}

// Ack payloads, as the existing server's JSON.stringify writes them.
func obsAck(ok bool, reason string) string {
	b := make([]byte, 0, 64+len(reason))
	b = append(b, `{"type":"authenticate","value":`...)
	if ok {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"reason":`...)
	b = socketio.AppendString(b, reason)
	return string(append(b, '}'))
}

const (
	reasonInvalidPacket = "Invalid packet."
	reasonInvalidKey    = "Invalid Key"
	auxAckOK            = `{"type":"aux_authenticate","value":true}`
)

// Logon field limits (relay/doc.go). The group code names the match in
// every event, room and file name; names end up in every match_data. Real
// group codes are 6 characters, names a few dozen.
// The client version is quoted back in the refusal reason.
const (
	maxGroupCodeLen = 64
	maxVersionLen   = 64
	maxNameLen      = 256
)

// fieldTooLong reports whether a logon member exceeds limit bytes: the
// decoded text of a string, the JSON text of any other value.
func fieldTooLong(raw json.RawMessage, limit int) bool {
	if len(raw) == 0 || raw[0] != '"' {
		return len(raw) > limit
	}
	if len(raw) <= limit+2 && utf8.Valid(raw) {
		// Decoding never makes valid UTF-8 longer than its JSON; an
		// invalid byte becomes U+FFFD, three bytes.
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return true
	}
	return len(s) > limit
}

// decodeGroupCode decodes a logon's groupCode member, which must be a
// non-empty JSON string of at most maxGroupCodeLen bytes once decoded:
// the rule of both the observer's obs_logon and the overlay's logon. raw
// is nil when the member is missing. The error never quotes the value.
func decodeGroupCode(raw json.RawMessage) (string, error) {
	switch {
	case len(raw) == 0 || raw[0] != '"':
		return "", errors.New("groupCode is not a string")
	case fieldTooLong(raw, maxGroupCodeLen):
		return "", fmt.Errorf("groupCode longer than %d bytes", maxGroupCodeLen)
	}
	var code string
	if json.Unmarshal(raw, &code) != nil {
		return "", errors.New("groupCode is not a valid JSON string")
	}
	if code == "" {
		return "", errors.New("empty groupCode")
	}
	return code, nil
}

// checkObsLogon enforces the obs_logon field rules the existing server
// lacks: the group code a non-empty string of at most maxGroupCodeLen
// bytes, clientVersion at most maxVersionLen, obsName and the teams' names
// and tricodes at most maxNameLen.
func checkObsLogon(raw []byte) error {
	ms, err := jsontext.Members(raw)
	if err != nil {
		return err
	}
	gc, _ := jsontext.Find(ms, "groupCode")
	if _, err := decodeGroupCode(gc); err != nil {
		return err
	}
	if v, ok := jsontext.Find(ms, "clientVersion"); ok && fieldTooLong(v, maxVersionLen) {
		return fmt.Errorf("clientVersion longer than %d bytes", maxVersionLen)
	}
	if v, ok := jsontext.Find(ms, "obsName"); ok && fieldTooLong(v, maxNameLen) {
		return fmt.Errorf("obsName longer than %d bytes", maxNameLen)
	}
	for _, side := range [...]string{"leftTeam", "rightTeam"} {
		team, ok := jsontext.Find(ms, side)
		if !ok || len(team) == 0 {
			continue
		}
		if team[0] != '{' {
			if fieldTooLong(team, maxNameLen) {
				return fmt.Errorf("%s longer than %d bytes", side, maxNameLen)
			}
			continue
		}
		tms, err := jsontext.Members(team)
		if err != nil {
			return err
		}
		for _, key := range [...]string{"name", "tricode"} {
			if v, ok := jsontext.Find(tms, key); ok && fieldTooLong(v, maxNameLen) {
				return fmt.Errorf("%s.%s longer than %d bytes", side, key, maxNameLen)
			}
		}
	}
	return nil
}

func versionReason(v string) string {
	return "Client version " + v + " is not compatible with server version " + ServerVersion + "."
}

func (srv *Server) refuse(ic *ingestConn, event, reason string, attrs ...any) {
	_ = ic.s.Emit(event, obsAck(false, reason))
	ic.kick()
	srv.log.Info("logon refused", append([]any{"event", event, "reason", reason, "remote", ic.s.Handshake().Address}, attrs...)...)
}

func (srv *Server) obsLogon(ic *ingestConn, e *socketio.Event) {
	payload, err := eventText(e)
	if err != nil {
		srv.refuse(ic, "obs_logon_ack", reasonInvalidPacket, "err", err)
		return
	}
	raw := []byte(payload)
	l, err := match.ParseLogon(raw)
	if err != nil {
		srv.refuse(ic, "obs_logon_ack", reasonInvalidPacket, "err", err)
		return
	}
	if l.Type != "authenticate" {
		srv.refuse(ic, "obs_logon_ack", reasonInvalidPacket)
		return
	}
	if err := checkObsLogon(raw); err != nil {
		srv.refuse(ic, "obs_logon_ack", reasonInvalidPacket, "err", err)
		return
	}
	if !compatibleVersion(l.ClientVersion) {
		ms, _ := jsontext.Members(raw)
		cv, ok := jsontext.Find(ms, "clientVersion")
		srv.refuse(ic, "obs_logon_ack", versionReason(match.TemplateString(cv, ok)), "groupCode", l.GroupCode)
		return
	}
	if !srv.validKey(l.Key) {
		srv.refuse(ic, "obs_logon_ack", reasonInvalidKey, "groupCode", l.GroupCode, "obsName", l.ObsName)
		return
	}
	taken := "Game with Group Code " + l.GroupCode + " exists and is still live."
	res, err := srv.ctrl.createOrReconnect(l, raw)
	if err != nil {
		srv.refuse(ic, "obs_logon_ack", taken, "groupCode", l.GroupCode, "err", err)
		return
	}
	srv.rebind(ic, res.lm)
	if !srv.ctrl.bind(res.lm, ic) {
		srv.refuse(ic, "obs_logon_ack", taken, "groupCode", l.GroupCode, "err", errMatchRemoved)
		return
	}
	srv.ctrl.rememberSession(res.lm, ic)
	reason := res.lm.secret
	if res.reconnected {
		reason = "reconnected"
	}
	srv.acceptData(ic)
	_ = ic.s.Emit("obs_logon_ack", obsAck(true, reason))
	srv.log.Info("observer logged on", "groupCode", l.GroupCode, "obsName", l.ObsName,
		"reconnected", res.reconnected, "leftTeam", l.LeftTeam.Name, "rightTeam", l.RightTeam.Name)
}

func (srv *Server) auxLogon(ic *ingestConn, e *socketio.Event) {
	payload, err := eventText(e)
	if err != nil {
		srv.refuse(ic, "aux_logon_ack", reasonInvalidPacket, "err", err)
		return
	}
	ms, err := jsontext.Members([]byte(payload))
	if err != nil {
		srv.refuse(ic, "aux_logon_ack", reasonInvalidPacket, "err", err)
		return
	}
	str := func(key string) (string, bool) {
		v, ok := jsontext.Find(ms, key)
		if !ok || len(v) == 0 || v[0] != '"' {
			return "", false
		}
		return match.TemplateString(v, true), true
	}
	if t, _ := str("type"); t != "aux_authenticate" {
		srv.refuse(ic, "aux_logon_ack", reasonInvalidPacket)
		return
	}
	for _, f := range [...]struct {
		key   string
		limit int
	}{{"clientVersion", maxVersionLen}, {"name", maxNameLen}, {"playerId", maxNameLen}, {"matchId", maxNameLen}} {
		if v, ok := jsontext.Find(ms, f.key); ok && fieldTooLong(v, f.limit) {
			srv.refuse(ic, "aux_logon_ack", reasonInvalidPacket, "err", f.key+" too long", "bytes", len(v))
			return
		}
	}
	if cv, _ := str("clientVersion"); !compatibleVersion(cv) {
		raw, ok := jsontext.Find(ms, "clientVersion")
		srv.refuse(ic, "aux_logon_ack", versionReason(match.TemplateString(raw, ok)))
		return
	}
	rawID, hasID := jsontext.Find(ms, "matchId")
	matchID := match.TemplateString(rawID, hasID)
	var lm *liveMatch
	if hasID {
		lm = srv.ctrl.auxMatch(matchID, rawID)
	}
	notFound := "Game with Match ID " + matchID + " not found."
	playerID, _ := str("playerId")
	ownerID := playerID // only a string names a player
	if rawPID, ok := jsontext.Find(ms, "playerId"); ok && playerID == "" && len(rawPID) > 0 && rawPID[0] != '"' {
		playerID = match.TemplateString(rawPID, true)
	}
	if lm == nil && hasID && matchID != "" && srv.ctrl.broker.auxLogonRemote(ic, matchID, playerID) { // its match is on another node
		ic.mu.Lock()
		ic.aux, ic.playerID, ic.auxOwner = true, playerID, ownerID
		ic.mu.Unlock()
		srv.ctrl.broker.rememberRemoteAux(ic)
		srv.acceptData(ic)
		_ = ic.s.Emit("aux_logon_ack", auxAckOK)
		srv.log.Info("auxiliary client logged on for a match owned by another node", "matchId", matchID, "playerId", playerID)
		return
	}
	if lm == nil {
		srv.refuse(ic, "aux_logon_ack", notFound)
		return
	}
	srv.rebind(ic, lm)
	ic.mu.Lock()
	ic.aux, ic.playerID, ic.auxOwner = true, playerID, ownerID
	ic.mu.Unlock()
	if !srv.ctrl.bind(lm, ic) {
		srv.refuse(ic, "aux_logon_ack", notFound, "err", errMatchRemoved)
		return
	}
	srv.ctrl.rememberSession(lm, ic)
	srv.acceptData(ic)
	_ = ic.s.Emit("aux_logon_ack", auxAckOK)
	name, _ := str("name")
	srv.log.Info("auxiliary client logged on", "groupCode", lm.code, "matchId", matchID, "playerId", playerID, "name", name)
}

// bindAux marks ev with the player an auxiliary connection may change,
// binding it first when the connection has none, and reports whether the
// connection is auxiliary.
func (ic *ingestConn) bindAux(ev *match.Event) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if !ic.aux {
		return false
	}
	if ic.auxOwner == "" && len(ev.PlayerID) <= maxNameLen {
		// A client that logged on without its id (the real one does on
		// its first run) is bound by the first id it names; logging on
		// with that id would have given it no more (nor a longer id).
		ic.auxOwner = ev.PlayerID
	}
	// The player whose aux flags a disconnect resets, set as the existing
	// server sets it, but only to the connection's own player.
	if ev.Type == "aux_scoreboard" && ic.playerID == "" && ev.PlayerID == ic.auxOwner {
		ic.playerID = ev.PlayerID
	}
	ev.Aux, ev.AuxPlayer = true, ic.auxOwner
	return true
}

// eventText is the text the existing server parses from an event's first
// argument, msg.toString(): a string as it is, any other JSON value in its
// JS string form (an array of one JSON string is that string). The
// conversion parses once with the match package's depth limit, so a deeply
// nested argument costs one pass. A missing argument is an error, as
// undefined.toString() throws.
func eventText(e *socketio.Event) (string, error) {
	s, err := e.String(0)
	if err == nil || len(e.Args) == 0 {
		return s, err
	}
	if s, jerr := match.JSString(e.Args[0]); jerr == nil {
		return s, nil
	}
	return "", err
}

// rebind points the connection at lm for its logon. A recovered
// connection (sessions.go) was bound already and may log on again; it
// leaves the match it was bound to when the logon names another.
func (srv *Server) rebind(ic *ingestConn, lm *liveMatch) {
	ic.mu.Lock()
	old := ic.lm
	ic.lm = lm
	ic.mu.Unlock()
	if old != nil && old != lm {
		srv.ctrl.unbind(old, ic)
	}
}

// acceptData lets a logged-on connection stream events. Both kinds accept
// both events, as in the existing server.
func (srv *Server) acceptData(ic *ingestConn) {
	h := func(_ *socketio.Socket, e *socketio.Event) { srv.onData(ic, e) }
	ic.s.On("obs_data", h)
	ic.s.On("aux_data", h)
}

func (srv *Server) onData(ic *ingestConn, e *socketio.Event) {
	payload, err := eventText(e)
	if err != nil {
		srv.logDrop(ic, slog.LevelWarn, "dropped data: not a JSON string", "event", e.Name, "err", err)
		return
	}
	// The bytes are read-only views of the immutable string: ParseEvent
	// slices them without copying, and nothing writes to them.
	raw := unsafe.Slice(unsafe.StringData(payload), len(payload))
	ev, err := match.ParseEvent(raw)
	if err != nil {
		srv.logDrop(ic, slog.LevelWarn, "dropped malformed data", "event", e.Name, "err", err, "bytes", len(payload))
		return
	}
	aux := ic.bindAux(&ev)
	if aux && !strings.HasPrefix(ev.Type, "aux_") {
		// An auxiliary client streams one player's view; round_info,
		// match_start or game_end from it would let anyone who can read
		// a match id off an overlay end or rewrite the match.
		srv.logDrop(ic, slog.LevelWarn, "dropped non-auxiliary event from an auxiliary connection", "type", ev.Type, "matchId", ev.MatchID)
		return
	}
	if srv.ctrl.broker.forwardAux(ic, &ev, payload) { // its match is on another node
		return
	}
	if err := srv.ctrl.ingest(ev, payload, ic); err != nil {
		switch {
		case errors.Is(err, errNoMatch), errors.Is(err, errMatchRemoved):
			srv.logDrop(ic, slog.LevelInfo, "dropped data for no live match", "type", ev.Type, "groupCode", ev.GroupCode, "matchId", ev.MatchID)
		case errors.Is(err, errForeignMatch):
			srv.logDrop(ic, slog.LevelWarn, "dropped data for another match than the connection's", "type", ev.Type, "groupCode", ev.GroupCode, "matchId", ev.MatchID)
		case errors.Is(err, match.ErrForeignPlayer):
			srv.logDrop(ic, slog.LevelWarn, "dropped auxiliary data for another player than the connection's", "type", ev.Type, "playerId", ev.AuxPlayer, "err", err)
		default:
			srv.logDrop(ic, slog.LevelWarn, "event rejected by the match", "type", ev.Type, "groupCode", ev.GroupCode, "matchId", ev.MatchID, "err", err)
		}
	}
}

func (srv *Server) ingestClosed(ic *ingestConn) {
	srv.ctrl.broker.auxClosed(ic)
	ic.mu.Lock()
	lm, aux, pid := ic.lm, ic.aux, ic.playerID
	ic.mu.Unlock()
	if lm == nil {
		return
	}
	srv.ctrl.unbind(lm, ic)
	if aux && pid != "" {
		srv.ctrl.auxDisconnected(lm, pid)
		srv.log.Info("auxiliary client disconnected", "groupCode", lm.code, "playerId", pid)
	}
}
