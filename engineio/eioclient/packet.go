package eioclient

import (
	"encoding/base64"
	"errors"
	"fmt"

	"spectra-relay/engineio/eiopacket"
)

// The wire codec is the server's (package eiopacket); these short names keep
// the client's code readable.
type packet = eiopacket.Packet

const (
	typeOpen    = eiopacket.PacketOpen
	typeClose   = eiopacket.PacketClose
	typePing    = eiopacket.PacketPing
	typePong    = eiopacket.PacketPong
	typeMessage = eiopacket.PacketMessage
	typeUpgrade = eiopacket.PacketUpgrade
	typeNoop    = eiopacket.PacketNoop

	recordSeparator = eiopacket.RecordSeparator
)

// ErrMalformedPacket wraps every decoding failure so callers can tell a
// protocol violation by the server from a network error.
var ErrMalformedPacket = errors.New("eioclient: malformed packet")

// decodeText decodes one text packet (a WebSocket text frame or one record of
// a polling payload). The data slice aliases p.
func decodeText(p []byte) (packet, error) {
	pk, err := eiopacket.DecodeText(p)
	if err != nil {
		return pk, fmt.Errorf("%w: %v", ErrMalformedPacket, err)
	}
	return pk, nil
}

// decodePayload splits a long-polling response body into packets and calls fn
// for each in order. Binary records get a freshly allocated slice; text
// records alias body. Decoding errors wrap ErrMalformedPacket; fn's own
// errors are returned as they are.
func decodePayload(body []byte, fn func(packet) error) error {
	var fnErr error
	err := eiopacket.DecodePayload(body, func(p packet) error {
		fnErr = fn(p)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w: %v", ErrMalformedPacket, err)
	}
	return err
}

// appendRecord appends one packet in long-polling form to dst.
func appendRecord(dst []byte, p packet) []byte {
	if p.Binary {
		return eiopacket.AppendPollingPacket(dst, p.Data, true)
	}
	return eiopacket.AppendText(dst, p.Type, p.Data)
}

// recordLen is the encoded length appendRecord will produce.
func recordLen(p packet) int {
	if p.Binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}
