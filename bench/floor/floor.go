// Package floor is the bench's "floor" server: the least a Spectra relay
// must do for the bench's clients, so that spectra-server can be measured
// beside it on the same machine in the same run.
//
// It speaks just enough Engine.IO v4 / Socket.IO v5 over WebSocket: the open
// packet, the main namespace CONNECT (other namespaces are refused, which is
// what sioclient's Barrier waits for), obs_logon / aux_logon with their
// acks, obs_data / aux_data, logon → logon_success, and pings. There are no
// Engine.IO sessions, no polling, no rooms, no game rules.
//
// Per match, a goroutine sends the state when an event changed it, at most
// every 100 ms (at once if the last send is older: leading edge, like
// spectra-server). It encodes the state once, compresses the frame once
// with the match's shared deflate context (context takeover, as
// engineio.Stream does) and writes it to each overlay with one
// non-blocking write(2). An overlay whose window does not hold the match's
// recent frames (it logged on late or missed one) gets the frame compressed
// without context, built at most once per frame, until it has received 32
// KiB of consecutive frames. That is the physically necessary work per send.
//
// Idle overlays hold no goroutine and no buffer: after the handshake they are
// watched by one epoll set (internal/epollset, the one spectra-server's
// engineio uses, so that both wait on the same footing), and a read
// goroutine runs only when one has sent something.
// Observers, a few per match, keep a reader goroutine each.
//
// The state is a real match state (the last checkpoint of a golden file,
// BaseState) patched per event like the Node baseline does (bench/baseline),
// so the payload has the size and shape of spectra-server's.
package floor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"spectra-relay/internal/epollset"
)

// Config configures a Server.
type Config struct {
	// BaseState is a golden checkpoints file whose last state seeds every
	// match; empty: a small stub state.
	BaseState string
	// Level is the deflate level; 0: 6, as spectra-server's DEFLATE_STREAM=flate (its default, delta, has no level).
	Level int
	// PingInterval between Engine.IO pings; 0: 25 s.
	PingInterval time.Duration
	// SendInterval is the least time between two sends of a match; 0: 100 ms.
	SendInterval time.Duration
	// Plus makes it "floor+": the relay's deltaflate for the shared
	// context and io_uring batches for a broadcast's writes (see plus.go).
	Plus bool
	Log  *slog.Logger
}

// Server is a floor server. Its zero value is not usable: see New.
type Server struct {
	cfg  Config
	base []byte // the seed state as JSON
	log  *slog.Logger

	// ep watches idle overlays (nil: a reader goroutine each), as
	// spectra-server's engineio does: an overlay sends a pong every 25 s,
	// and a goroutine per overlay would be most of its memory.
	ep *epollset.Set

	mu      sync.Mutex
	matches map[string]*match // by group code
	// ringOnce: floor+ says once that io_uring is unavailable.
	ringOnce sync.Once
	// ringSends counts floor+'s sends that went through io_uring.
	ringSends atomic.Int64
	polled    map[*conn]struct{}
	closed    bool
	lns       []net.Listener
	done      chan struct{}
	wg        sync.WaitGroup
}

// New reads the base state and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Level == 0 {
		cfg.Level = 6
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.SendInterval <= 0 {
		cfg.SendInterval = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: cfg.Log, matches: map[string]*match{}, polled: map[*conn]struct{}{}, done: make(chan struct{})}
	s.base = []byte(stubState)
	if cfg.BaseState != "" {
		b, err := os.ReadFile(cfg.BaseState)
		if err != nil {
			return nil, fmt.Errorf("floor: base state: %w", err)
		}
		var doc struct {
			Checkpoints []struct {
				Data json.RawMessage `json:"data"`
			} `json:"checkpoints"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("floor: base state %s: %w", cfg.BaseState, err)
		}
		if n := len(doc.Checkpoints); n > 0 && len(doc.Checkpoints[n-1].Data) > 2 {
			s.base = doc.Checkpoints[n-1].Data
		}
	}
	if st, err := decodeOrdered(s.base); err != nil {
		return nil, fmt.Errorf("floor: base state: %w", err)
	} else if _, ok := st.(*object); !ok {
		return nil, fmt.Errorf("floor: base state is not a JSON object")
	}
	ep, err := epollset.Open(cfg.Log)
	if err != nil {
		cfg.Log.Warn("floor: no epoll, a reader goroutine per overlay", "err", err)
	} else {
		s.ep = ep
	}
	return s, nil
}

const stubState = `{"matchId":"","matchType":"bomb","groupCode":"","isRunning":true,"roundNumber":0,"roundPhase":"shopping",` +
	`"teams":[{"teamName":"L","roundsWon":0,"players":[]},{"teamName":"R","roundsWon":0,"players":[]}],` +
	`"toastInfo":{"active":false,"title":"","message":"","duration":null,"eventLogoEnabled":true}}`

// ServeIngest accepts observers and auxiliary clients on ln until Close.
func (s *Server) ServeIngest(ln net.Listener) error { return s.serve(ln, false) }

// ServeOutput accepts overlays on ln until Close.
func (s *Server) ServeOutput(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, output bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: wait for some to close instead of spinning.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c, output)
		}()
	}
}

// Close stops the listeners, the match loops and every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, ln := range s.lns {
		ln.Close()
	}
	var conns []net.Conn
	var polled []*conn
	for c := range s.polled {
		polled = append(polled, c)
	}
	for _, m := range s.matches {
		m.mu.Lock()
		for c := range m.ingest {
			conns = append(conns, c)
		}
		for _, o := range m.overlays {
			if !o.polled {
				conns = append(conns, o.conn) // reader-goroutine fallback
			}
		}
		m.mu.Unlock()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, c := range polled {
		c.close()
	}
	s.wg.Wait()
	if s.ep != nil {
		s.ep.Close()
	}
	return nil
}

// match returns the match of a group code, making it (and its loop) if new.
func (s *Server) match(groupCode string) *match {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.matches[groupCode]; m != nil {
		return m
	}
	m := newMatch(s, groupCode)
	s.matches[groupCode] = m
	if !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			m.loop()
		}()
	}
	return m
}

func (s *Server) byMatchID(id string) *match {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.matches {
		m.mu.Lock()
		ok := m.matchID == id
		m.mu.Unlock()
		if ok {
			return m
		}
	}
	return nil
}

// WriteMetrics writes the floor's counters in the Prometheus text format
// spectra-server's /metrics uses for the same figures, so that
// spectra-bench reads both alike: go_goroutines and each match's
// match_data broadcasts (spectra_match_data_sends_by_match_total).
func (s *Server) WriteMetrics(w io.Writer) error {
	type sends struct {
		code string
		n    int64
	}
	s.mu.Lock()
	counts := make([]sends, 0, len(s.matches))
	for code, m := range s.matches {
		counts = append(counts, sends{code, m.sends.Load()})
	}
	s.mu.Unlock()
	slices.SortFunc(counts, func(a, b sends) int { return strings.Compare(a.code, b.code) })
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "go_goroutines %d\n", runtime.NumGoroutine())
	for _, c := range counts {
		fmt.Fprintf(bw, "spectra_match_data_sends_by_match_total{group_code=\"%s\"} %d\n", labelEscaper.Replace(c.code), c.n)
	}
	return bw.Flush()
}

// labelEscaper escapes a Prometheus label value.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
