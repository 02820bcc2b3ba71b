package operator

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
)

// FuzzAdminAuthorized: no Authorization header passes unless it carries
// the token exactly, as a bearer token or a Basic password.
func FuzzAdminAuthorized(f *testing.F) {
	const token = "adm-7Q2KX9-never-guessed"
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
