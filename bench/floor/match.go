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
	"sync/atomic"
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
	state    *object
	players  map[string]*object // riotId → player object inside state
	toastOn  bool
	enc      []byte // the state's JSON, reused
	matchID  string
	changed  bool
	overlays []*conn // appended in place, removed by copy: the loop reads a snapshot
	ingest   map[net.Conn]struct{}
	wake     chan struct{} // an event changed the state; buffered 1
	sends    atomic.Int64  // broadcasts so far (WriteMetrics)

	// The latest frame, for overlays that log on between sends.
	last *sendFrame

	// The shared context; only encodeLocked touches it, under mu.
	seq  uint64
	comp *flate.Writer // the shared context (nil in floor+: plus.dz)
	cbuf bytes.Buffer
	// freeMu guards the context-free compressor: the loop and join both
	// build context-free variants. A leaf lock (taken under mu or wmu).
	freeMu sync.Mutex
	fresh  *flate.Writer
	fbuf   bytes.Buffer
	// plus: floor+'s encoder and io_uring batches (Config.Plus); nil for
	// the plain floor.
	plus *plusState
	// reset: no overlay got the last frame, so the shared context no longer
	// matches anyone's window: the next frame starts a new epoch.
	reset bool
}

// sendFrame is one match_data message in the forms it leaves in.
type sendFrame struct {
	seq        uint64
	epochStart bool
	msgLen     int    // the WebSocket message's length before compression
	plain      []byte // uncompressed frame; built on first need, under freeMu
	payload    []byte // the message, for the context-free variant
	ctx        []byte // compressed with the shared context
	free       []byte // compressed alone; built on first need, under freeMu
}

func newMatch(s *Server, groupCode string) *match {
	var b [6]byte
	rand.Read(b[:])
	m := &match{s: s, groupCode: groupCode, secret: strings.ToUpper(hex.EncodeToString(b[:])),
		players: map[string]*object{}, ingest: map[net.Conn]struct{}{}, wake: make(chan struct{}, 1)}
	st, _ := decodeOrdered(s.base) // New checked it is an object
	m.state, _ = st.(*object)
	if m.state == nil {
		m.state = &object{}
	}
	m.state.set("groupCode", groupCode)
	m.state.set("isRunning", true)
	for _, t := range list(m.state.get("teams")) {
		for _, p := range list(obj(t).get("players")) {
			if po := obj(p); po != nil {
				if id, _ := po.get("riotId").(string); id != "" {
					m.players[id] = po
				}
			}
		}
	}
	if ti := obj(m.state.get("toastInfo")); ti != nil {
		m.toastOn = ti.get("active") == true
	}
	if s.cfg.Plus {
		m.plus = newPlus(s) // its shared context is deltaflate's
	} else {
		m.comp, _ = flate.NewWriter(&m.cbuf, s.cfg.Level)
	}
	m.fresh, _ = flate.NewWriter(&m.fbuf, s.cfg.Level)
	return m
}

func obj(v any) *object {
	o, _ := v.(*object)
	if o == nil {
		return &object{}
	}
	return o
}

func list(v any) []any { l, _ := v.([]any); return l }

var scoreFields = []string{"kills", "deaths", "assists", "money", "currUltPoints", "maxUltPoints", "isAlive", "hasSpike"}

