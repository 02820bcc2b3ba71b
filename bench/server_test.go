package bench

import "testing"

func TestParseProcStat(t *testing.T) {
	// A real line's shape: pid (comm) state ppid ... with majflt as field
	// 12, utime 14 and stime 15.
	const tail = " S 1 2 3 4 5 6 7 8 41 9 1200 34 0 0"
	cases := []struct {
		name          string
		line          string
		ticks, majflt int64
		wantErr       bool
	}{
		{"plain", "42 (spectra-server)" + tail, 1234, 41, false},
		{"command with spaces and parentheses", "42 (a) b (c))" + tail, 1234, 41, false},
		{"no command", "42 spectra-server S 1", 0, 0, true},
		{"short", "42 (x) S 1 2 3", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ticks, majflt, err := parseProcStat([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if ticks != tc.ticks || majflt != tc.majflt {
				t.Errorf("ticks, majflt = %d, %d; want %d, %d", ticks, majflt, tc.ticks, tc.majflt)
			}
		})
	}
}
