package relay

// Recovery after a restart (issue 8). The replay file is the match's event
// log and the source of truth: a match is its logon (the file's header)
// plus every event routed to it, each applied at the time it was stamped
// with when it was received. Rebuilding a match is applying them again;
// match.Match keeps its timers (round timeout, spike, team timeouts,
// toasts) as absolute deadlines on that clock, so they come back as they
// were and the first tick afterwards fires whatever fell due while the
// server was down.
//
// Which files come back: for every group code the newest file (by
// logStartTime) decides; it is recovered when it has no game_end, its last
// event is younger than the inactivity expiry and its group secret sidecar
// exists (files of other servers have none). Older files of the same code
// are superseded, so one group code never gets two matches. A file with a
// game_end less than the team info's lifetime ago, the newest of its code
// or not and with or without its sidecar (removed at the end), gives its
// code's team info back for what is left of that lifetime. A torn last
// line (the process died inside a write, or the machine crashed) is cut
// off; damage before the last line makes the file unreadable and it is
// left alone.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replaylog"
)

// auxRejoinGrace is how long a recovered match waits for the auxiliary
// clients that fed it before the crash to log on again; the players of
// those that do not are then marked disconnected, as a closed auxiliary
// connection would have done. A variable for the tests.
var auxRejoinGrace = 30 * time.Second

// auxRejoinAfter starts the grace's timer: time.AfterFunc, or in a test a
// timer the test fires when it chooses.
var auxRejoinAfter = func(d time.Duration, f func()) { time.AfterFunc(d, f) }

// recoverCandidate is the newest replay file of one group code.
type recoverCandidate struct {
	path    string
	code    string
	startMs int64
	others  []string // older files of the same code
}

// recoverMatches implements Server.RecoverMatches.
func (c *controller) recoverMatches() (RecoveryReport, error) {
	var rep RecoveryReport
	dir := c.cfg.ReplayDir
	if dir == "" {
		return rep, nil
	}
	began := time.Now()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("match recovery: %w", err)
	}
	now := c.now()
	byCode := make(map[string]*recoverCandidate)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !replayfile.IsFileName(name) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			rep.Skipped++
			continue
		}
		// Nothing was written to it since before the expiry (and the team
		// info's lifetime), so its last event is older: expired without
		// reading it.
		if now.Sub(info.ModTime()) > max(c.cfg.InactivityTimeout, c.cfg.TeamInfoTTL) {
			rep.Skipped++
			c.dropSecretOf(path)
			continue
		}
		h, err := replaylog.ReadHeader(path)
		if err != nil || h.GroupCode == "" {
			rep.Skipped++
			c.log.Warn("match recovery: replay file skipped", "file", path, "reason", "unreadable header", "err", err)
			continue
		}
		cand := byCode[h.GroupCode]
		switch {
		case cand == nil:
			byCode[h.GroupCode] = &recoverCandidate{path: path, code: h.GroupCode, startMs: h.LogStartTime}
		case h.LogStartTime > cand.startMs || h.LogStartTime == cand.startMs && path > cand.path:
			cand.others = append(cand.others, cand.path)
			cand.path, cand.startMs = path, h.LogStartTime
		default:
			cand.others = append(cand.others, path)
		}
	}
	codes := make([]string, 0, len(byCode))
	for code := range byCode {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		cand := byCode[code]
		for _, old := range cand.others {
			rep.Skipped++
			c.restoreTeamInfo(old, code, now)
			c.log.Debug("match recovery: replay file skipped", "file", old, "reason", "superseded by a newer file of the group code", "newer", cand.path)
			c.dropSecretOf(old)
		}
		if c.recoverOne(cand, now) {
			rep.Recovered++
		} else {
			rep.Skipped++
		}
	}
	c.log.Info("match recovery done", "recovered", rep.Recovered, "skipped", rep.Skipped,
		"dir", dir, "took", time.Since(began).Round(time.Millisecond))
	return rep, nil
}

func (c *controller) dropSecretOf(replayPath string) {
	if err := os.Remove(replayfile.SecretPath(replayPath)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("match recovery: group secret sidecar not removed", "file", replayPath, "err", err)
	}
}

