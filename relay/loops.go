package relay

import (
	"time"

	"spectra-relay/relay/replaylog"
)

// kickFlush asks the flush loop for an early round.
func (c *controller) kickFlush() {
	select {
	case c.flushKick <- struct{}{}:
	default:
	}
}

func (c *controller) tickLoop() {
	defer c.loops.Done()
	t := time.NewTicker(c.cfg.SendInterval)
	defer t.Stop()
	var scratch []*liveMatch
	lastSweep := c.now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := c.now()
		c.noteBurst(now)
		scratch = c.snapshot(scratch[:0])
		for _, lm := range scratch {
			lm.mu.Lock()
			if lm.removed {
				lm.mu.Unlock()
				continue
			}
			changed := lm.m.Tick(now)
			if changed {
				lm.version++
				lm.lastActivity = now
			}
			idle := now.Sub(lm.lastActivity) > c.cfg.InactivityTimeout
			lm.mu.Unlock()
			switch {
			case idle:
				c.remove(lm, "inactive")
			case changed:
				c.schedule(lm)
			}
		}
		clear(scratch)
		if now.Sub(lastSweep) >= time.Minute {
			lastSweep = now
			c.expireTeamInfo(now)
		}
	}
}

// snapshot appends every live match to dst.
func (c *controller) snapshot(dst []*liveMatch) []*liveMatch {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		for _, lm := range sh.m {
			dst = append(dst, lm)
		}
		sh.mu.RUnlock()
	}
	return dst
}

func (c *controller) expireTeamInfo(now time.Time) {
	c.finishedMu.Lock()
	for code, fi := range c.finished {
		if now.After(fi.expires) {
			delete(c.finished, code)
		}
	}
	c.finishedMu.Unlock()
}

// flushLoop writes buffered replay events to disk, off the ingest path:
// every replaylog.FlushInterval, which bounds what a killed process loses, or
// sooner when a buffer grows large.
func (c *controller) flushLoop() {
	defer c.loops.Done()
	t := time.NewTicker(replaylog.FlushInterval)
	defer t.Stop()
	var scratch []*liveMatch
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.flushKick:
		}
		scratch = c.snapshot(scratch[:0])
		for _, lm := range scratch {
			lm.mu.Lock()
			rl := lm.replay
			lm.mu.Unlock()
			if rl != nil {
				if err := c.flushReplay(rl); err != nil {
					c.log.Error("replay file write", "groupCode", lm.code, "err", err)
				}
			}
		}
		clear(scratch)
	}
}

// Close stops the loops and flushes and closes every replay file. The live
// matches stay in memory (their connections are closed by the servers).
func (c *controller) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.loops.Wait()
	for _, lm := range c.snapshot(nil) {
		lm.sendMu.Lock()
		lm.timer.Stop()
		lm.armed = false
		lm.sendMu.Unlock()
		lm.mu.Lock()
		rl := lm.replay
		lm.replay = nil
		lm.mu.Unlock()
		if rl != nil {
			if err := c.closeReplay(rl); err != nil {
				c.log.Error("replay file close", "groupCode", lm.code, "err", err)
			}
		}
	}
	c.closers.Wait()
}
