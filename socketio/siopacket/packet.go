// Package siopacket is the Socket.IO v5 packet codec: packet types, the
// decoder with the reference parser's validation, and the append API that
// writes packets and JSON values without intermediate buffers. The server
// (package socketio), the client (package sioclient) and the relay share
// it, so the wire format has one owner and clients link no server code.
//
// Payloads stay raw JSON bytes, so an echo keeps the client's JSON exactly
// (key order, number spelling).
package siopacket

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"spectra-relay/internal/jsontext"
)

// PacketType is a Socket.IO v5 packet type.
type PacketType byte

const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

var packetTypeNames = [...]string{
	PacketConnect:      "CONNECT",
	PacketDisconnect:   "DISCONNECT",
	PacketEvent:        "EVENT",
	PacketAck:          "ACK",
	PacketConnectError: "CONNECT_ERROR",
	PacketBinaryEvent:  "BINARY_EVENT",
	PacketBinaryAck:    "BINARY_ACK",
}

func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "UNKNOWN(" + strconv.Itoa(int(t)) + ")"
}

// IsBinary reports whether packets of type t carry attachments.
func (t PacketType) IsBinary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// RawJSON is a JSON value kept as its encoded bytes. Passed to Emit it is
// written verbatim, so it must be valid JSON.
type RawJSON []byte

// NoID marks a packet without an ack id.
const NoID int64 = -1

// Packet is one Socket.IO packet. Data is the raw JSON payload (nil when
// the packet has none). For binary packets Data still holds the
// {"_placeholder":true,"num":N} objects and Attachments the buffers they
// refer to, in order.
type Packet struct {
	Type        PacketType
	Nsp         string
	ID          int64
	Data        []byte
	Attachments [][]byte
	// NumAttachments is the count announced in the header of a decoded
	// binary packet; Attachments fills up to it as binary messages arrive.
	NumAttachments int
}

// Errors of the codec. Decode errors wrap ErrInvalidPacket.
var (
	ErrInvalidPacket = errors.New("socketio: invalid packet")
	errUnknownType   = fmt.Errorf("%w: unknown type", ErrInvalidPacket)
	errEmpty         = fmt.Errorf("%w: empty", ErrInvalidPacket)
	errBadAttach     = fmt.Errorf("%w: bad attachment count", ErrInvalidPacket)
	errBadID         = fmt.Errorf("%w: bad ack id", ErrInvalidPacket)
	errBadPayload    = fmt.Errorf("%w: invalid payload", ErrInvalidPacket)
	errBadNsp        = fmt.Errorf("%w: bad namespace", ErrInvalidPacket)
)

// maxIDDigits keeps ack ids inside int64 and within what JS clients
// produce (they count up from 0).
const maxIDDigits = 15

// reservedEvents may not be sent by a client; the reference parser
// rejects them as invalid payloads.
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// DecodePacket decodes the text form of a packet, without the Engine.IO
// message type digit. p.Data aliases b. For binary packets the caller
// collects NumAttachments binary messages next (see Decoder).
func DecodePacket(b []byte) (Packet, error) {
	p := Packet{ID: NoID}
	if len(b) == 0 {
		return p, errEmpty
	}
	if b[0] < '0' || b[0] > '6' {
		return p, fmt.Errorf("%w %q", errUnknownType, b[0])
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type.IsBinary() {
		start := i
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start >= 6 {
				return p, errBadAttach
			}
			n = n*10 + int(b[i]-'0')
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' {
			return p, errBadAttach
		}
		i++
		p.NumAttachments = n
	}
	p.Nsp = "/"
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		p.Nsp = string(b[start:i])
		if i < len(b) {
			i++ // the comma
		}
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		start := i
		var id int64
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start >= maxIDDigits {
				return p, errBadID
			}
			id = id*10 + int64(b[i]-'0')
			i++
		}
		p.ID = id
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	if err := validatePayload(&p); err != nil {
		return p, err
	}
	return p, nil
}

