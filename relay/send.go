package relay

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"spectra-relay/socketio"
	"spectra-relay/socketio/siopacket"
)

// schedule sends lm's state now if the last send is at least SendInterval
// old, else makes sure the trailing timer will send it.
//
// It never waits for sendMu: while another goroutine holds it (a broadcast
// fanning out, a logon's snapshot), the change is left in lm.kick and the
// holder schedules it when it unlocks (unlockSend). An observer's read
// path thus never queues behind a fan-out of its match; the holder's
// re-check after its unlock means no change is left unscheduled.
func (c *controller) schedule(lm *liveMatch) {
	lm.kick.Store(true)
	c.trySchedule(lm)
}

// trySchedule schedules a pending kick unless sendMu is held, in which case
// its holder will.
func (c *controller) trySchedule(lm *liveMatch) {
	for lm.kick.Load() && lm.sendMu.TryLock() {
		if lm.kick.Swap(false) {
			c.scheduleLocked(lm)
		}
		lm.sendMu.Unlock()
	}
}

// unlockSend releases sendMu and schedules a change that arrived meanwhile.
func (lm *liveMatch) unlockSend() {
	lm.sendMu.Unlock()
	lm.c.trySchedule(lm)
}

// scheduleLocked is schedule's work. lm.sendMu held.
func (c *controller) scheduleLocked(lm *liveMatch) {
	if lm.armed {
		return // and dirtySince is set: the armed timer's send will clear it
	}
	now := c.now()
	if lm.dirtySince.IsZero() {
		lm.dirtySince = now
	}
	if wait := c.sendInterval(now) - now.Sub(lm.lastSend); wait > 0 {
		lm.armed = true
		lm.timer.Reset(wait)
		return
	}
	c.sendLocked(lm)
}

func (lm *liveMatch) onTimer() {
	lm.sendMu.Lock()
	defer lm.unlockSend()
	if !lm.armed {
		return // stopped by remove
	}
	lm.armed = false
	lm.c.sendLocked(lm)
}

var jsonBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// matchDataHead is the Socket.IO EVENT head of every match_data packet on
// the output port's default namespace, 2["match_data", — built once.
var matchDataHead = string(siopacket.AppendEventHead(nil, "/", "match_data", siopacket.NoID))

// sendLocked broadcasts the newest state if it has not been sent yet.
// lm.sendMu held: broadcasts of one match leave in version order.
func (c *controller) sendLocked(lm *liveMatch) {
	lm.mu.Lock()
	v := lm.version
	if v == lm.sent.Load() {
		lm.mu.Unlock()
		lm.dirtySince = time.Time{} // a send raced ahead of schedule
		return
	}
	bp := jsonBufPool.Get().(*[]byte)
	js := lm.m.AppendJSON((*bp)[:0])
	lm.mu.Unlock()

	pkt := newMatchDataPacket(js)
	*bp = js
	jsonBufPool.Put(bp)

	// Overlays that logged on since this version was made were sent it as
	// their snapshot, marked: this send leaves them out.
	var skip uint64
	if lm.snap.version == v {
		skip = lm.snap.mark
	}
	lm.snap = snapshot{version: v, pkt: pkt}
	lm.sent.Store(v)
	// The interval counts from the hand-over to the broadcast, not from the
	// decision to send: encoding a state takes longer under load, and the
	// overlays must see sends at least SendInterval apart.
	prev := lm.lastSend
	lm.lastSend = c.now()
	n := 0
	switch {
	case c.outF != nil:
		n, lm.snap.prep, lm.snap.framed = c.outF.BroadcastRawPreparedSkip(lm.code, pkt, true, skip)
	case c.out != nil:
		n = c.out.BroadcastRaw(lm.code, pkt, true)
	}
	c.broker.published(lm, v, pkt) // once to the other nodes
	c.m.sent(lm, len(pkt), n, c.now())
	// At debug level each send is logged with its distance to the previous
	// one on the server's clock (the interop test checks the rate by it);
	// otherwise this costs one Enabled call per match and send.
	if c.log.Enabled(context.Background(), slog.LevelDebug) && !prev.IsZero() {
		c.log.Debug("match_data sent", "groupCode", lm.code, "version", v, "gap", lm.lastSend.Sub(prev), "overlays", n)
	}
}

