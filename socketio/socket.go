package socketio

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"spectra-relay/engineio"
)

var (
	// ErrDisconnected: the socket has left its namespace.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrAckTimeout: no acknowledgement arrived within the timeout.
	ErrAckTimeout = errors.New("socketio: ack timeout")
	// ErrNoAck: the client did not ask for an acknowledgement, or it was
	// already sent.
	ErrNoAck = errors.New("socketio: no acknowledgement expected")
)

// Handshake is what a socket connected with.
type Handshake struct {
	// Auth is the CONNECT payload, {} when the client sent none.
	Auth    RawJSON
	Header  http.Header
	Query   url.Values
	Address string
	Time    time.Time
	// EngineID is the Engine.IO session id shared by the connection's
	// namespace sockets.
	EngineID string
}

// EventHandler handles one received event.
type EventHandler func(s *Socket, e *Event)

// AckHandler receives the arguments of an acknowledgement, or err
// (ErrAckTimeout, ErrDisconnected) when none will come.
type AckHandler func(args []RawJSON, attachments [][]byte, err error)

// Event is one received EVENT or BINARY_EVENT. It owns its memory and may
// be kept after the handler returns, e.g. to acknowledge later.
type Event struct {
	Name string
	// Args are the arguments after the name, each raw JSON. In a binary
	// event they may contain {"_placeholder":true,"num":N} objects that
	// refer to Attachments[N].
	Args        []RawJSON
	Attachments [][]byte

	so    *Socket
	id    int64
	acked atomic.Bool
}

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.id != NoID }

// Ack acknowledges the event with args (encoded like Emit's).
func (e *Event) Ack(args ...any) error {
	if !e.claimAck() {
		return ErrNoAck
	}
	b, bins, err := encodeArgs(nil, PacketAck, e.so.nsp.name, e.id, "", false, args)
	if err != nil {
		return err
	}
	return e.so.conn.sendWithAttachments(b, bins)
}

// AckRaw acknowledges with raw arguments whose placeholders refer to
// attachments (e.g. echoing an event's own Args and Attachments).
func (e *Event) AckRaw(args []RawJSON, attachments [][]byte) error {
	if !e.claimAck() {
		return ErrNoAck
	}
	b := encodeRaw(PacketAck, e.so.nsp.name, e.id, "", false, args, len(attachments))
	return e.so.conn.sendWithAttachments(b, attachments)
}

func (e *Event) claimAck() bool {
	return e.id != NoID && e.acked.CompareAndSwap(false, true)
}

// String decodes argument i as a JSON string, the form every application
// payload of this project takes (JSON text inside a string argument).
func (e *Event) String(i int) (string, error) {
	if i < 0 || i >= len(e.Args) {
		return "", fmt.Errorf("socketio: event %q has no argument %d", e.Name, i)
	}
	s, err := unquote(e.Args[i])
	if err != nil {
		return "", fmt.Errorf("socketio: event %q argument %d is not a string", e.Name, i)
	}
	return s, nil
}

// Socket is one client's connection to one namespace. Its methods are safe
// for concurrent use.
type Socket struct {
	id   string
	nsp  *Namespace
	conn *conn
	hs   Handshake

	// rs is the socket's connection state recovery (recovery.go), nil when
	// its namespace has it off: a pointer, so that the overlays' many
	// sockets pay one word for it.
	rs *socketRecovery

	mu   sync.Mutex
	gone bool
	// handlers and rooms are slices searched in order, not maps: a socket
	// has a handful of each, and an empty map costs more than a whole
	// idle overlay's other fields.
	handlers     []namedHandler
	anyHandler   EventHandler
	onDisconnect []func(reason string)
	rooms        []string
	acks         map[int64]*pendingAck
	nextAck      int64
	data         any

	// mark names the one broadcast whose packet s already has (MarkHas);
	// 0: none. Read by fan-outs without s.mu.
	mark atomic.Uint64
}

type namedHandler struct {
	event string
	fn    EventHandler
}

type pendingAck struct {
	fn    AckHandler
	timer *time.Timer
}

func newSocket(nsp *Namespace, c *conn, auth RawJSON) *Socket {
	return &Socket{
		id:   newID(),
		nsp:  nsp,
		conn: c,
		hs: Handshake{
			Auth: auth, Header: c.header, Query: c.query, Address: c.addr,
			Time: c.opened, EngineID: c.eid,
		},
	}
}

// ID is the socket id, distinct from the Engine.IO session id.
func (s *Socket) ID() string { return s.id }

// PID is the socket's private session id when its namespace recovers
// connection state, else "". It is a credential (whoever presents it
// takes the session over): persist it like a secret, never log it.
func (s *Socket) PID() string {
	if s.rs == nil {
		return ""
	}
	return s.rs.pid
}

