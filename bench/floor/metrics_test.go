package floor

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteMetrics(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for code, n := range map[string]int64{"BN0001": 7, "BN0000": 3, `a"b\c`: 1} {
		m := &match{s: s, groupCode: code}
		m.sends.Store(n)
		s.matches[code] = m
	}
	var b bytes.Buffer
	if err := s.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "go_goroutines ") {
		t.Fatalf("metrics:\n%s", b.String())
	}
	want := []string{
		`spectra_match_data_sends_by_match_total{group_code="BN0000"} 3`,
		`spectra_match_data_sends_by_match_total{group_code="BN0001"} 7`,
		`spectra_match_data_sends_by_match_total{group_code="a\"b\\c"} 1`,
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d: %s, want %s", i+1, lines[i+1], w)
		}
	}
}
