package relay

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"spectra-relay/socketio"
)

// ServerVersion is the version of the existing server this one replaces; it
// appears in version-mismatch reasons and in replay headers.
const ServerVersion = "0.3.4"

// fnv1a is the 32-bit FNV-1a hash, inlined so the shard lookup on the
// ingest path costs no allocation and no interface call.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newGroupSecret returns 12 characters of A-Z0-9 from crypto/rand. Bytes
// at or above 252 are rejected so each character is uniform over the 36.
func newGroupSecret() string {
	var out [12]byte
	var buf [32]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b >= 252 {
				continue
			}
			out[n] = secretAlphabet[b%36]
			n++
			if n == len(out) {
				break
			}
		}
	}
	return string(out[:])
}

// compatibleVersion reports whether v satisfies the semver range
// ">=0.3.3 <0.3.25" the way node-semver's satisfies does with default
// options: surrounding whitespace and one leading "v" are accepted, build
// metadata is ignored, and a prerelease never matches because neither
// bound of the range has one.
func compatibleVersion(v string) bool {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "v")
	if len(v) > 256 {
		return false
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if !validIdents(v[i+1:], false) {
			return false
		}
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		if !validIdents(v[i+1:], true) {
			return false
		}
		return false
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	var n [3]uint64
	for i, p := range parts {
		if !numericIdent(p) {
			return false
		}
		x, err := strconv.ParseUint(p, 10, 64)
		if err != nil || x > 1<<53-1 {
			return false
		}
		n[i] = x
	}
	cmp := func(a [3]uint64, b [3]uint64) int {
		for i := range a {
			if a[i] != b[i] {
				if a[i] < b[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	return cmp(n, [3]uint64{0, 3, 3}) >= 0 && cmp(n, [3]uint64{0, 3, 25}) < 0
}

// numericIdent: digits without a leading zero (except "0" itself).
func numericIdent(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated prerelease or build identifiers.
func validIdents(s string, prerelease bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if prerelease && digits && !numericIdent(id) {
			return false
		}
	}
	return true
}

// jsString renders a JSON value the way a JavaScript template literal
// shows it, for reasons that quote a client's field: strings as they are,
// an absent member as "undefined".
func jsString(raw json.RawMessage, present bool) string {
	if !present {
		return "undefined"
	}
	switch {
	case len(raw) == 0:
		return "undefined"
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case raw[0] == '{':
		return "[object Object]"
	case raw[0] == '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) == nil {
			parts := make([]string, len(arr))
			for i, el := range arr {
				if string(el) != "null" {
					parts[i] = jsString(el, true)
				}
			}
			return strings.Join(parts, ",")
		}
	}
	return string(raw)
}

// member is one member of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// objectMembers splits a JSON object into its members in order, which
// encoding/json's maps would lose; key order is visible in replay headers
// and previews. A duplicate key keeps its first position and last value,
// as JSON.parse does.
func objectMembers(raw []byte) ([]member, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var out []member
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
			if out[i].key == key {
				out[i].val, dup = val, true
				break
			}
		}
		if !dup {
			out = append(out, member{key, val})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errTrailing
	}
	return out, nil
}

func findMember(ms []member, key string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// appendMembers writes members back as a compact JSON object body
// (without braces), skipping the keys for which skip returns true.
func appendMembers(dst []byte, ms []member, comma bool, skip func(string) bool) []byte {
	for _, m := range ms {
		if skip != nil && skip(m.key) {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = socketio.AppendString(dst, m.key)
		dst = append(dst, ':')
		dst = compactJSON(dst, m.val)
	}
	return dst
}

// compactJSON appends valid JSON without the whitespace between tokens.
func compactJSON[T ~string | ~[]byte](dst []byte, src T) []byte {
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

var (
	errNotObject = errors.New("not a JSON object")
	errTrailing  = errors.New("data after the JSON value")
)
