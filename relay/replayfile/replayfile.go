// Package replayfile reads and writes Spectra replay files: a JSON header
// object (the observer's logon without key and type, plus logStartTime),
// then ",\n" and one event object per event. Wrapped in "[" and "]" the
// content is a JSON array whose element 0 is the header.
package replayfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"spectra-relay/internal/jsontext"
)

// Header is element 0 of a replay file.
type Header struct {
	ServerVersion string          `json:"serverVersion,omitempty"`
	ClientVersion string          `json:"clientVersion"`
	ObsName       string          `json:"obsName"`
	GroupCode     string          `json:"groupCode"`
	GroupSecret   string          `json:"groupSecret"`
	LeftTeam      json.RawMessage `json:"leftTeam,omitempty"`
	RightTeam     json.RawMessage `json:"rightTeam,omitempty"`
	ToolsData     json.RawMessage `json:"toolsData,omitempty"`
	LogStartTime  int64           `json:"logStartTime"`

	// Raw is the header exactly as read: unknown fields and key order.
	Raw json.RawMessage `json:"-"`
}

// Kind says which client sent an event.
type Kind uint8

const (
	// KindUnknown: neither shape below.
	KindUnknown Kind = iota
	// KindObserver: has obsName and groupCode; sent as obs_data.
	KindObserver
	// KindAux: has playerId and matchId and no groupCode; sent as aux_data.
	KindAux
)

func (k Kind) String() string {
	switch k {
	case KindObserver:
		return "observer"
	case KindAux:
		return "aux"
	}
	return "unknown"
}

// Event is one event of a replay file.
type Event struct {
	// Index is the event's position, 0 for the first event after the header.
	Index int
	// Offset is the byte offset of the event's "{" in the file.
	Offset int64

	Type         string
	Timestamp    int64
	HasTimestamp bool
	ObsName      string
	GroupCode    string
	PlayerID     string
	MatchID      string
	Data         json.RawMessage

	// Raw is the event object as it appears in the file.
	Raw json.RawMessage

	has fieldSet
}

type fieldSet uint8

const (
	hasObsName fieldSet = 1 << iota
	hasGroupCode
	hasPlayerID
	hasMatchID
)

// Kind classifies the event like the observer and auxiliary clients do.
func (e *Event) Kind() Kind {
	switch {
	case e.has&hasObsName != 0 && e.has&hasGroupCode != 0:
		return KindObserver
	case e.has&hasPlayerID != 0 && e.has&hasMatchID != 0 && e.has&hasGroupCode == 0:
		return KindAux
	}
	return KindUnknown
}

// RoundInfo returns the round number and phase of a round_info event.
func (e *Event) RoundInfo() (round int, phase string, ok bool) {
	if e.Type != "round_info" {
		return 0, "", false
	}
	var v struct {
		RoundNumber int    `json:"roundNumber"`
		RoundPhase  string `json:"roundPhase"`
	}
	if json.Unmarshal(e.Data, &v) != nil {
		return 0, "", false
	}
	return v.RoundNumber, v.RoundPhase, true
}

// IsGameEnd reports a round_info with phase game_end, after which the
// server removes the match.
func (e *Event) IsGameEnd() bool {
	_, phase, ok := e.RoundInfo()
	return ok && phase == "game_end"
}

// Payload returns the event as a client sends it: the same object without
// "timestamp" (the server stamps its own), keys in file order. A non-empty
// groupCode replaces the event's groupCode, if it has one.
func (e *Event) Payload(groupCode string) ([]byte, error) {
	ms, err := jsontext.Members(e.Raw)
	if err != nil {
		return nil, err
	}
	if groupCode != "" {
		for i := range ms {
			if ms[i].Key == "groupCode" {
				ms[i].Val = jsontext.AppendString(nil, groupCode)
			}
		}
	}
	out := make([]byte, 0, len(e.Raw)+len(groupCode))
	out = append(out, '{')
	out = jsontext.AppendMembers(out, ms, false, func(k string) bool { return k == "timestamp" })
	return append(out, '}'), nil
}

// FormatError describes a malformed replay file.
type FormatError struct {
	// Offset is the byte offset in the file where the problem was found.
	Offset int64
	// Event is the index of the event concerned, -1 for the header.
	Event int
	Msg   string
	Err   error
}

