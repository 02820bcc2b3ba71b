package replayplayer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadNamesAndChannels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Match_G_1.replay")
	content := `{"serverVersion":"0.3.4","clientVersion":"0.3.22","obsName":"O","groupCode":"G","groupSecret":"","logStartTime":1},
{"obsName":"O","groupCode":"G","type":"roster","data":{"playerId":"p-1","name":"Ann","tagline":"EU"},"timestamp":2},
{"playerId":"p-1","matchId":"m","type":"aux_health","data":100,"timestamp":3},
{"playerId":"0123456789abcdef","matchId":"m","type":"aux_health","data":90,"timestamp":4},
{"type":"mystery","timestamp":5}`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 4 || s.Header.GroupCode != "G" {
		t.Fatalf("loaded %d events, header %+v", len(s.Events), s.Header)
	}
	if got := s.AuxName("p-1"); got != "Ann#EU" {
		t.Errorf("AuxName(p-1) = %q", got)
	}
	if got := s.AuxName("0123456789abcdef"); got != "Aux-01234567" {
		t.Errorf("AuxName(long id) = %q", got)
	}
	for i, want := range []string{"obs_data", "aux_data", "aux_data", ""} {
		ch, ok := Channel(&s.Events[i])
		if ch != want || ok != (want != "") {
			t.Errorf("Channel(event %d) = %q %v, want %q", i, ch, ok, want)
		}
	}
	b, _ := json.Marshal(NewAuxLogon("0.3.22", "Ann#EU", "m", "p-1"))
	if want := `{"type":"aux_authenticate","clientVersion":"0.3.22","name":"Ann#EU","matchId":"m","playerId":"p-1"}`; string(b) != want {
		t.Errorf("aux logon %s, want %s", b, want)
	}
}

func TestDecodeAck(t *testing.T) {
	for _, args := range [][]json.RawMessage{
		{json.RawMessage(`"{\"type\":\"logon\",\"value\":true,\"reason\":\"ok\"}"`)},
		{json.RawMessage(`{"type":"logon","value":true,"reason":"ok"}`)},
	} {
		var a Ack
		if err := decodeAck(args, &a); err != nil || !a.Value || a.Reason != "ok" {
			t.Errorf("decodeAck(%s) = %+v, %v", args[0], a, err)
		}
	}
	var a Ack
	if decodeAck(nil, &a) == nil {
		t.Error("no argument accepted")
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Minute); err == nil {
		t.Fatal("Sleep on an ended context returned nil")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Sleep did not end with its context")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
