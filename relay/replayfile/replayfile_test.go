package replayfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"spectra-relay/internal/testenv"
)

const sampleHeader = `{"serverVersion":"0.3.4","clientVersion":"0.3.22","obsName":"Obs#1","groupCode":"ABC123","groupSecret":"","leftTeam":{"name":"L","tricode":"L","url":"","attackStart":true},"rightTeam":{"name":"R","tricode":"R","url":"","attackStart":false},"toolsData":{"x":1},"logStartTime":1767706803985}`

const sample = sampleHeader + `,
{"obsName":"Obs#1","groupCode":"ABC123","type":"roster","data":{"name":"a","tagline":"b"},"timestamp":1767706808988},
{"obsName":"Obs#1","groupCode":"ABC123","type":"match_start","data":"m-1","timestamp":1767706809000},
{"playerId":"p1","matchId":"m-1","type":"aux_health","data":100,"timestamp":1767706809001},
{"obsName":"Obs#1","groupCode":"ABC123","type":"round_info","data":{"roundNumber":1,"roundPhase":"game_end"},"timestamp":1767706810000}`

func TestReadSample(t *testing.T) {
	h, evs, err := ReadAll(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if h.GroupCode != "ABC123" || h.ClientVersion != "0.3.22" || h.LogStartTime != 1767706803985 || string(h.ToolsData) != `{"x":1}` {
		t.Fatalf("header = %+v", h)
	}
	if string(h.Raw) != sampleHeader {
		t.Fatalf("header Raw = %s", h.Raw)
	}
	if len(evs) != 4 {
		t.Fatalf("got %d events", len(evs))
	}
	wantKinds := []Kind{KindObserver, KindObserver, KindAux, KindObserver}
	for i, ev := range evs {
		if ev.Index != i || ev.Kind() != wantKinds[i] || !ev.HasTimestamp {
			t.Errorf("event %d: index %d kind %v ts %v", i, ev.Index, ev.Kind(), ev.HasTimestamp)
		}
		if got := sample[ev.Offset : ev.Offset+int64(len(ev.Raw))]; got != string(ev.Raw) {
			t.Errorf("event %d: offset %d points at %q", i, ev.Offset, got[:20])
		}
	}
	if !evs[3].IsGameEnd() || evs[0].IsGameEnd() {
		t.Error("IsGameEnd wrong")
	}
	if r, p, ok := evs[3].RoundInfo(); !ok || r != 1 || p != "game_end" {
		t.Errorf("RoundInfo = %d %q %v", r, p, ok)
	}
	if evs[2].PlayerID != "p1" || evs[2].MatchID != "m-1" || string(evs[2].Data) != "100" || evs[2].Timestamp != 1767706809001 {
		t.Errorf("aux event = %+v", evs[2])
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		groupCode string
		want      string
	}{
		{
			name: "drops timestamp, keeps order",
			raw:  `{"obsName":"O","groupCode":"G","type":"t","data":{"b":1,"a":[1,2]},"timestamp":5}`,
			want: `{"obsName":"O","groupCode":"G","type":"t","data":{"b":1,"a":[1,2]}}`,
		},
		{
			name:      "overrides group code",
			raw:       `{"obsName":"O","groupCode":"G","type":"t","data":"x","timestamp":5}`,
			groupCode: "NEW1",
			want:      `{"obsName":"O","groupCode":"NEW1","type":"t","data":"x"}`,
		},
		{
			name:      "aux event has no group code to override",
			raw:       `{"playerId":"p","matchId":"m","type":"aux_health","data":1.5e2,"timestamp":5}`,
			groupCode: "NEW1",
			want:      `{"playerId":"p","matchId":"m","type":"aux_health","data":1.5e2}`,
		},
		{
			name: "timestamp first, string escapes kept",
			raw:  `{"timestamp":1,"type":"toast","data":"a\"\u00e9\n"}`,
			want: `{"type":"toast","data":"a\"\u00e9\n"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parseEvent(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ev.Payload(tt.groupCode)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantOff  int64
		wantEv   int
		wantText string
		events   int // events read before the error
	}{
		{
			name:     "empty",
			content:  "",
			wantEv:   -1,
			wantText: "empty file",
		},
		{
			name:     "header not an object",
			content:  `[1,2]`,
			wantEv:   -1,
			wantText: "header is not a JSON object",
		},
		{
			name:     "bad header field type",
			content:  `{"groupCode":5}`,
			wantEv:   -1,
			wantText: "bad header field",
		},
		{
			name:     "garbage in header",
			content:  `{"groupCode":"A"`,
			wantEv:   -1,
			wantText: "truncated",
		},
		{
			name:     "truncated event",
			content:  sampleHeader + ",\n" + `{"type":"a","timestamp":1},` + "\n" + `{"type":"b","da`,
			wantEv:   1,
			wantText: "truncated",
			events:   1,
		},
		{
			name:     "syntax error in event",
			content:  sampleHeader + ",\n" + `{"type":"a"},` + "\n" + `{"type":"b",}`,
			wantOff:  int64(len(sampleHeader)) + 2 + 13 + 1 + 12,
			wantEv:   1,
			wantText: "invalid character",
			events:   1,
		},
		{
			name:     "event without type",
			content:  sampleHeader + ",\n" + `{"data":1}`,
			wantOff:  int64(len(sampleHeader)) + 2,
			wantEv:   0,
			wantText: `missing or empty "type"`,
		},
		{
			name:     "event not an object",
			content:  sampleHeader + ",\n" + `"x"`,
			wantOff:  int64(len(sampleHeader)) + 2,
			wantEv:   0,
			wantText: "not a JSON object",
		},
		{
			name:     "bad timestamp",
			content:  sampleHeader + ",\n" + `{"type":"a","timestamp":"now"}`,
			wantOff:  int64(len(sampleHeader)) + 2,
			wantEv:   0,
			wantText: "bad event",
		},
		{
			name:     "already wrapped in brackets",
			content:  "[" + sampleHeader + "]",
			wantEv:   -1,
			wantText: "header is not a JSON object",
		},
		{
			name:     "closing bracket in file",
			content:  sampleHeader + ",\n" + `{"type":"a"}]`,
			wantOff:  int64(len(sampleHeader)) + 2 + 12,
			wantEv:   1,
			wantText: `expected "," before the next event, found ']'`,
			events:   1,
		},
		{
			name:     "trailing separator",
			content:  sampleHeader + ",\n",
			wantOff:  int64(len(sampleHeader)) + 2,
			wantEv:   0,
			wantText: "file ends after a separator",
		},
		{
			name:     "unterminated string",
			content:  sampleHeader + ",\n" + `{"type":"a\"}`,
			wantEv:   0,
			wantText: "truncated",
		},
		{
			name:     "missing separator",
			content:  sampleHeader + "\n" + `{"type":"a"}`,
			wantOff:  int64(len(sampleHeader)) + 1,
			wantEv:   0,
			wantText: `expected "," before the next event, found '{'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, evs, err := ReadAll(strings.NewReader(tt.content))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FormatError", err)
			}
			if fe.Event != tt.wantEv || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %v (event %d), want event %d and text %q", err, fe.Event, tt.wantEv, tt.wantText)
			}
			if tt.wantOff != 0 && fe.Offset != tt.wantOff {
				t.Fatalf("offset = %d, want %d (%v)", fe.Offset, tt.wantOff, err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(tt.content)) {
				t.Fatalf("offset %d outside the file", fe.Offset)
			}
			if len(evs) != tt.events {
				t.Fatalf("read %d events before the error, want %d", len(evs), tt.events)
			}
		})
	}
}

// A file the server writes (its header and events as AppendHeader and
// AppendEvent produce them) reads back as what the clients sent.
func TestAppendRoundTrip(t *testing.T) {
	logon := "{\"type\":\"authenticate\",\"clientVersion\":\"0.3.22\",\"obsName\":\"Obs#1\",\"key\":\"k\",\"groupCode\":\"ABC123\",\"groupSecret\":\"\",\n" +
		`"leftTeam":{"name":"L","tricode":"L","url":"","attackStart":true},"rightTeam":{"name":"R","tricode":"R","url":"","attackStart":false},"toolsData":{"x":1}}`
	b, err := AppendHeader(nil, "0.3.4", []byte(logon), 1767706803985)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != sampleHeader {
		t.Fatalf("header\n%s\nwant\n%s", b, sampleHeader)
	}
	_, want, err := ReadAll(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range want {
		p, err := ev.Payload("")
		if err != nil {
			t.Fatal(err)
		}
		b = AppendEvent(b, string(p), ev.Timestamp)
	}
	if string(b) != sample {
		t.Fatalf("file\n%s\nwant\n%s", b, sample)
	}
	if _, err := AppendHeader(nil, "0.3.4", []byte(`[1]`), 0); err == nil {
		t.Fatal("array accepted as a logon")
	}
}

func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"obsName":"o", "type":"map","data":"Jam"}`, `{"obsName":"o","type":"map","data":"Jam","timestamp":42}`},
		{`{"timestamp":1,"type":"x","data":{"timestamp":5}}`, `{"timestamp":42,"type":"x","data":{"timestamp":5}}`},
		{`{}`, `{"timestamp":42}`},
	} {
		if got := string(AppendEvent(nil, tc.raw, 42)); got != ",\n"+tc.want {
			t.Errorf("AppendEvent(%s) = %q, want %q", tc.raw, got, ",\n"+tc.want)
		}
	}
}

func TestFileName(t *testing.T) {
	for code, want := range map[string]string{"ABC123": "Match_ABC123_7.replay", "../x": "Match____x_7.replay", "": "Match___7.replay", "a/b\\c": "Match_a_b_c_7.replay"} {
		got := FileName(code, 7)
		if got != want {
			t.Errorf("FileName(%q) = %q, want %q", code, got, want)
		}
		if !IsFileName(got) {
			t.Errorf("IsFileName(%q) = false", got)
		}
	}
	if got := SecretPath("/r/Match_A_1.replay"); got != "/r/Match_A_1.secret" {
		t.Errorf("SecretPath = %q", got)
	}
}

// TestFixtureReplays reads the replay fixtures in testdata/replays and
// checks the counts their README documents.
func TestFixtureReplays(t *testing.T) {
	want := map[string][3]int{ // events, observer, aux
		"bomb_regular.replay":  {3374, 1430, 1944},
		"bomb_overtime.replay": {4367, 2074, 2293},
		"swift.replay":         {1039, 580, 459},
		"short_3rounds.replay": {495, 297, 198},
	}
	if len(want) != len(testenv.ReplayNames) {
		t.Errorf("%d replays checked, %d fixtures", len(want), len(testenv.ReplayNames))
	}
	for name, w := range want {
		f, err := os.Open(testenv.Replay(t, name))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var n, obs, aux int
		var last int64
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			n++
			switch ev.Kind() {
			case KindObserver:
				obs++
			case KindAux:
				aux++
			}
			if ev.Timestamp < last {
				t.Errorf("%s: event %d goes back in time", name, ev.Index)
			}
			last = ev.Timestamp
		}
		f.Close()
		if got := [3]int{n, obs, aux}; got != w {
			t.Errorf("%s: events/obs/aux = %v, want %v", name, got, w)
		}
		if rd.Header().GroupCode == "" || rd.Header().LogStartTime == 0 {
			t.Errorf("%s: header = %+v", name, rd.Header())
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(sampleHeader))
	f.Add([]byte(`{},{"type":"a","timestamp":1.5}`))
	f.Add([]byte(`{}]`))
	f.Fuzz(func(t *testing.T, content []byte) {
		h, evs, err := ReadAll(bytes.NewReader(content))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FormatError: %v", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(content)) {
				t.Fatalf("offset %d outside a %d-byte file: %v", fe.Offset, len(content), err)
			}
			return
		}
		for _, ev := range evs {
			if _, err := ev.Payload("ZZZ999"); err != nil {
				t.Fatalf("event %d read fine but has no payload: %v", ev.Index, err)
			}
			ev.RoundInfo()
		}
		// What reads must write and read back the same.
		b, err := AppendHeader(nil, h.ServerVersion, h.Raw, h.LogStartTime)
		if err != nil {
			t.Fatalf("rewriting header: %v", err)
		}
		for _, ev := range evs {
			b = AppendEvent(b, string(ev.Raw), ev.Timestamp)
		}
		buf := bytes.NewReader(b)
		_, again, err := ReadAll(buf)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("rewritten file: %d events, err %v; want %d", len(again), err, len(evs))
		}
		for i := range evs {
			if again[i].Type != evs[i].Type || again[i].Kind() != evs[i].Kind() {
				t.Fatalf("event %d changed on rewrite", i)
			}
		}
	})
}
