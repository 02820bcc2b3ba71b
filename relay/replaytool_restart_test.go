package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"
)

// TestSpectraReplaySurvivesRestart: cmd/spectra-replay behaves like the
// real client: when the relay is killed (-9) mid-match and restarted, it
// reconnects with its sessions, keeps streaming (buffering what it emits
// meanwhile): the relay ends up with every event of the match, in order.
func TestSpectraReplaySurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/spectra-server and cmd/spectra-replay and kills the server mid-replay")
	}
	const code = "GU3Z72"
	dir := filepath.Join(t.TempDir(), "replays")
	proxy := newTCPProxy(t)
	srv := startServer(t, serverOpts{replayDir: dir})
	proxy.setBackend(srv.Ingest)
	ov := newOverlay(t, srv.Output, code)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Manual pacing, driven through stdin: the kill comes between two
	// events, once the relay has every event sent before it. (An event a
	// client writes into a connection whose server is being killed is lost
	// with the server's socket buffer, with or without recovery: no
	// Socket.IO client waits for an acknowledgement of obs_data.)
	cmd := exec.CommandContext(ctx, binary(t, "spectra-replay"), "-ingest", proxy.URL(), "-mode", "manual",
		"-transport", "websocket", replayPath(t, "short_3rounds.replay"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Mid-match: the first beforeKill events, past round 1, on disk.
	const beforeKill = 200
	if _, err := fmt.Fprintf(stdin, "%d\n", beforeKill); err != nil {
		t.Fatal(err)
	}
	waitOnDisk(t, dir, beforeKill)
	testenv.WaitFor(t, 30*time.Second, "round 2 on the overlay", func() bool {
		st := ov.latest()
		r, _ := st["roundNumber"].(float64)
		return r >= 2
	})
	proxy.setBackend("")
	srv.kill(t)
	proxy.cut(-1)
	srv = startServer(t, serverOpts{replayDir: dir})
	proxy.setBackend(srv.Ingest)
	ov = newOverlay(t, srv.Output, code)
	// The rest, emitted while the tool reconnects.
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("spectra-replay: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("spectra-replay did not finish:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "observer: reconnected") || !strings.Contains(out.String(), "its session recovered") {
		t.Fatalf("spectra-replay did not report a recovered reconnect:\n%s", out.String())
	}
	// Nothing lost: the relay's replay file, continued after the restart,
	// holds every event of the match once, in order. (The overlay's last
	// states cannot show it: the tool closes its connections when done,
	// and the relay then marks the auxiliary players disconnected.)
	_, want, err := replayfile.ReadFile(replayPath(t, "short_3rounds.replay"))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := waitOnDisk(t, dir, len(want))
	_, got, err := replayfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		w, _ := want[i].Payload("")
		g, _ := got[i].Payload("")
		if !bytes.Equal(w, g) {
			t.Fatalf("event %d in the relay's file differs from the replay's:\n%.300s\n%.300s", i, g, w)
		}
	}
	st := ov.latest()
	if r, _ := st["roundNumber"].(float64); r != 3 {
		t.Fatalf("overlay ends in round %v, want 3", st["roundNumber"])
	}
	t.Logf("spectra-replay output:\n%s", out.String())
}