// validatePayload applies the reference parser's per-type payload rules.
func validatePayload(p *Packet) error {
	d := p.Data
	if d != nil && !sonic.Valid(d) {
		return errBadPayload
	}
	switch p.Type {
	case PacketConnect:
		if d != nil && jsontext.FirstNonSpace(d) != '{' {
			return errBadPayload
		}
	case PacketDisconnect:
		if d != nil {
			return errBadPayload
		}
	case PacketConnectError:
		if c := jsontext.FirstNonSpace(d); c != '{' && c != '"' {
			return errBadPayload
		}
	case PacketEvent, PacketBinaryEvent:
		first, ok := firstElement(d)
		if !ok || len(first) == 0 {
			return errBadPayload
		}
		switch first[0] {
		case '"':
			name, err := Unquote(first)
			if err != nil {
				return errBadPayload
			}
			for _, r := range reservedEvents {
				if name == r {
					return fmt.Errorf("%w: reserved event %q", ErrInvalidPacket, name)
				}
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		default:
			return errBadPayload
		}
	case PacketAck, PacketBinaryAck:
		if jsontext.FirstNonSpace(d) != '[' {
			return errBadPayload
		}
	}
	if p.Type == PacketConnect || p.Type == PacketDisconnect || p.Type == PacketConnectError {
		if p.ID != NoID {
			return errBadID
		}
	}
	if p.Nsp == "" || len(p.Nsp) > 1 && !utf8.ValidString(p.Nsp) {
		return errBadNsp
	}
	return nil
}

// firstElement returns the first element of a JSON array that is already
// known to be valid JSON; ok is false when b is not an array or is empty.
func firstElement(b []byte) ([]byte, bool) {
	ok := false
	var first []byte
	err := splitArray(b, func(_ int, el []byte) bool {
		first, ok = el, true
		return false
	})
	return first, ok && err == nil
}

// SplitArray calls fn with the raw bytes of each element of a JSON array,
// in order, until fn returns false. b must be valid JSON (the decoder has
// checked it); anything else that is not an array is an error.
func SplitArray(b []byte, fn func(i int, el []byte) bool) error {
	return splitArray(b, fn)
}

func splitArray(b []byte, fn func(i int, el []byte) bool) error {
	i := 0
	for i < len(b) && jsontext.IsSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != '[' {
		return errBadPayload
	}
	i++
	n := 0
	for {
		for i < len(b) && jsontext.IsSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return errBadPayload
		}
		if b[i] == ']' {
			return nil
		}
		start := i
		depth := 0
	scan:
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i++
				for i < len(b) && b[i] != '"' {
					if b[i] == '\\' {
						i++
					}
					i++
				}
			case '[', '{':
				depth++
			case ']', '}':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		if i >= len(b) {
			return errBadPayload
		}
		end := i
		for end > start && jsontext.IsSpace(b[end-1]) {
			end--
		}
		if end == start {
			return errBadPayload
		}
		if !fn(n, b[start:end]) {
			return nil
		}
		n++
		if b[i] == ',' {
			i++
		}
	}
}

// Unquote decodes a JSON string literal. The common case, no escapes,
// costs one string conversion.
func Unquote(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", errBadPayload
	}
	inner := b[1 : len(b)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := sonic.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%w: %v", errBadPayload, err)
	}
	return s, nil
}

