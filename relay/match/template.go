package match

import (
	"encoding/json"
	"strings"
)

// TemplateString renders a JSON value the way a JavaScript template literal
// shows it, for reasons that quote a client's field: strings as they are,
// an absent member as "undefined".
func TemplateString(raw json.RawMessage, present bool) string {
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
					parts[i] = TemplateString(el, true)
				}
			}
			return strings.Join(parts, ",")
		}
	default:
		// Numbers in ECMAScript form (1e2 is "100"), true, false, null.
		if s, err := JSString(raw); err == nil {
			return s
		}
	}
	return string(raw)
}
