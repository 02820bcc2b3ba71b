package engineio

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// deflateMsg is payload as a permessage-deflate message body (RFC 7692: the
// final empty block's tail removed).
func deflateMsg(t testing.TB, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(payload)
	_ = fw.Flush()
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

func frame(op ws.OpCode, fin bool, rsv byte, payload []byte) ws.Frame {
	f := ws.NewFrame(op, fin, payload)
	f.Header.Rsv = rsv
	return f
}

// awaitEnd reads until the server's close frame or the end of the
// connection and returns the close status, or 0 when a data message
// arrived first (that message is returned).
func (c *wsClient) awaitEnd() (ws.StatusCode, []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		switch {
		case f.Header.OpCode == ws.OpClose:
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code, nil
		case f.Header.OpCode.IsControl():
			continue
		case len(f.Payload) == 1 && f.Payload[0] == byte(PacketPing):
			continue
		}
		return 0, f.Payload
	}
}

func TestWebSocketStrictFrames(t *testing.T) {
	rsv1 := ws.Rsv(true, false, false)
	rsv2 := ws.Rsv(false, true, false)
	rsv3 := ws.Rsv(false, false, true)
	é := []byte("é") // two bytes: 0xC3 0xA9
	tests := []struct {
		name    string
		deflate bool
		frames  func(t testing.TB) []ws.Frame
		status  ws.StatusCode // 0: the message is echoed
		echo    string
	}{
		{"RSV2 on a text frame", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, true, rsv2, []byte("4hello"))}
		}, ws.StatusProtocolError, ""},
		{"RSV3 on a text frame", true, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, true, rsv3, []byte("4hello"))}
		}, ws.StatusProtocolError, ""},
		{"RSV2 on a continuation", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, false, 0, []byte("4hel")), frame(ws.OpContinuation, true, rsv2, []byte("lo"))}
		}, ws.StatusProtocolError, ""},
		{"RSV1 without permessage-deflate", false, func(t testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, true, rsv1, deflateMsg(t, []byte("4hello")))}
		}, ws.StatusProtocolError, ""},
		{"RSV1 on a continuation", true, func(t testing.TB) []ws.Frame {
			d := deflateMsg(t, []byte("4hello"))
			return []ws.Frame{frame(ws.OpText, false, rsv1, d[:2]), frame(ws.OpContinuation, true, rsv1, d[2:])}
		}, ws.StatusProtocolError, ""},
		{"RSV1 on a ping", true, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpPing, true, rsv1, nil)}
		}, ws.StatusProtocolError, ""},
		{"RSV2 on a ping", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpPing, true, rsv2, nil)}
		}, ws.StatusProtocolError, ""},
		{"invalid UTF-8 in a text frame", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, true, 0, []byte("4a\xffb"))}
		}, ws.StatusInvalidFramePayloadData, ""},
		{"UTF-8 truncated at the last fragment", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, false, 0, []byte("4ab")), frame(ws.OpContinuation, true, 0, é[:1])}
		}, ws.StatusInvalidFramePayloadData, ""},
		{"invalid UTF-8 after inflating", true, func(t testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, true, rsv1, deflateMsg(t, []byte("4caf\xc3(")))}
		}, ws.StatusInvalidFramePayloadData, ""},
		{"code point split across fragments", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpText, false, 0, append([]byte("4caf"), é[0])), frame(ws.OpContinuation, true, 0, é[1:])}
		}, 0, "4café"},
		{"compressed and fragmented, RSV1 on the first frame only", true, func(t testing.TB) []ws.Frame {
			d := deflateMsg(t, []byte("4café au lait"))
			return []ws.Frame{frame(ws.OpText, false, rsv1, d[:3]), frame(ws.OpContinuation, true, 0, d[3:])}
		}, 0, "4café au lait"},
		{"binary is not UTF-8 checked", false, func(testing.TB) []ws.Frame {
			return []ws.Frame{frame(ws.OpBinary, true, 0, []byte{0xff, 0xfe})}
		}, 0, "\xff\xfe"},
	}
	for _, netpoll := range []bool{true, false} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("netpoll=%v/%s", netpoll, tc.name), func(t *testing.T) {
				rec := newRecorder()
				rec.onMsg = echo
				_, base := startServer(t, Config{DisableNetpoll: !netpoll, Deflate: DeflateConfig{Enabled: tc.deflate}}, rec)
				c := dialWS(t, base+"?EIO=4&transport=websocket", tc.deflate)
				if open, _, _ := c.next(); len(open) == 0 || open[0] != byte(PacketOpen) {
					t.Fatalf("open packet %q", open)
				}
				for _, f := range tc.frames(t) {
					if err := ws.WriteFrame(c.conn, ws.MaskFrame(f)); err != nil {
						t.Fatal(err)
					}
				}
				status, msg := c.awaitEnd()
				if status != tc.status {
					t.Fatalf("close status %d (message %q), want %d", status, msg, tc.status)
				}
				if tc.status == 0 && string(msg) != tc.echo {
					t.Fatalf("echo %q, want %q", msg, tc.echo)
				}
				if tc.status != 0 {
					want := ReasonParseError
					if tc.status == ws.StatusInvalidFramePayloadData {
						want = ReasonInvalidPayload
					}
					if r := await(t, rec.closed, "close"); r != want {
						t.Errorf("reason %v, want %v", r, want)
					}
				}
			})
		}
	}
}

