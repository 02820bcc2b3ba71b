package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replayplayer"
	"spectra-relay/socketio/sioclient"
)

// result counts what a run did.
type result struct {
	total      int
	sentObs    atomic.Int64
	sentAux    atomic.Int64
	skipped    atomic.Int64 // unknown shapes, refused or disabled aux clients
	round      atomic.Int64
	auxClients atomic.Int64
	start      time.Time
	end        time.Time
}

func (r *result) sent() int64 { return r.sentObs.Load() + r.sentAux.Load() }

func (r *result) summary() string {
	end := r.end
	if end.IsZero() {
		end = time.Now()
	}
	el := end.Sub(r.start)
	rate := 0.0
	if el > 0 {
		rate = float64(r.sent()) / el.Seconds()
	}
	return fmt.Sprintf("sent %d/%d events (observer %d, auxiliary %d from %d clients, skipped %d) in %s, %.0f events/s",
		r.sent(), r.total, r.sentObs.Load(), r.sentAux.Load(), r.auxClients.Load(), r.skipped.Load(),
		el.Round(time.Millisecond), rate)
}

// player holds the state of one run.
type player struct {
	cfg       config
	src       *replayplayer.Source
	header    replayfile.Header
	events    []replayfile.Event
	res       *result
	obs       *rconn
	aux       map[string]*rconn // nil value: refused, events skipped
	last      *rconn
	gameEnd   atomic.Bool
	version   string
	group     string
	noBarrier bool // the server ignored a barrier: fall back to flushing
}

func play(ctx context.Context, cfg config) (*result, error) {
	src, err := replayplayer.Load(cfg.file)
	if err != nil {
		return nil, err
	}
	h, evs := src.Header, src.Events
	p := &player{
		cfg:     cfg,
		src:     src,
		header:  h,
		events:  evs,
		res:     &result{total: len(evs)},
		aux:     map[string]*rconn{},
		version: h.ClientVersion,
		group:   h.GroupCode,
	}
	if cfg.clientVersion != "" {
		p.version = cfg.clientVersion
	}
	if cfg.groupCode != "" {
		p.group = cfg.groupCode
	}
	if p.group == "" {
		return nil, fmt.Errorf("%s: the header has no groupCode (use -group-code)", cfg.file)
	}
	defer p.closeAll()
	p.noBarrier = !cfg.sync
	if err := p.logonObserver(ctx); err != nil {
		return nil, err
	}
	p.res.start = time.Now()
	stopProgress := p.progress()
	err = p.loop(ctx)
	if ferr := p.settleAll(ctx); err == nil && ferr != nil && !p.gameEnd.Load() {
		err = ferr
	}
	if err == nil && p.gameEnd.Load() {
		p.awaitGameEndDisconnect(ctx)
	}
	p.res.end = time.Now()
	stopProgress()
	return p.res, err
}

func (p *player) clientOptions() sioclient.Options {
	return sioclient.Options{EIO: eioclient.Options{
		Transports: p.cfg.transports(),
		Deflate:    p.cfg.deflate,
		TLSConfig:  p.cfg.tlsConfig(),
	}}
}

// logon connects a client, emits the logon event and waits for its ack.
func (p *player) logon(ctx context.Context, what, event, ackEvent string, payload any) (*sioclient.Client, replayplayer.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.logonTimeout)
	defer cancel()
	c := sioclient.New(p.clientOptions())
	ack, err := replayplayer.Logon(ctx, c, p.cfg.ingest, event, ackEvent, payload)
	if err != nil {
		if errors.Is(err, replayplayer.ErrNoAck) {
			return nil, ack, fmt.Errorf("%s: no %s within %s", what, ackEvent, p.cfg.logonTimeout)
		}
		return nil, ack, fmt.Errorf("%s: %w", what, err)
	}
	return c, ack, nil
}

