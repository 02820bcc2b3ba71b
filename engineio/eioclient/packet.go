package eioclient

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Engine.IO v4 packet types, as the ASCII digit that starts a text packet.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSeparator joins packets in a long-polling payload.
const recordSeparator = 0x1e

// packet is one decoded Engine.IO packet. A binary packet is always a
// message: Engine.IO v4 has no other binary packet type.
type packet struct {
	typ    byte
	data   []byte
	binary bool
}

// ErrMalformedPacket wraps every decoding failure so callers can tell a
// protocol violation by the server from a network error.
var ErrMalformedPacket = errors.New("eioclient: malformed packet")

func validType(t byte) bool { return t >= typeOpen && t <= typeNoop }

// decodeText decodes one text packet (a WebSocket text frame or one record of
// a polling payload). The data slice aliases p.
func decodeText(p []byte) (packet, error) {
	if len(p) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", ErrMalformedPacket)
	}
	if !validType(p[0]) {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", ErrMalformedPacket, p[0])
	}
	return packet{typ: p[0], data: p[1:]}, nil
}

// decodePayload splits a long-polling response body into packets and calls fn
// for each in order. Binary records ("b" + base64) get a freshly allocated
// slice; text records alias body.
func decodePayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", ErrMalformedPacket)
	}
	start := 0
	for i := 0; i <= len(body); i++ {
		if i < len(body) && body[i] != recordSeparator {
			continue
		}
		rec := body[start:i]
		start = i + 1
		var pkt packet
		if len(rec) > 0 && rec[0] == 'b' {
			dec := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-1))
			n, err := base64.StdEncoding.Decode(dec, rec[1:])
			if err != nil {
				return fmt.Errorf("%w: bad base64 in binary record at byte %d: %v", ErrMalformedPacket, i-len(rec), err)
			}
			pkt = packet{typ: typeMessage, data: dec[:n], binary: true}
		} else {
			var err error
			pkt, err = decodeText(rec)
			if err != nil {
				return fmt.Errorf("record at byte %d: %w", i-len(rec), err)
			}
		}
		if err := fn(pkt); err != nil {
			return err
		}
	}
	return nil
}

// appendRecord appends one packet in long-polling form to dst.
func appendRecord(dst []byte, p packet) []byte {
	if p.binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, p.typ)
	return append(dst, p.data...)
}

// recordLen is the encoded length appendRecord will produce.
func recordLen(p packet) int {
	if p.binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.data))
	}
	return 1 + len(p.data)
}