// TestReadMessageAllocs: the checks on the read path (RSV bits, UTF-8)
// keep reading a message allocation-free once the buffer pool is warm.
func TestReadMessageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under -race")
	}
	s := NewServer(Config{DisableNetpoll: true}, nil)
	wc := &wsConn{}
	var wire bytes.Buffer
	msg := []byte(`42["obs_data","{\"type\":\"scoreboard\",\"name\":\"café\"}"]`)
	_ = ws.WriteFrame(&wire, ws.MaskFrame(ws.NewTextFrame(msg)))
	one := wire.Bytes()
	src := bytes.NewReader(nil)
	br := newFrameReader(src, 4096)
	read := func() {
		src.Reset(one)
		br.Reset(src)
		m, err := s.readMessage(br, wc)
		if err != nil || !bytes.Equal(m.data, msg) {
			t.Fatalf("readMessage: %q %v", m.data, err)
		}
		m.release()
	}
	read()
	if n := testing.AllocsPerRun(200, read); n != 0 {
		t.Errorf("readMessage allocates %v times per message", n)
	}
}

// TestUpgradeStrictFrames: the same checks apply while a polling session
// probes a WebSocket; the WebSocket is closed with the status, the polling
// session carries on.
func TestUpgradeStrictFrames(t *testing.T) {
	tests := []struct {
		name   string
		f      ws.Frame
		status ws.StatusCode
	}{
		{"RSV2 on the probe", frame(ws.OpText, true, ws.Rsv(false, true, false), []byte("2probe")), ws.StatusProtocolError},
		{"invalid UTF-8 probe", frame(ws.OpText, true, 0, []byte("2pr\xffbe")), ws.StatusInvalidFramePayloadData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			rec.onMsg = echo
			_, base := startServer(t, Config{}, rec)
			sid := openPolling(t, base)
			c := dialWS(t, base+"?EIO=4&transport=websocket&sid="+sid, false)
			if err := ws.WriteFrame(c.conn, ws.MaskFrame(tc.f)); err != nil {
				t.Fatal(err)
			}
			if status, msg := c.awaitEnd(); status != tc.status {
				t.Fatalf("close status %d (message %q), want %d", status, msg, tc.status)
			}
			u := base + "?EIO=4&transport=polling&sid=" + sid
			if code, body, _ := httpDo(t, "POST", u, "4still"); code != 200 || body != "ok" {
				t.Fatalf("polling POST after the refused upgrade: %d %q", code, body)
			}
			if code, body, _ := httpDo(t, "GET", u, ""); code != 200 || body != "4still" {
				t.Fatalf("polling GET after the refused upgrade: %d %q", code, body)
			}
		})
	}
}