func (p *player) logonObserver(ctx context.Context) error {
	h := p.header
	payload := h.ObsLogon(p.version, p.cfg.key, p.group, h.GroupSecret)
	c, ack, err := p.logon(ctx, "observer", "obs_logon", "obs_logon_ack", payload)
	if err != nil {
		return err
	}
	if !ack.Value {
		c.Close()
		return fmt.Errorf("observer logon for group code %s refused by the server: %s", p.group, ack.Reason)
	}
	p.obs = newRConn(p, "observer", c)
	p.last = p.obs
	if !p.cfg.quiet {
		note := ""
		if ack.Reason == "reconnected" {
			note = " (reconnected to the live match)"
		}
		fmt.Fprintf(p.cfg.stderr, "observer logged on to %s as %q, group code %s%s\n", p.cfg.ingest, h.ObsName, p.group, note)
	}
	return nil
}

// auxFor returns the logged-on client of a player, logging it on first.
func (p *player) auxFor(ctx context.Context, ev *replayfile.Event) (*rconn, error) {
	if c, ok := p.aux[ev.PlayerID]; ok {
		return c, nil
	}
	name := p.src.AuxName(ev.PlayerID)
	payload := replayplayer.NewAuxLogon(p.version, name, ev.MatchID, ev.PlayerID)
	what := "auxiliary client " + name
	c, ack, err := p.logon(ctx, what, "aux_logon", "aux_logon_ack", payload)
	if err != nil {
		return nil, err
	}
	if !ack.Value {
		c.Close()
		p.aux[ev.PlayerID] = nil
		p.warn("%s refused, skipping its events: %s", what, ack.Reason)
		return nil, nil
	}
	r := newRConn(p, what, c)
	p.aux[ev.PlayerID] = r
	p.res.auxClients.Add(1)
	return r, nil
}

func (p *player) warn(format string, args ...any) {
	if p.cfg.quiet {
		return
	}
	prefix := "warning: "
	if isTerminal(p.cfg.stderr) {
		prefix = "\r\x1b[K" + prefix // over the progress line
	}
	fmt.Fprintf(p.cfg.stderr, prefix+format+"\n", args...)
}

// loop sends every event, paced by the mode, and stops after game_end.
func (p *player) loop(ctx context.Context) error {
	var (
		pacer  = p.newPacer()
		sentAt time.Time
	)
	for i := range p.events {
		ev := &p.events[i]
		if r, _, ok := ev.RoundInfo(); ok {
			p.res.round.Store(int64(r))
		}
		if err := pacer(ctx, i, sentAt); err != nil {
			return err
		}
		if err := p.send(ctx, ev); err != nil {
			return err
		}
		sentAt = time.Now()
		if ev.IsGameEnd() {
			p.gameEnd.Store(true)
			return nil
		}
	}
	return nil
}

// send emits one event on the connection it belongs to.
func (p *player) send(ctx context.Context, ev *replayfile.Event) error {
	kind := ev.Kind()
	switch {
	case kind == replayfile.KindAux && p.cfg.noAux:
		p.res.skipped.Add(1)
		return nil
	case kind == replayfile.KindUnknown:
		p.warn("event %d (%s) is neither an observer nor an auxiliary event, skipped", ev.Index, ev.Type)
		p.res.skipped.Add(1)
		return nil
	}
	var (
		c       = p.obs
		channel = "obs_data"
	)
	if kind == replayfile.KindAux {
		channel = "aux_data"
		known, seen := p.aux[ev.PlayerID]
		if seen && known == nil {
			p.res.skipped.Add(1) // refused earlier
			return nil
		}
		if !seen {
			// The logon needs the match_start the observer just sent.
			if err := p.settle(ctx, p.last); err != nil {
				return fmt.Errorf("event %d: %w", ev.Index, err)
			}
			var err error
			if known, err = p.auxFor(ctx, ev); err != nil {
				return fmt.Errorf("event %d: %w", ev.Index, err)
			}
			if known == nil {
				p.res.skipped.Add(1)
				return nil
			}
		}
		c = known
	}
	select {
	case <-c.Done():
		return fmt.Errorf("event %d: the server closed the %s connection: %v", ev.Index, channel[:3], c.Err())
	default:
	}
	if c != p.last {
		// The server orders events per connection only: make sure it has
		// read the previous connection's events before the next one speaks.
		if err := p.settle(ctx, p.last); err != nil {
			return fmt.Errorf("event %d: %w", ev.Index, err)
		}
		if p.cfg.switchDelay > 0 {
			if err := replayplayer.Sleep(ctx, p.cfg.switchDelay); err != nil {
				return err
			}
		}
		p.last = c
	}
	payload, err := ev.Payload(p.cfg.groupCode)
	if err != nil {
		return fmt.Errorf("event %d: %w", ev.Index, err)
	}
	if err := c.Emit(channel, string(payload)); err != nil {
		return fmt.Errorf("event %d: sending %s: %w", ev.Index, channel, err)
	}
	if channel == "obs_data" {
		p.res.sentObs.Add(1)
	} else {
		p.res.sentAux.Add(1)
	}
	return nil
}

