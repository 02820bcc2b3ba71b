package engineio

import (
	"testing"
)

// TestStatsFollowSessions drives real sessions over loopback through each
// transition the counters follow: polling open, upgrade, WebSocket open,
// compressed broadcast frames, and closes with their reasons.
func TestStatsFollowSessions(t *testing.T) {
	rec := newRecorder()
	srv, base := startServer(t, Config{Deflate: DeflateConfig{Enabled: true}}, rec)

	// A polling session, upgraded to WebSocket.
	sid := openPolling(t, base)
	up := await(t, rec.sockets, "polling socket")
	if s := srv.Stats(); s.PollingOpen != 1 || s.PollingOpened != 1 || s.WebSocketOpen != 0 {
		t.Fatalf("after polling open: %+v", s)
	}
	c := dialWS(t, base+"?EIO=4&transport=websocket&sid="+sid, false)
	c.send("2probe")
	if m, _, _ := c.next(); string(m) != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	c.send("5")
	waitFor(t, func() bool { return up.Transport() == "websocket" }, "upgrade")
	if s := srv.Stats(); s.PollingOpen != 0 || s.WebSocketOpen != 1 || s.Upgrades != 1 {
		t.Fatalf("after upgrade: %+v", s)
	}

	// A session that starts on WebSocket with deflate, fed a broadcast
	// stream: the first frame is compressed with the (fresh) context, a
	// second stream's frame reaches a peer whose window misses its history.
	d := dialWS(t, base+"?EIO=4&transport=websocket", true)
	d.next() // open
	ds := await(t, rec.sockets, "websocket socket")
	if s := srv.Stats(); s.WebSocketOpen != 2 || s.WebSocketOpened != 1 {
		t.Fatalf("after websocket open: %+v", s)
	}
	msgs := matchLike(3)
	st := srv.NewStream(StreamOptions{})
	var in uint64
	for _, m := range msgs {
		if err := ds.SendFrames(st.TextFrame(m)); err != nil {
			t.Fatal(err)
		}
		if got, _, compressed := d.next(); string(got) != "4"+string(m) || !compressed {
			t.Fatalf("stream frame decoded wrong (compressed=%v)", compressed)
		}
		in += uint64(len(m) + 1)
	}
	s := srv.Stats()
	if s.DeflateContext.Frames != 3 || s.DeflateContext.BytesIn != in {
		t.Fatalf("context deflate %+v, want 3 frames of %d bytes in", s.DeflateContext, in)
	}
	// The first frame of a stream has no history to refer to, and the
	// stream's encoder (deltaflate, fixed codes) compresses such a frame
	// about 3x; the two after it are small deltas.
	if out := s.DeflateContext.BytesOut; out == 0 || out*2 > in {
		t.Fatalf("context deflate out %d bytes for %d in: not compressed", out, in)
	}
	// A frame of a stream the peer has not followed goes out context-free.
	other := srv.NewStream(StreamOptions{})
	_ = other.TextFrame(msgs[0]) // history the peer never saw
	f := other.TextFrame(msgs[1])
	if err := ds.SendFrames(f); err != nil {
		t.Fatal(err)
	}
	if got, _, compressed := d.next(); string(got) != "4"+string(msgs[1]) || !compressed {
		t.Fatal("context-free frame decoded wrong")
	}
	if s := srv.Stats(); s.DeflateStandalone.Frames != 1 || s.DeflateStandalone.BytesIn != uint64(len(msgs[1])+1) || s.DeflateStandalone.BytesOut == 0 {
		t.Fatalf("standalone deflate %+v", s.DeflateStandalone)
	}
	// Frames of a stream made without the server are not counted.
	plain := NewStream(StreamOptions{})
	if err := ds.SendFrames(plain.TextFrame(msgs[2])); err != nil {
		t.Fatal(err)
	}
	d.next()
	if s := srv.Stats(); s.DeflateContext.Frames != 3 || s.DeflateStandalone.Frames != 1 {
		t.Fatalf("an unattached stream was counted: %+v %+v", s.DeflateContext, s.DeflateStandalone)
	}

	// Closes by reason: the server closes one, the client the other.
	up.Close(ReasonServerClose)
	await(t, rec.closed, "server close")
	d.send("1")
	await(t, rec.closed, "client close")
	s = srv.Stats()
	if s.WebSocketOpen != 0 || s.PollingOpen != 0 {
		t.Fatalf("sessions still open after closes: %+v", s)
	}
	for _, r := range CloseReasons() {
		want := uint64(0)
		if r == ReasonServerClose || r == ReasonClientClose {
			want = 1
		}
		if s.Closes[r] != want {
			t.Errorf("closes[%s] = %d, want %d", r, s.Closes[r], want)
		}
	}
	if len(CloseReasons()) != len(s.Closes)-1 {
		t.Errorf("CloseReasons lists %d reasons, Closes has %d slots", len(CloseReasons()), len(s.Closes))
	}
	for _, r := range CloseReasons() {
		if r.String() == "unknown" {
			t.Errorf("reason %d has no name", r)
		}
	}
}

func TestFramePayloadLen(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 200, 65535, 65536, 70000} {
		f := compressedFrame(make([]byte, n), false)
		if got := framePayloadLen(f); got != n {
			t.Errorf("payload %d: framePayloadLen = %d", n, got)
		}
	}
	if framePayloadLen(nil) != 0 || framePayloadLen([]byte{0x81}) != 0 {
		t.Error("short input")
	}
}
