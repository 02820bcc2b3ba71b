package sioclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/nodeserver"
	"spectra-relay/socketio/sioclient"
)

const wait = 10 * time.Second

type mode struct {
	name       string
	transports []string
	deflate    bool
}

var modes = []mode{
	{name: "polling", transports: []string{"polling"}},
	{name: "websocket", transports: []string{"websocket"}},
	{name: "websocket+deflate", transports: []string{"websocket"}, deflate: true},
	{name: "upgrade"},
	{name: "upgrade+deflate", deflate: true},
}

// events collects one event's deliveries into a channel the test awaits.
func events(c *sioclient.Client, name string) chan *sioclient.Event {
	ch := make(chan *sioclient.Event, 1024)
	c.OnEvent(name, func(e *sioclient.Event) { ch <- e })
	return ch
}

func next(t *testing.T, ch chan *sioclient.Event) *sioclient.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(wait):
		t.Fatal("timed out waiting for an event")
	}
	return nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func str(t *testing.T, m sioclient.Message, i int) string {
	t.Helper()
	s, err := m.String(i)
	if err != nil {
		t.Fatalf("argument %d (%s): %v", i, m.Args[i], err)
	}
	return s
}

func TestInterop(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			testID := strings.ReplaceAll(t.Name(), "/", "_")
			c := sioclient.New(sioclient.Options{
				EIO: eioclient.Options{
					Transports: m.transports,
					Deflate:    m.deflate,
					Header:     http.Header{"X-Test-Id": {testID}},
				},
				Auth: map[string]any{"token": "t0k", "n": 1},
			})
			echo := events(c, "echo")
			rep := events(c, "rep")
			question := events(c, "question")
			answer := events(c, "answer")
			if err := c.Connect(ctx(t), base); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			if c.SID() == "" {
				t.Error("no namespace sid")
			}
			if len(m.transports) == 0 {
				select {
				case <-c.EIO().Upgraded():
				case <-time.After(wait):
					t.Fatal("no upgrade")
				}
			}

			// The auth payload reached the server.
			ack, err := c.EmitWithAck(ctx(t), "auth")
			if err != nil {
				t.Fatal(err)
			}
			var auth map[string]any
			if err := ack.Decode(0, &auth); err != nil || auth["token"] != "t0k" || auth["n"] != float64(1) {
				t.Fatalf("auth echoed as %s (%v)", ack.Args, err)
			}

			// Spectra-style payload: JSON text inside a string argument.
			inner := `{"obsName":"Obs#1","groupCode":"ABC123","type":"score","data":{"team_0":1,"team_1":"\"q\"é"}}`
			if err := c.Emit("echo", inner, 42, nil); err != nil {
				t.Fatal(err)
			}
			e := next(t, echo)
			if got := str(t, e.Message, 0); got != inner {
				t.Fatalf("echo = %q, want %q", got, inner)
			}
			if len(e.Args) != 3 || string(e.Args[1]) != "42" || string(e.Args[2]) != "null" {
				t.Fatalf("echo args = %s", e.Args)
			}

			// Binary both ways, in an event and in an ack.
			blob := []byte{0, 1, 2, 0x1e, 255}
			if err := c.Emit("echo", "bin", blob, []byte{}); err != nil {
				t.Fatal(err)
			}
			e = next(t, echo)
			if b, ok := e.Binary(1); !ok || !bytes.Equal(b, blob) {
				t.Fatalf("binary echo arg 1 = %s / %v", e.Args[1], e.Attachments)
			}
			if b, ok := e.Binary(2); !ok || len(b) != 0 {
				t.Fatalf("empty binary echo arg 2 = %s / %v", e.Args[2], e.Attachments)
			}
			ack, err = c.EmitWithAck(ctx(t), "echo_ack", "a", blob, map[string]int{"k": 7})
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := ack.Binary(1); str(t, ack, 0) != "a" || !ok || !bytes.Equal(b, blob) || string(ack.Args[2]) != `{"k":7}` {
				t.Fatalf("binary ack = %s %v", ack.Args, ack.Attachments)
			}

			// Server → client ack: the server asks, we answer, it reports.
			if err := c.Emit("ask", "ping?"); err != nil {
				t.Fatal(err)
			}
			q := next(t, question)
			if !q.WantsAck() || str(t, q.Message, 0) != "ping?" {
				t.Fatalf("question = %s wantsAck=%v", q.Args, q.WantsAck())
			}
			if err := q.Ack("pong!", []byte{7}); err != nil {
				t.Fatal(err)
			}
			a := next(t, answer)
			if b, ok := a.Binary(1); str(t, a.Message, 0) != "pong!" || !ok || !bytes.Equal(b, []byte{7}) {
				t.Fatalf("answer = %s %v", a.Args, a.Attachments)
			}

			// Several ~20 KB near-identical messages: with deflate, each is
			// compressed against the previous ones (context takeover).
			payload := strings.Repeat(`{"name":"player","kills":12,"money":3900},`, 500)
			before := c.EIO().Stats().BytesRead
			const n = 10
			if err := c.Emit("repeat", n, payload); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				e := next(t, rep)
				if string(e.Args[0]) != fmt.Sprint(i) || str(t, e.Message, 1) != payload {
					t.Fatalf("rep %d: got index %s and %d bytes", i, e.Args[0], len(e.Args[1]))
				}
			}
			if read := c.EIO().Stats().BytesRead - before; m.deflate && read > int64(n*len(payload)/4) {
				t.Errorf("read %d wire bytes for %d payload bytes: not compressed?", read, n*len(payload))
			}

			tr, err := c.EmitWithAck(ctx(t), "transport")
			if err != nil {
				t.Fatal(err)
			}
			want := "websocket"
			if len(m.transports) == 1 {
				want = m.transports[0]
			}
			if got := str(t, tr, 0); got != want {
				t.Fatalf("server sees transport %q, want %q", got, want)
			}
			ext, err := c.EmitWithAck(ctx(t), "ext")
			if err != nil {
				t.Fatal(err)
			}
			wantExt := ""
			switch {
			case want == "polling":
				wantExt = "<none>"
			case m.deflate:
				wantExt = "permessage-deflate; client_max_window_bits"
			}
			if got := str(t, ext, 0); got != wantExt {
				t.Fatalf("extension offer seen by the server = %q, want %q", got, wantExt)
			}

			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(c.Err(), sioclient.ErrClientDisconnect) {
				t.Fatalf("Err after Close = %v", c.Err())
			}
			if err := c.Emit("echo", "late"); err == nil {
				t.Fatal("Emit after Close succeeded")
			}
		})
	}
}

