package match

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// The existing server keeps parts of its state as whatever JSON the observer
// sent (toolsData, toast payloads, raw team fields) and mutates them in place.
// To reproduce its output byte for byte we keep those parts as JavaScript-like
// values: ordered objects with the engine's key ordering, undefined members
// that vanish on output, reference semantics for objects and arrays.

type kind uint8

const (
	kUndefined kind = iota
	kNull
	kBool
	kNumber
	kString
	kArray
	kObject
)

type jv struct {
	k   kind
	b   bool
	n   float64
	s   string
	arr *jarr
	obj *jobj
}

type jarr struct {
	elems []jv
}

// jobj mirrors the property order of a plain JS object: array-index keys first
// in ascending numeric order, then the other keys in insertion order.
type jobj struct {
	keys []string
	vals []jv
	nIdx int // number of leading array-index keys
}

var (
	undef  = jv{}
	jsNull = jv{k: kNull}
	jsTrue = jv{k: kBool, b: true}
)

func jsBool(b bool) jv   { return jv{k: kBool, b: b} }
func jsNum(f float64) jv { return jv{k: kNumber, n: f} }
func jsStr(s string) jv  { return jv{k: kString, s: s} }
func newObj() jv         { return jv{k: kObject, obj: &jobj{}} }
func newArr(e []jv) jv   { return jv{k: kArray, arr: &jarr{elems: e}} }

