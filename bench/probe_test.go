package bench

import "testing"

func TestEventArgs(t *testing.T) {
	for _, tc := range []struct {
		body    string
		name    string
		ok      bool
		argText string // "" when the argument is missing or not a string
	}{
		{`["logon_success",{"groupCode":"A"}]`, "logon_success", true, ""},
		{`["match_data","{\"a\":1}"]`, "match_data", true, `{"a":1}`},
		{`["match_data","{\"t\":\"x\\\"y\"}"]`, "match_data", true, `{"t":"x\"y"}`},
		{`["match_data"]`, "match_data", true, ""},
		{`["match_data","{\"a\":1}"`, "", false, ""}, // truncated
		{`[1,"x"]`, "", false, ""},
		{`{}`, "", false, ""},
		{``, "", false, ""},
	} {
		name, arg, ok := eventArgs([]byte(tc.body))
		if name != tc.name || ok != tc.ok {
			t.Errorf("eventArgs(%s) = %q, %v; want %q, %v", tc.body, name, ok, tc.name, tc.ok)
			continue
		}
		got, _ := arg.StrictString()
		if got != tc.argText {
			t.Errorf("eventArgs(%s) argument %q, want %q", tc.body, got, tc.argText)
		}
	}
}

func TestMarkerIn(t *testing.T) {
	for _, tc := range []struct {
		state   string
		message string
		active  bool
		ok      bool
	}{
		{`{"toastInfo":{"active":true,"message":"m12","title":"bench"},"x":[1,2]}`, "m12", true, true},
		{`{"x":{"toastInfo":{"active":true,"message":"m1"}},"toastInfo":{"message":"m3","active":true}}`, "m3", true, true},
		{`{"toastInfo":{"active":false,"message":"m12"}}`, "", false, true},
		{`{"toastInfo":null}`, "", false, true},
		{`{"teams":[]}`, "", false, true},
		{`{"toastInfo":{"active":true,"message":"m12"}`, "", false, false}, // truncated
		{`not json`, "", false, false},
	} {
		message, active, ok := markerIn(tc.state)
		if message != tc.message || active != tc.active || ok != tc.ok {
			t.Errorf("markerIn(%s) = %q, %v, %v; want %q, %v, %v", tc.state, message, active, ok, tc.message, tc.active, tc.ok)
		}
	}
}