// apply patches the state with one event, as bench/baseline/server.js does;
// values are copied from the event as they came.
func (m *match) apply(ev *event) {
	var fields map[string]json.RawMessage
	if len(ev.Data) > 0 && ev.Data[0] == '{' {
		if json.Unmarshal(ev.Data, &fields) != nil {
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	switch ev.Type {
	case "scoreboard", "aux_scoreboard":
		var id string
		json.Unmarshal(fields["playerId"], &id)
		if p := m.players[id]; p != nil {
			for _, f := range scoreFields {
				if v, ok := fields[f]; ok {
					p.set(f, v)
				}
			}
		}
	case "aux_health":
		if p := m.players[ev.PlayerID]; p != nil && len(ev.Data) > 0 && (ev.Data[0] == '-' || ev.Data[0] >= '0' && ev.Data[0] <= '9') {
			p.set("health", ev.Data)
		}
	case "round_info":
		if fields != nil {
			s.set("roundNumber", rawOrNull(fields["roundNumber"]))
			s.set("roundPhase", rawOrNull(fields["roundPhase"]))
		}
	case "score":
		if ts := list(s.get("teams")); fields != nil && len(ts) == 2 {
			obj(ts[0]).set("roundsWon", rawOrNull(fields["team_0"]))
			obj(ts[1]).set("roundsWon", rawOrNull(fields["team_1"]))
		}
	case "match_start":
		s.set("matchId", ev.Data)
		m.matchID = ""
		json.Unmarshal(ev.Data, &m.matchID)
	case "observing":
		var name string
		json.Unmarshal(ev.Data, &name)
		for _, t := range list(s.get("teams")) {
			for _, p := range list(obj(t).get("players")) {
				if po := obj(p); len(po.keys) > 0 {
					sn, _ := po.get("searchName").(string)
					po.set("isObserved", sn == name)
				}
			}
		}
	case "toast":
		if m.toastOn {
			obj(s.get("toastInfo")).set("active", false)
			m.toastOn = false
		} else if fields != nil {
			ti, err := decodeOrdered(ev.Data)
			if to, ok := ti.(*object); ok && err == nil {
				to.set("active", true)
				s.set("toastInfo", to)
				m.toastOn = true
			}
		}
	}
	s.set("timestamp", time.Now().UnixMilli())
	m.changed = true
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func rawOrNull(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return v
}

// encodeLocked builds the next frame from the state: the JSON once, the
// Socket.IO packet around it, and its compression with the shared context.
func (m *match) encodeLocked() *sendFrame {
	m.enc = appendValue(m.enc[:0], m.state)
	// The frame is kept by overlays' pending writes and by m.last: a new
	// buffer per send, sized from the last one.
	msg := make([]byte, 0, len(m.enc)+len(m.enc)/8+32)
	msg = append(msg, `42["match_data",`...)
	msg = appendString(msg, m.enc)
	msg = append(msg, ']')
	if m.reset || m.seq == 0 {
		if m.plus != nil {
			m.plus.dz.Reset()
		} else {
			m.comp.Reset(&m.cbuf)
		}
		m.reset = false
		m.seq++
		return m.frame(msg, true)
	}
	m.seq++
	return m.frame(msg, false)
}

func (m *match) frame(msg []byte, epochStart bool) *sendFrame {
	f := &sendFrame{seq: m.seq, epochStart: epochStart, msgLen: len(msg), payload: msg}
	if m.plus != nil {
		f.ctx = m.plus.compress(msg)
		return f
	}
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

// plainOf is f as an uncompressed frame, for overlays without deflate.
func (m *match) plainOf(f *sendFrame) []byte {
	m.freeMu.Lock()
	defer m.freeMu.Unlock()
	if f.plain == nil {
		f.plain = textFrame(nil, f.payload)
	}
	return f.plain
}

// loop sends the state when it changed, at most once per SendInterval:
// at once if the last send is at least that old (leading edge, as
// spectra-server does), else when it is. It also sends the pings.
func (m *match) loop() {
	ping := time.NewTicker(m.s.cfg.PingInterval)
	defer ping.Stop()
	defer m.plus.close()
	wait := time.NewTimer(0)
	<-wait.C
	var last time.Time
	for {
		select {
		case <-m.s.done:
			return
		case <-ping.C:
			m.ping()
			continue
		case <-m.wake:
		}
		if d := time.Until(last.Add(m.s.cfg.SendInterval)); d > 0 {
			wait.Reset(d)
			select {
			case <-m.s.done:
				return
			case <-wait.C:
			}
		}
		last = time.Now()
		m.send()
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
	m.sends.Add(1)
	if !m.broadcast(ovs, f) {
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
	b, ok := m.frameFor(c, f)
	if ok {
		c.writeLocked(b)
	}
	return ok
}

// frameFor picks the form of f c's window can decode and records that c
// gets it; false when c is dead or draining (it skips f). Under c.wmu.
func (m *match) frameFor(c *conn, f *sendFrame) ([]byte, bool) {
	if c.dead || c.pending != nil {
		return nil, false
	}
	if !c.deflate {
		return m.plainOf(f), true
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
	return b, true
}

// join adds an overlay and sends it logon_success and, if the match has
// sent anything yet, the latest match_data (in one write). Done under mu,
// so that the loop's next frame reaches it after this one.
func (m *match) join(c *conn, ack []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.m.Store(m)
	m.overlays = append(m.overlays, c)
	f := m.last
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if f == nil {
		c.writeLocked(ack)
		return
	}
	var b []byte
	if !c.deflate {
		b = m.plainOf(f)
	} else {
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
