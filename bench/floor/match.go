package floor

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"time"
)

// event is what observers and auxiliary clients send in obs_data / aux_data.
type event struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	GroupCode string          `json:"groupCode"`
	MatchID   string          `json:"matchId"`
	PlayerID  string          `json:"playerId"`
}

// match is one group code: its state, its overlays and its send loop.
type match struct {
	s         *Server
	groupCode string
	secret    string

	mu       sync.Mutex
	state    map[string]any
	players  map[string]map[string]any // riotId → player object inside state
	matchID  string
	changed  bool
	overlays []*conn // appended in place, removed by copy: the loop reads a snapshot
	ingest   map[net.Conn]struct{}

	// The latest frame, for overlays that log on between sends.
	last *sendFrame

	// The shared context; only encodeLocked touches it, under mu.
	seq  uint64
	comp *flate.Writer // the shared context
	cbuf bytes.Buffer
	// freeMu guards the context-free compressor: the loop and join both
	// build context-free variants. A leaf lock (taken under mu or wmu).
	freeMu sync.Mutex
	fresh  *flate.Writer
	fbuf   bytes.Buffer
	// reset: no overlay got the last frame, so the shared context no longer
	// matches anyone's window: the next frame starts a new epoch.
	reset bool
}

// sendFrame is one match_data message in the forms it leaves in.
type sendFrame struct {
	seq        uint64
	epochStart bool
	msgLen     int    // the WebSocket message's length before compression
	plain      []byte // uncompressed frame
	payload    []byte // the message, for the context-free variant
	ctx        []byte // compressed with the shared context
	free       []byte // compressed alone; built on first need, under freeMu
}

func newMatch(s *Server, groupCode string) *match {
	var b [6]byte
	rand.Read(b[:])
	m := &match{s: s, groupCode: groupCode, secret: strings.ToUpper(hex.EncodeToString(b[:])),
		players: map[string]map[string]any{}, ingest: map[net.Conn]struct{}{}}
	json.Unmarshal(s.base, &m.state)
	m.state["groupCode"] = groupCode
	m.state["isRunning"] = true
	for _, t := range list(m.state["teams"]) {
		for _, p := range list(obj(t)["players"]) {
			if po := obj(p); po != nil {
				if id, _ := po["riotId"].(string); id != "" {
					m.players[id] = po
				}
			}
		}
	}
	m.comp, _ = flate.NewWriter(&m.cbuf, s.cfg.Level)
	m.fresh, _ = flate.NewWriter(&m.fbuf, s.cfg.Level)
	return m
}

func obj(v any) map[string]any { o, _ := v.(map[string]any); return o }
func list(v any) []any         { l, _ := v.([]any); return l }

var scoreFields = []string{"kills", "deaths", "assists", "money", "currUltPoints", "maxUltPoints", "isAlive", "hasSpike"}

// apply patches the state with one event, as bench/baseline/server.js does.
func (m *match) apply(ev *event) {
	var d any
	if json.Unmarshal(ev.Data, &d) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	switch ev.Type {
	case "scoreboard", "aux_scoreboard":
		if do := obj(d); do != nil {
			id, _ := do["playerId"].(string)
			if p := m.players[id]; p != nil {
				for _, f := range scoreFields {
					if v, ok := do[f]; ok {
						p[f] = v
					}
				}
			}
		}
	case "aux_health":
		if p := m.players[ev.PlayerID]; p != nil {
			if v, ok := d.(float64); ok {
				p["health"] = v
			}
		}
	case "round_info":
		if do := obj(d); do != nil {
			s["roundNumber"], s["roundPhase"] = do["roundNumber"], do["roundPhase"]
		}
	case "score":
		if do := obj(d); do != nil {
			if ts := list(s["teams"]); len(ts) == 2 {
				if t := obj(ts[0]); t != nil {
					t["roundsWon"] = do["team_0"]
				}
				if t := obj(ts[1]); t != nil {
					t["roundsWon"] = do["team_1"]
				}
			}
		}
	case "match_start":
		s["matchId"] = d
		m.matchID, _ = d.(string)
	case "observing":
		for _, t := range list(s["teams"]) {
			for _, p := range list(obj(t)["players"]) {
				if po := obj(p); po != nil {
					po["isObserved"] = po["searchName"] == d
				}
			}
		}
	case "toast":
		if ti := obj(s["toastInfo"]); ti != nil && ti["active"] == true {
			ti["active"] = false
		} else if do := obj(d); do != nil {
			do["active"] = true
			s["toastInfo"] = do
		}
	}
	s["timestamp"] = time.Now().UnixMilli()
	m.changed = true
}

