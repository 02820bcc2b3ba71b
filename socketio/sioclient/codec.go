package sioclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/bytedance/sonic"

	"spectra-relay/socketio/siopacket"
)

// PacketType is the codec's (package siopacket): one definition of the wire
// types, whose constants (siopacket.PacketEvent, ...) fill Packet.Type.
type PacketType = siopacket.PacketType

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

// AppendPacket appends the text encoding of p to dst.
func AppendPacket(dst []byte, p Packet) []byte {
	id := siopacket.NoID
	if p.HasID {
		id = int64(p.ID)
	}
	dst = siopacket.AppendHeader(dst, p.Type, p.Attachments, p.Namespace, id)
	return append(dst, p.Data...)
}

// DecodePacket decodes the text form of a packet with the server's codec
// (the reference parser's rules, which both ends of socket.io apply) and
// checks that an ack carries an id. Data aliases s.
func DecodePacket(s []byte) (Packet, error) {
	sp, err := siopacket.DecodePacket(s)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: %v", ErrBadPacket, err)
	}
	p := Packet{Type: sp.Type, Namespace: sp.Nsp, Attachments: sp.NumAttachments, Data: json.RawMessage(sp.Data)}
	if sp.ID != siopacket.NoID {
		p.HasID, p.ID = true, uint64(sp.ID)
	}
	if (p.Type == siopacket.PacketAck || p.Type == siopacket.PacketBinaryAck) && !p.HasID {
		return p, fmt.Errorf("%w: %s without an id", ErrBadPacket, p.Type)
	}
	return p, nil
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
		dst = siopacket.AppendString(dst, name)
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
			dst = siopacket.AppendString(dst, v)
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