func TestServerDisconnect(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, err := sioclient.Dial(ctx(t), base, sioclient.Options{EIO: eioclient.Options{Transports: m.transports, Deflate: m.deflate}})
			if err != nil {
				t.Fatal(err)
			}
			pending := make(chan error, 1)
			go func() {
				// Never answered: must fail when the server disconnects.
				_, err := c.EmitWithAck(context.Background(), "no_such_event")
				pending <- err
			}()
			if err := c.Emit("kick"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("not disconnected")
			}
			if !errors.Is(c.Err(), sioclient.ErrServerDisconnect) {
				t.Fatalf("Err = %v, want ErrServerDisconnect", c.Err())
			}
			select {
			case err := <-pending:
				if err == nil {
					t.Fatal("pending ack succeeded")
				}
			case <-time.After(wait):
				t.Fatal("pending ack not released")
			}
		})
	}
}

func TestNamespaceAuth(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			opts := sioclient.Options{
				EIO:       eioclient.Options{Transports: m.transports, Deflate: m.deflate},
				Namespace: "/private",
				Auth:      map[string]string{"token": "wrong"},
			}
			_, err := sioclient.Dial(ctx(t), base, opts)
			var ce *sioclient.ConnectError
			if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"hint":"token"}` {
				t.Fatalf("err = %v, want ConnectError not authorized", err)
			}

			opts.Auth = map[string]string{"token": "letmein"}
			c, err := sioclient.Dial(ctx(t), base, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echo := events(c, "echo")
			if err := c.Emit("echo", "in /private"); err != nil {
				t.Fatal(err)
			}
			if got := str(t, next(t, echo).Message, 0); got != "in /private" {
				t.Fatalf("echo = %q", got)
			}
		})
	}
}

// TestHandlerMayAwaitAck checks that a handler can wait for an ack: handlers
// do not run on the reader goroutine.
func TestHandlerMayAwaitAck(t *testing.T) {
	base := nodeserver.Start(t)
	c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: []string{"websocket"}}})
	result := make(chan string, 1)
	c.On("echo", func(args []json.RawMessage) {
		ack, err := c.EmitWithAck(ctx(t), "echo_ack", "nested")
		if err != nil {
			result <- err.Error()
			return
		}
		s, _ := ack.String(0)
		result <- s
	})
	if err := c.Connect(ctx(t), base); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Emit("echo", "go"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-result:
		if got != "nested" {
			t.Fatalf("nested ack = %q", got)
		}
	case <-time.After(wait):
		t.Fatal("handler could not get its ack")
	}
}

// TestBarrier: events emitted before a barrier have been handled by the
// server when it returns, so their echoes are already on the way back.
func TestBarrier(t *testing.T) {
	base := nodeserver.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := sioclient.New(sioclient.Options{EIO: eioclient.Options{Transports: m.transports, Deflate: m.deflate}})
			echo := events(c, "echo")
			if err := c.Connect(ctx(t), base); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 50 {
				if err := c.Emit("echo", i); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				if err := c.Barrier(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 50 {
				if e := next(t, echo); string(e.Args[0]) != fmt.Sprint(i) {
					t.Fatalf("echo %d = %s", i, e.Args[0])
				}
			}
			select {
			case <-c.Done():
				t.Fatalf("barrier ended the connection: %v", c.Err())
			default:
			}
		})
	}
}
