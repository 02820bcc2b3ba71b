package engineio

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"spectra-relay/internal/testenv"
)

// matchDataPackets returns n consecutive broadcast payloads built from a
// late checkpoint of a real match (the golden output of the existing
// server), as the Socket.IO text the relay sends, with one field changing
// per send like a live match between two events.
func matchDataPackets(tb testing.TB, n int) [][]byte {
	tb.Helper()
	path := testenv.Golden(tb, "bomb_regular")
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var golden struct {
		Checkpoints []struct {
			Data json.RawMessage `json:"data"`
		} `json:"checkpoints"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil || len(golden.Checkpoints) < 3 {
		tb.Fatalf("golden file %s: %v", path, err)
	}
	var compact strings.Builder
	data := golden.Checkpoints[len(golden.Checkpoints)-3].Data
	var v any
	_ = json.Unmarshal(data, &v)
	b, _ := json.Marshal(v)
	compact.Write(b)
	field := regexp.MustCompile(`"spikeDetonationTime":[0-9a-z]+`)
	out := make([][]byte, n)
	for i := range out {
		state := field.ReplaceAllString(compact.String(), fmt.Sprintf(`"spikeDetonationTime":%d`, 1764200000000+int64(i)*100))
		arg, _ := json.Marshal(state)
		out[i] = []byte(`2["match_data",` + string(arg) + `]`)
	}
	return out
}

// sinkClients are loopback WebSocket clients that count the data frames
// and wire bytes they receive and discard the payloads.
type sinkClients struct {
	target atomic.Int64
	done   chan struct{}
	frames atomic.Int64
	bytes  atomic.Int64
	conns  []interface{ Close() error }
	wg     sync.WaitGroup
}

func (c *sinkClients) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
	c.wg.Wait()
}

func dialSinks(tb testing.TB, url string, n int, deflate bool) *sinkClients {
	tb.Helper()
	sinks := &sinkClients{done: make(chan struct{}, 1)}
	d := ws.Dialer{Timeout: 10 * time.Second}
	if strings.HasPrefix(url, "https:") {
		d.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if deflate {
		d.Extensions, _ = parseOptions("permessage-deflate; client_max_window_bits")
	}
	url = strings.Replace(url, "http", "ws", 1) + "?EIO=4&transport=websocket"
	for i := 0; i < n; i++ {
		conn, br, _, err := d.Dial(context.Background(), url)
		if err != nil {
			tb.Fatalf("dial %d: %v", i, err)
		}
		sinks.conns = append(sinks.conns, conn)
		var src io.Reader = conn
		if br != nil {
			src = io.MultiReader(br, conn)
		}
		r := bufio.NewReaderSize(src, 512)
		first := true
		sinks.wg.Add(1)
		go func() {
			defer sinks.wg.Done()
			for {
				h, err := peekHeader(r)
				if err != nil {
					return
				}
				if _, err := r.Discard(int(h.Length)); err != nil {
					return
				}
				if first { // the open packet
					first = false
					continue
				}
				if !h.OpCode.IsControl() {
					sinks.bytes.Add(h.Length)
					if sinks.frames.Add(1) == sinks.target.Load() {
						select {
						case sinks.done <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
	return sinks
}

// peekHeader reads an unmasked server frame header without allocating,
// so that allocs/op of the broadcast benchmarks are the server's.
func peekHeader(r *bufio.Reader) (ws.Header, error) {
	b, err := r.Peek(2)
	if err != nil {
		return ws.Header{}, err
	}
	h := ws.Header{Fin: b[0]&0x80 != 0, OpCode: ws.OpCode(b[0] & 0x0f), Length: int64(b[1] & 0x7f)}
	n := 2
	switch h.Length {
	case 126:
		n = 4
	case 127:
		n = 10
	}
	if b, err = r.Peek(n); err != nil {
		return h, err
	}
	switch n {
	case 4:
		h.Length = int64(b[2])<<8 | int64(b[3])
	case 10:
		h.Length = 0
		for _, x := range b[2:10] {
			h.Length = h.Length<<8 | int64(x)
		}
	}
	_, err = r.Discard(n)
	return h, err
}

// BenchmarkBroadcast sends one real ~15 KB match_data packet per op to N
// loopback WebSocket sockets through a Stream, as a room broadcast does,
// and waits until every client has received it.
func BenchmarkBroadcast(b *testing.B) {
	packets := matchDataPackets(b, 64)
	for _, deflate := range []bool{false, true} {
		for _, n := range []int{1, 100, 1000, 10000} {
			name := fmt.Sprintf("deflate=%v/subs=%d", deflate, n)
			b.Run(name, func(b *testing.B) {
				sockets := make(chan *Socket, n)
				srv := NewServer(Config{Deflate: DeflateConfig{Enabled: deflate}, PingInterval: time.Hour},
					func(s *Socket) { sockets <- s })
				hs := httptest.NewServer(srv)
				defer hs.Close()
				defer srv.Close()
				sinks := newSinks(b, hs.URL+"/engine.io/", n, deflate)
				defer sinks.close()
				members := make([]*Socket, 0, n)
				for len(members) < n {
					members = append(members, <-sockets)
				}
				st := NewStream(StreamOptions{})
				// Warm the stream so steady-state (context) frames are measured.
				for i := 0; i < 4; i++ {
					f := st.TextFrame(packets[i%len(packets)])
					for _, so := range members {
						_ = so.SendFrames(f)
					}
				}
				warmBytes := sinks.await(int64(4 * n))
				var wire int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f := st.TextFrame(packets[(i+4)%len(packets)])
					for _, so := range members {
						_ = so.SendFrames(f)
					}
					// One broadcast at a time: measures the cost of a
					// delivered broadcast, not of coalesced ones.
					wire = sinks.await(int64((i + 5) * n))
				}
				b.StopTimer()
				elapsed := b.Elapsed()
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/recipient")
				b.ReportMetric(float64(wire-warmBytes)/float64(b.N*n), "wireB/recipient")
				b.ReportMetric(float64(len(packets[0])), "payloadB")
			})
		}
	}
}

// sinkSet is the receiving side of BenchmarkBroadcast: await blocks until
// want data frames have arrived in all and returns their wire bytes.
type sinkSet interface {
	await(want int64) int64
	close()
}

// newSinks dials n sink clients: in this process while the file limit
// allows both ends of every connection, otherwise in a child process (the
// limit here cannot be raised above 20 000 descriptors).
func newSinks(tb testing.TB, url string, n int, deflate bool) sinkSet {
	if lim := raiseFileLimit(tb, uint64(2*n+256)); lim >= uint64(2*n+64) {
		return localSinks{dialSinks(tb, url, n, deflate), tb}
	}
	return startSinkProcess(tb, url, n, deflate)
}

type localSinks struct {
	*sinkClients
	tb testing.TB
}

func (l localSinks) await(want int64) int64 {
	l.target.Store(want)
	waitFrames(l.tb, l.sinkClients, want)
	return l.bytes.Load()
}

// broadcastSinkProcess is the child-process side of BenchmarkBroadcast
// for rooms too large for one process, run as a helper process (TestMain).
// Commands on stdin are frame counts to await; each is answered with the
// wire bytes received so far.
func broadcastSinkProcess(t *testing.T) {
	url := os.Getenv("ENGINEIO_SINK_URL")
	n, _ := strconv.Atoi(os.Getenv("ENGINEIO_SINK_N"))
	raiseFileLimit(t, uint64(n+256))
	sinks := dialSinks(t, url, n, os.Getenv("ENGINEIO_SINK_DEFLATE") == "1")
	defer sinks.close()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		want, err := strconv.ParseInt(in.Text(), 10, 64)
		if err != nil {
			t.Fatalf("bad command %q", in.Text())
		}
		sinks.target.Store(want)
		waitFrames(t, sinks, want)
		fmt.Println(sinks.bytes.Load())
	}
}

type remoteSinks struct {
	tb  testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startSinkProcess(tb testing.TB, url string, n int, deflate bool) *remoteSinks {
	cmd := testenv.HelperCommand(context.Background(), "BroadcastSinkProcess")
	d := "0"
	if deflate {
		d = "1"
	}
	cmd.Env = append(cmd.Env, "ENGINEIO_SINK_URL="+url, "ENGINEIO_SINK_N="+strconv.Itoa(n), "ENGINEIO_SINK_DEFLATE="+d)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r := &remoteSinks{tb: tb, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !r.out.Scan() || r.out.Text() != "ready" {
		r.close()
		tb.Fatalf("sink process did not start: %q", r.out.Text())
	}
	return r
}

func (r *remoteSinks) await(want int64) int64 {
	fmt.Fprintln(r.in, want)
	if !r.out.Scan() {
		r.tb.Fatalf("sink process ended awaiting %d frames", want)
	}
	v, err := strconv.ParseInt(r.out.Text(), 10, 64)
	if err != nil {
		r.tb.Fatalf("sink process said %q", r.out.Text())
	}
	return v
}

func (r *remoteSinks) close() {
	r.in.Close()
	_ = r.cmd.Wait()
}

// waitFrames blocks until the clients have received want frames in all;
// set it up before the frames are sent.
func waitFrames(tb testing.TB, sinks *sinkClients, want int64) {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for sinks.frames.Load() < want {
		select {
		case <-sinks.done:
		case <-timeout.C:
			tb.Fatalf("delivered %d of %d frames", sinks.frames.Load(), want)
		}
	}
}

func BenchmarkFrameVariants(b *testing.B) {
	payload := matchDataPackets(b, 1)[0]
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := NewTextFrame(payload)
			_ = f.wsPlain()
		}
	})
	b.Run("noContext", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := NewTextFrame(payload)
			_ = f.wsFlate()
		}
	})
	b.Run("streamContext", func(b *testing.B) {
		packets := matchDataPackets(b, 16)
		st := NewStream(StreamOptions{})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := st.TextFrame(packets[i%len(packets)])
			_ = st.contextFrame(f)
		}
	})
}

func BenchmarkDecodePayload(b *testing.B) {
	body := []byte("4hello\x1e3\x1e4" + strings.Repeat("x", 200) + "\x1ebAQIDBA==")
	buf := make([]byte, len(body))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(buf, body)
		_ = DecodePayload(buf, func(Packet) error { return nil })
	}
}

func BenchmarkDecodeText(b *testing.B) {
	msg := []byte(`42["obs_data","{\"type\":\"scoreboard\"}"]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = DecodeText(msg)
	}
}