// recoverOne rebuilds the match of one replay file and registers it; it
// logs why when it does not.
func (c *controller) recoverOne(cand *recoverCandidate, now time.Time) bool {
	skip := func(reason string, attrs ...any) bool {
		c.log.Info("match recovery: replay file skipped", append([]any{"file", cand.path, "groupCode", cand.code, "reason", reason}, attrs...)...)
		return false
	}
	if c.get(cand.code) != nil {
		return skip("group code already live")
	}
	secret, sessions, err := readSidecar(replayfile.SecretPath(cand.path))
	if err != nil {
		// The end of a match removes its sidecar: its team info may be due.
		if c.restoreTeamInfo(cand.path, cand.code, now) {
			return skip("finished (game_end)", "teamInfo", "restored")
		}
		return skip("no group secret sidecar (not written by this relay?)", "err", err)
	}
	auxPlayers := make(map[string]struct{})
	m, sc, rejected, err := replayMatch(cand.path, secret, func(ev *match.Event) {
		if !ev.HasGroupCode && ev.PlayerID != "" {
			auxPlayers[ev.PlayerID] = struct{}{}
		}
	})
	if err != nil {
		return skip("unreadable", "err", err)
	}
	if m.Ended() {
		c.dropSecretOf(cand.path)
		c.keepTeamInfo(cand.code, m, sc.LastTs, now)
		return skip("finished (game_end)")
	}
	last := time.UnixMilli(max(sc.LastTs, sc.Header.LogStartTime))
	if idle := now.Sub(last); idle > c.cfg.InactivityTimeout {
		c.dropSecretOf(cand.path)
		return skip("expired", "idle", idle.Round(time.Second))
	}
	if sc.Torn != nil {
		c.log.Warn("match recovery: torn last line dropped", "file", cand.path, "groupCode", cand.code,
			"keptBytes", sc.GoodEnd, "err", sc.Torn)
	}

	lm := &liveMatch{
		c:            c,
		code:         cand.code,
		secret:       secret,
		m:            m,
		version:      1, // the rebuilt state is news to every overlay
		lastActivity: last,
		conns:        make(map[*ingestConn]struct{}),
	}
	lm.timer = time.AfterFunc(time.Hour, lm.onTimer)
	lm.timer.Stop()
	sh := c.shardOf(cand.code)
	sh.mu.Lock()
	if sh.m[cand.code] != nil {
		sh.mu.Unlock()
		return skip("group code already live")
	}
	sh.m[cand.code] = lm
	c.count.Add(1)
	sh.mu.Unlock()

	lm.mu.Lock()
	if id := m.MatchID(); id != "" {
		c.reindexLocked(lm, "", id)
		lm.matchID = id
	}
	// The ingest sessions bound before the restart: their clients recover
	// without a logon (sessions.go).
	c.adoptSessionsLocked(lm, sessions)
	lm.mu.Unlock()

	rl, err := replaylog.Reopen(c.replay, cand.code, cand.path, sc.GoodEnd)
	if err != nil {
		c.log.Error("match recovery: replay file not continued", "file", cand.path, "groupCode", cand.code, "err", err)
	} else {
		lm.mu.Lock()
		lm.replay = rl
		lm.mu.Unlock()
	}
	if len(auxPlayers) > 0 {
		auxRejoinAfter(auxRejoinGrace, func() { c.auxRejoinExpired(lm, auxPlayers) })
	}
	c.log.Info("match recovered", "groupCode", cand.code, "matchId", lm.matchID, "file", cand.path,
		"events", sc.Events, "rejected", rejected, "invalid", sc.Invalid, "tornTail", sc.Torn != nil, "sessions", len(sessions),
		"lastEvent", now.Sub(last).Round(time.Second))
	return true
}

// restoreTeamInfo keeps the team info of path's match, of group code
// code, if it ended less than TeamInfoTTL ago (keepTeamInfo); it reports
// whether it did. No secret is needed for it: the file is read only for
// the teams and the score.
func (c *controller) restoreTeamInfo(path, code string, now time.Time) bool {
	m, sc, _, err := replayMatch(path, "", nil)
	if err != nil || !m.Ended() {
		return false
	}
	return c.keepTeamInfo(code, m, sc.LastTs, now)
}

// replayMatch rebuilds the match of the replay file at path (its secret
// secret) by applying the file's events in order until the match ends;
// seen, if not nil, sees each event after its apply. rejected counts the
// events the match refused (it refused them the first time too). m is
// not nil when err is nil.
func replayMatch(path, secret string, seen func(*match.Event)) (m *match.Match, sc replaylog.ScanResult, rejected int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, sc, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, sc, 0, err
	}
	sc, err = replaylog.Scan(f, st.Size(), func(h replayfile.Header) error {
		l, err := match.ParseLogon(h.Raw)
		if err != nil {
			return err
		}
		m, err = match.New(l, secret, time.UnixMilli(h.LogStartTime))
		return err
	}, func(ev *match.Event, ts int64) bool {
		if _, err := m.Apply(*ev, time.UnixMilli(ts)); err != nil {
			rejected++
		}
		if seen != nil {
			seen(ev)
		}
		return m.Ended()
	})
	if err == nil && m == nil {
		err = errors.New("replay file without a header")
	}
	return m, sc, rejected, err
}

// keepTeamInfo keeps the team info of m, ended at endMs (its game_end's
// time), for /getTeamInfoForCode until TeamInfoTTL after the end, as
// finish did before the restart; a code keeps the info that lives
// longest (the match that ended last). It reports whether the info is
// kept.
func (c *controller) keepTeamInfo(code string, m *match.Match, endMs int64, now time.Time) bool {
	ti := m.FinishedTeamInfo()
	if ti == nil {
		return false
	}
	expires := time.UnixMilli(endMs).Add(c.cfg.TeamInfoTTL)
	if !now.Before(expires) {
		return false
	}
	c.finishedMu.Lock()
	defer c.finishedMu.Unlock()
	if fi, ok := c.finished[code]; ok && !fi.expires.Before(expires) {
		return true
	}
	c.finished[code] = finishedInfo{json: ti.AppendJSON(nil), expires: expires}
	return true
}

// auxRejoinExpired marks the players whose auxiliary client fed the match
// before the restart and has not logged on again.
func (c *controller) auxRejoinExpired(lm *liveMatch, players map[string]struct{}) {
	select {
	case <-c.stop:
		return
	default:
	}
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return
	}
	back := make(map[string]bool, len(lm.conns))
	for ic := range lm.conns {
		ic.mu.Lock()
		if ic.aux {
			back[ic.playerID] = true
		}
		ic.mu.Unlock()
	}
	n := 0
	for pid := range players {
		if !back[pid] {
			lm.m.AuxDisconnected(pid)
			n++
		}
	}
	if n > 0 {
		lm.version++
	}
	lm.mu.Unlock()
	if n > 0 {
		c.log.Info("auxiliary clients did not return after recovery", "groupCode", lm.code, "players", n)
		c.schedule(lm)
	}
}