// Recovered reports whether the socket took over a lost session (same sid
// and pid as before) instead of starting a new one.
func (s *Socket) Recovered() bool { return s.rs != nil && s.rs.recovered }

// Namespace is the namespace the socket belongs to.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the connection details.
func (s *Socket) Handshake() *Handshake { return &s.hs }

// SetData attaches a value for the application.
func (s *Socket) SetData(v any) { s.mu.Lock(); s.data = v; s.mu.Unlock() }

// Data returns the value set by SetData.
func (s *Socket) Data() any { s.mu.Lock(); defer s.mu.Unlock(); return s.data }

// MarkHas records that s already has the packet of the broadcast that will
// be sent with mark (Namespace.BroadcastRawPreparedSkip): that broadcast
// leaves s out. A socket holds one mark; a newer one replaces it, 0 clears
// it. Marks are the application's to make unique (a counter), so that a
// stale one never matches a later broadcast.
func (s *Socket) MarkHas(mark uint64) { s.mark.Store(mark) }

// Connected reports whether the socket is still in its namespace.
func (s *Socket) Connected() bool { s.mu.Lock(); defer s.mu.Unlock(); return !s.gone }

// On sets the handler for an event, replacing any previous one. Handlers
// run on the connection's message path, one at a time per connection, so
// a slow handler delays that client's later packets.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.handlers {
		if s.handlers[i].event == event {
			s.handlers[i].fn = h
			return
		}
	}
	s.handlers = append(s.handlers, namedHandler{event, h})
}

// OnAny sets a handler for events that have no handler of their own.
func (s *Socket) OnAny(h EventHandler) { s.mu.Lock(); s.anyHandler = h; s.mu.Unlock() }

// OnDisconnect adds a handler called once when the socket leaves its
// namespace, with the reason ("client namespace disconnect", "server
// namespace disconnect", "transport close", "ping timeout", ...). If the
// socket is already gone it is not called.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// Emit sends an event. Arguments: RawJSON (verbatim), string, numbers,
// bool, nil, []byte (a binary attachment) and anything sonic can marshal.
//
// With connection state recovery on, an offset is added as the last
// argument, as socket.io does; the client's handlers see it after the
// others.
func (s *Socket) Emit(event string, args ...any) error {
	if s.rs != nil {
		args = append(args[:len(args):len(args)], s.rs.nextOffset())
	}
	b, bins, err := encodeArgs(nil, PacketEvent, s.nsp.name, NoID, event, true, args)
	if err != nil {
		return err
	}
	return s.send(b, bins)
}

// EmitRaw sends an event with raw arguments whose placeholders refer to
// attachments, e.g. to echo a received Event's Args and Attachments.
func (s *Socket) EmitRaw(event string, args []RawJSON, attachments [][]byte) error {
	if s.rs != nil {
		args = append(args[:len(args):len(args)], AppendString(nil, s.rs.nextOffset()))
	}
	return s.send(encodeRaw(PacketEvent, s.nsp.name, NoID, event, true, args, len(attachments)), attachments)
}

// EmitWithAck sends an event and calls fn with the client's
// acknowledgement, or with ErrAckTimeout after timeout (0: no timeout) or
// ErrDisconnected. fn is called exactly once unless Emit fails, in which
// case the error is returned and fn is not called.
func (s *Socket) EmitWithAck(event string, timeout time.Duration, fn AckHandler, args ...any) error {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return ErrDisconnected
	}
	id := s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	pa := &pendingAck{fn: fn}
	s.acks[id] = pa
	if timeout > 0 {
		pa.timer = time.AfterFunc(timeout, func() {
			if s.takeAck(id) != nil {
				fn(nil, nil, ErrAckTimeout)
			}
		})
	}
	s.mu.Unlock()
	b, bins, err := encodeArgs(nil, PacketEvent, s.nsp.name, id, event, true, args)
	if err == nil {
		err = s.send(b, bins)
	}
	if err != nil {
		if pa := s.takeAck(id); pa != nil && pa.timer != nil {
			pa.timer.Stop()
		}
		return err
	}
	return nil
}

func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.acks[id]
	if pa != nil {
		delete(s.acks, id)
	}
	return pa
}

func (s *Socket) send(b []byte, bins [][]byte) error {
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.conn.sendWithAttachments(b, bins)
}

// Prepared is one packet of a namespace encoded and framed once, to be sent
// to many sockets one at a time, such as the current state every joining
// client is sent: its wire forms, the compressed one included, are built
// once for all of them instead of once per socket.
type Prepared struct {
	nsp   *Namespace
	frame *engineio.Frame
}

// PrepareRaw frames an already-encoded packet of this namespace (as for
// EmitRaw: the text after the Engine.IO "4"). The packet is kept, not
// copied: do not modify it afterwards.
func (n *Namespace) PrepareRaw(packet []byte) Prepared {
	return Prepared{nsp: n, frame: n.srv.eio.NewTextFrame(packet)}
}

