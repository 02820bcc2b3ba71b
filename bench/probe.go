package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/ast"
)

// A probe is an overlay that decodes everything: it inflates each message
// with the window kept across messages (context takeover, as a browser
// does), checks that every match_data argument is valid JSON, and measures
// ingest→overlay latency from the observer's markers.
//
// Latency marker: the observer emits a `toast` hotkey event every
// marker-interval with data {"title":"bench","message":"m<seq>",...}. The
// server copies a toast's data into the state's toastInfo when it activates
// the toast (the next toast deactivates it; round starts deactivate it too),
// so a match_data whose toastInfo is active with message m<seq> is the first
// state reflecting marker seq. Latency = time the probe read that message −
// time the observer handed marker seq to its connection. Deactivating
// markers give no sample; each sample is the whole path: the observer's
// socket, ingest, the state update, the wait for the server's send tick,
// encoding, compression and delivery.
type probe struct {
	match     int
	groupCode string
	markers   *markerLog
	deflate   bool
	node      int         // the cluster node it is connected to (0: the observer's)
	tls       *tls.Config // nil: plain WebSocket
	// slowOver: samples over it are printed with their wall-clock times
	// (0: none), to line stalls up with the server's and kernel's logs.
	slowOver time.Duration

	mu          sync.Mutex
	window      *window
	latencies   []time.Duration // samples in the measuring window
	lastSampled int64
	record      bool
	recorded    []byte // length-prefixed messages, see zlibref.js
	nRecorded   int
	prevData    time.Time // when the match_data before this one arrived

	matchData   atomic.Int64
	firstDataNs atomic.Int64 // when the first match_data arrived
	matchWire   atomic.Int64
	bytesRead   atomic.Int64
	invalidJSON atomic.Int64
	decodeFails atomic.Int64
	repeats     atomic.Int64
	prevHash    uint64 // the previous match_data's state (maphash), under mu
	hasPrev     bool
	loggedOn    atomic.Bool
	failed      atomic.Bool
	errText     atomic.Value // string

	conn   net.Conn
	parser frameParser
	z      inflater
	now    time.Time
	wbuf   []byte
	logon  []byte
}

// window is the measuring interval; markers sent in it are sampled.
type window struct {
	start, end time.Time
}

const maxRecorded = 3000

// markerLog holds when each marker of a match was sent.
type markerLog struct {
	mu    sync.Mutex
	times []time.Time // index seq-1
}

func (m *markerLog) add(t time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.times = append(m.times, t)
	return int64(len(m.times))
}

// set corrects when marker seq was sent.
func (m *markerLog) set(seq int64, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq >= 1 && seq <= int64(len(m.times)) {
		m.times[seq-1] = t
	}
}

func (m *markerLog) at(seq int64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq < 1 || seq > int64(len(m.times)) {
		return time.Time{}, false
	}
	return m.times[seq-1], true
}

// run connects and reads until ctx ends. Errors end the probe (counted by
// the caller).
func (p *probe) run(ctx context.Context, hostport string, timeout time.Duration, connected chan<- error) {
	err := p.connect(ctx, hostport, timeout)
	connected <- err
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { p.conn.Close() })
	defer stop()
	defer p.conn.Close()
	br := bufio.NewReaderSize(p.conn, 64<<10)
	buf := make([]byte, 64<<10)
	for {
		n, err := br.Read(buf)
		p.now = time.Now()
		if n > 0 {
			p.bytesRead.Add(int64(n))
			if ferr := p.parser.feed(buf[:n], p); ferr != nil {
				p.fail(ferr)
				return
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				p.fail(err)
			}
			return
		}
	}
}

func (p *probe) fail(err error) {
	if p.failed.CompareAndSwap(false, true) {
		p.errText.Store(err.Error())
	}
}

func (p *probe) connect(ctx context.Context, hostport string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dialMaybeTLS(ctx, hostport, p.tls)
	if err != nil {
		return err
	}
	c.SetDeadline(time.Now().Add(timeout))
	req, accept := upgradeRequest(hostport, p.deflate)
	if _, err := c.Write(req); err != nil {
		c.Close()
		return err
	}
	br := bufio.NewReaderSize(c, 4096)
	res, err := readUpgradeResponse(br, accept)
	if err != nil {
		c.Close()
		return err
	}
	p.z.noContext = res.serverNoContext
	p.conn = c
	p.parser.full = true
	p.logon = clientFrame(nil, opText, logonPacket(p.groupCode))
	// Read until logged on, then hand over to run with no deadline.
	buf := make([]byte, 4096)
	n, _ := br.Read(buf[:br.Buffered()])
	for {
		p.now = time.Now()
		p.bytesRead.Add(int64(n))
		if err := p.parser.feed(buf[:n], p); err != nil {
			c.Close()
			return err
		}
		if p.loggedOn.Load() {
			break
		}
		if n, err = c.Read(buf); err != nil {
			c.Close()
			return fmt.Errorf("probe logon: %w", err)
		}
	}
	c.SetDeadline(time.Time{})
	return nil
}

func (p *probe) send(op byte, payload []byte) error {
	p.wbuf = clientFrame(p.wbuf[:0], op, payload)
	_, err := p.conn.Write(p.wbuf)
	return err
}

func (p *probe) control(op byte, payload []byte) error {
	switch op {
	case opPing:
		return p.send(opPong, payload)
	case opClose:
		return errServerClosed
	}
	return nil
}