// newMatchDataPacket is appendMatchDataPacket into a buffer of its own,
// sized so that it never grows: quoting the state escapes about 13 % of
// its bytes (every key and string value has two quotes), and a buffer
// that grew would copy the packet and double what the send leaves for the
// collector.
func newMatchDataPacket(js []byte) []byte {
	n := len(matchDataHead) + len(js) + bytes.Count(js, []byte{'"'}) + bytes.Count(js, []byte{'\\'}) + 3
	return appendMatchDataPacket(make([]byte, 0, n), js)
}

// appendMatchDataPacket appends the Socket.IO packet
// 2["match_data","<js as a JSON string>"]: the overlays expect the state as
// JSON text inside a string argument.
func appendMatchDataPacket(dst, js []byte) []byte {
	dst = append(dst, matchDataHead...)
	dst = socketio.AppendJSONString(dst, js)
	return append(dst, ']')
}

// snapshot is one state version as overlays that join get it: the
// match_data packet, encoded once, and its frame (the broadcast's own, or
// made on the first logon), so that every wire form of it (the compressed
// one above all) is built once per version however many overlays log on.
// A liveMatch holds the newest one, guarded by its sendMu.
type snapshot struct {
	version uint64 // 0: none
	pkt     []byte // 2["match_data",<state as a JSON string>]; shared with a broadcast

	framed bool
	prep   socketio.Prepared

	// mark is not 0 when this version was not broadcast yet as the
	// snapshot was made (at a logon): an overlay sent the snapshot is
	// marked with it (Socket.MarkHas), and the broadcast of the version
	// leaves the marked ones out, so that each version reaches an overlay
	// once. Unique per controller, so a stale mark never matches.
	mark uint64
}

// prepared is the snapshot framed for namespace n, the overlays' one.
// lm.sendMu held.
func (sn *snapshot) prepared(n *socketio.Namespace) socketio.Prepared {
	if !sn.framed {
		sn.prep, sn.framed = n.PrepareRaw(sn.pkt), true
	}
	return sn.prep
}

// subscribe joins an overlay to a group's room and, when the match is live,
// emits the current state to that overlay alone; emit runs with lm.sendMu
// held and must not keep the snapshot, and marks the overlay with the
// snapshot's mark when it has one (the version's send is still due).
// Holding the shard lock while joining means a match created meanwhile
// cannot broadcast before the overlay is in the room; holding sendMu
// orders the snapshot before every later broadcast of the match.
func (c *controller) subscribe(code string, join func() error, emit func(*snapshot) error) error {
	sh := c.shardOf(code)
	sh.mu.RLock()
	lm := sh.m[code]
	if lm == nil { // the match may live on another node; the broker unlocks sh
		return c.broker.subscribeUnowned(sh, code, join, emit)
	}
	lm.sendMu.Lock()
	sh.mu.RUnlock()
	defer lm.unlockSend()
	if err := join(); err != nil {
		return err
	}
	lm.mu.Lock()
	if lm.removed {
		lm.mu.Unlock()
		return nil
	}
	v := lm.version
	if lm.snap.version != v {
		bp := jsonBufPool.Get().(*[]byte)
		js := lm.m.AppendJSON((*bp)[:0])
		lm.mu.Unlock()
		pkt := newMatchDataPacket(js)
		*bp = js
		jsonBufPool.Put(bp)
		// Later logons at this version reuse it; the broadcast of this
		// version (if still due) will replace it with its own.
		lm.snap = snapshot{version: v, pkt: pkt}
		if v != lm.sent.Load() {
			lm.snap.mark = c.marks.Add(1)
		}
	} else {
		lm.mu.Unlock()
	}
	return emit(&lm.snap)
}
