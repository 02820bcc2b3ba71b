package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/shardhash"
	"spectra-relay/relay/replayfile"
	"spectra-relay/relay/replayplayer"
	"spectra-relay/socketio/sioclient"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// replaySource is one replay file, read once and shared by every match that
// plays it.
type replaySource struct {
	*replayplayer.Source
	warmEnd int    // index of the first round_info: events before it are sent at once
	matchID string // the match id of its match_start
}

func loadReplay(path string) (*replaySource, error) {
	src, err := replayplayer.Load(path)
	if err != nil {
		return nil, err
	}
	s := &replaySource{Source: src, warmEnd: -1}
	for i := range src.Events {
		ev := &src.Events[i]
		switch ev.Type {
		case "round_info":
			if s.warmEnd < 0 {
				s.warmEnd = i
			}
		case "match_start":
			if s.matchID == "" {
				json.Unmarshal(ev.Data, &s.matchID)
			}
		}
	}
	if s.warmEnd < 0 {
		s.warmEnd = 0
	}
	if s.Header.ClientVersion == "" {
		s.Header.ClientVersion = "0.3.22"
	}
	return s, nil
}

// observer plays one replay into one match: the observer connection, the
// auxiliary clients of the file, and the latency markers.
//
// The file is sent from its start: events before the first round_info
// (agent select, map, mode, match start) at once, the rest paced by their
// timestamps divided by speed (speed 0: as fast as the connection takes
// them). game_end is never sent (it would end the match); at the end of the
// file the paced part starts over. The match id is made unique per match
// (original id + "-" + group code) in match_start and in every auxiliary
// logon and event, since the server routes auxiliary data by match id.
type observer struct {
	src         *replaySource
	groupCode   string
	matchID     string
	ingest      string
	speed       float64
	markerEvery time.Duration
	markers     *markerLog
	slowOver    time.Duration // see probe.slowOver; here: marker writes
	tls         *tls.Config   // for an https ingest URL

	obs     *sioclient.Client
	aux     map[string]*sioclient.Client // nil: refused
	auxSync bool                         // the observer's match_start has been read by the server

	sent     atomic.Int64 // events and markers sent
	slots    atomic.Int64 // distinct 100 ms slots with at least one send
	errors   atomic.Int64
	lastSlot int64
	marker   int64
	err      atomic.Value // error that stopped it
}

func (o *observer) clientOptions() sioclient.Options {
	return sioclient.Options{EIO: eioclient.Options{Transports: []string{eioclient.TransportWebSocket}, Deflate: true, TLSConfig: o.tls}}
}

func (o *observer) logon(ctx context.Context, event, ackEvent string, payload any) (*sioclient.Client, replayplayer.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := sioclient.New(o.clientOptions())
	a, err := replayplayer.Logon(ctx, c, o.ingest, event, ackEvent, payload)
	if err != nil {
		return nil, a, err
	}
	return c, a, nil
}

// run logs on, warms the match up, reports on ready, then plays until ctx
// ends.
func (o *observer) run(ctx context.Context, ready chan<- error) {
	err := o.start(ctx)
	ready <- err
	if err != nil {
		o.err.Store(err)
		return
	}
	if err := o.play(ctx); err != nil && ctx.Err() == nil {
		o.err.Store(err)
	}
}

