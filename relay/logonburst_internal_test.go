package relay

import (
	"sync"
	"testing"
	"time"
)

func TestLogonMeterRate(t *testing.T) {
	// t0 starts a bucket, so the offsets below say which bucket a logon
	// falls into.
	t0 := time.Unix(0, 0).Add(1000 * burstBucket)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		logons []int // ms after t0, one logon each
		query  int   // ms after t0
		want   int64
	}{
		{"none", nil, 0, 0},
		{"same bucket", []int{0, 10, 20}, 30, 3},
		{"current and previous bucket", []int{0, 100, 600, 700}, 800, 4},
		{"only the previous bucket left", []int{0, 100}, 700, 2},
		{"two buckets old: forgotten", []int{0, 100}, 1100, 0},
		{"a gap of a bucket drops the old count", []int{0, 100, 1200}, 1300, 1},
		{"a late add from an older bucket counts in the current one", []int{600, 100}, 700, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m logonMeter
			for _, ms := range tt.logons {
				m.add(at(ms))
			}
			if got := m.perSecond(at(tt.query)); got != tt.want {
				t.Fatalf("perSecond = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLogonMeterConcurrentAdds(t *testing.T) {
	var m logonMeter
	now := time.Unix(0, 0).Add(2000 * burstBucket)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				m.add(now)
			}
		}()
	}
	wg.Wait()
	if got := m.perSecond(now); got != 8000 {
		t.Fatalf("perSecond = %d after 8000 logons in one bucket", got)
	}
}

func TestSendIntervalDuringLogonBurst(t *testing.T) {
	now := time.Unix(0, 0).Add(3000 * burstBucket)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	// Every case is back at the normal interval a second after its logons.
	tests := []struct {
		name   string
		burst  int // controllerConfig.LogonBurst
		logons int
		slowed bool
	}{
		{"under the default threshold", 0, DefaultLogonBurst - 1, false},
		{"at the default threshold", 0, DefaultLogonBurst, true},
		{"own threshold", 10, 10, true},
		{"off", -1, 100 * DefaultLogonBurst, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newController(controllerConfig{Logger: quietLogger(), Now: clock, LogonBurst: tt.burst}, nil)
			defer c.Close()
			for range tt.logons {
				c.overlayLoggingOn()
			}
			want := DefaultSendInterval
			if tt.slowed {
				want = burstSendFactor * DefaultSendInterval
			}
			if got := c.sendInterval(clock()); got != want {
				t.Fatalf("send interval %v, want %v", got, want)
			}
			advance(2 * burstBucket)
			if got := c.sendInterval(clock()); got != DefaultSendInterval {
				t.Fatalf("send interval %v a second after the logons, want %v", got, DefaultSendInterval)
			}
		})
	}
}

// While overlays keep logging on faster than the burst threshold, a match
// whose state changes all the time is still sent, at most every
// burstSendFactor intervals.
func TestLogonBurstSpacesSends(t *testing.T) {
	const interval = 20 * time.Millisecond
	rec := newRec()
	c := newController(controllerConfig{SendInterval: interval, LogonBurst: 50, Logger: quietLogger()}, rec)
	defer c.Close()
	r := loadReplay(t, "short_3rounds")
	newTestMatch(t, c, r, "BURST1")
	rec.wait(t) // the initial state goes out at once

	payloads := obsPayloads(t, r, "BURST1")
	for range 100 {
		c.overlayLoggingOn()
	}
	start := time.Now()
	before := rec.n()
	tick := time.NewTicker(3 * time.Millisecond)
	for i := 0; time.Since(start) < 400*time.Millisecond; i++ {
		<-tick.C
		c.overlayLoggingOn() // the burst goes on
		ingestT(t, c, payloads[i%len(payloads)])
	}
	tick.Stop()
	rec.mu.Lock()
	sends := append([]recSend(nil), rec.sends[before:]...)
	rec.mu.Unlock()
	if len(sends) < 2 {
		t.Fatalf("%d sends in 400 ms of changes during a logon burst", len(sends))
	}
	for i := 1; i < len(sends); i++ {
		if gap := sends[i].at.Sub(sends[i-1].at); gap < burstSendFactor*interval-2*time.Millisecond {
			t.Fatalf("sends %d and %d %v apart during a logon burst, want ≥ %v", i-1, i, gap, burstSendFactor*interval)
		}
	}
}
