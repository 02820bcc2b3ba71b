package siopacket

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bytedance/sonic"

	"spectra-relay/internal/jsontext"
)

// ErrUnsupportedValue is returned for an argument that has no JSON form
// (NaN, ±Inf, or a value sonic cannot marshal).
var ErrUnsupportedValue = errors.New("socketio: unsupported argument value")

// EncodeEvent returns the text of an EVENT (or BINARY_EVENT) packet for
// namespace nsp, without the Engine.IO type digit, and the attachments its
// placeholders refer to. id is NoID for no ack. Argument rules are those
// of AppendValue.
func EncodeEvent(nsp string, id int64, event string, args ...any) ([]byte, [][]byte, error) {
	return EncodeArgs(nil, PacketEvent, nsp, id, event, true, args)
}

// EncodeArgs builds `<header>[event?,args...]`. []byte arguments become
// placeholders, which turns the packet type into its binary variant; the
// header, written after the payload is known, is moved in front then.
func EncodeArgs(dst []byte, t PacketType, nsp string, id int64, event string, withEvent bool, args []any) ([]byte, [][]byte, error) {
	size := 16 + len(nsp) + len(event)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			// Escaped quotes dominate JSON-in-a-string payloads; counting
			// them (vectorised) makes one exact allocation likely.
			size += len(v) + 2 + strings.Count(v, `"`) + strings.Count(v, `\`)
		case RawJSON:
			size += len(v)
		default:
			size += 8
		}
	}
	if dst == nil {
		dst = make([]byte, 0, size+size/64)
	}
	start := len(dst)
	// Reserve room for the text header, assuming no attachments; a binary
	// packet rewrites it below.
	dst = AppendHeader(dst, t, 0, nsp, id)
	hdrEnd := len(dst)
	dst = append(dst, '[')
	n := 0
	if withEvent {
		dst = AppendString(dst, event)
		n++
	}
	var bins [][]byte
	for _, a := range args {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var err error
		dst, err = appendValue(dst, a, &bins)
		if err != nil {
			return nil, nil, err
		}
	}
	dst = append(dst, ']')
	if len(bins) == 0 {
		return dst, nil, nil
	}
	bt := PacketBinaryEvent
	if t == PacketAck {
		bt = PacketBinaryAck
	}
	hdr := AppendHeader(nil, bt, len(bins), nsp, id)
	out := make([]byte, 0, start+len(hdr)+len(dst)-hdrEnd)
	out = append(out, dst[:start]...)
	out = append(out, hdr...)
	out = append(out, dst[hdrEnd:]...)
	return out, bins, nil
}

// EncodeRaw builds `<header>[event?,raw args...]` with arguments copied
// verbatim; attachments keep their placeholder numbering.
func EncodeRaw(t PacketType, nsp string, id int64, event string, withEvent bool, args []RawJSON, nAttach int) []byte {
	size := 24 + len(nsp) + len(event)
	for _, a := range args {
		size += len(a) + 1
	}
	if nAttach > 0 {
		if t == PacketEvent {
			t = PacketBinaryEvent
		} else if t == PacketAck {
			t = PacketBinaryAck
		}
	}
	dst := make([]byte, 0, size)
	dst = AppendHeader(dst, t, nAttach, nsp, id)
	dst = append(dst, '[')
	n := 0
	if withEvent {
		dst = AppendString(dst, event)
		n++
	}
	for _, a := range args {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, a...)
	}
	return append(dst, ']')
}

// AppendValue appends the JSON form of v. RawJSON and json.RawMessage are
// copied verbatim; strings, bools, nil and numbers are formatted directly;
// anything else goes through sonic. A []byte has no JSON form of its own
// here: use it as a top-level Emit argument to send it as an attachment.
func AppendValue(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, nil)
}

func appendValue(dst []byte, v any, bins *[][]byte) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case RawJSON:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, x...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, x...), nil
	case string:
		return AppendString(dst, x), nil
	case []byte:
		if bins == nil {
			return nil, fmt.Errorf("%w: []byte outside the top-level arguments", ErrUnsupportedValue)
		}
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(*bins)), 10)
		*bins = append(*bins, x)
		return append(dst, '}'), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	}
	b, err := sonic.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrUnsupportedValue, v, err)
	}
	return append(dst, b...), nil
}

// appendFloat formats like JavaScript's Number.prototype.toString for the
// common range, as encoding/json does.
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedValue, f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// AppendString appends s as a JSON string literal, escaped the way
// JavaScript's JSON.stringify does (no HTML escaping, so payloads stay
// byte-identical to what a Node server would send). Invalid UTF-8 becomes
// U+FFFD.
func AppendString(dst []byte, s string) []byte { return jsontext.AppendString(dst, s) }

// AppendJSONString is AppendString for a string or a byte slice, e.g. a
// JSON document sent as a string argument, without converting it first.
func AppendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	return jsontext.AppendQuoted(dst, s)
}
