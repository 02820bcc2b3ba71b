// Over 600 lines on purpose: one interop run of the real socket.io-client scripts and the purpose-built servers (echo, shutdown, restart, ...) those scripts talk to.

package socketio_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spectra-relay/engineio"
	"spectra-relay/internal/testenv"
	"spectra-relay/socketio"
)

// The interop test drives the servers of this repository with the real npm
// clients (socket.io-client 4.8, engine.io-client 6.6) through the node:test
// scripts of testdata/interop. The Go side only serves; every assertion
// about what a client observes lives in the scripts. The handlers below are
// the server half of those scenarios: keep their event names in step with
// testdata/interop/*.test.mjs.

const interopDir = "testdata/interop"

// interopBudget bounds the whole Node run; the scripts are expected to take
// well under it.
const interopBudget = 55 * time.Second

func TestInteropNodeClients(t *testing.T) {
	runInteropNodeClients(t)
}

// TestInteropNodeClientsTLS is the same run over https/wss, every server
// behind engineio.NewTLSListener with the TLS fast path on.
func TestInteropNodeClientsTLS(t *testing.T) {
	interopTLS = true
	defer func() { interopTLS = false }()
	runInteropNodeClients(t)
}

// interopTLS makes serve listen with TLS and interopEngineConfig turn the
// TLS fast path on (set by TestInteropNodeClientsTLS; these tests do not
// run in parallel).
var interopTLS bool

// interopCert is the self-signed pair of the TLS run.
var interopCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
})

func runInteropNodeClients(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Node client interop run (make test runs it)")
	}
	testenv.NeedNode(t)
	dir, err := filepath.Abs(interopDir)
	if err != nil {
		t.Fatal(err)
	}
	ensureNodeModules(t, dir)
	// INTEROP_ONLY=name runs only name.test.mjs (while working on one).
	pattern := "*.test.mjs"
	if only := os.Getenv("INTEROP_ONLY"); only != "" {
		pattern = only + ".test.mjs"
	}
	scripts, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no *.test.mjs scripts in %s (%v)", dir, err)
	}

	sio := newInteropServer(t)
	eio := newEngineEcho(t)
	down := newShutdownServer(t)
	restart := newRestartServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), interopBudget)
	defer cancel()
	args := []string{"--test", "--test-reporter=spec", "--test-concurrency=" + strconv.Itoa(len(scripts))}
	// INTEROP_NODE_ARGS adds node options, e.g. --test-name-pattern=ack.
	args = append(args, strings.Fields(os.Getenv("INTEROP_NODE_ARGS"))...)
	args = append(args, scripts...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SIO_URL="+sio.URL,
		"EIO_URL="+eio.URL,
		"SIO_SHUTDOWN_URL="+down.hs.URL,
		"SIO_RESTART_URL="+restart.URL,
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	if interopTLS {
		cmd.Env = append(cmd.Env, "NODE_TLS_REJECT_UNAUTHORIZED=0")
	}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("node --test did not finish within %v:\n%s", interopBudget, out)
	}
	if err != nil {
		t.Fatalf("node --test failed (%v) after %v:\n%s", err, elapsed.Round(time.Millisecond), out)
	}
	t.Logf("node --test passed in %v", elapsed.Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("node output:\n%s", out)
	}

	// The shutdown scenario ran against its own server: Shutdown must have
	// been asked for, must return without hitting its deadline, and must
	// leave no session behind.
	if !slices.Contains(scripts, filepath.Join(dir, "shutdown.test.mjs")) {
		return
	}
	select {
	case err := <-down.done:
		if err != nil {
			t.Errorf("socketio.Server.Shutdown: %v", err)
		}
		if n := down.srv.Engine().Count(); n != 0 {
			t.Errorf("%d engine sessions left after Shutdown", n)
		}
	case <-time.After(15 * time.Second):
		t.Error("Shutdown was never asked for, or did not return")
	}
}

