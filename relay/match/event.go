package match

import (
	"errors"
	"fmt"
	"math"
)

// Event is one obs_data / aux_data payload after validation.
type Event struct {
	// Type is the event type; a non-string type becomes "" (the existing
	// server treats it as an unknown type, which still counts as a change).
	Type string
	// Data is the raw JSON text of the "data" member. ParseEvent slices it
	// out of the input without copying.
	Data []byte

	ObsName  string
	PlayerID string
	// GroupCode and MatchID hold the routing keys; non-string values are
	// converted the way JS converts a property key.
	GroupCode string
	MatchID   string
	// HasGroupCode reports that the payload had a groupCode member, which
	// decides the routing even when it is empty (the existing server routes
	// by groupCode first and uses matchId only without it).
	HasGroupCode bool
	HasMatchID   bool
	// Timestamp is the "timestamp" member (epoch ms) when present; the
	// controller stamps received events with its clock.
	Timestamp int64

	// Aux marks an event from an auxiliary connection, which may change
	// only the player it logged on as, AuxPlayer ("" while it has none):
	// see CheckAux. ParseEvent leaves both zero; the ingest sets them.
	Aux       bool
	AuxPlayer string

	data   jv
	parsed bool
}

// ErrInvalidEvent marks payloads rejected by the SPEC §4 shape check.
var ErrInvalidEvent = errors.New("invalid event")

// ParseEvent parses and validates an obs_data / aux_data payload: it must be a
// JSON object with (obsName or playerId), (groupCode or matchId), type and data.
func ParseEvent(raw []byte) (Event, error) {
	var ev Event
	p := parser{b: raw}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		// JSON.parse may succeed on a primitive or an array, but the `in`
		// checks then fail or throw: either way the payload is dropped.
		if _, err := parseJSON(raw); err != nil {
			return ev, fmt.Errorf("parse event: %w", err)
		}
		return ev, fmt.Errorf("event is not a JSON object: %w", ErrInvalidEvent)
	}
	p.i++
	var hasObs, hasPlayer, hasType, hasData bool
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
	} else {
		for {
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return ev, fmt.Errorf("parse event: %w", p.errf("expected object key"))
			}
			key, err := p.str()
			if err != nil {
				return ev, fmt.Errorf("parse event: %w", err)
			}
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return ev, fmt.Errorf("parse event: %w", p.errf("expected ':'"))
			}
			p.i++
			p.ws()
			start := p.i
			v, err := p.value()
			if err != nil {
				return ev, fmt.Errorf("parse event: %w", err)
			}
			switch key {
			case "type":
				hasType = true
				ev.Type = ""
				if v.k == kString {
					ev.Type = v.s
				}
			case "data":
				hasData = true
				ev.Data = raw[start:p.i]
				ev.data = v
				ev.parsed = true
			case "obsName":
				hasObs = true
				ev.ObsName = v.toPropertyKey()
			case "playerId":
				hasPlayer = true
				ev.PlayerID = ""
				if v.k == kString {
					ev.PlayerID = v.s
				}
			case "groupCode":
				ev.HasGroupCode = true
				ev.GroupCode = v.toPropertyKey()
			case "matchId":
				ev.HasMatchID = true
				ev.MatchID = v.toPropertyKey()
			case "timestamp":
				ev.Timestamp = 0
				if v.k == kNumber && !math.IsNaN(v.n) && math.Abs(v.n) < 1<<62 {
					ev.Timestamp = int64(v.n)
				}
			}
			p.ws()
			if p.i >= len(p.b) {
				return ev, fmt.Errorf("parse event: %w", p.errf("unterminated object"))
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == '}' {
				p.i++
				break
			}
			return ev, fmt.Errorf("parse event: %w", p.errf("expected ',' or '}'"))
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return ev, fmt.Errorf("parse event: %w", p.errf("unexpected data after JSON value"))
	}
	switch {
	case !hasObs && !hasPlayer:
		return ev, fmt.Errorf("event without obsName or playerId: %w", ErrInvalidEvent)
	case !ev.HasGroupCode && !ev.HasMatchID:
		return ev, fmt.Errorf("event without groupCode or matchId: %w", ErrInvalidEvent)
	case !hasType:
		return ev, fmt.Errorf("event without type: %w", ErrInvalidEvent)
	case !hasData:
		return ev, fmt.Errorf("event without data: %w", ErrInvalidEvent)
	}
	return ev, nil
}

// value returns the parsed data member, parsing Data if the event was built
// by hand.
func (ev *Event) value() (jv, error) {
	if ev.parsed {
		return ev.data, nil
	}
	v, err := parseJSON(ev.Data)
	if err != nil {
		return undef, fmt.Errorf("event data: %w", err)
	}
	return v, nil
}
