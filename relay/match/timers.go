package match

import (
	"math"
)

// nodeDelay converts a delay like Node's setTimeout: anything outside
// [1, 2^31-1] ms (including NaN) becomes 1 ms.
func nodeDelay(ms float64) int64 {
	if !(ms >= 1 && ms <= nodeTimeoutMaxMs) {
		return 1
	}
	return int64(ms)
}

func (m *Match) decrementCounter(side string) {
	tc, _ := m.tools.obj.get("timeoutCounter")
	v, err := getProp(tc, side)
	if err != nil {
		return
	}
	_ = m.setCounter(tc, side, jsNum(jsMax(0, v.toNumber()-1)))
}

func (m *Match) teamTimeout(left bool, now int64) error {
	side := "right"
	current := m.rightTimeout
	if left {
		side, current = "left", m.leftTimeout
	}
	if current {
		grace := m.toolNumber("timeoutDuration") - m.toolNumber("timeoutCancellationGracePeriod")
		// Cancelling inside the grace period is free; timeRemaining stays.
		if !(m.timeRemaining.toNumber() > grace) {
			m.decrementCounter(side)
		}
		m.leftTimeout, m.rightTimeout = false, false
		m.timeoutEndAt, m.timeoutTickAt = 0, 0
		return nil
	}
	tc, _ := m.tools.obj.get("timeoutCounter")
	remaining, err := getProp(tc, side)
	if err != nil {
		return err
	}
	if remaining.k != kUndefined && remaining.toNumber() <= 0 {
		return nil
	}
	m.leftTimeout, m.rightTimeout = left, !left
	m.techPause = false
	m.timeRemaining, _ = m.tools.obj.get("timeoutDuration")
	m.timeoutGracePeriodPassed = false
	m.timeoutEndAt = now + nodeDelay(m.toolNumber("timeoutDuration")*1000)
	m.timeoutTickAt = now + timeoutTickMs
	return nil
}

func (m *Match) toast(data jv, now int64) error {
	active, err := getProp(m.toastInfo, "active")
	if err != nil {
		return err
	}
	if active.truthy() {
		if err := setProp(m.toastInfo, "active", jsBool(false)); err != nil {
			return err
		}
		m.cancelToastTimer(m.toastCurrent)
		m.toastCurrent = 0
		return nil
	}
	// Own copy: one parsed Event may be applied to several matches.
	m.toastInfo = data.clone()
	if err := setProp(m.toastInfo, "active", jsTrue); err != nil {
		return err
	}
	m.eventNumber++
	dur, _ := getProp(data, "duration")
	if dur.k != kNull {
		m.toastNextID++
		// The previous handle is overwritten without clearing: that timer
		// still fires later, as in the existing server.
		m.toastCurrent = m.toastNextID
		m.toastTimers = append(m.toastTimers, toastTimer{at: now + nodeDelay(dur.toNumber()), id: m.toastCurrent})
	}
	return nil
}

func (m *Match) cancelToastTimer(id uint64) {
	if id == 0 {
		return
	}
	for i, t := range m.toastTimers {
		if t.id == id {
			m.toastTimers = append(m.toastTimers[:i], m.toastTimers[i+1:]...)
			return
		}
	}
}

// advance fires every timer due at or before now, earliest first. At equal
// deadlines the timeout end runs before the countdown tick (Node orders timer
// lists by creation when their expiry ties, and the end timer is created
// first), so a completed timeout leaves timeRemaining at 1.
func (m *Match) advance(now int64) {
	for {
		const none = math.MaxInt64
		next, which, toastIdx := int64(none), 0, -1
		if m.timeoutEndAt != 0 && m.timeoutEndAt <= now && m.timeoutEndAt < next {
			next, which = m.timeoutEndAt, 1
		}
		if m.timeoutTickAt != 0 && m.timeoutTickAt <= now && m.timeoutTickAt < next {
			next, which = m.timeoutTickAt, 2
		}
		for i, t := range m.toastTimers {
			if t.at <= now && t.at < next {
				next, which, toastIdx = t.at, 3, i
			}
		}
		switch which {
		case 0:
			return
		case 1:
			m.timeoutEndAt = 0
			if m.leftTimeout {
				m.decrementCounter("left")
			} else if m.rightTimeout {
				m.decrementCounter("right")
			}
			m.leftTimeout, m.rightTimeout = false, false
			m.timeoutTickAt = 0
			m.eventNumber++
		case 2:
			if m.timeRemaining.toNumber() > 0 {
				m.timeRemaining = jsNum(m.timeRemaining.toNumber() - 1)
				grace := m.toolNumber("timeoutDuration") - m.toolNumber("timeoutCancellationGracePeriod")
				if !m.timeoutGracePeriodPassed && m.timeRemaining.n <= grace {
					m.timeoutGracePeriodPassed = true
				}
				m.eventNumber++
				m.timeoutTickAt += timeoutTickMs
			} else {
				m.timeoutTickAt = 0
			}
		case 3:
			m.toastTimers = append(m.toastTimers[:toastIdx], m.toastTimers[toastIdx+1:]...)
			// A primitive toastInfo makes this throw in the existing server
			// before the counter moves.
			if setProp(m.toastInfo, "active", jsBool(false)) == nil {
				m.toastCurrent = 0
				m.eventNumber++
			}
		}
	}
}
