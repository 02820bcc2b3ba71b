package siopacket

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bytedance/sonic"
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

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal, escaped the way
// JavaScript's JSON.stringify does (no HTML escaping, so payloads stay
// byte-identical to what a Node server would send). Invalid UTF-8 becomes
// U+FFFD.
func AppendString(dst []byte, s string) []byte { return AppendJSONString(dst, s) }

// AppendJSONString is AppendString for a string or a byte slice, e.g. a
// JSON document sent as a string argument, without converting it first.
func AppendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// plainASCII marks the bytes a JSON string literal carries unescaped and
// that need no UTF-8 check.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendEscaped appends the body of a JSON string literal for s (no quotes). Runs of
// bytes that need no escaping are copied at once: match_data is mostly
// such runs, with a '"' every few bytes. Invalid UTF-8 becomes U+FFFD.
func appendEscaped[T ~string | ~[]byte](dst []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Plain ASCII, by far the most bytes of match_data: skip in a
		// tight loop over a table.
		for i < len(s) && plainASCII[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			size := utf8Len(s, i)
			if size == 0 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// utf8Len is the length of the valid UTF-8 sequence at s[i], 0 if invalid
// (overlong forms, surrogates and truncated sequences included).
func utf8Len[T ~string | ~[]byte](s T, i int) int {
	cont := func(j int, lo, hi byte) bool { return j < len(s) && s[j] >= lo && s[j] <= hi }
	c := s[i]
	switch {
	case c >= 0xC2 && c <= 0xDF:
		if cont(i+1, 0x80, 0xBF) {
			return 2
		}
	case c == 0xE0:
		if cont(i+1, 0xA0, 0xBF) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xED:
		if cont(i+1, 0x80, 0x9F) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case c >= 0xE1 && c <= 0xEF:
		if cont(i+1, 0x80, 0xBF) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xF0:
		if cont(i+1, 0x90, 0xBF) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	case c >= 0xF1 && c <= 0xF3:
		if cont(i+1, 0x80, 0xBF) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	case c == 0xF4:
		if cont(i+1, 0x80, 0x8F) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	}
	return 0
}
