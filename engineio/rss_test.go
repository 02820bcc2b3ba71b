package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"spectra-relay/internal/testenv"
)

// rssServerProcess is the server side of BenchmarkIdleRSS, run as a
// helper process (TestMain) so that its memory is measured alone.
func rssServerProcess(t *testing.T) {
	srv := NewServer(Config{Deflate: DeflateConfig{Enabled: true}}, func(s *Socket) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(ln, srv) }()
	fmt.Printf("addr %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "gc":
			debug.FreeOSMemory()
			fmt.Printf("count %d\n", srv.Count())
		}
	}
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkIdleRSS opens 10 000 idle WebSocket sessions with
// permessage-deflate negotiated against a server in a child process and
// reports the growth of its resident memory per connection.
func BenchmarkIdleRSS(b *testing.B) {
	const conns = 10000
	if lim := raiseFileLimit(b, 2*conns+256); lim < conns+64 {
		testenv.Missing(b, "BenchmarkIdleRSS needs %d open files, the limit is %d", conns+64, lim)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := testenv.HelperCommand(ctx, "RSSServerProcess", "-test.v=false")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		for out.Scan() {
			if strings.HasPrefix(out.Text(), prefix) {
				return strings.TrimPrefix(out.Text(), prefix)
			}
		}
		b.Fatalf("child process ended before %q", prefix)
		return ""
	}
	addr := expect("addr ")
	settle := func() int64 {
		_, _ = io.WriteString(stdin, "gc\n")
		expect("count ")
		rss, err := vmRSS(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		return rss
	}
	// One session first, so that lazily started machinery (the poller,
	// the workers, pools) is not charged to the connections.
	d := ws.Dialer{Timeout: 10 * time.Second}
	d.Extensions, _ = parseOptions("permessage-deflate; client_max_window_bits")
	url := "ws://" + addr + "/?EIO=4&transport=websocket"
	var held []net.Conn
	dial := func() {
		conn, br, hs, err := d.Dial(context.Background(), url)
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		if len(hs.Extensions) == 0 {
			b.Fatal("permessage-deflate not negotiated")
		}
		var r io.Reader = conn
		if br != nil {
			r = io.MultiReader(br, conn)
		}
		if _, err := ws.ReadFrame(r); err != nil { // the open packet
			b.Fatalf("open packet: %v", err)
		}
		held = append(held, conn)
	}
	dial()
	before := settle()
	for i := 0; i < conns; i++ {
		dial()
	}
	after := settle()
	for _, c := range held {
		c.Close()
	}
	per := float64(after-before) / conns
	b.ReportMetric(per, "rssB/conn")
	b.ReportMetric(float64(after)/(1<<20), "rssMiB")
	b.Logf("server RSS %d KiB before, %d KiB with %d more idle deflate sessions: %.0f B per connection",
		before/1024, after/1024, conns, per)
}
