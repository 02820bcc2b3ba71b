package relay

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeGroupCode: any member text either gives a group code of 1 to
// maxGroupCodeLen bytes that encodes back to a JSON string, or an error of
// bounded size that does not carry the input.
func FuzzDecodeGroupCode(f *testing.F) {
	for _, s := range []string{`"GU3Z72"`, `""`, `null`, `123`, `"\u00e9"`, `"\ud800"`, `"a\"b"`, `"` + strings.Repeat("x", 70) + `"`, `{"a":1}`, `"\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		code, err := decodeGroupCode(raw)
		if err != nil {
			if code != "" || len(err.Error()) > 100 {
				t.Fatalf("error %q with code %q", err, code)
			}
			return
		}
		if code == "" || len(code) > maxGroupCodeLen || !utf8.ValidString(code) {
			t.Fatalf("accepted code %q (%d bytes)", code, len(code))
		}
		back, err := json.Marshal(code)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := decodeGroupCode(back); err != nil || again != code {
			t.Fatalf("%s decodes to %q, %v; want %q", back, again, err, code)
		}
	})
}
