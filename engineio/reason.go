package engineio

import "github.com/gobwas/ws"

// CloseReason says why a session ended. It is the one place that maps an
// end of session to what goes on the wire.
type CloseReason uint8

const (
	// ReasonServerClose: the application closed the socket.
	ReasonServerClose CloseReason = iota + 1
	// ReasonServerShutdown: the server is shutting down.
	ReasonServerShutdown
	// ReasonClientClose: the client sent a close packet or a close frame.
	ReasonClientClose
	// ReasonPingTimeout: no pong arrived within PingTimeout.
	ReasonPingTimeout
	// ReasonTransportClose: the connection dropped.
	ReasonTransportClose
	// ReasonTransportError: a read or write failed.
	ReasonTransportError
	// ReasonParseError: the client sent a malformed packet.
	ReasonParseError
	// ReasonPayloadTooLarge: a message exceeded MaxPayload.
	ReasonPayloadTooLarge
	// ReasonSlowConsumer: the outbound queue exceeded MaxQueueBytes.
	ReasonSlowConsumer
	// ReasonDuplicatePoll: a second GET arrived while one was pending.
	ReasonDuplicatePoll
	// ReasonUpgradeReplaced: the session moved to another transport or a
	// second upgrade arrived for it.
	ReasonUpgradeReplaced
	// ReasonInvalidPayload: a WebSocket text message was not valid UTF-8.
	ReasonInvalidPayload
	// ReasonRecvBudget: the receive budget (Config.RecvBudget) was spent
	// and this connection held the most of it.
	ReasonRecvBudget
)

var reasonNames = [...]string{
	ReasonServerClose:     "server close",
	ReasonServerShutdown:  "server shutting down",
	ReasonClientClose:     "client close",
	ReasonPingTimeout:     "ping timeout",
	ReasonTransportClose:  "transport close",
	ReasonTransportError:  "transport error",
	ReasonParseError:      "parse error",
	ReasonPayloadTooLarge: "payload too large",
	ReasonSlowConsumer:    "slow consumer",
	ReasonDuplicatePoll:   "duplicate poll",
	ReasonUpgradeReplaced: "upgrade replaced",
	ReasonInvalidPayload:  "invalid payload data",
	ReasonRecvBudget:      "receive budget",
}

func (r CloseReason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// wsStatus maps a reason to the WebSocket close status sent to the peer.
// Reserved codes (1005, 1006, 1015) are never produced.
func (r CloseReason) wsStatus() ws.StatusCode {
	switch r {
	case ReasonServerShutdown:
		return ws.StatusGoingAway
	case ReasonParseError:
		return ws.StatusProtocolError
	case ReasonPayloadTooLarge:
		return ws.StatusMessageTooBig
	case ReasonInvalidPayload:
		return ws.StatusInvalidFramePayloadData
	case ReasonSlowConsumer, ReasonTransportError:
		return ws.StatusInternalServerError
	case ReasonPingTimeout, ReasonRecvBudget:
		return ws.StatusPolicyViolation
	default:
		return ws.StatusNormalClosure
	}
}

// sendsClosePacket reports whether the client is told with an Engine.IO
// close packet before the transport goes away.
func (r CloseReason) sendsClosePacket() bool {
	switch r {
	case ReasonServerClose, ReasonServerShutdown, ReasonDuplicatePoll:
		return true
	}
	return false
}
