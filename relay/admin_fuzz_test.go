package relay

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
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

// FuzzAdminAuthorized: no Authorization header passes unless it carries
// the token exactly, as a bearer token or a Basic password.
func FuzzAdminAuthorized(f *testing.F) {
	const token = tAdminToken
	for _, s := range []string{"Bearer " + token, "bearer " + token, "Bearer  " + token, "Bearer " + token + "x", "Basic Og==", "Basic", "Bearer", "", "Basic " + "b3A6" + "YWRt"} {
		f.Add(s)
	}
	want := sha256.Sum256([]byte(token))
	f.Fuzz(func(t *testing.T, auth string) {
		r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header["Authorization"] = []string{auth}
		got := adminAuthorized(r, &want)
		_, pass, basic := r.BasicAuth()
		scheme, rest, _ := strings.Cut(auth, " ")
		exact := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(rest) == token ||
			!strings.EqualFold(scheme, "Bearer") && basic && pass == token
		if got != exact {
			t.Fatalf("Authorization %q: authorized %v, want %v", auth, got, exact)
		}
	})
}