// encodeLocked builds the next frame from the state: the JSON once, the
// Socket.IO packet around it, and its compression with the shared context.
func (m *match) encodeLocked() *sendFrame {
	inner, err := json.Marshal(m.state)
	if err != nil {
		return nil
	}
	arg, _ := json.Marshal(string(inner))
	msg := make([]byte, 0, len(arg)+20)
	msg = append(msg, `42["match_data",`...)
	msg = append(msg, arg...)
	msg = append(msg, ']')
	if m.reset || m.seq == 0 {
		m.comp.Reset(&m.cbuf)
		m.reset = false
		m.seq++
		return m.frame(msg, true)
	}
	m.seq++
	return m.frame(msg, false)
}

func (m *match) frame(msg []byte, epochStart bool) *sendFrame {
	f := &sendFrame{seq: m.seq, epochStart: epochStart, msgLen: len(msg), payload: msg, plain: textFrame(nil, msg)}
	m.cbuf.Reset()
	m.comp.Write(msg)
	m.comp.Flush()
	f.ctx = compressedFrame(m.cbuf.Bytes())
	return f
}

// free is f compressed on its own, decodable whatever a client's window
// holds; built once per frame.
func (m *match) free(f *sendFrame) []byte {
	m.freeMu.Lock()
	defer m.freeMu.Unlock()
	if f.free == nil {
		m.fbuf.Reset()
		m.fresh.Reset(&m.fbuf)
		m.fresh.Write(f.payload)
		m.fresh.Flush()
		f.free = compressedFrame(m.fbuf.Bytes())
	}
	return f.free
}

// loop sends the state every SendInterval when it changed, and pings.
func (m *match) loop() {
	t := time.NewTicker(m.s.cfg.SendInterval)
	defer t.Stop()
	nextPing := time.Now().Add(m.s.cfg.PingInterval)
	for {
		select {
		case <-m.s.done:
			return
		case now := <-t.C:
			if !now.Before(nextPing) {
				nextPing = now.Add(m.s.cfg.PingInterval)
				m.ping()
			}
			m.send()
		}
	}
}

func (m *match) ping() {
	m.mu.Lock()
	ovs := m.overlays
	m.mu.Unlock()
	for _, c := range ovs {
		c.write(pingFrame)
	}
}

// send is one broadcast: at most one frame per match per interval.
func (m *match) send() {
	m.mu.Lock()
	if !m.changed {
		m.mu.Unlock()
		return
	}
	m.changed = false
	ovs := m.overlays
	if len(ovs) == 0 {
		// Nobody would receive it: skip the work, restart the context.
		m.last, m.reset = nil, true
		m.mu.Unlock()
		return
	}
	f := m.encodeLocked()
	m.last = f
	m.mu.Unlock()
	if f == nil {
		return
	}
	sent := false
	for _, c := range ovs {
		if m.sendTo(c, f) {
			sent = true
		}
	}
	if !sent {
		m.mu.Lock()
		m.reset = true
		m.mu.Unlock()
	}
}

// sendTo writes f to one overlay in the form its window can decode: the
// shared-context frame if it holds the match's history (all frames of this
// epoch, or 32 KiB of consecutive ones), else the context-free one.
// An overlay still draining an earlier write skips this frame.
func (m *match) sendTo(c *conn, f *sendFrame) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead || c.pending != nil {
		return false
	}
	if !c.deflate {
		c.writeLocked(f.plain)
		return true
	}
	next := c.lastSeq+1 == f.seq
	var b []byte
	switch {
	case f.epochStart:
		b = f.ctx
		c.fromStart, c.contig = true, f.msgLen
	case next && (c.fromStart || c.contig >= windowSize):
		b = f.ctx
		c.contig += f.msgLen
	default:
		b = m.free(f)
		if next {
			c.contig += f.msgLen
		} else {
			c.fromStart, c.contig = false, f.msgLen
		}
	}
	c.lastSeq = f.seq
	c.writeLocked(b)
	return true
}

// join adds an overlay and sends it logon_success and, if the match has
// sent anything yet, the latest match_data (in one write). Done under mu,
// so that the loop's next frame reaches it after this one.
func (m *match) join(c *conn, ack []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.m = m
	m.overlays = append(m.overlays, c)
	f := m.last
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if f == nil {
		c.writeLocked(ack)
		return
	}
	b := f.plain
	if c.deflate {
		b = m.free(f)
		c.lastSeq, c.contig, c.fromStart = f.seq, f.msgLen, false
	}
	c.writeLocked(append(append(make([]byte, 0, len(ack)+len(b)), ack...), b...))
}

// remove forgets a connection that ended.
func (m *match) remove(c *conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ingest, c.conn)
	for i, o := range m.overlays {
		if o == c {
			ovs := make([]*conn, 0, len(m.overlays)-1)
			ovs = append(append(ovs, m.overlays[:i]...), m.overlays[i+1:]...)
			m.overlays = ovs
			return
		}
	}
}
