// Over 600 lines on purpose: connect, emit/ack and dispatch share the Client's locks and ack table; the packet codec lives in codec.go.

// Package sioclient is a Socket.IO v5 client on top of eioclient: one
// namespace per Client, events with acknowledgements in both directions and
// binary attachments.
package sioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/bytedance/sonic"

	"spectra-relay/engineio/eioclient"
	"spectra-relay/internal/jsontext"
	"spectra-relay/socketio/siopacket"
)

// Errors that end a Client; Err wraps one of them or an eioclient error.
var (
	ErrServerDisconnect = errors.New("sioclient: io server disconnect")
	ErrClientDisconnect = errors.New("sioclient: io client disconnect")
	ErrProtocol         = errors.New("sioclient: protocol error")
	ErrNotConnected     = errors.New("sioclient: not connected")
)

// ConnectError is the server's refusal of a namespace connection
// (CONNECT_ERROR), e.g. from a middleware calling next(new Error(...)).
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string {
	if len(e.Data) > 0 {
		return fmt.Sprintf("sioclient: connection refused: %s (data %s)", e.Message, e.Data)
	}
	return "sioclient: connection refused: " + e.Message
}

// Options configure a Client.
type Options struct {
	// EIO configures the Engine.IO connection. EIO.Path defaults to
	// "/socket.io/"; EIO.OnMessage is owned by the Client.
	EIO eioclient.Options
	// Namespace defaults to "/".
	Namespace string
	// Auth is sent with the CONNECT packet; it must encode to a JSON object.
	Auth any
	// Session, when its PID is set, asks the server to recover that
	// session (Socket.IO connection state recovery): the CONNECT payload
	// carries it beside Auth's members, as socket.io-client sends it after
	// a reconnect. Take it from the previous Client's Session.
	Session Session
	// Logger receives diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// Session is what a client needs to recover its session after losing the
// connection, when the server recovers connection state: the private
// session id of the CONNECT reply and the offset (last string argument)
// of the last event received. The PID is a credential; keep it private.
type Session struct {
	PID, Offset string
}

// Message is the argument list of an event or an acknowledgement.
type Message struct {
	Args []json.RawMessage
	// Attachments are the binary parts, referenced from Args by
	// {"_placeholder":true,"num":N} objects.
	Attachments [][]byte
}

// Binary returns the attachment that argument i stands for.
func (m Message) Binary(i int) ([]byte, bool) {
	if i < 0 || i >= len(m.Args) {
		return nil, false
	}
	var ph struct {
		Placeholder bool `json:"_placeholder"`
		Num         *int `json:"num"`
	}
	if jsontext.FirstNonSpace(m.Args[i]) != '{' || json.Unmarshal(m.Args[i], &ph) != nil || !ph.Placeholder || ph.Num == nil {
		return nil, false
	}
	if *ph.Num < 0 || *ph.Num >= len(m.Attachments) {
		return nil, false
	}
	return m.Attachments[*ph.Num], true
}

// Decode unmarshals argument i into v.
func (m Message) Decode(i int, v any) error {
	if i < 0 || i >= len(m.Args) {
		return fmt.Errorf("sioclient: no argument %d (have %d)", i, len(m.Args))
	}
	return sonic.Unmarshal(m.Args[i], v)
}

// String returns argument i when it is a JSON string — the form every
// Spectra payload takes.
func (m Message) String(i int) (string, error) {
	var s string
	if err := m.Decode(i, &s); err != nil {
		return "", err
	}
	return s, nil
}

// Event is an event received from the server.
type Event struct {
	Name string
	Message
	c     *Client
	id    uint64
	hasID bool
}

// WantsAck reports whether the server asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasID }

// Ack answers the server's acknowledgement request with args.
func (e *Event) Ack(args ...any) error {
	if !e.hasID {
		return fmt.Errorf("sioclient: event %q did not ask for an acknowledgement", e.Name)
	}
	return e.c.send(siopacket.PacketAck, "", true, e.id, args, nil)
}

// Client is a Socket.IO connection to one namespace. Its methods are safe for
// concurrent use.
type Client struct {
	opts Options
	nsp  string
	log  *slog.Logger
	eio  *eioclient.Conn

	sendMu sync.Mutex // keeps a packet and its attachments together

	mu         sync.Mutex
	handlers   map[string][]func(*Event)
	anyHandler []func(*Event)
	acks       map[uint64]chan Message
	nextID     uint64
	sid        string
	session    Session // the server's pid and the last offset; empty without recovery
	recovered  bool
	connected  chan struct{}
	connErr    error
	connDone   bool
	barriers   map[string]chan struct{}
	barrierN   uint64
	err        error
	// ended closes when the connection ends; done closes after that, once
	// every event that arrived before the end went through its handlers, so
	// a waiter on Done never misses one. The client's own waits use ended.
	ended      chan struct{}
	done       chan struct{}
	dispatched chan struct{} // the dispatch loop has returned

	// Receive state, touched only by the Engine.IO reader.
	pending *Packet
	atts    [][]byte

	// Events are handed to handlers on their own goroutine so a handler may
	// wait for an ack without stalling the reader; the queue is unbounded so
	// nothing is dropped.
	qmu   sync.Mutex
	qcond *sync.Cond
	queue []*Event
	qdone bool
}

// New returns an unconnected Client; register handlers, then Connect.
func New(opts Options) *Client {
	if opts.Namespace == "" {
		opts.Namespace = "/"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EIO.Path == "" {
		opts.EIO.Path = "/socket.io/"
	}
	if opts.EIO.Logger == nil {
		opts.EIO.Logger = opts.Logger
	}
	c := &Client{
		opts:       opts,
		nsp:        opts.Namespace,
		log:        opts.Logger,
		handlers:   map[string][]func(*Event){},
		acks:       map[uint64]chan Message{},
		barriers:   map[string]chan struct{}{},
		connected:  make(chan struct{}),
		ended:      make(chan struct{}),
		done:       make(chan struct{}),
		dispatched: make(chan struct{}),
	}
	c.qcond = sync.NewCond(&c.qmu)
	return c
}

// Dial is New followed by Connect, for clients that register their handlers
// afterwards.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	c := New(opts)
	if err := c.Connect(ctx, url); err != nil {
		return nil, err
	}
	return c, nil
}

// On registers fn for event; fn gets the arguments after the event name.
// Handlers run one at a time, in arrival order, on a goroutine of the Client.
func (c *Client) On(event string, fn func(args []json.RawMessage)) {
	c.OnEvent(event, func(e *Event) { fn(e.Args) })
}

// OnEvent registers fn for event with access to attachments and Ack.
func (c *Client) OnEvent(event string, fn func(*Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[event] = append(c.handlers[event], fn)
}

// OnAny registers fn for every event.
func (c *Client) OnAny(fn func(*Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anyHandler = append(c.anyHandler, fn)
}

// Connect opens the Engine.IO session and joins the namespace. It returns a
// *ConnectError when the server refuses.
func (c *Client) Connect(ctx context.Context, url string) error {
	var auth []byte
	if c.opts.Auth != nil {
		b, err := sonic.Marshal(c.opts.Auth)
		if err != nil {
			return fmt.Errorf("sioclient: encoding auth: %w", err)
		}
		if jsontext.FirstNonSpace(b) != '{' {
			return fmt.Errorf("sioclient: auth must encode to a JSON object, got %.40s", b)
		}
		auth = b
	}
	if s := c.opts.Session; s.PID != "" {
		auth = appendSession(auth, s)
	}
	eopts := c.opts.EIO
	eopts.OnMessage = c.onMessage
	conn, err := eioclient.Dial(ctx, url, eopts)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.eio = conn
	c.mu.Unlock()
	go c.watch()
	go c.dispatchLoop()

	pkt := AppendPacket(nil, Packet{Type: siopacket.PacketConnect, Namespace: c.nsp, Data: auth})
	if err := conn.Send(pkt, false); err != nil {
		return err
	}
	select {
	case <-c.connected:
	case <-c.ended:
		c.mu.Lock()
		err := c.connErr
		if err == nil {
			err = c.err
		}
		c.mu.Unlock()
		return err
	case <-ctx.Done():
		conn.Close()
		return fmt.Errorf("sioclient: waiting for CONNECT of %s: %w", c.nsp, ctx.Err())
	}
	c.mu.Lock()
	err = c.connErr
	c.mu.Unlock()
	if err != nil {
		conn.Close()
		<-c.ended
		return err
	}
	return nil
}

// appendSession adds the pid and offset members in front of an auth
// object's (or makes one).
func appendSession(auth []byte, s Session) []byte {
	b := append(make([]byte, 0, len(auth)+64), `{"pid":`...)
	b = siopacket.AppendString(b, s.PID)
	if s.Offset != "" {
		b = append(b, `,"offset":`...)
		b = siopacket.AppendString(b, s.Offset)
	}
	if len(auth) == 0 {
		return append(b, '}')
	}
	rest := bytes.TrimSpace(bytes.TrimSpace(auth)[1:]) // after the '{'
	if len(rest) > 0 && rest[0] != '}' {
		b = append(b, ',')
	}
	return append(b, rest...)
}

// Session is the state to recover this client's session with (Options.
// Session of the next Client), empty when the server does not recover.
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Recovered reports whether the server recovered Options.Session: the same
// sid as before, and the server's binding of it.
func (c *Client) Recovered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recovered
}

// watch ends the Client when its Engine.IO connection ends.
func (c *Client) watch() {
	<-c.eio.Done()
	c.mu.Lock()
	if c.err == nil {
		c.err = c.eio.Err()
		if errors.Is(c.err, eioclient.ErrClosed) {
			c.err = ErrClientDisconnect
		}
	}
	if !c.connDone {
		c.connDone = true
		if c.connErr == nil {
			c.connErr = c.err
		}
		close(c.connected)
	}
	acks := c.acks
	c.acks = map[uint64]chan Message{}
	c.mu.Unlock()
	for _, ch := range acks {
		close(ch)
	}
	c.qmu.Lock()
	c.qdone = true
	c.qcond.Broadcast()
	c.qmu.Unlock()
	close(c.ended)
	<-c.dispatched
	close(c.done)
}

// SID returns the namespace session id from the CONNECT answer.
func (c *Client) SID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// EIO returns the underlying Engine.IO connection (stats, transport).
func (c *Client) EIO() *eioclient.Conn { return c.eio }

// Done is closed when the Client has ended and the handlers of every event
// received before the end have returned (so a handler must not wait for it).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the Client ended: ErrServerDisconnect after the server's
// DISCONNECT, ErrClientDisconnect after Close, else the transport's error.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Emit sends an event. Arguments are encoded as JSON, except []byte (sent as
// binary attachments) and RawJSON (sent as is).
func (c *Client) Emit(event string, args ...any) error {
	return c.send(siopacket.PacketEvent, event, false, 0, args, nil)
}

// EmitNotify is Emit that calls writing on the writer goroutine just before
// the event's write to the transport starts (eioclient.Conn.SendNotify).
func (c *Client) EmitNotify(writing func(), event string, args ...any) error {
	return c.send(siopacket.PacketEvent, event, false, 0, args, writing)
}

// EmitWithAck sends an event and waits for the server's acknowledgement.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) (Message, error) {
	ch := make(chan Message, 1)
	c.mu.Lock()
	if c.eio == nil || c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Message{}, errors.Join(ErrNotConnected, err)
	}
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.send(siopacket.PacketEvent, event, true, id, args, nil); err != nil {
		c.dropAck(id)
		return Message{}, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return Message{}, fmt.Errorf("sioclient: %q ack: %w", event, c.Err())
		}
		return m, nil
	case <-ctx.Done():
		c.dropAck(id)
		return Message{}, fmt.Errorf("sioclient: waiting for %q ack: %w", event, ctx.Err())
	}
}