// ensureNodeModules installs the scripts' packages from the lockfile when
// they are missing (make test does it beforehand through node-deps).
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	marker := filepath.Join(dir, "node_modules", "socket.io-client", "package.json")
	if _, err := os.Stat(marker); err == nil {
		return
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("node_modules missing in %s and npm is not on PATH", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// interopEngineConfig is the Engine.IO configuration of every Socket.IO
// server here: deflate on (the Spectra settings: level 3, threshold 1024),
// and a short ping interval so that heartbeats run during the scenarios on
// every transport.
func interopEngineConfig() engineio.Config {
	return engineio.Config{
		PingInterval: time.Second,
		PingTimeout:  10 * time.Second,
		Deflate:      engineio.DeflateConfig{Enabled: true},
		Logger:       interopLogger(),
		TLSFastPath:  interopTLS,
	}
}

var (
	interopLogOnce sync.Once
	interopLog     *slog.Logger
)

// interopLogger logs the servers' diagnostics, debug level included, to
// the file named by INTEROP_LOG (for chasing a failure); by default only
// warnings and errors, to stderr.
func interopLogger() *slog.Logger {
	interopLogOnce.Do(func() {
		interopLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if path := os.Getenv("INTEROP_LOG"); path != "" {
			if f, err := os.Create(path); err == nil {
				interopLog = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
		}
	})
	return interopLog
}

func serve(t *testing.T, path string, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(path, h)
	if !interopTLS {
		hs := httptest.NewServer(mux) // listens on 127.0.0.1:0
		t.Cleanup(hs.Close)
		return hs
	}
	cert, err := interopCert()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(mux)
	hs.Listener = engineio.NewTLSListener(hs.Listener, &tls.Config{Certificates: []tls.Certificate{cert}})
	hs.Start()
	hs.URL = "https://" + hs.Listener.Addr().String()
	t.Cleanup(hs.Close)
	return hs
}

// jsonArg decodes argument i of an event into v.
func jsonArg(e *socketio.Event, i int, v any) error {
	if i >= len(e.Args) {
		return fmt.Errorf("event %q has no argument %d", e.Name, i)
	}
	return json.Unmarshal(e.Args[i], v)
}

func ackError(e *socketio.Event, err error) {
	_ = e.Ack(map[string]string{"error": err.Error()})
}

// newInteropServer is the server of the socket.io-client scenarios.
func newInteropServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := socketio.NewServer(socketio.Config{Engine: interopEngineConfig(), ConnectTimeout: 10 * time.Second})
	t.Cleanup(srv.Close)
	root := srv.Of("/")
	root.OnConnection(func(s *socketio.Socket) { commonHandlers(s) })
	root.OnConnection(func(s *socketio.Socket) { mainHandlers(root, s) })

	// A namespace that only lets in clients whose CONNECT payload carries
	// the right token.
	custom := srv.Of("/custom")
	custom.Use(func(s *socketio.Socket, auth socketio.RawJSON) error {
		var a struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(auth, &a); err != nil || a.Token != "let-me-in" {
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]string{"reason": "bad token"}}
		}
		return nil
	})
	custom.OnConnection(func(s *socketio.Socket) { commonHandlers(s) })
	recoveryHandlers(srv.Of("/recover"))
	return serve(t, "/socket.io/", srv)
}

// recoveryHandlers serve recovery.test.mjs: a namespace with connection
// state recovery on. Each socket is greeted ("hello", which carries the
// socket's first offset); "note" events are recorded per sid, so that a
// recovered socket's notes continue its earlier ones; "notes" answers
// them; "cut" closes the connection without a DISCONNECT (a lost
// connection, which the client recovers); "whoami" answers the sid and
// whether the socket was recovered.
func recoveryHandlers(nsp *socketio.Namespace) {
	var mu sync.Mutex
	notes := map[string][]string{}
	nsp.EnableRecovery(socketio.RecoveryConfig{Window: 20 * time.Second, MaxSessions: 100})
	nsp.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("hello", s.ID())
		s.On("note", func(s *socketio.Socket, e *socketio.Event) {
			v, err := e.String(0)
			if err != nil {
				return
			}
			mu.Lock()
			notes[s.ID()] = append(notes[s.ID()], v)
			mu.Unlock()
		})
		s.On("notes", func(s *socketio.Socket, e *socketio.Event) {
			mu.Lock()
			got := slices.Clone(notes[s.ID()])
			mu.Unlock()
			_ = e.Ack(got)
		})
		s.On("cut", func(s *socketio.Socket, e *socketio.Event) { s.CloseTransport() })
		s.On("whoami", func(s *socketio.Socket, e *socketio.Event) {
			_ = e.Ack(map[string]any{"id": s.ID(), "recovered": s.Recovered()})
		})
	})
}

