package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/nodeserver"
	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
	"spectra-relay/socketio/sioclient"
)

type mockStats struct {
	Logons []struct {
		Type, Key, GroupCode, ClientVersion, LeftTeam string
		HasToolsData                                  bool
	}
	AuxLogons []struct {
		Type, ClientVersion, Name, MatchID, PlayerID string
	}
	Obs, Aux   int
	Types      map[string]int
	GroupCodes []string
	Errors     []string
	Order      []string
}

func startMock(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "mock_ingest.js"))
	if err != nil {
		t.Fatal(err)
	}
	return nodeserver.StartScript(t, script, "KEY=k3y")
}

func stats(t *testing.T, url string) mockStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, url, sioclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The replay's connections are closed when the tool returns; once the
	// mock has seen them go, it has processed everything they sent.
	if _, err := c.EmitWithAck(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	m, err := c.EmitWithAck(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	var s mockStats
	if err := m.Decode(0, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func needReplay(t *testing.T, name string) string {
	t.Helper()
	return testenv.Replay(t, name)
}

func runTool(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stderr)
	return code, stderr.String()
}

// expected counts what a full run of a file sends.
func expected(t *testing.T, path string) (obs, aux int, types map[string]int) {
	t.Helper()
	_, evs, err := replayfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	types = map[string]int{}
	for _, ev := range evs {
		switch ev.Kind() {
		case replayfile.KindObserver:
			obs++
		case replayfile.KindAux:
			aux++
		}
		types[ev.Type]++
		if ev.IsGameEnd() {
			break
		}
	}
	return obs, aux, types
}

func TestReplayTransports(t *testing.T) {
	cases := []struct {
		transport string
		file      string
	}{
		{transport: "websocket", file: "swift.replay"},
		{transport: "polling", file: "short_3rounds.replay"},
		{transport: "default", file: "short_3rounds.replay"},
	}
	for _, tc := range cases {
		t.Run(tc.transport, func(t *testing.T) {
			path := needReplay(t, tc.file)
			url := startMock(t)
			code, out := runTool(t, "", "-ingest", url, "-key", "k3y", "-transport", tc.transport, path)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			s := stats(t, url)
			if len(s.Errors) > 0 {
				t.Fatalf("mock saw errors: %v", s.Errors)
			}
			obs, aux, types := expected(t, path)
			if s.Obs != obs || s.Aux != aux {
				t.Logf("types got %v want %v; last %v\noutput:\n%s", s.Types, types, s.Order[max(0, len(s.Order)-5):], out)
				t.Fatalf("mock got obs=%d aux=%d, want %d %d", s.Obs, s.Aux, obs, aux)
			}
			for ty, n := range types {
				if s.Types[ty] != n {
					t.Errorf("type %s: got %d, want %d", ty, s.Types[ty], n)
				}
			}
			if len(s.Logons) != 1 || s.Logons[0].Type != "authenticate" || s.Logons[0].Key != "k3y" || !s.Logons[0].HasToolsData || s.Logons[0].LeftTeam == "" {
				t.Fatalf("logon = %+v", s.Logons)
			}
			for _, a := range s.AuxLogons {
				if a.Type != "aux_authenticate" || a.MatchID == "" || a.PlayerID == "" || !strings.Contains(a.Name, "#") || a.ClientVersion == "" {
					t.Errorf("aux logon = %+v", a)
				}
			}
			if len(s.AuxLogons) == 0 {
				t.Error("no auxiliary client logged on")
			}
			if !strings.Contains(out, "sent ") {
				t.Errorf("no summary in output:\n%s", out)
			}
		})
	}
}

func TestReplayRefusedLogon(t *testing.T) {
	path := needReplay(t, "short_3rounds.replay")
	url := startMock(t)
	code, out := runTool(t, "", "-ingest", url, "-key", "wrong", "-transport", "websocket", path)
	if code != 1 || !strings.Contains(out, "refused by the server: Invalid Key") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestReplayGroupCodeAndModes(t *testing.T) {
	url := startMock(t)
	// A small file with 200 ms gaps: -speed 10 spaces them by 20 ms.
	dir := t.TempDir()
	path := filepath.Join(dir, "small.replay")
	var b strings.Builder
	b.WriteString(`{"clientVersion":"0.3.22","obsName":"O#1","groupCode":"ORIG01","groupSecret":"","leftTeam":{"name":"L"},"rightTeam":{"name":"R"},"toolsData":{},"logStartTime":1000}`)
	types := []string{"roster", "map", "match_start", "score", "score"}
	for i, ty := range types {
		data := `1`
		if ty == "match_start" {
			data = `"m-1"`
		}
		b.WriteString(",\n")
		b.WriteString(`{"obsName":"O#1","groupCode":"ORIG01","type":"` + ty + `","data":` + data + `,"timestamp":` + jsonInt(1000+200*i) + `}`)
	}
	b.WriteString(",\n" + `{"playerId":"p-1","matchId":"m-1","type":"aux_health","data":100,"timestamp":2000}`)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	code, out := runTool(t, "", "-ingest", url, "-key", "k3y", "-transport", "websocket", "-group-code", "OVR001", "-mode", "timestamps", "-speed", "10", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("timestamps mode took %s, want at least 100 ms", el)
	}
	s := stats(t, url)
	if len(s.GroupCodes) != 1 || s.GroupCodes[0] != "OVR001" || s.Logons[0].GroupCode != "OVR001" {
		t.Fatalf("group codes seen = %v, logon %+v", s.GroupCodes, s.Logons)
	}
	if s.Obs != 5 || s.Aux != 1 || len(s.AuxLogons) != 1 || s.AuxLogons[0].Name != "Aux-p-1" {
		t.Fatalf("stats = %+v", s)
	}

	// Delay mode, into a second match.
	start = time.Now()
	code, out = runTool(t, "", "-ingest", url, "-key", "k3y", "-group-code", "OVR002", "-mode", "delay", "-delay", "30ms", "-quiet", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("delay mode took %s, want at least 150 ms", el)
	}
	if out != "" {
		t.Errorf("-quiet printed:\n%s", out)
	}

	// Manual mode: one, then two, then the rest.
	code, out = runTool(t, "\n2\ngo\n", "-ingest", url, "-key", "k3y", "-group-code", "OVR003", "-mode", "manual", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "next 1/6") || !strings.Contains(out, "next 4/6") || strings.Contains(out, "next 5/6") {
		t.Errorf("manual prompts wrong:\n%s", out)
	}
	if !strings.Contains(out, `{"obsName":"O#1","groupCode":"OVR003","type":"roster","data":1}`) {
		t.Errorf("manual mode does not show the payload:\n%s", out)
	}
	s = stats(t, url)
	if s.Obs != 15 || s.Aux != 3 {
		t.Fatalf("after three runs obs=%d aux=%d, want 15 3", s.Obs, s.Aux)
	}

	// Manual mode, quitting.
	code, out = runTool(t, "q\n", "-ingest", url, "-key", "k3y", "-group-code", "OVR004", "-mode", "manual", path)
	if code != 1 || !strings.Contains(out, "stopped by the operator") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-mode", "warp", "x.replay"},
		{"-transport", "carrier-pigeon", "x.replay"},
		{"-mode", "timestamps", "-speed", "0", "x.replay"},
	} {
		if code, out := runTool(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
	if code, out := runTool(t, "", "/nonexistent.replay"); code != 1 || !strings.Contains(out, "nonexistent") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
}
