package relay

import (
	"sync"
	"time"
)

// When a tournament's overlays all reconnect at once (a relay restart, a
// network blip), every logon competes for the CPU with the broadcasts to
// the overlays already back, and on a small machine the broadcasts win:
// each logon waits behind whole fan-outs at every round trip of its
// handshake, so the last overlays stay blank for many seconds while the
// first get 10 states a second. While overlays log on at the burst
// threshold or faster (LogonBurst, DefaultLogonBurst per second unless
// configured), the controller therefore sends each match
// at most every burstSendFactor send intervals; the spec's ceiling is 10
// sends per second, not a floor, and a state sent less often is still the
// newest one. Sends return to the normal interval within a second of the
// burst's end.
const (
	// DefaultLogonBurst is the logon rate (per second, over the last
	// 0.5–1 s) from which sends are slowed.
	DefaultLogonBurst = 100
	// burstSendFactor stretches the send interval during a burst.
	burstSendFactor = 4
	// burstBucket is the width of one counting bucket: the rate looks at
	// the current bucket and the one before it.
	burstBucket = 500 * time.Millisecond
)

// logonMeter counts logons in two adjacent time buckets. A mutex, not
// atomics: a lock-free roll-over lost the logons added between the swap of
// the epoch and the reset of the count (7 999 of 8 000 concurrent adds in
// TestLogonMeterConcurrentAdds), and one short leaf lock per overlay logon
// costs nothing next to the logon itself.
type logonMeter struct {
	mu    sync.Mutex
	epoch int64 // bucket number of cur
	cur   int64 // logons in bucket epoch
	prev  int64 // logons in bucket epoch-1
}

func bucketOf(now time.Time) int64 { return now.UnixNano() / int64(burstBucket) }

// rollLocked moves the buckets forward to bucket e (never back).
func (m *logonMeter) rollLocked(e int64) {
	switch {
	case m.epoch >= e:
		return
	case m.epoch == e-1:
		m.prev = m.cur
	default:
		m.prev = 0
	}
	m.epoch, m.cur = e, 0
}

// add counts one logon at now.
func (m *logonMeter) add(now time.Time) {
	m.mu.Lock()
	m.rollLocked(bucketOf(now))
	m.cur++
	m.mu.Unlock()
}

// perSecond is the logon rate at now: the logons of the current and the
// previous bucket, scaled to one second.
func (m *logonMeter) perSecond(now time.Time) int64 {
	e := bucketOf(now)
	m.mu.Lock()
	var n int64
	switch m.epoch {
	case e:
		n = m.cur + m.prev
	case e - 1:
		n = m.cur
	}
	m.mu.Unlock()
	return n * int64(time.Second) / int64(2*burstBucket)
}

// inBurst tells whether overlays are logging on faster than the burst
// threshold at now. A threshold under 0 turns the slowing off.
func (c *controller) inBurst(now time.Time) bool {
	return c.cfg.LogonBurst >= 0 && c.logons.perSecond(now) >= int64(c.cfg.LogonBurst)
}

// sendInterval is the least time between two sends of a match at now.
func (c *controller) sendInterval(now time.Time) time.Duration {
	if c.inBurst(now) {
		return burstSendFactor * c.cfg.SendInterval
	}
	return c.cfg.SendInterval
}

// overlayLoggingOn counts an overlay logon towards the burst rate.
func (c *controller) overlayLoggingOn() { c.logons.add(c.now()) }

// noteBurst logs when a logon burst starts slowing the sends and when it
// ends; the tick loop calls it every send interval.
func (c *controller) noteBurst(now time.Time) {
	in := c.inBurst(now)
	if in == c.bursting {
		return
	}
	c.bursting = in
	if in {
		c.m.bursts.Inc()
		c.log.Info("overlay logon burst: match_data sent less often until it passes",
			"logonsPerSecond", c.logons.perSecond(now), "sendInterval", burstSendFactor*c.cfg.SendInterval)
	} else {
		c.log.Info("overlay logon burst over: match_data at the normal interval", "sendInterval", c.cfg.SendInterval)
	}
}