// commonHandlers serve every namespace.
func commonHandlers(s *socketio.Socket) {
	// echo: the same arguments (strings, JSON, binary attachments) come back
	// as an event of the same name.
	s.On("echo", func(s *socketio.Socket, e *socketio.Event) {
		_ = s.EmitRaw("echo", e.Args, e.Attachments)
	})
	// echo:ack: the arguments come back as the acknowledgement.
	s.On("echo:ack", func(s *socketio.Socket, e *socketio.Event) {
		_ = e.AckRaw(e.Args, e.Attachments)
	})
	// whoami: what the server knows of this socket.
	s.On("whoami", func(s *socketio.Socket, e *socketio.Event) {
		hs := s.Handshake()
		_ = e.Ack(map[string]any{
			"id":        s.ID(),
			"nsp":       s.Namespace().Name(),
			"auth":      json.RawMessage(hs.Auth),
			"engineId":  hs.EngineID,
			"connected": s.Connected(),
		})
	})
}

type bigseqRequest struct {
	Room  string `json:"room"`
	From  int    `json:"from"`
	Count int    `json:"count"`
	// Poke sends the requesting socket a large direct event (compressed
	// on its own, outside the room's stream) after every Poke-th broadcast.
	Poke int `json:"poke"`
}

func mainHandlers(root *socketio.Namespace, s *socketio.Socket) {
	s.On("join", func(s *socketio.Socket, e *socketio.Event) {
		room, err := e.String(0)
		if err == nil {
			err = s.Join(room)
		}
		if err != nil {
			ackError(e, err)
			return
		}
		_ = e.Ack(root.RoomSize(room))
	})
	s.On("leave", func(s *socketio.Socket, e *socketio.Event) {
		room, _ := e.String(0)
		s.Leave(room)
		_ = e.Ack(root.RoomSize(room))
	})
	// room:emit {room, barrier, payload, exceptSelf}: a broadcast to the
	// room (from the namespace, or from this socket, which leaves it out),
	// then a "room:barrier" to the barrier room. Every socket's packets keep
	// their order, so a socket that sees the barrier has seen the broadcast
	// if it was going to. The ack is the number of sockets reached.
	s.On("room:emit", func(s *socketio.Socket, e *socketio.Event) {
		var req struct {
			Room       string          `json:"room"`
			Barrier    string          `json:"barrier"`
			Payload    json.RawMessage `json:"payload"`
			ExceptSelf bool            `json:"exceptSelf"`
		}
		if err := jsonArg(e, 0, &req); err != nil {
			ackError(e, err)
			return
		}
		b := root.To(req.Room)
		if req.ExceptSelf {
			b = s.To(req.Room)
		}
		n, err := b.Emit("room:msg", socketio.RawJSON(req.Payload))
		if err != nil {
			ackError(e, err)
			return
		}
		if _, err := root.To(req.Barrier).Emit("room:barrier", req.Room); err != nil {
			ackError(e, err)
			return
		}
		_ = e.Ack(n)
	})
	// ask: the server asks the client back ("question", with an ack) and
	// acknowledges "ask" with the client's answer, attachments included.
	s.On("ask", func(s *socketio.Socket, e *socketio.Event) {
		var req struct {
			TimeoutMs int `json:"timeoutMs"`
		}
		_ = jsonArg(e, 0, &req)
		timeout := 5 * time.Second
		if req.TimeoutMs > 0 {
			timeout = time.Duration(req.TimeoutMs) * time.Millisecond
		}
		err := s.EmitWithAck("question", timeout, func(args []socketio.RawJSON, atts [][]byte, err error) {
			if err != nil {
				ackError(e, err)
				return
			}
			_ = e.AckRaw(args, atts)
		}, "what is it?", socketio.RawJSON(`{"n":42,"nested":{"ok":true}}`), []byte{0, 1, 2, 250, 255})
		if err != nil {
			ackError(e, err)
		}
	})
	// bigseq:send: count large, near-identical room broadcasts, each
	// encoded once with EncodeEvent and fanned out with BroadcastRaw (the
	// room's shared deflate stream).
	s.On("bigseq:send", func(s *socketio.Socket, e *socketio.Event) {
		var req bigseqRequest
		if err := jsonArg(e, 0, &req); err != nil {
			ackError(e, err)
			return
		}
		reached := 0
		for i := 0; i < req.Count; i++ {
			seq := req.From + i
			payload := bigseqPayload(seq)
			sum := sha256.Sum256(payload)
			pkt, _, err := socketio.EncodeEvent("/", socketio.NoID, "bigseq", seq, hex.EncodeToString(sum[:]), string(payload))
			if err != nil {
				ackError(e, err)
				return
			}
			reached += root.BroadcastRaw(req.Room, pkt, false)
			if req.Poke > 0 && (i+1)%req.Poke == 0 {
				poke := bigseqPayload(1_000_000 + seq)
				_ = s.Emit("poke", seq, string(poke))
			}
		}
		_ = e.Ack(reached)
	})
	// disconnect-me {engine}: the server ends this socket's namespace
	// session, or (engine) its whole Engine.IO connection.
	s.On("disconnect-me", func(s *socketio.Socket, e *socketio.Event) {
		var req struct {
			Engine bool `json:"engine"`
		}
		_ = jsonArg(e, 0, &req)
		s.Disconnect(req.Engine)
	})
}