// settle waits until the server has read what r sent (see
// sioclient.Client.Barrier), or only until it left this process when
// barriers are off or unanswered. A lost connection is waited for
// (bounded): its buffered events go out when it is back, before the
// barrier; a connection lost during the barrier is waited for again.
func (p *player) settle(ctx context.Context, r *rconn) error {
	if r == nil {
		return nil
	}
	for attempt := 0; ; attempt++ {
		select {
		case <-r.Done():
			return nil // nothing more will be read from it
		default:
		}
		wctx, wcancel := context.WithTimeout(ctx, settleReconnectWait)
		c, err := r.current(wctx)
		wcancel()
		if err != nil || c == nil {
			return err
		}
		err = p.settleConn(ctx, c)
		if err == nil || attempt >= 3 || ctx.Err() != nil {
			return err
		}
		// A barrier that failed because the connection was lost under it
		// (its end may be noticed a moment later): once it is back, again.
		t := time.NewTimer(2 * time.Second)
		select {
		case <-c.Done():
			t.Stop()
			continue
		case <-t.C:
			return err
		}
	}
}

func (p *player) settleConn(ctx context.Context, c *sioclient.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !p.noBarrier {
		err := c.Barrier(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || errors.Is(err, context.Canceled) {
			return fmt.Errorf("waiting for the server to read a connection's events: %w", err)
		}
		p.noBarrier = true
		p.warn("the server does not answer a CONNECT to an unknown namespace; events on different connections may be handled out of order")
	}
	if err := c.Flush(ctx); err != nil {
		return fmt.Errorf("flushing a connection: %w", err)
	}
	return nil
}

// settleReconnectWait bounds how long a switch between connections waits
// for a lost one to come back (the server restarting, say).
const settleReconnectWait = 5 * time.Minute

// pacer waits until event i may be sent; prev is when i-1 was sent.
type pacer func(ctx context.Context, i int, prev time.Time) error

func (p *player) newPacer() pacer {
	switch p.cfg.mode {
	case "delay":
		return func(ctx context.Context, i int, prev time.Time) error {
			if i == 0 {
				return ctx.Err()
			}
			return replayplayer.Sleep(ctx, time.Until(prev.Add(p.cfg.delay)))
		}
	case "timestamps":
		// Events keep their recorded spacing relative to the first one,
		// divided by speed; a schedule rather than per-gap sleeps so that
		// send time does not accumulate as drift.
		var (
			t0  time.Time
			ts0 int64
			set bool
		)
		return func(ctx context.Context, i int, prev time.Time) error {
			ev := &p.events[i]
			if !ev.HasTimestamp {
				return ctx.Err()
			}
			if !set {
				t0, ts0, set = time.Now(), ev.Timestamp, true
				return ctx.Err()
			}
			gap := time.Duration(float64(ev.Timestamp-ts0) * float64(time.Millisecond) / p.cfg.speed)
			return replayplayer.Sleep(ctx, time.Until(t0.Add(gap)))
		}
	case "manual":
		return p.manualPacer()
	}
	return func(ctx context.Context, _ int, _ time.Time) error { return ctx.Err() }
}

// manualPacer shows each event and waits for the operator: Enter sends one,
// a number sends that many, "go" sends the rest, "q" quits.
func (p *player) manualPacer() pacer {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(p.cfg.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	free := 0 // events that may go without asking
	all := false
	out := p.cfg.stderr
	return func(ctx context.Context, i int, prev time.Time) error {
		if all || free > 0 {
			free--
			return ctx.Err()
		}
		ev := &p.events[i]
		payload, _ := ev.Payload(p.cfg.groupCode)
		kind := "obs_data"
		if ev.Kind() == replayfile.KindAux {
			kind = "aux_data (player " + ev.PlayerID + ")"
		}
		fmt.Fprintf(out, "\nnext %d/%d  round %d  %s  %s\n  %s\n[Enter] send  [N] send N  [go] send the rest  [q] quit > ",
			i+1, len(p.events), p.res.round.Load(), ev.Type, kind, shorten(string(payload), 400))
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case line, ok := <-lines:
				if !ok {
					return errors.New("stdin closed: stopping the manual replay")
				}
				line = strings.TrimSpace(line)
				switch {
				case line == "":
					return nil
				case line == "go":
					all = true
					return nil
				case line == "q" || line == "quit" || line == "exit":
					return errors.New("stopped by the operator")
				default:
					n, err := strconv.Atoi(line)
					if err != nil || n < 1 {
						fmt.Fprint(out, "enter nothing, a positive number, go or q > ")
						continue
					}
					free = n - 1
					return nil
				}
			}
		}
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}

// progress refreshes a status line on stderr at most four times a second (a
// plain line every five seconds when stderr is not a terminal) until the
// returned stop is called.
func (p *player) progress() (stop func()) {
	if p.cfg.quiet || p.cfg.mode == "manual" {
		return func() {}
	}
	tty := isTerminal(p.cfg.stderr)
	every := 250 * time.Millisecond
	if !tty {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		lastN, lastT := int64(0), time.Now()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(p.cfg.stderr, "\r\x1b[K")
				}
				return
			case now := <-t.C:
				n := p.res.sent()
				rate := float64(n-lastN) / now.Sub(lastT).Seconds()
				lastN, lastT = n, now
				line := fmt.Sprintf("events %d/%d (%.1f%%)  %.0f/s  round %d  aux clients %d",
					n, p.res.total, 100*float64(n)/float64(max(p.res.total, 1)), rate, p.res.round.Load(), p.res.auxClients.Load())
				if tty {
					fmt.Fprint(p.cfg.stderr, "\r\x1b[K"+line)
				} else {
					fmt.Fprintln(p.cfg.stderr, line)
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// awaitGameEndDisconnect gives the server a moment to act on game_end: it
// removes the match and disconnects the observer, which also proves it has
// read everything sent before. A server that keeps the connection open is
// not an error.
func (p *player) awaitGameEndDisconnect(ctx context.Context) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.obs.Done():
	case <-t.C:
		p.warn("the server did not disconnect the observer within 5s of game_end")
	case <-ctx.Done():
	}
}

// settleAll settles every connection still open, so that closing them
// cannot lose the last events.
func (p *player) settleAll(ctx context.Context) error {
	var errs []error
	for _, c := range p.clients() {
		if err := p.settle(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *player) clients() []*rconn {
	var cs []*rconn
	if p.obs != nil {
		cs = append(cs, p.obs)
	}
	for _, c := range p.aux {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return cs
}

func (p *player) closeAll() {
	var wg sync.WaitGroup
	for _, c := range p.clients() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	wg.Wait()
}
