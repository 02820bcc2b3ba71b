package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Counting overlays are raw WebSocket clients on non-blocking sockets read by
// a few epoll loops: no goroutine and no buffer per connection, only a
// frame parser (~250 bytes) that skips payloads. They answer Engine.IO pings
// so the server keeps them, log on, and count match_data messages and the
// bytes they take on the wire. They do not decompress: a compressed message
// (RSV1) is a match_data unless it is tiny (see smallCompressed);
// uncompressed ones are recognised by their first bytes.

// overlayCounters are the cumulative counters all overlays add to.
type overlayCounters struct {
	bytesRead    atomic.Int64 // every byte read from the sockets
	matchData    atomic.Int64 // match_data messages
	matchWire    atomic.Int64 // wire bytes of those (frame headers + payload)
	loggedOn     atomic.Int64
	disconnects  atomic.Int64
	connectFails atomic.Int64
	errors       atomic.Int64
	lastLogonNs  atomic.Int64 // when the latest logon_success arrived
	// Overlays that have received a match_data, and when the latest of
	// them got its first (storm steps wait for every overlay's).
	firstData       atomic.Int64
	lastFirstDataNs atomic.Int64
}

// rawConn is one counting overlay.
type rawConn struct {
	fd      int
	nc      net.Conn // during the dial only
	match   int
	state   uint8 // see conn* below
	p       frameParser
	logon   []byte // the logon frame, sent after the namespace CONNECT answer
	pool    *countPool
	wbuf    []byte
	closed  bool
	gotData bool
	n       atomic.Int64 // match_data received (read by the window's snapshots)
}

const (
	connWaitOpen uint8 = iota
	connWaitConnect
	connWaitLogon
	connLoggedOn
)

// countPool owns the epoll loops and the counting overlays.
type countPool struct {
	c        *overlayCounters
	perMatch []atomic.Int64 // match_data per match
	loops    []*epollLoop
	next     atomic.Uint32
	addr     *syscall.SockaddrInet4
	hostport string
	// tls, when set, makes the overlays TLS clients. crypto/tls needs a
	// reader per connection, so each TLS overlay has a goroutine and a
	// 4 KiB buffer in the harness (the epoll loops read plain ones only).
	tls      *tls.Config
	tlsMu    sync.Mutex
	tlsConns map[*rawConn]struct{}
	tlsWG    sync.WaitGroup
	closing  atomic.Bool
	// all holds every overlay that logged on or tried to, in the order they
	// were handed over, for the per-overlay delivery count.
	allMu sync.Mutex
	all   []*rawConn
}

type epollLoop struct {
	pool  *countPool
	epfd  int
	mu    sync.Mutex
	conns map[int]*rawConn
	stop  atomic.Bool
	done  chan struct{}
}

func newCountPool(c *overlayCounters, matches int, hostport string, loops int) (*countPool, error) {
	host, portS, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host).To4()
	port, err := strconv.Atoi(portS)
	if ip == nil || err != nil {
		return nil, fmt.Errorf("counting overlays need an IPv4 host:port, got %q", hostport)
	}
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	p := &countPool{c: c, perMatch: make([]atomic.Int64, matches), addr: sa, hostport: hostport}
	for range max(loops, 1) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		l := &epollLoop{pool: p, epfd: epfd, conns: map[int]*rawConn{}, done: make(chan struct{})}
		p.loops = append(p.loops, l)
		go l.run()
	}
	return p, nil
}

// dial connects one overlay for match m and hands it to an epoll loop. The
// connection and the WebSocket handshake go through the Go runtime's
// netpoller (it retries interrupted calls); once the Engine.IO open packet
// is in and the namespace CONNECT is sent, the socket is duplicated out of
// the net.Conn, which is closed, and the copy is read by an epoll loop.
func (p *countPool) dial(m int, groupCode string, deflate bool, timeout time.Duration) error {
	return p.dialAt(p.hostport, m, groupCode, deflate, timeout)
}

