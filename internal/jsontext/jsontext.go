// Package jsontext holds the small JSON text helpers that the wire codec,
// the replay format and the relay share: whitespace, compaction, an object
// split into ordered members, and the JSON.stringify-compatible string
// escaper. They work on JSON text as bytes, so documents keep their key
// order and number spelling, which encoding/json's maps would lose.
package jsontext

import (
	"encoding/json"
	"errors"
	"strings"
)

// Errors of Members.
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrTrailing  = errors.New("data after the JSON value")
)

// IsSpace reports JSON's insignificant whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// FirstNonSpace is the first byte of b that is not whitespace, 0 if none.
func FirstNonSpace[T ~string | ~[]byte](b T) byte {
	for i := 0; i < len(b); i++ {
		if !IsSpace(b[i]) {
			return b[i]
		}
	}
	return 0
}

// Compact appends valid JSON without the whitespace between tokens.
func Compact[T ~string | ~[]byte](dst []byte, src T) []byte {
	inStr, esc := false, false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// Member is one member of a JSON object, in document order.
type Member struct {
	Key string
	Val json.RawMessage
}

// Members splits a JSON object into its members in order; key order is
// visible in replay headers and previews. A duplicate key keeps its first
// position and last value, as JSON.parse does.
func Members(raw []byte) ([]Member, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	var out []Member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		dup := false
		for i := range out {
			if out[i].Key == key {
				out[i].Val, dup = val, true
				break
			}
		}
		if !dup {
			out = append(out, Member{key, val})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, ErrTrailing
	}
	return out, nil
}

// Find returns the value of key in ms.
func Find(ms []Member, key string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.Key == key {
			return m.Val, true
		}
	}
	return nil, false
}

// AppendMembers writes members back as a compact JSON object body (without
// braces), skipping the keys for which skip returns true. comma says
// whether a member precedes them.
func AppendMembers(dst []byte, ms []Member, comma bool, skip func(string) bool) []byte {
	for _, m := range ms {
		if skip != nil && skip(m.Key) {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = AppendString(dst, m.Key)
		dst = append(dst, ':')
		dst = Compact(dst, m.Val)
	}
	return dst
}