func (e *FormatError) Error() string {
	where := "header"
	if e.Event >= 0 {
		where = "event " + strconv.Itoa(e.Event)
	}
	s := fmt.Sprintf("replay file: byte %d (%s): %s", e.Offset, where, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// DefaultMaxValueSize bounds one header or event unless Reader.MaxValueSize
// says otherwise, so a corrupt file (an unterminated string) fails fast
// instead of being read whole.
const DefaultMaxValueSize = 16 << 20

// Reader reads a replay file event by event; only the current event is held
// in memory.
type Reader struct {
	br     *bufio.Reader
	off    int64 // bytes consumed from the file
	max    int
	header Header
	next   int
	done   bool
	err    error
}

// NewReader reads the header from r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10), max: DefaultMaxValueSize}
	b, err := rd.skipSpace()
	if err == io.EOF {
		return nil, &FormatError{Offset: rd.off, Event: -1, Msg: "empty file: no header"}
	}
	if err != nil {
		return nil, &FormatError{Offset: rd.off, Event: -1, Msg: "reading header", Err: err}
	}
	start := rd.off - 1
	raw, err := rd.readValue(b, -1)
	if err != nil {
		return nil, err
	}
	if raw[0] != '{' {
		return nil, &FormatError{Offset: start, Event: -1, Msg: "header is not a JSON object"}
	}
	if err := json.Unmarshal(raw, &rd.header); err != nil {
		return nil, &FormatError{Offset: start, Event: -1, Msg: "bad header field", Err: err}
	}
	rd.header.Raw = raw
	return rd, nil
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.header }

func (r *Reader) readByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.off++
	}
	return b, err
}

// skipSpace returns (and consumes) the next non-whitespace byte.
func (r *Reader) skipSpace() (byte, error) {
	for {
		b, err := r.readByte()
		if err != nil || !jsontext.IsSpace(b) {
			return b, err
		}
	}
}

// readValue reads one JSON value whose first byte, already consumed, is
// first. It finds the value's end by bracket depth (outside strings), then
// lets encoding/json validate it so that syntax errors carry exact offsets.
func (r *Reader) readValue(first byte, event int) (json.RawMessage, error) {
	start := r.off - 1
	buf := []byte{first}
	truncated := func() error {
		return &FormatError{Offset: r.off, Event: event, Msg: "file ends in the middle of a JSON value (truncated?)"}
	}
	tooBig := func() error {
		return &FormatError{Offset: start, Event: event, Msg: fmt.Sprintf("value larger than %d bytes (corrupt file?)", r.max)}
	}
	switch first {
	case '{', '[', '"':
		depth, inStr, esc := 1, first == '"', false
		if inStr {
			depth = 0
		}
		for depth > 0 || inStr {
			b, err := r.readByte()
			if err == io.EOF {
				return nil, truncated()
			}
			if err != nil {
				return nil, &FormatError{Offset: r.off, Event: event, Msg: "reading", Err: err}
			}
			buf = append(buf, b)
			if len(buf) > r.max {
				return nil, tooBig()
			}
			switch {
			case inStr && esc:
				esc = false
			case inStr && b == '\\':
				esc = true
			case inStr:
				inStr = b != '"'
			case b == '"':
				inStr = true
			case b == '{' || b == '[':
				depth++
			case b == '}' || b == ']':
				depth--
			}
		}
	default:
		for {
			p, err := r.br.Peek(1)
			if err != nil || jsontext.IsSpace(p[0]) || p[0] == ',' {
				break
			}
			b, _ := r.readByte()
			buf = append(buf, b)
			if len(buf) > r.max {
				return nil, tooBig()
			}
		}
	}
	var probe json.RawMessage
	if err := json.Unmarshal(buf, &probe); err != nil {
		off := start
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = start + max(se.Offset-1, 0)
		}
		return nil, &FormatError{Offset: off, Event: event, Msg: "invalid JSON", Err: err}
	}
	return buf, nil
}

// Next returns the next event, or io.EOF after the last one. After an error
// every call returns the same error.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	if r.done {
		return Event{}, io.EOF
	}
	ev, err := r.next1()
	if err == io.EOF {
		r.done = true
	} else if err != nil {
		r.err = err
	}
	return ev, err
}

// NextRaw returns the next element as it is in the file, a valid JSON
// value that need not have an event's shape, and its byte offset; io.EOF
// after the last one. Readers that judge events by other rules (the
// relay's recovery applies what its ingest accepted) use it instead of
// Next. After an error every call returns the same error.
func (r *Reader) NextRaw() (json.RawMessage, int64, error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	if r.done {
		return nil, 0, io.EOF
	}
	raw, start, err := r.nextValue()
	switch {
	case err == io.EOF:
		r.done = true
	case err != nil:
		r.err = err
	default:
		r.next++
	}
	return raw, start, err
}

// Offset is the number of bytes consumed so far: after NewReader the end
// of the header, after Next or NextRaw the end of that element.
func (r *Reader) Offset() int64 { return r.off }