// dialAt is dial to another output port than the pool's own (a cluster's
// other nodes); the counters stay the pool's.
func (p *countPool) dialAt(hostport string, m int, groupCode string, deflate bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	nc, err := dialMaybeTLS(ctx, hostport, p.tls)
	cancel()
	if err != nil {
		return err
	}
	handed := false // to a TLS reader, which closes it
	defer func() {
		if !handed {
			nc.Close()
		}
	}()
	nc.SetDeadline(time.Now().Add(timeout))
	req, accept := upgradeRequest(hostport, deflate)
	if _, err := nc.Write(req); err != nil {
		return fmt.Errorf("upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	if _, err := readUpgradeResponse(br, accept); err != nil {
		return err
	}
	c := &rawConn{fd: -1, match: m, pool: p, nc: nc}
	c.logon = clientFrame(nil, opText, logonPacket(groupCode))
	buf := make([]byte, 4096)
	n, _ := br.Read(buf[:br.Buffered()])
	for {
		if err := c.p.feed(buf[:n], c); err != nil {
			return err
		}
		if c.state != connWaitOpen {
			break
		}
		if n, err = br.Read(buf); err != nil {
			return fmt.Errorf("waiting for the open packet: %w", err)
		}
	}
	p.allMu.Lock()
	p.all = append(p.all, c)
	p.allMu.Unlock()
	if p.tls != nil {
		nc.SetDeadline(time.Time{})
		handed = true
		p.readTLS(c, br)
		return nil
	}
	sc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	var derr error
	if err := sc.Control(func(f uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r)
		if e != 0 {
			derr = e
		}
	}); err != nil || derr != nil {
		return fmt.Errorf("dup: %v %v", err, derr)
	}
	c.fd, c.nc = fd, nil
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	l := p.loops[int(p.next.Add(1))%len(p.loops)]
	l.mu.Lock()
	l.conns[fd] = c
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.conns, fd)
		l.mu.Unlock()
		syscall.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func logonPacket(groupCode string) []byte {
	inner, _ := jsonMarshal(map[string]string{"groupCode": groupCode})
	arg, _ := jsonMarshal(string(inner))
	return []byte(`42["logon",` + string(arg) + `]`)
}

var (
	prefixMatchData    = []byte(`42["match_data"`)
	prefixLogonSuccess = []byte(`42["logon_success"`)
)

func (c *rawConn) send(op byte, payload []byte) error {
	c.wbuf = clientFrame(c.wbuf[:0], op, payload)
	return c.write(c.wbuf)
}

// write goes through the net.Conn while dialing, then straight to the
// socket (a few bytes: pongs; the socket buffer always has room).
func (c *rawConn) write(b []byte) error {
	if c.nc != nil {
		_, err := c.nc.Write(b)
		return err
	}
	return writeAll(c.fd, b)
}

// smallCompressed: a compressed message whose payload is shorter than this
// is an Engine.IO control packet (ping "2" deflates to 3–5 bytes), never a
// match_data (a whole match state deflates to 100 bytes at the very least,
// even against an identical previous one: a deflate match covers at most
// 258 bytes).
const smallCompressed = 32

// message implements frameSink. The first three messages come in a known
// order (open packet, namespace CONNECT answer, logon_success), so they are
// recognised by position: the Node server compresses every message, even
// these small ones, because ws applies the 1024-byte threshold only to
// connections without context takeover.
func (c *rawConn) message(op byte, compressed bool, data []byte, wire int64) error {
	pc := c.pool.c
	if op != opText {
		return nil
	}
	switch c.state {
	case connWaitOpen:
		if !compressed && (len(data) == 0 || data[0] != '0') {
			return fmt.Errorf("expected the open packet, got %q", data)
		}
		c.state = connWaitConnect
		return c.send(opText, []byte("40"))
	case connWaitConnect:
		if !compressed && !bytes.HasPrefix(data, []byte("40")) {
			return fmt.Errorf("expected the namespace CONNECT answer, got %q", data)
		}
		c.state = connWaitLogon
		return c.write(c.logon)
	case connWaitLogon:
		if !compressed && !bytes.HasPrefix(data, prefixLogonSuccess) {
			return nil
		}
		c.state = connLoggedOn
		pc.loggedOn.Add(1)
		pc.lastLogonNs.Store(time.Now().UnixNano())
		return nil
	}
	if compressed {
		if len(data) < smallCompressed {
			// A ping, most likely; an unsolicited pong is harmless.
			return c.send(opText, []byte{'3'})
		}
		c.countMatchData(wire)
		return nil
	}
	switch {
	case len(data) == 1 && data[0] == '2':
		return c.send(opText, []byte{'3'})
	case bytes.HasPrefix(data, prefixMatchData):
		c.countMatchData(wire)
	case len(data) > 0 && (data[0] == '1' || bytes.HasPrefix(data, []byte("41"))):
		return errServerClosed
	}
	return nil
}

