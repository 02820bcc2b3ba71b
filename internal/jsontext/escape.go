package jsontext

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal, escaped the way
// JavaScript's JSON.stringify does (no HTML escaping, so payloads stay
// byte-identical to what a Node server would send). Invalid UTF-8 becomes
// U+FFFD.
func AppendString(dst []byte, s string) []byte { return AppendQuoted(dst, s) }

// AppendQuoted is AppendString for a string or a byte slice, e.g. a JSON
// document sent as a string argument, without converting it first.
func AppendQuoted[T ~string | ~[]byte](dst []byte, s T) []byte {
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