func (c *Client) dropAck(id uint64) {
	c.mu.Lock()
	delete(c.acks, id)
	c.mu.Unlock()
}

func (c *Client) send(typ PacketType, event string, hasID bool, id uint64, args []any, writing func()) error {
	if c.eio == nil {
		return ErrNotConnected
	}
	data, atts, err := appendArgs(nil, event, args)
	if err != nil {
		return err
	}
	p := Packet{Type: typ, Namespace: c.nsp, HasID: hasID, ID: id, Data: data}
	if len(atts) > 0 {
		p.Attachments = len(atts)
		if typ == siopacket.PacketEvent {
			p.Type = siopacket.PacketBinaryEvent
		} else {
			p.Type = siopacket.PacketBinaryAck
		}
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.eio.SendNotify(AppendPacket(make([]byte, 0, len(data)+16), p), false, writing); err != nil {
		return err
	}
	for _, a := range atts {
		if err := c.eio.Send(a, true); err != nil {
			return err
		}
	}
	return nil
}

// Barrier returns once the server has read everything sent before it. It asks
// to join a namespace that does not exist and waits for the refusal
// (CONNECT_ERROR), which a server sends in order with its handling of the
// earlier packets. Socket.IO has no other round trip a server must answer,
// and emitting data then closing at once can lose the last events in servers
// that dispatch events asynchronously (the Node one does).
func (c *Client) Barrier(ctx context.Context) error {
	if c.eio == nil {
		return ErrNotConnected
	}
	ch := make(chan struct{})
	c.mu.Lock()
	c.barrierN++
	nsp := "/__barrier_" + strconv.FormatUint(c.barrierN, 10)
	c.barriers[nsp] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.barriers, nsp)
		c.mu.Unlock()
	}()
	c.sendMu.Lock()
	err := c.eio.Send(AppendPacket(nil, Packet{Type: siopacket.PacketConnect, Namespace: nsp}), false)
	c.sendMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.ended:
		return fmt.Errorf("sioclient: barrier: %w", c.Err())
	case <-ctx.Done():
		return fmt.Errorf("sioclient: barrier: %w", ctx.Err())
	}
}