var errServerClosed = errors.New("closed by the server")

func (c *rawConn) countMatchData(wire int64) {
	pc := c.pool.c
	pc.matchData.Add(1)
	c.n.Add(1)
	pc.matchWire.Add(wire)
	c.pool.perMatch[c.match].Add(1)
	if !c.gotData {
		c.gotData = true
		pc.firstData.Add(1)
		storeMax(&pc.lastFirstDataNs, time.Now().UnixNano())
	}
}

// control implements frameSink.
func (c *rawConn) control(op byte, payload []byte) error {
	switch op {
	case opPing:
		return c.send(opPong, payload)
	case opClose:
		return errServerClosed
	}
	return nil
}

func (l *epollLoop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 128<<10)
	ready := make([]*rawConn, 0, 256)
	for !l.stop.Load() {
		n, err := syscall.EpollWait(l.epfd, events, 100)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			l.pool.c.errors.Add(1)
			return
		}
		ready = ready[:0]
		l.mu.Lock()
		for _, ev := range events[:n] {
			if c := l.conns[int(ev.Fd)]; c != nil {
				ready = append(ready, c)
			}
		}
		l.mu.Unlock()
		for _, c := range ready {
			m, err := syscall.Read(c.fd, buf)
			if err == syscall.EAGAIN || err == syscall.EINTR {
				continue
			}
			if m > 0 {
				l.pool.c.bytesRead.Add(int64(m))
				if err := c.p.feed(buf[:m], c); err != nil {
					if err != errServerClosed {
						l.pool.c.errors.Add(1)
					}
					l.drop(c)
				}
				continue
			}
			l.drop(c) // EOF or error
		}
	}
}

// drop forgets a connection the server ended.
func (l *epollLoop) drop(c *rawConn) {
	if c.closed {
		return
	}
	c.closed = true
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	l.mu.Lock()
	delete(l.conns, c.fd)
	l.mu.Unlock()
	syscall.Close(c.fd)
	l.pool.c.disconnects.Add(1)
}

// readTLS hands a logged-on-to-be TLS overlay to its own reader goroutine.
func (p *countPool) readTLS(c *rawConn, br *bufio.Reader) {
	p.tlsMu.Lock()
	if p.tlsConns == nil {
		p.tlsConns = map[*rawConn]struct{}{}
	}
	p.tlsConns[c] = struct{}{}
	p.tlsWG.Add(1)
	p.tlsMu.Unlock()
	go func() {
		defer p.tlsWG.Done()
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				p.c.bytesRead.Add(int64(n))
				if ferr := c.p.feed(buf[:n], c); ferr != nil {
					if ferr != errServerClosed {
						p.c.errors.Add(1)
					}
					err = ferr
				}
			}
			if err != nil {
				break
			}
		}
		p.tlsMu.Lock()
		delete(p.tlsConns, c)
		p.tlsMu.Unlock()
		c.nc.Close()
		if !p.closing.Load() {
			p.c.disconnects.Add(1)
		}
	}()
}

// open counts the connections still held.
func (p *countPool) open() int {
	p.tlsMu.Lock()
	n := len(p.tlsConns)
	p.tlsMu.Unlock()
	for _, l := range p.loops {
		l.mu.Lock()
		n += len(l.conns)
		l.mu.Unlock()
	}
	return n
}

// close stops the loops and closes every connection.
func (p *countPool) close() {
	p.closing.Store(true)
	p.tlsMu.Lock()
	for c := range p.tlsConns {
		c.nc.Close()
	}
	p.tlsMu.Unlock()
	p.tlsWG.Wait()
	for _, l := range p.loops {
		l.stop.Store(true)
	}
	for _, l := range p.loops {
		<-l.done
		l.mu.Lock()
		for fd := range l.conns {
			syscall.Close(fd)
		}
		l.conns = map[int]*rawConn{}
		l.mu.Unlock()
		syscall.Close(l.epfd)
	}
}

// storeMax raises a to v unless it is already later (several epoll loops
// report).
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}
