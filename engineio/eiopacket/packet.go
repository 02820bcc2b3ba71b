// Package eiopacket is the Engine.IO v4 packet codec (text packets and
// long-polling payloads), shared by the server (package engineio) and the
// client (package eioclient), so both speak one definition of the wire.
package eiopacket

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// PacketType is an Engine.IO v4 packet type.
type PacketType byte

const (
	PacketOpen    PacketType = '0'
	PacketClose   PacketType = '1'
	PacketPing    PacketType = '2'
	PacketPong    PacketType = '3'
	PacketMessage PacketType = '4'
	PacketUpgrade PacketType = '5'
	PacketNoop    PacketType = '6'
)

// RecordSeparator separates packets in a polling payload.
const RecordSeparator = '\x1e'

// Packet is one decoded Engine.IO packet. Data aliases the input buffer.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

var (
	errEmptyPacket   = errors.New("engineio: empty packet")
	errUnknownPacket = errors.New("engineio: unknown packet type")
)

// DecodeText decodes a packet received as text: a type digit then data.
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, errEmptyPacket
	}
	t := PacketType(b[0])
	if t < PacketOpen || t > PacketNoop {
		return Packet{}, fmt.Errorf("%w %q", errUnknownPacket, b[0])
	}
	return Packet{Type: t, Data: b[1:]}, nil
}

// AppendText appends the text encoding of a packet: type digit then data.
func AppendText(dst []byte, t PacketType, data []byte) []byte {
	dst = append(dst, byte(t))
	return append(dst, data...)
}

// AppendPollingPacket appends a message packet as it travels in a polling
// payload: text as "4"+data, binary as "b"+base64(data).
func AppendPollingPacket(dst []byte, data []byte, binary bool) []byte {
	if !binary {
		return AppendText(dst, PacketMessage, data)
	}
	dst = append(dst, 'b')
	n := base64.StdEncoding.EncodedLen(len(data))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	base64.StdEncoding.Encode(dst[start:], data)
	return dst
}

// DecodePayload splits a polling POST body into packets and calls fn for
// each one in order. A "b" packet is base64-decoded into a binary message.
// Decoding stops at the first error, which is returned.
func DecodePayload(body []byte, fn func(Packet) error) error {
	if len(body) == 0 {
		return errEmptyPacket
	}
	for more := true; more; {
		i := indexByte(body, RecordSeparator)
		part := body
		if i < 0 {
			more = false
		} else {
			// A separator promises another packet, even an empty (invalid) one.
			part, body = body[:i], body[i+1:]
		}
		p, err := decodePollingPacket(part)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func decodePollingPacket(part []byte) (Packet, error) {
	if len(part) > 0 && part[0] == 'b' {
		// Not decoded in place: the standard decoder writes 8-byte words
		// and would overwrite input it has not read yet.
		out := make([]byte, base64.StdEncoding.DecodedLen(len(part)-1))
		n, err := base64.StdEncoding.Decode(out, part[1:])
		if err != nil {
			return Packet{}, fmt.Errorf("engineio: bad base64 packet: %w", err)
		}
		return Packet{Type: PacketMessage, Data: out[:n], Binary: true}, nil
	}
	return DecodeText(part)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