// SendPrepared queues a prepared packet to this socket alone.
func (s *Socket) SendPrepared(p Prepared) error {
	if p.frame == nil {
		return errors.New("socketio: SendPrepared with a zero Prepared")
	}
	if p.nsp != s.nsp {
		return fmt.Errorf("socketio: packet prepared for namespace %q sent on %q", p.nsp.name, s.nsp.name)
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.conn.tr.SendFrames(p.frame)
}

// To starts a broadcast to a room that leaves this socket out.
func (s *Socket) To(room string) Broadcast { return s.nsp.To(room).Except(s) }

// Join adds the socket to a room.
func (s *Socket) Join(room string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return ErrDisconnected
	}
	if slices.Contains(s.rooms, room) {
		return nil
	}
	s.rooms = append(s.rooms, room)
	s.nsp.joinLocked(s, room)
	return nil
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.rooms, room)
	if i < 0 {
		return
	}
	s.rooms = slices.Delete(s.rooms, i, i+1)
	s.nsp.leaveLocked(s, room)
}

// Rooms lists the rooms the socket is in.
func (s *Socket) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms)
}

// CloseTransport closes the socket's Engine.IO connection without a
// DISCONNECT packet: the client sees a lost connection and, unlike after
// a server disconnect, socket.io-client reconnects on its own.
func (s *Socket) CloseTransport() { s.conn.tr.Close(engineio.ReasonServerClose) }

// Disconnect makes the socket leave its namespace: the client is sent a
// DISCONNECT for it. With closeEngine the whole connection (every
// namespace on it) is closed too.
func (s *Socket) Disconnect(closeEngine bool) {
	if s.Connected() {
		_ = s.conn.send(appendHeader(nil, PacketDisconnect, 0, s.nsp.name, NoID))
		s.conn.detach(s)
		s.cleanup("server namespace disconnect")
	}
	if closeEngine {
		s.conn.tr.Close(engineio.ReasonServerClose)
	}
}

// cleanup runs once when the socket leaves its namespace: rooms are left,
// pending acks fail and the disconnect handlers run, outside any lock.
func (s *Socket) cleanup(reason string) {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	s.gone = true
	for _, room := range s.rooms {
		s.nsp.leaveLocked(s, room)
	}
	s.rooms = nil
	acks := s.acks
	s.acks = nil
	handlers := s.onDisconnect
	s.onDisconnect = nil
	s.mu.Unlock()

	s.nsp.remove(s)
	if r := s.nsp.rec.Load(); r != nil && s.rs != nil && recoverable(reason) {
		r.remember(s.rs.pid, s.id, s.rs.offset.Load(), time.Now())
	}
	// Taking the acks out of the map is the claim: a timer that fires now
	// finds nothing and does not call fn.
	for _, pa := range acks {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		pa.fn(nil, nil, ErrDisconnected)
	}
	for _, fn := range handlers {
		fn(reason)
	}
}

// dispatch calls the handler of a received event.
func (s *Socket) dispatch(p *Packet) error {
	ev := &Event{so: s, id: p.ID, Attachments: p.Attachments}
	var nameRaw []byte
	var err error
	n := 0
	if err = splitArray(p.Data, func(i int, el []byte) bool {
		if i == 0 {
			nameRaw = el
		} else {
			n++
		}
		return true
	}); err != nil {
		return err
	}
	if n > 0 {
		ev.Args = make([]RawJSON, 0, n)
		_ = splitArray(p.Data, func(i int, el []byte) bool {
			if i > 0 {
				ev.Args = append(ev.Args, el)
			}
			return true
		})
	}
	if len(nameRaw) > 0 && nameRaw[0] == '"' {
		if ev.Name, err = unquote(nameRaw); err != nil {
			return err
		}
	} else {
		ev.Name = string(nameRaw) // a numeric event name
	}
	s.mu.Lock()
	var h EventHandler
	for i := range s.handlers {
		if s.handlers[i].event == ev.Name {
			h = s.handlers[i].fn
			break
		}
	}
	if h == nil {
		h = s.anyHandler
	}
	s.mu.Unlock()
	if h != nil {
		h(s, ev)
	}
	return nil
}

// onAck delivers a received ACK; an unknown id (late, or after a
// timeout) is ignored, as the reference does.
func (s *Socket) onAck(p *Packet) error {
	var args []RawJSON
	if err := splitArray(p.Data, func(_ int, el []byte) bool {
		args = append(args, el)
		return true
	}); err != nil {
		return err
	}
	pa := s.takeAck(p.ID)
	if pa == nil {
		return nil
	}
	if pa.timer != nil {
		pa.timer.Stop()
	}
	pa.fn(args, p.Attachments, nil)
	return nil
}