func (o *observer) start(ctx context.Context) error {
	h := o.src.Header
	payload := h.ObsLogon(h.ClientVersion, "bench", o.groupCode, "")
	c, a, err := o.logon(ctx, "obs_logon", "obs_logon_ack", payload)
	if err != nil {
		return fmt.Errorf("observer %s: %w", o.groupCode, err)
	}
	if !a.Value {
		c.Close()
		return fmt.Errorf("observer %s refused: %s", o.groupCode, a.Reason)
	}
	o.obs = c
	o.aux = map[string]*sioclient.Client{}
	for i := 0; i < o.src.warmEnd; i++ {
		if err := o.send(ctx, &o.src.Events[i]); err != nil {
			return err
		}
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return o.obs.Barrier(bctx)
}

func (o *observer) close() {
	if o.obs != nil {
		o.obs.Close()
	}
	for _, c := range o.aux {
		if c != nil {
			c.Close()
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	return replayplayer.Sleep(ctx, time.Until(t))
}

func (o *observer) play(ctx context.Context) error {
	evs := o.src.Events
	i := o.src.warmEnd
	base, tsBase := time.Now(), evs[i].Timestamp
	// Gaps between markers are random, within ±25 % of the interval:
	// markers at a fixed cadence hold one phase against a server's send
	// cycle (every 100 ms), so that all samples of a run would see the same
	// wait, short or long, by chance; spread over a whole send interval
	// (±50 ms at the default 200 ms) they sample every phase. Seeded by the
	// group code, so that a run repeats its gaps.
	rng := rand.New(rand.NewPCG(uint64(shardhash.FNV1a(o.groupCode)), 0))
	gap := func() time.Duration {
		return o.markerEvery*3/4 + time.Duration(rng.Int64N(int64(o.markerEvery/2)+1))
	}
	nextMarker := time.Now().Add(gap())
	for ctx.Err() == nil {
		if i >= len(evs) || evs[i].IsGameEnd() {
			i = o.src.warmEnd
			base, tsBase = time.Now(), evs[i].Timestamp
			continue
		}
		ev := &evs[i]
		due := time.Now()
		if o.speed > 0 && ev.HasTimestamp {
			due = base.Add(time.Duration(float64(ev.Timestamp-tsBase) * float64(time.Millisecond) / o.speed))
		}
		if o.markerEvery > 0 && !nextMarker.After(due) {
			if err := sleepUntil(ctx, nextMarker); err != nil {
				return nil
			}
			if err := o.sendMarker(); err != nil {
				return err
			}
			nextMarker = nextMarker.Add(gap())
			if now := time.Now(); nextMarker.Before(now) {
				nextMarker = now.Add(gap())
			}
			continue
		}
		if err := sleepUntil(ctx, due); err != nil {
			return nil
		}
		if err := o.send(ctx, ev); err != nil {
			return err
		}
		i++
	}
	return nil
}

func (o *observer) noteSend() {
	o.sent.Add(1)
	if s := time.Now().UnixNano() / int64(100*time.Millisecond); s != o.lastSlot {
		o.lastSlot = s
		o.slots.Add(1)
	}
}

func (o *observer) sendMarker() error {
	o.marker++
	p, _ := json.Marshal(struct {
		ObsName   string `json:"obsName"`
		GroupCode string `json:"groupCode"`
		Type      string `json:"type"`
		Data      any    `json:"data"`
	}{o.src.Header.ObsName, o.groupCode, "toast", map[string]any{
		"title": "bench", "message": fmt.Sprintf("m%d", o.marker), "duration": nil, "eventLogoEnabled": true,
	}})
	// Stamped again when the write starts: the time the marker waited in
	// this process (its writer goroutine not yet scheduled, the bench's
	// core busy reading overlays) is not the server's.
	emitted := time.Now()
	seq := o.markers.add(emitted)
	if seq != o.marker {
		return errors.New("marker sequence out of step")
	}
	stamp := func() {
		now := time.Now()
		o.markers.set(seq, now)
		// Printed here, on the writer goroutine, so that the diagnostic
		// never holds the play loop back.
		if d := now.Sub(emitted); o.slowOver > 0 && d > o.slowOver/5 {
			fmt.Fprintf(os.Stderr, "slow marker write: %s marker %d emitted %s, its write started %d ms later\n",
				o.groupCode, seq, emitted.Format("15:04:05.000"), d.Milliseconds())
		}
	}
	if err := o.obs.EmitNotify(stamp, "obs_data", string(p)); err != nil {
		o.errors.Add(1)
		return fmt.Errorf("observer %s: %w", o.groupCode, err)
	}
	o.noteSend()
	return nil
}

func (o *observer) send(ctx context.Context, ev *replayfile.Event) error {
	c := o.obs
	channel, ok := replayplayer.Channel(ev)
	if !ok {
		return nil
	}
	if ev.Kind() == replayfile.KindAux {
		var err error
		if c, err = o.auxFor(ctx, ev); err != nil {
			return err
		}
		if c == nil {
			return nil
		}
	}
	payload, err := ev.Payload(o.groupCode)
	if err != nil {
		return nil
	}
	if o.src.matchID != "" && (ev.Kind() == replayfile.KindAux || ev.Type == "match_start") {
		payload = bytes.ReplaceAll(payload, []byte(`"`+o.src.matchID+`"`), []byte(`"`+o.matchID+`"`))
	}
	if err := c.Emit(channel, string(payload)); err != nil {
		o.errors.Add(1)
		if c == o.obs {
			return fmt.Errorf("observer %s: %w", o.groupCode, err)
		}
		return nil
	}
	o.noteSend()
	return nil
}

func (o *observer) auxFor(ctx context.Context, ev *replayfile.Event) (*sioclient.Client, error) {
	if c, ok := o.aux[ev.PlayerID]; ok {
		return c, nil
	}
	if !o.auxSync {
		// The auxiliary logon needs the match_start the observer sent.
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := o.obs.Barrier(bctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("observer %s: %w", o.groupCode, err)
		}
		o.auxSync = true
	}
	payload := replayplayer.NewAuxLogon(o.src.Header.ClientVersion, o.src.AuxName(ev.PlayerID), o.matchID, ev.PlayerID)
	c, a, err := o.logon(ctx, "aux_logon", "aux_logon_ack", payload)
	if err != nil {
		o.errors.Add(1)
		o.aux[ev.PlayerID] = nil
		return nil, nil
	}
	if !a.Value {
		c.Close()
		c = nil
		o.errors.Add(1)
	}
	o.aux[ev.PlayerID] = c
	return c, nil
}
