package relay

import (
	"errors"
	"testing"
	"time"

	"spectra-relay/relay/match"
)

// TestLocalBroker: a relay alone owns every match it has, finds nothing
// elsewhere and keeps previews in memory; subscribeUnowned joins under the
// shard lock and releases it.
func TestLocalBroker(t *testing.T) {
	c := newController(controllerConfig{Logger: quietLogger(), PreviewTTL: time.Minute}, nil)
	defer c.Close()
	b, ok := c.broker.(*localBroker)
	if !ok {
		t.Fatalf("a new controller's broker is %T, want *localBroker", c.broker)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"takeover not handled", func() bool {
			_, handled, err := b.takeover(match.Logon{GroupCode: "X", GroupSecret: "S"})
			return !handled && err == nil
		}()},
		{"claim free", b.claim(nil, nil, time.Time{}) == nil},
		{"aux logon elsewhere refused", !b.auxLogonRemote(nil, "m", "p")},
		{"nothing forwarded", !b.forwardAux(nil, &match.Event{}, "{}")},
		{"no session elsewhere", func() bool { _, ok := b.lookupSession("pid"); return !ok }()},
		{"no restore elsewhere", func() bool { lm, _, ok := b.restoreSession(nil, "pid"); return lm == nil && !ok }()},
		{"no team info elsewhere", func() bool { _, ok := b.teamInfo("X"); return !ok }()},
		{"live count is the controller's", b.liveCount() == c.Count()},
		{"preview kept", b.putPreview("ABC123", []byte(`{}`), time.Minute) && func() bool { d, ok := b.preview("ABC123"); return ok && string(d) == "{}" }()},
		{"unknown preview", func() bool { _, ok := b.preview("ZZZ999"); return !ok }()},
		{"beforeApply lets the event through", func() bool {
			done, err := b.beforeApply(nil, "", time.Time{})
			if done != nil {
				done()
			}
			return done != nil && err == nil
		}()},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: no", ch.name)
		}
	}

	sh := c.shardOf("NOPE01")
	for _, joinErr := range []error{nil, errors.New("join failed")} {
		joined := false
		sh.mu.RLock()
		err := b.subscribeUnowned(sh, "NOPE01", func() error {
			joined = true
			// The shard is still read-locked while joining.
			if sh.mu.TryLock() {
				sh.mu.Unlock()
				t.Error("shard lock not held during join")
			}
			return joinErr
		}, func(*snapshot) error { t.Error("a snapshot for a code without a match"); return nil })
		if !joined || !errors.Is(err, joinErr) {
			t.Errorf("joined %v, err %v; want joined, %v", joined, err, joinErr)
		}
		if !sh.mu.TryLock() {
			t.Fatal("subscribeUnowned left the shard locked")
		}
		sh.mu.Unlock()
	}
}
