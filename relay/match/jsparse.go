package match

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ---- parsing (JSON.parse semantics) ----

const maxDepth = 512

type parser struct {
	b     []byte
	i     int
	depth int
}

// parseJSON parses a complete JSON text into a JS-like value.
func parseJSON(b []byte) (jv, error) {
	p := parser{b: b}
	p.ws()
	v, err := p.value()
	if err != nil {
		return undef, err
	}
	p.ws()
	if p.i != len(p.b) {
		return undef, p.errf("unexpected data after JSON value")
	}
	return v, nil
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("json at offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (jv, error) {
	if p.i >= len(p.b) {
		return undef, p.errf("unexpected end of input")
	}
	switch c := p.b[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		s, err := p.str()
		return jsStr(s), err
	case 't':
		return jsTrue, p.lit("true")
	case 'f':
		return jsBool(false), p.lit("false")
	case 'n':
		return jsNull, p.lit("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
	}
	return undef, p.errf("unexpected character %q", p.b[p.i])
}

func (p *parser) lit(s string) error {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return p.errf("invalid literal")
	}
	p.i += len(s)
	return nil
}

func (p *parser) number() (jv, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return undef, p.errf("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return undef, p.errf("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return undef, p.errf("invalid number")
		}
	}
	tok := p.b[start:p.i]
	if f, ok := smallInt(tok); ok {
		return jsNum(f), nil
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return undef, p.errf("invalid number")
	}
	return jsNum(f), nil
}

// smallInt is a fast path for the short integers that dominate game data.
func smallInt(tok []byte) (float64, bool) {
	if len(tok) == 0 || len(tok) > 15 {
		return 0, false
	}
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
		if len(tok) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		if n == 0 {
			return math.Copysign(0, -1), true
		}
		n = -n
	}
	return float64(n), true
}

func (p *parser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			seg := p.b[start:p.i]
			p.i++
			if !utf8.Valid(seg) {
				return toValidUTF8(seg), nil
			}
			return string(seg), nil
		}
		if c == '\\' {
			return p.strSlow(start)
		}
		if c < 0x20 {
			return "", p.errf("control character in string")
		}
		p.i++
	}
	return "", p.errf("unterminated string")
}

func toValidUTF8(seg []byte) string {
	out := make([]byte, 0, len(seg)+8)
	for len(seg) > 0 {
		r, n := utf8.DecodeRune(seg)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, seg[:n]...)
		}
		seg = seg[n:]
	}
	return string(out)
}

func (p *parser) strSlow(start int) (string, error) {
	out := make([]byte, 0, p.i-start+16)
	flush := func(seg []byte) {
		if utf8.Valid(seg) {
			out = append(out, seg...)
		} else {
			out = append(out, toValidUTF8(seg)...)
		}
	}
	flush(p.b[start:p.i])
	segStart := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			flush(p.b[segStart:p.i])
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.errf("control character in string")
		case c != '\\':
			p.i++
			continue
		}
		flush(p.b[segStart:p.i])
		p.i++
		if p.i >= len(p.b) {
			return "", p.errf("unterminated string")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if r >= 0xD800 && r < 0xDC00 && p.i+6 <= len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				r2, err := p.hex4()
				if err == nil && r2 >= 0xDC00 && r2 < 0xE000 {
					out = utf8.AppendRune(out, 0x10000+(r-0xD800)<<10+(r2-0xDC00))
					segStart = p.i
					continue
				}
				p.i = save
			}
			out = appendWTF8(out, r)
		default:
			return "", p.errf("invalid escape")
		}
		segStart = p.i
	}
	return "", p.errf("unterminated string")
}

// appendWTF8 keeps lone surrogates (legal in JS strings) in generalized UTF-8
// so the encoder can write them back as \uXXXX escapes like JSON.stringify.
func appendWTF8(out []byte, r rune) []byte {
	if r >= 0xD800 && r < 0xE000 {
		return append(out, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(out, r)
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.errf("short unicode escape")
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.errf("invalid unicode escape")
		}
	}
	p.i += 4
	return r, nil
}

func (p *parser) object() (jv, error) {
	p.depth++
	if p.depth > maxDepth {
		return undef, p.errf("nesting too deep")
	}
	defer func() { p.depth-- }()
	p.i++
	o := &jobj{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return jv{k: kObject, obj: o}, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return undef, p.errf("expected object key")
		}
		key, err := p.str()
		if err != nil {
			return undef, err
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return undef, p.errf("expected ':'")
		}
		p.i++
		p.ws()
		v, err := p.value()
		if err != nil {
			return undef, err
		}
		o.set(key, v)
		p.ws()
		if p.i >= len(p.b) {
			return undef, p.errf("unterminated object")
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] == '}' {
			p.i++
			return jv{k: kObject, obj: o}, nil
		}
		return undef, p.errf("expected ',' or '}'")
	}
}

func (p *parser) array() (jv, error) {
	p.depth++
	if p.depth > maxDepth {
		return undef, p.errf("nesting too deep")
	}
	defer func() { p.depth-- }()
	p.i++
	var elems []jv
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return newArr(elems), nil
	}
	for {
		p.ws()
		v, err := p.value()
		if err != nil {
			return undef, err
		}
		elems = append(elems, v)
		p.ws()
		if p.i >= len(p.b) {
			return undef, p.errf("unterminated array")
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] == ']' {
			p.i++
			return newArr(elems), nil
		}
		return undef, p.errf("expected ',' or ']'")
	}
}