// Flush waits until everything emitted so far has left the client.
func (c *Client) Flush(ctx context.Context) error {
	if c.eio == nil {
		return ErrNotConnected
	}
	return c.eio.Flush(ctx)
}

// Close leaves the namespace and closes the connection.
func (c *Client) Close() error {
	if c.eio == nil {
		return nil
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClientDisconnect
	}
	c.mu.Unlock()
	c.sendMu.Lock()
	c.eio.Send(AppendPacket(nil, Packet{Type: siopacket.PacketDisconnect, Namespace: c.nsp}), false)
	c.sendMu.Unlock()
	err := c.eio.Close()
	<-c.ended // not done: Close may be called from a handler
	return err
}

// protocolError ends the connection after the server broke the protocol.
func (c *Client) protocolError(err error) {
	c.log.Warn("sioclient: closing after protocol error", "err", err)
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	c.mu.Unlock()
	go c.eio.Close()
}

// onMessage receives Engine.IO messages in order on the reader goroutine.
func (c *Client) onMessage(data []byte, binary bool) {
	if binary {
		if c.pending == nil {
			c.protocolError(errors.New("binary message without a pending packet"))
			return
		}
		c.atts = append(c.atts, data)
		if len(c.atts) == c.pending.Attachments {
			p, atts := *c.pending, c.atts
			c.pending, c.atts = nil, nil
			c.handlePacket(p, atts)
		}
		return
	}
	if c.pending != nil {
		c.protocolError(fmt.Errorf("text packet while %d attachments are missing", c.pending.Attachments-len(c.atts)))
		return
	}
	p, err := DecodePacket(data)
	if err != nil {
		c.protocolError(err)
		return
	}
	if p.Attachments > 0 {
		c.pending = &p
		return
	}
	c.handlePacket(p, nil)
}