// arrayIndex reports whether key is a canonical array index (0 .. 2^32-2).
func arrayIndex(key string) (uint32, bool) {
	if len(key) == 0 || len(key) > 10 {
		return 0, false
	}
	if key[0] == '0' {
		return 0, len(key) == 1
	}
	var n uint64
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

func (o *jobj) index(key string) int {
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

func (o *jobj) get(key string) (jv, bool) {
	if i := o.index(key); i >= 0 {
		return o.vals[i], true
	}
	return undef, false
}

// set defines or overwrites an own data property; an existing key keeps its
// position, as in JS.
func (o *jobj) set(key string, v jv) {
	if i := o.index(key); i >= 0 {
		o.vals[i] = v
		return
	}
	if idx, ok := arrayIndex(key); ok {
		pos := 0
		for pos < o.nIdx {
			p, _ := arrayIndex(o.keys[pos])
			if p > idx {
				break
			}
			pos++
		}
		o.keys = append(o.keys, "")
		o.vals = append(o.vals, undef)
		copy(o.keys[pos+1:], o.keys[pos:])
		copy(o.vals[pos+1:], o.vals[pos:])
		o.keys[pos] = key
		o.vals[pos] = v
		o.nIdx++
		return
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
}

func (o *jobj) del(key string) {
	i := o.index(key)
	if i < 0 {
		return
	}
	if _, ok := arrayIndex(key); ok {
		o.nIdx--
	}
	o.keys = append(o.keys[:i], o.keys[i+1:]...)
	o.vals = append(o.vals[:i], o.vals[i+1:]...)
}

// errTypeError stands for a JS TypeError: the existing server aborts the
// handler at that point, keeping what it already changed.
var errTypeError = errors.New("type error")

// getProp reads v[key] like JS: reading from null/undefined throws, other
// primitives yield undefined except string length/index.
func getProp(v jv, key string) (jv, error) {
	switch v.k {
	case kUndefined, kNull:
		return undef, fmt.Errorf("read %q of %s: %w", key, v.typeName(), errTypeError)
	case kObject:
		r, _ := v.obj.get(key)
		return r, nil
	case kArray:
		if key == "length" {
			return jsNum(float64(len(v.arr.elems))), nil
		}
		if i, ok := arrayIndex(key); ok && int(i) < len(v.arr.elems) {
			return v.arr.elems[i], nil
		}
	case kString:
		if key == "length" {
			return jsNum(float64(utf16Len(v.s))), nil
		}
	}
	return undef, nil
}

// setProp writes v[key] = val with strict-mode semantics (class bodies are
// strict): writing to a primitive throws.
func setProp(v jv, key string, val jv) error {
	switch v.k {
	case kObject:
		if key == "__proto__" {
			return nil
		}
		v.obj.set(key, val)
		return nil
	case kArray:
		// Non-index properties of arrays never reach JSON output.
		if i, ok := arrayIndex(key); ok && int(i) < len(v.arr.elems) {
			v.arr.elems[i] = val
		}
		return nil
	}
	return fmt.Errorf("set %q on %s: %w", key, v.typeName(), errTypeError)
}

func (v jv) typeName() string {
	switch v.k {
	case kUndefined:
		return "undefined"
	case kNull:
		return "null"
	case kBool:
		return "boolean"
	case kNumber:
		return "number"
	case kString:
		return "string"
	case kArray:
		return "array"
	}
	return "object"
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func (v jv) truthy() bool {
	switch v.k {
	case kBool:
		return v.b
	case kNumber:
		return v.n != 0 && !math.IsNaN(v.n)
	case kString:
		return v.s != ""
	case kArray, kObject:
		return true
	}
	return false
}

// toNumber is the JS ToNumber abstract operation for the value kinds we hold.
func (v jv) toNumber() float64 {
	switch v.k {
	case kNull:
		return 0
	case kBool:
		if v.b {
			return 1
		}
		return 0
	case kNumber:
		return v.n
	case kString:
		return stringToNumber(v.s)
	case kArray:
		switch len(v.arr.elems) {
		case 0:
			return 0
		case 1:
			e := v.arr.elems[0]
			if e.k == kArray || e.k == kObject {
				return math.NaN()
			}
			if e.k == kUndefined || e.k == kNull {
				return 0
			}
			return stringToNumber(e.toPropertyKey())
		}
	}
	return math.NaN()
}

func stringToNumber(s string) float64 {
	t := trimJSSpace(s)
	if t == "" {
		return 0
	}
	switch t {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(t) > 2 && t[0] == '0' && (t[1]|0x20 == 'x' || t[1]|0x20 == 'o' || t[1]|0x20 == 'b') {
		base := 16
		switch t[1] | 0x20 {
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		u, err := strconv.ParseUint(t[2:], base, 64)
		if err != nil {
			return math.NaN()
		}
		return float64(u)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return math.NaN()
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return math.NaN()
	}
	return f
}

// looseEqBool is `v == b` with JS abstract equality.
func (v jv) looseEqBool(b bool) bool {
	want := 0.0
	if b {
		want = 1
	}
	switch v.k {
	case kBool:
		return v.b == b
	case kUndefined, kNull:
		return false
	case kObject:
		return false // ToPrimitive gives "[object Object]", never a number
	}
	return v.toNumber() == want
}

// looseEqNum is `v == n` with JS abstract equality for a number n.
func (v jv) looseEqNum(n float64) bool {
	switch v.k {
	case kUndefined, kNull, kObject:
		return false
	}
	return v.toNumber() == n
}

// toPropertyKey is String(v) for use as an object key.
func (v jv) toPropertyKey() string {
	switch v.k {
	case kUndefined:
		return "undefined"
	case kNull:
		return "null"
	case kBool:
		if v.b {
			return "true"
		}
		return "false"
	case kNumber:
		return string(appendJSNumberString(nil, v.n))
	case kString:
		return v.s
	case kArray:
		var b []byte
		for i, e := range v.arr.elems {
			if i > 0 {
				b = append(b, ',')
			}
			if e.k != kUndefined && e.k != kNull {
				b = append(b, e.toPropertyKey()...)
			}
		}
		return string(b)
	}
	return "[object Object]"
}

func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// trimJSSpace is String.prototype.trim.
func trimJSSpace(s string) string {
	start := 0
	for start < len(s) {
		r, n := utf8.DecodeRuneInString(s[start:])
		if !isJSSpace(r) {
			break
		}
		start += n
	}
	end := len(s)
	for end > start {
		r, n := utf8.DecodeLastRuneInString(s[start:end])
		if !isJSSpace(r) {
			break
		}
		end -= n
	}
	return s[start:end]
}

// ---- encoding (JSON.stringify semantics) ----

// appendJV writes v as JSON.stringify would inside a container. undefined at
// top level or as an array element becomes null; object members that are
// undefined are skipped by appendObjectMembers.
func appendJV(dst []byte, v jv) []byte {
	switch v.k {
	case kUndefined, kNull:
		return append(dst, "null"...)
	case kBool:
		if v.b {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case kNumber:
		return appendJSNumber(dst, v.n)
	case kString:
		return appendJSString(dst, v.s)
	case kArray:
		dst = append(dst, '[')
		for i, e := range v.arr.elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJV(dst, e)
		}
		return append(dst, ']')
	}
	dst = append(dst, '{')
	dst = appendObjectMembers(dst, v.obj, false, nil)
	return append(dst, '}')
}

// appendObjectMembers writes the members of o; the return value tells the
// caller through comma whether something was written before. skip lists keys
// to leave out.
func appendObjectMembers(dst []byte, o *jobj, comma bool, skip func(string) bool) []byte {
	for i, k := range o.keys {
		v := o.vals[i]
		if v.k == kUndefined || (skip != nil && skip(k)) {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = appendJSString(dst, k)
		dst = append(dst, ':')
		dst = appendJV(dst, v)
	}
	return dst
}

// clone makes a deep copy (structuredClone of plain data).
func (v jv) clone() jv {
	switch v.k {
	case kArray:
		e := make([]jv, len(v.arr.elems))
		for i, x := range v.arr.elems {
			e[i] = x.clone()
		}
		return newArr(e)
	case kObject:
		o := &jobj{keys: append([]string(nil), v.obj.keys...), vals: make([]jv, len(v.obj.vals)), nIdx: v.obj.nIdx}
		for i, x := range v.obj.vals {
			o.vals[i] = x.clone()
		}
		return jv{k: kObject, obj: o}
	}
	return v
}
