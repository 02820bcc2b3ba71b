package match

// looseEq is `x == y` in JS (abstract equality) for values parsed from
// JSON, where two objects or arrays are never the same object.
func looseEq(x, y jv) bool {
	if x.k == y.k {
		switch x.k {
		case kUndefined, kNull:
			return true
		case kBool:
			return x.b == y.b
		case kNumber:
			return x.n == y.n
		case kString:
			return x.s == y.s
		}
		return false // two objects: equal only when the same one
	}
	xNullish, yNullish := x.k == kUndefined || x.k == kNull, y.k == kUndefined || y.k == kNull
	if xNullish || yNullish {
		return xNullish && yNullish
	}
	xObj, yObj := x.k == kArray || x.k == kObject, y.k == kArray || y.k == kObject
	switch {
	case xObj && yObj:
		return false
	case xObj:
		return looseEq(jsStr(x.toPropertyKey()), y) // ToPrimitive: toString
	case yObj:
		return looseEq(x, jsStr(y.toPropertyKey()))
	}
	// Two primitives of different kinds among boolean, number and string
	// compare as numbers.
	return x.toNumber() == y.toNumber()
}

// MatchIDEquals reports whether `matchId == id` holds in JS for this
// match's id: the existing server's test when an auxiliary client logs on
// with id. raw is the JSON text of id; nil stands for an absent member.
func (m *Match) MatchIDEquals(raw []byte) bool {
	id := undef
	if raw != nil {
		v, err := parseJSON(raw)
		if err != nil {
			return false
		}
		id = v
	}
	return looseEq(m.matchID, id)
}

// JSString is String(v) of the JSON value raw, as a JS template literal or
// property key shows it: strings as they are, numbers in ECMAScript
// formatting, arrays joined with commas, objects as "[object Object]".
func JSString(raw []byte) (string, error) {
	v, err := parseJSON(raw)
	if err != nil {
		return "", err
	}
	return v.toPropertyKey(), nil
}

// jsGreater is `x > y` in JS for values parsed from JSON: two strings (or
// objects and arrays by their string forms) compare as strings, anything
// else as numbers, where NaN is never greater. Strings compare by code
// point, which differs from JS's UTF-16 units only between characters
// above U+FFFF and those from U+E000 to U+FFFF.
func jsGreater(x, y jv) bool {
	px, py := toPrimitive(x), toPrimitive(y)
	if px.k == kString && py.k == kString {
		return px.s > py.s
	}
	return px.toNumber() > py.toNumber()
}

// toPrimitive is ToPrimitive(v) of a value parsed from JSON: an object or
// array becomes its string form (valueOf is the object itself).
func toPrimitive(v jv) jv {
	if v.k == kArray || v.k == kObject {
		return jsStr(v.toPropertyKey())
	}
	return v
}
