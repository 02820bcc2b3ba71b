package bench

import (
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		fmt  string
	}{
		{"0", []int{0}, "0"},
		{"1", []int{1}, "1"},
		{"0-2,5", []int{0, 1, 2, 5}, "0-2,5"},
		{" 3, 1 ,1", []int{1, 3}, "1,3"},
		{"", nil, ""},
		{"a", nil, ""},
		{"2-1", nil, ""},
		{"-1", nil, ""},
	} {
		got, err := ParseCPUList(tc.in)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if tc.want != nil && FormatCPUList(got) != tc.fmt {
			t.Errorf("FormatCPUList(%v) = %q, want %q", got, FormatCPUList(got), tc.fmt)
		}
	}
}
