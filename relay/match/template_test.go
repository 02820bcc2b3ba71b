package match

import (
	"encoding/json"
	"testing"
)

func TestTemplateString(t *testing.T) {
	for raw, want := range map[string]string{`"x"`: "x", `5`: "5", `null`: "null", `{"a":1}`: "[object Object]", `[1,"a",null]`: "1,a,", `true`: "true"} {
		if got := TemplateString(json.RawMessage(raw), true); got != want {
			t.Errorf("TemplateString(%s) = %q, want %q", raw, got, want)
		}
	}
	if TemplateString(nil, false) != "undefined" {
		t.Error("absent is not undefined")
	}
}
