package engineio

import "spectra-relay/engineio/eiopacket"

// The packet codec lives in eiopacket so that clients share it without
// linking the server; these names keep the server's API as it was.
type (
	PacketType = eiopacket.PacketType
	Packet     = eiopacket.Packet
)

const (
	PacketOpen      = eiopacket.PacketOpen
	PacketClose     = eiopacket.PacketClose
	PacketPing      = eiopacket.PacketPing
	PacketPong      = eiopacket.PacketPong
	PacketMessage   = eiopacket.PacketMessage
	PacketUpgrade   = eiopacket.PacketUpgrade
	PacketNoop      = eiopacket.PacketNoop
	RecordSeparator = eiopacket.RecordSeparator
)

// DecodeText decodes a packet received as text: a type digit then data.
func DecodeText(b []byte) (Packet, error) { return eiopacket.DecodeText(b) }

// AppendText appends the text encoding of a packet: type digit then data.
func AppendText(dst []byte, t PacketType, data []byte) []byte {
	return eiopacket.AppendText(dst, t, data)
}

// AppendPollingPacket appends a message packet in polling-payload form.
func AppendPollingPacket(dst []byte, data []byte, binary bool) []byte {
	return eiopacket.AppendPollingPacket(dst, data, binary)
}

// DecodePayload splits a polling POST body into packets, calling fn for each.
func DecodePayload(body []byte, fn func(Packet) error) error {
	return eiopacket.DecodePayload(body, fn)
}