// AppendPacket appends the text form of p (without the Engine.IO type
// digit). Attachments are not written: they travel as the binary messages
// that follow. For a binary type the announced count is len(Attachments).
func AppendPacket(dst []byte, p *Packet) []byte {
	dst = append(dst, byte('0'+p.Type))
	if p.Type.IsBinary() {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if p.Nsp != "" && p.Nsp != "/" {
		dst = append(dst, p.Nsp...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// AppendEventHead appends an EVENT packet on nsp up to its first argument:
// the header, '[', the quoted event name and ','. The caller appends the
// arguments, comma-separated, then ']'. Callers that encode one argument
// themselves (a pre-built JSON string) use it to stay on the codec's format.
func AppendEventHead(dst []byte, nsp, name string, id int64) []byte {
	dst = AppendHeader(dst, PacketEvent, 0, nsp, id)
	dst = append(dst, '[')
	dst = AppendString(dst, name)
	return append(dst, ',')
}

// AppendHeader writes type, attachment count, namespace and id: everything
// before the payload.
func AppendHeader(dst []byte, t PacketType, nAttach int, nsp string, id int64) []byte {
	dst = append(dst, byte('0'+t))
	if t.IsBinary() {
		dst = strconv.AppendInt(dst, int64(nAttach), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

// Decoder turns a socket's Engine.IO messages into packets: a text message
// is a packet, and a binary packet waits for its attachments, which are the
// binary messages that follow it. Not safe for concurrent use; the engine
// serialises a socket's messages.
type Decoder struct {
	// MaxAttachments bounds the attachments one packet may announce.
	// Zero means DefaultMaxAttachments.
	MaxAttachments int

	pending *Packet
}

// DefaultMaxAttachments bounds the binary attachments of one packet.
const DefaultMaxAttachments = 16

// Add feeds one Engine.IO message. It returns a complete packet, or nil
// when more messages are needed. The returned packet owns its memory: data
// is copied, because Engine.IO message buffers are reused after the call.
// After an error the Decoder is reset and the connection should be closed.
func (d *Decoder) Add(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, fmt.Errorf("%w: unexpected binary message", ErrInvalidPacket)
		}
		p := d.pending
		p.Attachments = append(p.Attachments, append([]byte(nil), data...))
		if len(p.Attachments) < p.NumAttachments {
			return nil, nil
		}
		d.pending = nil
		if err := checkPlaceholders(p.Data, p.NumAttachments); err != nil {
			return nil, err
		}
		return p, nil
	}
	if pp := d.pending; pp != nil {
		d.pending = nil
		return nil, fmt.Errorf("%w: text message while %d attachments are awaited", ErrInvalidPacket, pp.NumAttachments-len(pp.Attachments))
	}
	p, err := DecodePacket(data)
	if err != nil {
		return nil, err
	}
	max := d.MaxAttachments
	if max <= 0 {
		max = DefaultMaxAttachments
	}
	if p.NumAttachments > max {
		return nil, fmt.Errorf("%w: %d attachments, at most %d", errBadAttach, p.NumAttachments, max)
	}
	// One copy of the whole message: Nsp is already its own string, and
	// Data is re-pointed into the copy.
	if p.Data != nil {
		p.Data = append([]byte(nil), p.Data...)
	}
	if p.Type.IsBinary() && p.NumAttachments > 0 {
		p.Attachments = make([][]byte, 0, p.NumAttachments)
		d.pending = &p
		return nil, nil
	}
	if p.Type.IsBinary() {
		if err := checkPlaceholders(p.Data, 0); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// Pending reports whether a binary packet is waiting for attachments.
func (d *Decoder) Pending() bool { return d.pending != nil }

// checkPlaceholders verifies that every placeholder object in data refers
// to an attachment that exists, as the reference reconstruction does
// ("illegal attachments").
func checkPlaceholders(data []byte, n int) error {
	var v any
	if err := sonic.Unmarshal(data, &v); err != nil {
		return errBadPayload
	}
	if !placeholdersValid(v, n, 0) {
		return fmt.Errorf("%w: illegal attachments", ErrInvalidPacket)
	}
	return nil
}

// maxDepth bounds the recursion over client-supplied JSON.
const maxDepth = 64

func placeholdersValid(v any, n, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !placeholdersValid(e, n, depth+1) {
				return false
			}
		}
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(float64)
			return ok && num >= 0 && num < float64(n) && num == float64(int(num))
		}
		for _, e := range x {
			if !placeholdersValid(e, n, depth+1) {
				return false
			}
		}
	}
	return true
}

// Reconstruct decodes a binary packet's payload into Go values, with each
// placeholder replaced by its attachment as a []byte.
func Reconstruct(p *Packet) (any, error) {
	var v any
	if err := sonic.Unmarshal(p.Data, &v); err != nil {
		return nil, errBadPayload
	}
	out, ok := replacePlaceholders(v, p.Attachments, 0)
	if !ok {
		return nil, fmt.Errorf("%w: illegal attachments", ErrInvalidPacket)
	}
	return out, nil
}

func replacePlaceholders(v any, bins [][]byte, depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			r, ok := replacePlaceholders(e, bins, depth+1)
			if !ok {
				return nil, false
			}
			x[i] = r
		}
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(float64)
			if !ok || num < 0 || num >= float64(len(bins)) || num != float64(int(num)) {
				return nil, false
			}
			return bins[int(num)], true
		}
		for k, e := range x {
			r, ok := replacePlaceholders(e, bins, depth+1)
			if !ok {
				return nil, false
			}
			x[k] = r
		}
	}
	return v, true
}
