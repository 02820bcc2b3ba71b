// Package replayplayer holds what plays a replay file into an ingest server
// as its clients: the file with the names its auxiliary clients log on
// with, the logon handshake of the observer and auxiliary clients, and
// which connection an event goes out on. spectra-replay (pacing modes,
// ordering barriers, progress) and the load generator (many matches,
// looping, latency markers) both play through it.
package replayplayer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

// Source is a replay file read into memory.
type Source struct {
	Path   string
	Header replayfile.Header
	Events []replayfile.Event
	// Names maps a playerId to "name#tagline" from the roster events: the
	// name its auxiliary client logs on with.
	Names map[string]string
}

// Load reads a replay file.
func Load(path string) (*Source, error) {
	h, evs, err := replayfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Header: h, Events: evs, Names: map[string]string{}}
	for i := range evs {
		if evs[i].Type != "roster" {
			continue
		}
		var r struct{ PlayerID, Name, Tagline string }
		if json.Unmarshal(evs[i].Data, &r) == nil && r.PlayerID != "" && r.Name != "" {
			s.Names[r.PlayerID] = r.Name + "#" + r.Tagline
		}
	}
	return s, nil
}

// AuxName is the name the auxiliary client of playerID logs on with: its
// roster name, else "Aux-" and the start of the id.
func (s *Source) AuxName(playerID string) string {
	if n := s.Names[playerID]; n != "" {
		return n
	}
	return "Aux-" + playerID[:min(8, len(playerID))]
}

// Ack is the answer to obs_logon and aux_logon.
type Ack struct {
	Type   string `json:"type"`
	Value  bool   `json:"value"`
	Reason string `json:"reason"`
}

// AuxLogon is the aux_logon payload, in the auxiliary client's key order.
type AuxLogon struct {
	Type          string `json:"type"`
	ClientVersion string `json:"clientVersion"`
	Name          string `json:"name"`
	MatchID       string `json:"matchId"`
	PlayerID      string `json:"playerId"`
}

// NewAuxLogon is the logon of the auxiliary client of playerID.
func NewAuxLogon(clientVersion, name, matchID, playerID string) AuxLogon {
	return AuxLogon{Type: "aux_authenticate", ClientVersion: clientVersion, Name: name, MatchID: matchID, PlayerID: playerID}
}

// ErrNoAck is returned by Logon when ctx ends before the ack arrives.
var ErrNoAck = errors.New("no answer to the logon:")

// Logon connects c to url, emits event with payload as a JSON string
// argument (as the Spectra clients do) and waits for ackEvent until ctx
// ends. On an error c is closed.
func Logon(ctx context.Context, c *sioclient.Client, url, event, ackEvent string, payload any) (Ack, error) {
	acks := make(chan []json.RawMessage, 1)
	c.On(ackEvent, func(args []json.RawMessage) {
		select {
		case acks <- args:
		default:
		}
	})
	if err := c.Connect(ctx, url); err != nil {
		return Ack{}, fmt.Errorf("connecting to %s: %w", url, err)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		c.Close()
		return Ack{}, err
	}
	if err := c.Emit(event, string(body)); err != nil {
		c.Close()
		return Ack{}, fmt.Errorf("sending %s: %w", event, err)
	}
	var args []json.RawMessage
	select {
	case args = <-acks:
	case <-c.Done():
		// The ack may have raced with the server's disconnect.
		select {
		case args = <-acks:
		default:
			return Ack{}, fmt.Errorf("connection closed before %s: %v", ackEvent, c.Err())
		}
	case <-ctx.Done():
		c.Close()
		return Ack{}, fmt.Errorf("%w %s: %w", ErrNoAck, ackEvent, ctx.Err())
	}
	var ack Ack
	if err := decodeAck(args, &ack); err != nil {
		c.Close()
		return ack, fmt.Errorf("bad %s: %w", ackEvent, err)
	}
	return ack, nil
}

// decodeAck accepts the ack as a JSON string argument (what the server
// sends) or, leniently, as an object.
func decodeAck(args []json.RawMessage, v *Ack) error {
	if len(args) == 0 {
		return errors.New("no argument")
	}
	var s string
	if json.Unmarshal(args[0], &s) == nil {
		return json.Unmarshal([]byte(s), v)
	}
	return json.Unmarshal(args[0], v)
}

// Channel is the event ev is sent with: obs_data for the observer's
// events, aux_data for an auxiliary client's; ok is false for an event of
// neither.
func Channel(ev *replayfile.Event) (channel string, ok bool) {
	switch ev.Kind() {
	case replayfile.KindObserver:
		return "obs_data", true
	case replayfile.KindAux:
		return "aux_data", true
	}
	return "", false
}

// Sleep waits for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