// bigseqPayload is a ~17 KB JSON document in the shape of a match_data
// update: as between two real updates, most of it is the same from one
// sequence number to the next, and a few values change (the player whose
// turn it is moves and loses health, the clock and a score advance).
func bigseqPayload(seq int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"seq":%d,"map":"de_inferno","round":%d,"phase":"live","clock":%d.%d,"teams":[`, seq, 3+seq/10, 115-seq%115, seq%10)
	moving := seq % 10
	for team := 0; team < 2; team++ {
		if team > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"side":%q,"score":%d,"players":[`, []string{"CT", "T"}[team], 4+team+seq/10)
		for p := 0; p < 5; p++ {
			if p > 0 {
				b.WriteByte(',')
			}
			id := team*5 + p
			x := uint32(id*2654435761) >> 3 // per player, not per update
			hp := 100 - int(x%30)
			pos := [3]uint32{x % 4000, (x >> 9) % 4000, (x >> 11) % 300}
			if id == moving {
				hp -= seq % 60
				pos[0] += uint32(seq * 7)
				pos[1] += uint32(seq * 3)
			}
			fmt.Fprintf(&b, `{"steamid":"7656119800000%04d","name":"player_%d","hp":%d,"armor":%d,"money":%d,"kills":%d,"deaths":%d,"pos":[%d.%02d,%d.%02d,%d.%02d],"weapons":[`,
				id, id, hp, (x>>7)%101, ((x>>3)%160)*100, (x>>5)%30, (x>>6)%25,
				pos[0], x%100, pos[1], (x>>2)%100, pos[2], (x>>4)%100)
			for w := 0; w < 11; w++ {
				if w > 0 {
					b.WriteByte(',')
				}
				state := "holstered"
				if w == int(x%11) {
					state = "active"
				}
				clip := (x >> uint(w)) % 31
				if id == moving && state == "active" {
					clip = uint32(30 - seq%31)
				}
				fmt.Fprintf(&b, `{"name":"weapon_%d","type":"Rifle","ammo_clip":%d,"ammo_clip_max":30,"ammo_reserve":90,"paintkit":"default","state":%q}`, w, clip, state)
			}
			b.WriteString(`]}`)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`],"grenades":[`)
	for g := 0; g < 10; g++ {
		if g > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"owner":"7656119800000%04d","type":"smoke","position":"%d.0, %d.0, 1.5","velocity":"0.0, 0.0, 0.0","lifetime":"%d.5"}`, g, 100*g, 200*g, g)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// newEngineEcho is a bare Engine.IO server echoing every message (text or
// binary) for the engine.io-client scenarios. The text "close-me" makes it
// send "bye" and then close the session; "close-now" closes it without
// sending anything first.
func newEngineEcho(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := interopEngineConfig()
	srv := engineio.NewServer(cfg, func(so *engineio.Socket) { so.SetHandler(engineEcho{}) })
	t.Cleanup(srv.Close)
	return serve(t, "/engine.io/", srv)
}

type engineEcho struct{}

func (engineEcho) OnMessage(so *engineio.Socket, m engineio.Message) {
	if !m.Binary {
		switch string(m.Data) {
		case "close-me":
			_ = so.Send([]byte("bye"), false)
			so.Close(engineio.ReasonServerClose)
			return
		case "close-now":
			so.Close(engineio.ReasonServerClose)
			return
		case "transport?":
			_ = so.Send([]byte("transport="+so.Transport()), false)
			return
		}
	}
	_ = so.Send(append([]byte(nil), m.Data...), m.Binary)
}

func (engineEcho) OnClose(*engineio.Socket, engineio.CloseReason) {}

// shutdownServer is a separate Socket.IO server that the "shutdown"
// scenario takes down: its clients say how many of them are connected with
// "shutdown:ready" and the last one's arrival starts Server.Shutdown.
type shutdownServer struct {
	srv  *socketio.Server
	hs   *httptest.Server
	done chan error // Shutdown's result

	mu      sync.Mutex
	reasons []string // server-side disconnect reasons
	once    sync.Once
}

func newShutdownServer(t *testing.T) *shutdownServer {
	t.Helper()
	d := &shutdownServer{done: make(chan error, 1)}
	d.srv = socketio.NewServer(socketio.Config{Engine: interopEngineConfig(), ConnectTimeout: 10 * time.Second})
	t.Cleanup(d.srv.Close)
	d.srv.Of("/").OnConnection(func(s *socketio.Socket) {
		commonHandlers(s)
		s.OnDisconnect(func(reason string) {
			d.mu.Lock()
			d.reasons = append(d.reasons, reason)
			d.mu.Unlock()
		})
		// shutdown {expect}: shut the server down once expect sockets
		// are connected. The ack goes out first, so the client knows its
		// request arrived.
		s.On("shutdown", func(s *socketio.Socket, e *socketio.Event) {
			var req struct {
				Expect int `json:"expect"`
			}
			if err := jsonArg(e, 0, &req); err != nil || req.Expect <= 0 {
				ackError(e, errors.New("shutdown wants {expect: n}"))
				return
			}
			if got := s.Namespace().Count(); got != req.Expect {
				ackError(e, fmt.Errorf("%d sockets connected, expected %d", got, req.Expect))
				return
			}
			_ = e.Ack("shutting down")
			d.once.Do(func() {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					d.done <- d.srv.Shutdown(ctx)
				}()
			})
		})
	})
	d.hs = serve(t, "/socket.io/", d.srv)
	return d
}

// newRestartServer serves Socket.IO through whichever socketio.Server is
// current. "restart" replaces it by a new instance and shuts the old one
// down, as a relay restart would: clients see their transport close and
// reconnect to the new instance at the same address. Requests of sessions
// of an old instance still reach it (its sessions are known from their
// CONNECT to "/"), so that it can close them properly. "generation"
// answers the instance number.
func newRestartServer(t *testing.T) *httptest.Server {
	t.Helper()
	var (
		current atomic.Pointer[socketio.Server]
		gen     atomic.Int64
		mu      sync.Mutex
		all     []*socketio.Server
		owner   = map[string]*socketio.Server{} // engine id → its server
	)
	var start func()
	start = func() {
		g := gen.Add(1)
		srv := socketio.NewServer(socketio.Config{Engine: interopEngineConfig(), ConnectTimeout: 10 * time.Second})
		srv.Of("/").OnConnection(func(s *socketio.Socket) {
			mu.Lock()
			owner[s.Handshake().EngineID] = srv
			mu.Unlock()
			commonHandlers(s)
			s.On("generation", func(s *socketio.Socket, e *socketio.Event) { _ = e.Ack(g) })
			s.On("restart", func(s *socketio.Socket, e *socketio.Event) {
				if current.Load() != srv {
					ackError(e, errors.New("not the current server"))
					return
				}
				_ = e.Ack("restarting")
				start()
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = srv.Shutdown(ctx)
				}()
			})
		})
		mu.Lock()
		all = append(all, srv)
		mu.Unlock()
		current.Store(srv)
	}
	start()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, srv := range all {
			srv.Close()
		}
	})
	return serve(t, "/socket.io/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		srv := owner[r.URL.Query().Get("sid")]
		mu.Unlock()
		if srv == nil {
			srv = current.Load()
		}
		srv.ServeHTTP(w, r)
	}))
}

// TestPollingServerCloseDeliversQueueAndClosePacket is the Go reproduction
// of what the Node scripts saw on the polling transport: when the server
// closes a session (Socket.Close with ReasonServerClose, as
// socketio.Socket.Disconnect(true) and Server.Shutdown do), the packets
// queued before the close and then the close packet must reach the client,
// whether or not its GET is pending at that moment (the reference server
// flushes its write buffer, then sends the close packet, on the pending or
// the next GET). Without that, socket.io-client reports "transport close"
// instead of "io server disconnect" (the DISCONNECT packet was dropped) or
// "transport error" (the next GET got 400 "Session ID unknown").
func TestPollingServerCloseDeliversQueueAndClosePacket(t *testing.T) {
	getEntered := make(chan struct{}, 1)
	srv := engineio.NewServer(engineio.Config{}, func(so *engineio.Socket) { so.SetHandler(engineEcho{}) })
	t.Cleanup(srv.Close)
	hs := serve(t, "/engine.io/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("sid") != "" {
			select {
			case getEntered <- struct{}{}:
			default:
			}
		}
		srv.ServeHTTP(w, r)
	}))
	for _, pending := range []bool{false, true} {
		t.Run(fmt.Sprintf("GET pending=%v", pending), func(t *testing.T) {
			base := hs.URL + "/engine.io/?EIO=4&transport=polling"
			_, body := pollReq(t, http.MethodGet, base, "")
			var open struct {
				SID string `json:"sid"`
			}
			if len(body) < 2 || json.Unmarshal([]byte(body[1:]), &open) != nil || open.SID == "" {
				t.Fatalf("handshake: %q", body)
			}
			url := base + "&sid=" + open.SID
			for len(getEntered) > 0 {
				<-getEntered
			}
			got := make(chan string, 1)
			get := func() {
				code, body := pollReq(t, http.MethodGet, url, "")
				got <- fmt.Sprintf("%d %q", code, body)
			}
			if pending {
				go get()
				<-getEntered
			}
			if code, body := pollReq(t, http.MethodPost, url, "4close-me"); code != http.StatusOK || body != "ok" {
				t.Fatalf("POST: %d %q", code, body)
			}
			if !pending {
				go get()
			}
			// The queued message, then (next GET) the close packet, then
			// the session is gone.
			select {
			case g := <-got:
				if want := fmt.Sprintf("%d %q", http.StatusOK, "4bye"); g != want {
					t.Errorf("first GET after the server closed the session: %s, want %s", g, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("GET not answered")
			}
			if code, body := pollReq(t, http.MethodGet, url, ""); code != http.StatusOK || body != "1" {
				t.Errorf("second GET: %d %q, want the close packet", code, body)
			}
			if code, _ := pollReq(t, http.MethodGet, url, ""); code != http.StatusBadRequest {
				t.Errorf("third GET: %d, want 400: the session is over", code)
			}
		})
	}
}

func pollReq(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