func (c *Client) handlePacket(p Packet, atts [][]byte) {
	if p.Namespace != c.nsp {
		c.mu.Lock()
		ch, ok := c.barriers[p.Namespace]
		delete(c.barriers, p.Namespace)
		c.mu.Unlock()
		if ok {
			if p.Type == siopacket.PacketConnect {
				// A server that creates namespaces on demand let us in: leave.
				c.sendMu.Lock()
				c.eio.Send(AppendPacket(nil, Packet{Type: siopacket.PacketDisconnect, Namespace: p.Namespace}), false)
				c.sendMu.Unlock()
			}
			close(ch)
		}
		return // a Client joins one namespace; anything else is not for it
	}
	switch p.Type {
	case siopacket.PacketConnect:
		var v struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if p.Data != nil {
			json.Unmarshal(p.Data, &v)
		}
		c.mu.Lock()
		c.sid = v.SID
		if v.PID != "" {
			c.recovered = v.PID == c.opts.Session.PID
			c.session = Session{PID: v.PID, Offset: c.opts.Session.Offset}
			if !c.recovered {
				c.session.Offset = ""
			}
		}
		if !c.connDone {
			c.connDone = true
			close(c.connected)
		}
		c.mu.Unlock()
	case siopacket.PacketConnectError:
		ce := &ConnectError{}
		if jsontext.FirstNonSpace(p.Data) == '"' {
			json.Unmarshal(p.Data, &ce.Message)
		} else {
			var v struct {
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}
			json.Unmarshal(p.Data, &v)
			ce.Message, ce.Data = v.Message, v.Data
		}
		c.mu.Lock()
		if c.err == nil {
			c.err = ce
		}
		if !c.connDone {
			c.connDone = true
			c.connErr = ce
			close(c.connected)
		}
		c.mu.Unlock()
		go c.eio.Close()
	case siopacket.PacketDisconnect:
		c.mu.Lock()
		if c.err == nil {
			c.err = ErrServerDisconnect
		}
		c.mu.Unlock()
		go c.eio.Close()
	case siopacket.PacketEvent, siopacket.PacketBinaryEvent:
		items, err := splitArray(p.Data)
		if err != nil {
			c.protocolError(err)
			return
		}
		var name string
		if len(items) == 0 || sonic.Unmarshal(items[0], &name) != nil {
			c.protocolError(fmt.Errorf("%w: event without a name", ErrBadPacket))
			return
		}
		if len(items) > 1 {
			c.noteOffset(items[len(items)-1])
		}
		c.enqueue(&Event{Name: name, Message: Message{Args: items[1:], Attachments: atts}, c: c, id: p.ID, hasID: p.HasID})
	case siopacket.PacketAck, siopacket.PacketBinaryAck:
		items, err := splitArray(p.Data)
		if err != nil {
			c.protocolError(err)
			return
		}
		c.mu.Lock()
		ch, ok := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.mu.Unlock()
		if ok {
			ch <- Message{Args: items, Attachments: atts}
		}
	}
}

// noteOffset records an event's last argument as the session's offset
// when it is a string and the server recovers sessions, as
// socket.io-client does.
func (c *Client) noteOffset(last []byte) {
	if len(last) == 0 || last[0] != '"' {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session.PID == "" {
		return
	}
	var s string
	if json.Unmarshal(last, &s) == nil {
		c.session.Offset = s
	}
}

func (c *Client) enqueue(e *Event) {
	c.qmu.Lock()
	c.queue = append(c.queue, e)
	c.qcond.Signal()
	c.qmu.Unlock()
}

// dispatchLoop runs handlers in arrival order. Events that arrived before the
// connection ended are still delivered.
func (c *Client) dispatchLoop() {
	defer close(c.dispatched)
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.qdone {
			c.qcond.Wait()
		}
		if len(c.queue) == 0 {
			c.qmu.Unlock()
			return
		}
		e := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qmu.Unlock()

		c.mu.Lock()
		hs := slices.Clone(c.handlers[e.Name])
		anyH := slices.Clone(c.anyHandler)
		c.mu.Unlock()
		for _, h := range anyH {
			h(e)
		}
		for _, h := range hs {
			h(e)
		}
	}
}
