package sioclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/bytedance/sonic"

	"spectra-relay/socketio"
)

// PacketType is the server package's: one definition of the wire types.
type PacketType = socketio.PacketType

// Socket.IO v5 packet types.
const (
	PacketConnect      = socketio.PacketConnect
	PacketDisconnect   = socketio.PacketDisconnect
	PacketEvent        = socketio.PacketEvent
	PacketAck          = socketio.PacketAck
	PacketConnectError = socketio.PacketConnectError
	PacketBinaryEvent  = socketio.PacketBinaryEvent
	PacketBinaryAck    = socketio.PacketBinaryAck
)

// Packet is one Socket.IO packet in its text form; binary attachments travel
// as separate Engine.IO messages after it.
type Packet struct {
	Type      PacketType
	Namespace string // "/" when absent on the wire
	HasID     bool
	ID        uint64
	// Attachments is the number of binary attachments that follow
	// (BINARY_EVENT / BINARY_ACK only).
	Attachments int
	// Data is the JSON payload, nil when absent.
	Data json.RawMessage
}

// ErrBadPacket wraps every decoding failure.
var ErrBadPacket = errors.New("sioclient: malformed packet")

// maxIDDigits keeps ids and attachment counts within uint64 / int.
const maxIDDigits = 18

// AppendPacket appends the text encoding of p to dst.
func AppendPacket(dst []byte, p Packet) []byte {
	dst = append(dst, byte('0'+p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// DecodePacket decodes the text form of a packet and checks that its payload
// has the shape its type requires. Data aliases s.
func DecodePacket(s []byte) (Packet, error) {
	var p Packet
	if len(s) == 0 {
		return p, fmt.Errorf("%w: empty", ErrBadPacket)
	}
	if s[0] < '0' || s[0] > '6' {
		return p, fmt.Errorf("%w: unknown type %q", ErrBadPacket, s[0])
	}
	p.Type = PacketType(s[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i-start > maxIDDigits || i >= len(s) || s[i] != '-' {
			return p, fmt.Errorf("%w: bad attachment count in %s", ErrBadPacket, p.Type)
		}
		n, _ := strconv.Atoi(string(s[start:i]))
		p.Attachments = n
		i++
	}
	p.Namespace = "/"
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Namespace = string(s[start:i])
		if i < len(s) {
			i++ // the comma
		}
	}
	if start := i; i < len(s) && s[i] >= '0' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i-start > maxIDDigits {
			return p, fmt.Errorf("%w: ack id too long", ErrBadPacket)
		}
		p.ID, _ = strconv.ParseUint(string(s[start:i]), 10, 64)
		p.HasID = true
	}
	if i < len(s) {
		p.Data = json.RawMessage(s[i:])
	}
	if err := p.check(); err != nil {
		return p, err
	}
	return p, nil
}

// check validates the payload shape per packet type, like socket.io-parser.
func (p *Packet) check() error {
	first := firstByte(p.Data)
	if p.Data != nil && !sonic.Valid(p.Data) {
		return fmt.Errorf("%w: %s payload is not valid JSON", ErrBadPacket, p.Type)
	}
	switch p.Type {
	case PacketConnect:
		if p.Data != nil && first != '{' {
			return fmt.Errorf("%w: CONNECT payload must be an object", ErrBadPacket)
		}
	case PacketDisconnect:
		if p.Data != nil {
			return fmt.Errorf("%w: DISCONNECT carries no payload", ErrBadPacket)
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload must be an object or a string", ErrBadPacket)
		}
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return fmt.Errorf("%w: %s payload must be an array", ErrBadPacket, p.Type)
		}
	case PacketAck, PacketBinaryAck:
		if first != '[' {
			return fmt.Errorf("%w: %s payload must be an array", ErrBadPacket, p.Type)
		}
		if !p.HasID {
			return fmt.Errorf("%w: %s without an id", ErrBadPacket, p.Type)
		}
	}
	return nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// splitArray splits a JSON array into its raw elements.
func splitArray(data json.RawMessage) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := sonic.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPacket, err)
	}
	return items, nil
}

// RawJSON is an argument already encoded as JSON; it is sent as is.
type RawJSON = json.RawMessage

// appendArgs encodes args into a JSON array, with name first when it is not
// empty. []byte arguments become attachments referenced by placeholders.
func appendArgs(dst []byte, name string, args []any) ([]byte, [][]byte, error) {
	var atts [][]byte
	dst = append(dst, '[')
	if name != "" {
		dst = socketio.AppendString(dst, name)
	}
	for i, a := range args {
		if i > 0 || name != "" {
			dst = append(dst, ',')
		}
		switch v := a.(type) {
		case []byte:
			dst = append(dst, `{"_placeholder":true,"num":`...)
			dst = strconv.AppendInt(dst, int64(len(atts)), 10)
			dst = append(dst, '}')
			atts = append(atts, v)
		case json.RawMessage:
			if !sonic.Valid(v) {
				return nil, nil, fmt.Errorf("sioclient: argument %d is not valid JSON", i)
			}
			dst = append(dst, v...)
		case string:
			dst = socketio.AppendString(dst, v)
		case nil:
			dst = append(dst, "null"...)
		default:
			b, err := sonic.Marshal(v)
			if err != nil {
				return nil, nil, fmt.Errorf("sioclient: encoding argument %d: %w", i, err)
			}
			dst = append(dst, b...)
		}
	}
	return append(dst, ']'), atts, nil
}