func (p *probe) message(op byte, compressed bool, data []byte, wire int64) error {
	if compressed {
		var err error
		if data, err = p.z.inflate(data); err != nil {
			p.decodeFails.Add(1)
			return err
		}
	}
	if op != opText || len(data) == 0 {
		return nil
	}
	switch data[0] {
	case '0':
		return p.send(opText, []byte("40"))
	case '1':
		return errServerClosed
	case '2':
		return p.send(opText, []byte("3"))
	case '4':
	default:
		return nil
	}
	switch {
	case strings.HasPrefix(string(data[:min(len(data), 3)]), "40"):
		_, err := p.conn.Write(p.logon)
		return err
	case strings.HasPrefix(string(data[:min(len(data), 3)]), "41"):
		return errServerClosed
	case !strings.HasPrefix(string(data[:min(len(data), 2)]), "42"):
		return nil
	}
	name, arg, ok := eventArgs(data[2:])
	if !ok {
		p.invalidJSON.Add(1)
		return nil
	}
	switch name {
	case "logon_success":
		p.loggedOn.Store(true)
	case "match_data":
		p.matchWire.Add(wire)
		if p.onMatchData(data, arg) && p.matchData.Add(1) == 1 {
			p.firstDataNs.Store(time.Now().UnixNano())
		}
	}
	return nil
}

// eventArgs checks that body, a Socket.IO EVENT's JSON array, is valid JSON
// and returns its event name and its first argument (a missing one is the
// zero Node, whose type is ast.V_NONE). sonic validates and searches without building
// values: a probe reads every match_data of its match, and decoding each
// with encoding/json (three passes over ~15 KB) took more than half the
// harness's core at 50 matches, so that the probes' own queue showed up
// in the latency they measure.
func eventArgs(body []byte) (name string, arg ast.Node, ok bool) {
	if !sonic.Valid(body) {
		return "", arg, false
	}
	n, err := sonic.Get(body, 0)
	if err != nil || n.TypeSafe() != ast.V_STRING {
		return "", arg, false
	}
	if name, err = n.String(); err != nil {
		return "", arg, false
	}
	arg, _ = sonic.Get(body, 1)
	return name, arg, true
}

// markerIn returns the toast of a state (its JSON text) when it is active;
// ok is false when st is not valid JSON.
func markerIn(st string) (message string, active, ok bool) {
	if !sonic.ValidString(st) {
		return "", false, false
	}
	toast, err := sonic.GetFromString(st, "toastInfo")
	if err != nil || toast.TypeSafe() != ast.V_OBJECT {
		return "", false, true
	}
	if a, err := toast.Get("active").Bool(); err != nil || !a {
		return "", false, true
	}
	m, err := toast.Get("message").String()
	return m, err == nil, true
}

// onMatchData checks a match_data, times its marker and reports whether it
// is a new state (valid, and not equal to the previous one): only those
// count as delivered.
func (p *probe) onMatchData(packet []byte, arg ast.Node) (fresh bool) {
	if arg.TypeSafe() != ast.V_STRING {
		p.invalidJSON.Add(1)
		return false
	}
	inner, err := arg.String()
	if err != nil {
		p.invalidJSON.Add(1)
		return false
	}
	message, active, ok := markerIn(inner)
	if !ok {
		p.invalidJSON.Add(1)
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := maphash.String(stateSeed, inner)
	fresh = !p.hasPrev || h != p.prevHash
	p.prevHash, p.hasPrev = h, true
	if !fresh {
		p.repeats.Add(1)
	}
	prev := p.prevData
	p.prevData = p.now
	if p.record && p.nRecorded < maxRecorded {
		p.recorded = binary.BigEndian.AppendUint32(p.recorded, uint32(len(packet)))
		p.recorded = append(p.recorded, packet...)
		p.nRecorded++
	}
	if !active {
		return fresh
	}
	seq, err := strconv.ParseInt(strings.TrimPrefix(message, "m"), 10, 64)
	if err != nil || seq <= p.lastSampled {
		return fresh
	}
	p.lastSampled = seq
	sent, ok := p.markers.at(seq)
	if !ok || p.window == nil || sent.Before(p.window.start) || sent.After(p.window.end) {
		return fresh
	}
	lat := p.now.Sub(sent)
	p.latencies = append(p.latencies, lat)
	if p.slowOver > 0 && lat > p.slowOver {
		// The gap tells a stall of the sends (no match_data meanwhile)
		// from one of the marker's way in (match_data went on, stale).
		fmt.Fprintf(os.Stderr, "slow sample: match %d marker %d sent %s received %s latency %d ms, previous match_data %d ms before\n",
			p.match, seq, sent.Format("15:04:05.000"), p.now.Format("15:04:05.000"), lat.Milliseconds(), p.now.Sub(prev).Milliseconds())
	}
	return fresh
}

// stateSeed hashes states to tell a repeat from a new one.
var stateSeed = maphash.MakeSeed()

// setWindow starts (end zero: open) or ends the measuring window; record
// turns payload recording on for the offline compression reference.
func (p *probe) setWindow(w *window, record bool) {
	p.mu.Lock()
	p.window = w
	p.record = record
	p.mu.Unlock()
}

func (p *probe) results() (lat []time.Duration, recorded []byte, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.latencies...), p.recorded, p.nRecorded
}

func (p *probe) errString() string {
	s, _ := p.errText.Load().(string)
	return s
}
