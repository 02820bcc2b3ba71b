package replaylog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

func TestSidecarLines(t *testing.T) {
	cases := []struct {
		name    string
		secret  string
		lines   []string
		content string // written as is when set
		want    []string
		wantErr bool
	}{
		{name: "secret only", secret: "S1", want: nil},
		{name: "secret and lines", secret: "S2", lines: []string{`{"a":1}`, `{"b":2}`}, want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "blank lines skipped", content: "S3\n\n{\"a\":1}\r\n\n", want: []string{`{"a":1}`}},
		{name: "empty secret", content: "  \n{\"a\":1}\n", wantErr: true},
		{name: "empty file", content: "", wantErr: true},
		{name: "line with a newline refused", secret: "S4", lines: []string{"a\nb"}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Match_G_1.secret")
			if c.content != "" || c.secret == "" {
				if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				var ls [][]byte
				for _, l := range c.lines {
					ls = append(ls, []byte(l))
				}
				err := WriteSidecar(path, c.secret, ls)
				if c.wantErr {
					if err == nil {
						t.Fatal("WriteSidecar accepted a line holding a newline")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(path)
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("sidecar mode %v (err %v), want 0600", st.Mode().Perm(), err)
				}
			}
			secret, lines, err := ReadSidecar(path)
			if c.wantErr {
				if err == nil {
					t.Fatalf("ReadSidecar accepted %q", c.content)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantSecret := c.secret
			if c.content != "" {
				wantSecret, _, _ = strings.Cut(c.content, "\n")
			}
			if secret != wantSecret {
				t.Errorf("secret %q, want %q", secret, wantSecret)
			}
			var got []string
			for _, l := range lines {
				got = append(got, string(l))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
				t.Errorf("lines %q, want %q", got, c.want)
			}
		})
	}
}

const testLogon = `{"type":"observer","clientVersion":"0.3.22","key":"k","groupCode":"G1","groupSecret":"x","obsName":"O","toolVersion":"1"}`

func event(i int) string {
	return `{"obsName":"O","groupCode":"G1","type":"map","data":"Jam` + strings.Repeat("x", i%3) + `"}`
}

// TestLogWriteReadBack writes a file through Log (with and without a cap,
// closed or cut mid-line) and reads it back through Scan and Reopen.
func TestLogWriteReadBack(t *testing.T) {
	cases := []struct {
		name      string
		limit     int64
		events    int
		tornTail  string // appended raw after close
		wantTorn  bool
		wantFewer bool // the cap stopped logging
	}{
		{name: "whole file", limit: -1, events: 20},
		{name: "torn last line", limit: -1, events: 20, tornTail: ",\n{\"obsName\":\"O\",\"gro", wantTorn: true},
		{name: "zeros after a crash", limit: -1, events: 5, tornTail: ",\n{\"ob\x00\x00\x00", wantTorn: true},
		{name: "capped", limit: 600, events: 50, wantFewer: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			kicks := 0
			start := time.UnixMilli(1_700_000_000_000)
			l, err := Open(Conf{Dir: dir, Limit: c.limit, Kick: func() { kicks++ }}, "9.9.9", "G1", "SECRET", start, []byte(testLogon))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(l.Path()) != replayfile.FileName("G1", start.UnixMilli()) {
				t.Errorf("file %s", l.Path())
			}
			if secret, _, err := ReadSidecar(l.SecretPath()); err != nil || secret != "SECRET" {
				t.Fatalf("sidecar secret %q, err %v", secret, err)
			}
			var wrote int64
			for i := range c.events {
				l.Add(event(i), start.UnixMilli()+int64(i+1))
				if i == c.events/2 {
					n, err := l.WriteThrough()
					if err != nil {
						t.Fatal(err)
					}
					wrote += n
				}
			}
			grew, err := l.FlushGrowth()
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l.Add(event(0), 1) // ignored after Close
			st, err := os.Stat(l.Path())
			if err != nil {
				t.Fatal(err)
			}
			if wrote <= 0 || wrote+grew != st.Size() {
				t.Errorf("WriteThrough %d + FlushGrowth %d bytes, the file has %d", wrote, grew, st.Size())
			}
			if c.limit >= 0 && st.Size() > c.limit {
				t.Errorf("capped file has %d bytes, cap %d", st.Size(), c.limit)
			}
			whole := st.Size()
			if c.tornTail != "" {
				f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.WriteString(c.tornTail)
				f.Close()
			}
			data, err := os.ReadFile(l.Path())
			if err != nil {
				t.Fatal(err)
			}
			applied := 0
			sc, err := Scan(bytes.NewReader(data), int64(len(data)), func(h replayfile.Header) error {
				if h.GroupCode != "G1" || h.LogStartTime != start.UnixMilli() {
					t.Errorf("header %+v", h)
				}
				return nil
			}, func(ev *match.Event, ts int64) bool { applied++; return false })
			if err != nil {
				t.Fatal(err)
			}
			if (sc.Torn != nil) != c.wantTorn || sc.GoodEnd != whole || applied != sc.Events {
				t.Fatalf("torn %v, goodEnd %d (file %d without the tail), %d applied of %d", sc.Torn, sc.GoodEnd, whole, applied, sc.Events)
			}
			if c.wantFewer != (sc.Events < c.events) || sc.Events == 0 {
				t.Fatalf("%d of %d events logged (cap %d)", sc.Events, c.events, c.limit)
			}
			if sc.LastTs != start.UnixMilli()+int64(sc.Events) {
				t.Errorf("last timestamp %d, want %d", sc.LastTs, start.UnixMilli()+int64(sc.Events))
			}
			h, err := ReadHeader(l.Path())
			if err != nil || h.GroupCode != "G1" {
				t.Errorf("ReadHeader %+v, %v", h, err)
			}
			// Reopen cuts the torn tail and appends, unless the file is
			// as good as capped.
			r, err := Reopen(Conf{Dir: dir, Limit: c.limit}, "G1", l.Path(), sc.GoodEnd)
			if err != nil {
				t.Fatal(err)
			}
			r.Add(event(1), start.UnixMilli()+1000)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			data, _ = os.ReadFile(l.Path())
			sc2, err := Scan(bytes.NewReader(data), int64(len(data)), nil, nil)
			if err != nil || sc2.Torn != nil {
				t.Fatalf("reopened file: err %v, torn %v", err, sc2.Torn)
			}
			wantEvents := sc.Events + 1
			if c.wantFewer {
				wantEvents = sc.Events
			}
			if sc2.Events != wantEvents {
				t.Errorf("reopened file has %d events, want %d", sc2.Events, wantEvents)
			}
			if err := l.DropSecret(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(l.SecretPath()); !os.IsNotExist(err) {
				t.Errorf("sidecar still there after DropSecret: %v", err)
			}
			if err := l.DropSecret(); err != nil {
				t.Errorf("second DropSecret: %v", err)
			}
		})
	}
}