func (r *Reader) nextValue() (json.RawMessage, int64, error) {
	idx := r.next
	b, err := r.skipSpace()
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, &FormatError{Offset: r.off, Event: idx, Msg: "reading", Err: err}
	}
	if b != ',' {
		return nil, 0, &FormatError{Offset: r.off - 1, Event: idx, Msg: fmt.Sprintf("expected \",\" before the next event, found %q", b)}
	}
	b, err = r.skipSpace()
	if err == io.EOF {
		return nil, 0, &FormatError{Offset: r.off, Event: idx, Msg: "file ends after a separator (truncated?)"}
	}
	if err != nil {
		return nil, 0, &FormatError{Offset: r.off, Event: idx, Msg: "reading", Err: err}
	}
	start := r.off - 1
	raw, err := r.readValue(b, idx)
	if err != nil {
		return nil, 0, err
	}
	return raw, start, nil
}

func (r *Reader) next1() (Event, error) {
	idx := r.next
	raw, start, err := r.nextValue()
	if err != nil {
		return Event{}, err
	}
	ev, err := parseEvent(raw)
	if err != nil {
		return Event{}, &FormatError{Offset: start, Event: idx, Msg: "bad event", Err: err}
	}
	ev.Index, ev.Offset = idx, start
	r.next++
	return ev, nil
}

// parseEvent checks the event's shape and extracts its common fields.
func parseEvent(raw json.RawMessage) (Event, error) {
	if jsontext.FirstNonSpace(raw) != '{' {
		return Event{}, errors.New("not a JSON object")
	}
	var v struct {
		Type      *string         `json:"type"`
		Timestamp *json.Number    `json:"timestamp"`
		ObsName   *string         `json:"obsName"`
		GroupCode *string         `json:"groupCode"`
		PlayerID  *string         `json:"playerId"`
		MatchID   *string         `json:"matchId"`
		Data      json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Event{}, err
	}
	if v.Type == nil || *v.Type == "" {
		return Event{}, errors.New(`missing or empty "type"`)
	}
	ev := Event{Type: *v.Type, Data: v.Data, Raw: raw}
	if v.Timestamp != nil {
		ts, err := v.Timestamp.Int64()
		if err != nil {
			f, ferr := v.Timestamp.Float64()
			if ferr != nil {
				return Event{}, fmt.Errorf("bad timestamp %s", *v.Timestamp)
			}
			ts = int64(f)
		}
		ev.Timestamp, ev.HasTimestamp = ts, true
	}
	set := func(p *string, dst *string, bit fieldSet) {
		if p != nil {
			*dst = *p
			ev.has |= bit
		}
	}
	set(v.ObsName, &ev.ObsName, hasObsName)
	set(v.GroupCode, &ev.GroupCode, hasGroupCode)
	set(v.PlayerID, &ev.PlayerID, hasPlayerID)
	set(v.MatchID, &ev.MatchID, hasMatchID)
	return ev, nil
}

// ReadAll reads a whole replay.
func ReadAll(r io.Reader) (Header, []Event, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return rd.Header(), evs, nil
		}
		if err != nil {
			return rd.Header(), evs, err
		}
		evs = append(evs, ev)
	}
}

// ReadFile reads a whole replay file.
func ReadFile(path string) (Header, []Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	h, evs, err := ReadAll(f)
	if err != nil {
		return h, evs, fmt.Errorf("%s: %w", path, err)
	}
	return h, evs, nil
}

// ObsLogon is the observer's obs_logon payload, in the observer client's
// key order, rebuilt from a replay header.
type ObsLogon struct {
	Type          string          `json:"type"`
	ClientVersion string          `json:"clientVersion"`
	ObsName       string          `json:"obsName"`
	Key           string          `json:"key"`
	GroupCode     string          `json:"groupCode"`
	GroupSecret   string          `json:"groupSecret"`
	LeftTeam      json.RawMessage `json:"leftTeam"`
	RightTeam     json.RawMessage `json:"rightTeam"`
	ToolsData     json.RawMessage `json:"toolsData"`
}

// ObsLogon builds the logon that replays h: clientVersion, access key and
// group code are the caller's (a replay may go to another group code);
// absent team or tools data is sent as null, as the client would.
func (h Header) ObsLogon(clientVersion, key, groupCode, groupSecret string) ObsLogon {
	orNull := func(r json.RawMessage) json.RawMessage {
		if len(r) == 0 {
			return json.RawMessage("null")
		}
		return r
	}
	return ObsLogon{
		Type:          "authenticate",
		ClientVersion: clientVersion,
		ObsName:       h.ObsName,
		Key:           key,
		GroupCode:     groupCode,
		GroupSecret:   groupSecret,
		LeftTeam:      orNull(h.LeftTeam),
		RightTeam:     orNull(h.RightTeam),
		ToolsData:     orNull(h.ToolsData),
	}
}
