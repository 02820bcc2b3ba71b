// Package socketio implements the server side of the Socket.IO v5 protocol
// on top of package engineio: namespaces, per-namespace sockets with event
// handlers and acks, and rooms with encode-once broadcast. The packet codec
// is package siopacket, shared with the clients.
//
// Event arguments stay raw JSON bytes from the wire to the handler and back,
// so an echo keeps the client's JSON exactly (key order, number spelling).
package socketio

import "spectra-relay/socketio/siopacket"

// The codec's names, kept so the server's API (and its callers) read as
// before the codec moved to siopacket.
type (
	PacketType = siopacket.PacketType
	Packet     = siopacket.Packet
	RawJSON    = siopacket.RawJSON
	Decoder    = siopacket.Decoder
)

const (
	PacketConnect      = siopacket.PacketConnect
	PacketDisconnect   = siopacket.PacketDisconnect
	PacketEvent        = siopacket.PacketEvent
	PacketAck          = siopacket.PacketAck
	PacketConnectError = siopacket.PacketConnectError
	PacketBinaryEvent  = siopacket.PacketBinaryEvent
	PacketBinaryAck    = siopacket.PacketBinaryAck

	NoID                  = siopacket.NoID
	DefaultMaxAttachments = siopacket.DefaultMaxAttachments
)

var (
	ErrInvalidPacket    = siopacket.ErrInvalidPacket
	ErrUnsupportedValue = siopacket.ErrUnsupportedValue
)

// DecodePacket decodes the text form of a packet (see siopacket.DecodePacket).
func DecodePacket(b []byte) (Packet, error) { return siopacket.DecodePacket(b) }

// AppendPacket appends the text form of p (see siopacket.AppendPacket).
func AppendPacket(dst []byte, p *Packet) []byte { return siopacket.AppendPacket(dst, p) }

// SplitArray calls fn with each element of a valid JSON array.
func SplitArray(b []byte, fn func(i int, el []byte) bool) error {
	return siopacket.SplitArray(b, fn)
}

// Reconstruct decodes a binary packet's payload with its attachments.
func Reconstruct(p *Packet) (any, error) { return siopacket.Reconstruct(p) }

// EncodeEvent returns the text of an EVENT packet and its attachments.
func EncodeEvent(nsp string, id int64, event string, args ...any) ([]byte, [][]byte, error) {
	return siopacket.EncodeEvent(nsp, id, event, args...)
}

// AppendValue appends the JSON form of v (see siopacket.AppendValue).
func AppendValue(dst []byte, v any) ([]byte, error) { return siopacket.AppendValue(dst, v) }

// AppendString appends s as a JSON string literal, escaped as
// JSON.stringify does.
func AppendString(dst []byte, s string) []byte { return siopacket.AppendString(dst, s) }

// AppendJSONString is AppendString for a string or a byte slice.
func AppendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	return siopacket.AppendJSONString(dst, s)
}

// The server's files call the codec by these short names.
func appendHeader(dst []byte, t PacketType, nAttach int, nsp string, id int64) []byte {
	return siopacket.AppendHeader(dst, t, nAttach, nsp, id)
}

func encodeArgs(dst []byte, t PacketType, nsp string, id int64, event string, withEvent bool, args []any) ([]byte, [][]byte, error) {
	return siopacket.EncodeArgs(dst, t, nsp, id, event, withEvent, args)
}

func encodeRaw(t PacketType, nsp string, id int64, event string, withEvent bool, args []RawJSON, nAttach int) []byte {
	return siopacket.EncodeRaw(t, nsp, id, event, withEvent, args, nAttach)
}

func splitArray(b []byte, fn func(i int, el []byte) bool) error { return siopacket.SplitArray(b, fn) }

func unquote(b []byte) (string, error) { return siopacket.Unquote(b) }
