package relay

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSidecar: the secret sidecar keeps the group secret on its first line
// and the ingest sessions' bindings after it, mode 0600, replaced whole.
func TestSidecar(t *testing.T) {
	bs := []sessionBinding{
		{PID: "p1", SID: "s1"},
		{PID: "p2", SID: "s2", Aux: true, PlayerID: "player \"two\"\nwith a newline"},
	}
	tests := []struct {
		name    string
		content string // written as is when set; else writeSidecar(secret, bs)
		secret  string
		want    []sessionBinding
		wantErr bool
	}{
		{name: "round trip", secret: "SECRET123456", want: bs},
		{name: "secret only (an older relay's file)", content: "SECRET123456\n", secret: "SECRET123456"},
		{name: "damaged lines skipped", content: "S\n{\"pid\":\"p1\",\"sid\":\"s1\"}\n{broken\n{\"pid\":\"\",\"sid\":\"x\"}\n{\"pid\":\"p3\"}\n", secret: "S", want: bs[:1]},
		{name: "empty secret", content: "\n{\"pid\":\"p1\",\"sid\":\"s1\"}\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Match_X_1.secret")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := writeSidecar(path, tc.secret, tc.want); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("sidecar %v, mode %v", err, st.Mode().Perm())
			}
			secret, got, err := readSidecar(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("readSidecar error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if secret != tc.secret || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("read %q %+v, want %q %+v", secret, got, tc.secret, tc.want)
			}
			if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
				t.Fatalf("temporary file left behind: %v", err)
			}
		})
	}
	// A wider file of the same name is narrowed when replaced.
	path := filepath.Join(t.TempDir(), "wide.secret")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSidecar(path, "new", bs); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after replace", st.Mode().Perm())
	}
}
