package socketio

import (
	"runtime"
	"sync"
	"sync/atomic"

	"spectra-relay/engineio"
	"spectra-relay/internal/shardhash"
)

// numShards is the number of shards of a namespace's socket and room
// registries; both are indexed by shardOf, so one constant rules both.
const numShards = 64

// shardOf picks the shard of a key: sockets are sharded by socket id,
// rooms by room name.
func shardOf(key string) uint32 { return shardhash.FNV1a(key) % numShards }

// Middleware runs on every CONNECT to a namespace before the socket is
// registered. A non-nil error refuses the connection with CONNECT_ERROR:
// {"message": err.Error()}, or the fields of a *ConnectError.
type Middleware func(s *Socket, auth RawJSON) error

// Namespace is a Socket.IO namespace: its handlers, sockets and rooms.
//
// Lock order: Socket.mu → roomShard.mu → room.bmu → (engine socket); the
// chain across packages is in LOCKS.md at the repository root.
// The fan-out loop holds a roomShard read lock and room.bmu and only
// queues frames; closes happen on the engine's goroutines.
type Namespace struct {
	name  string
	srv   *Server
	count atomic.Int64

	hmu        sync.RWMutex
	middleware []Middleware
	onConn     []func(*Socket)

	sockets [numShards]socketShard
	rooms   [numShards]roomShard

	// rec is the connection state recovery, nil when off (recovery.go).
	rec atomic.Pointer[recovery]

	// allMu orders namespace-wide broadcasts, which use allStream.
	allMu     sync.Mutex
	allStream *engineio.Stream
}

type socketShard struct {
	mu sync.RWMutex
	m  map[string]*Socket
}

type roomShard struct {
	mu sync.RWMutex
	m  map[string]*room
}

// room is a set of sockets with its own broadcast streams. It exists while
// it has members.
type room struct {
	members []*Socket
	index   map[*Socket]int

	// bmu makes the room's broadcasts reach every member in one order
	// (the order the stream made the frames in), and guards the streams.
	bmu    sync.Mutex
	stream *engineio.Stream // ordered
	latest *engineio.Stream // coalescing, made on first use
}

func newNamespace(s *Server, name string) *Namespace {
	n := &Namespace{name: name, srv: s, allStream: s.newStream(false)}
	for i := range n.sockets {
		n.sockets[i].m = make(map[string]*Socket)
		n.rooms[i].m = make(map[string]*room)
	}
	return n
}

// Name is the namespace name, e.g. "/" or "/admin".
func (n *Namespace) Name() string { return n.name }

// Use adds a connection middleware; they run in the order added.
func (n *Namespace) Use(m Middleware) {
	n.hmu.Lock()
	n.middleware = append(n.middleware, m)
	n.hmu.Unlock()
}

// OnConnection adds a handler for new sockets. It runs after the CONNECT
// reply is queued and before the socket's next packet is read, so event
// handlers set here see every event.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.hmu.Lock()
	n.onConn = append(n.onConn, fn)
	n.hmu.Unlock()
}

func (n *Namespace) runMiddleware(s *Socket, auth RawJSON) error {
	n.hmu.RLock()
	mw := n.middleware
	n.hmu.RUnlock()
	for _, m := range mw {
		if err := m(s, auth); err != nil {
			return err
		}
	}
	return nil
}

func (n *Namespace) connected(s *Socket) {
	n.hmu.RLock()
	fns := n.onConn
	n.hmu.RUnlock()
	for _, fn := range fns {
		fn(s)
	}
}

// Count is the number of connected sockets.
func (n *Namespace) Count() int { return int(n.count.Load()) }

// Socket returns the connected socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	sh := &n.sockets[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// RoomSize is the number of sockets in a room.
func (n *Namespace) RoomSize(name string) int {
	sh := &n.rooms[shardOf(name)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if r := sh.m[name]; r != nil {
		return len(r.members)
	}
	return 0
}

func (n *Namespace) add(s *Socket) {
	sh := &n.sockets[shardOf(s.id)]
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
	n.count.Add(1)
}

func (n *Namespace) remove(s *Socket) {
	sh := &n.sockets[shardOf(s.id)]
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
		n.count.Add(-1)
	}
	sh.mu.Unlock()
}

// joinLocked adds s to a room. Socket.mu held on entry.
func (n *Namespace) joinLocked(s *Socket, name string) {
	sh := &n.rooms[shardOf(name)]
	sh.mu.Lock()
	r := sh.m[name]
	if r == nil {
		r = &room{index: make(map[*Socket]int), stream: n.srv.newStream(false)}
		sh.m[name] = r
	}
	if _, ok := r.index[s]; !ok {
		r.index[s] = len(r.members)
		r.members = append(r.members, s)
	}
	sh.mu.Unlock()
}

// leaveLocked removes s from a room, and the room when it empties.
// Socket.mu held on entry.
func (n *Namespace) leaveLocked(s *Socket, name string) {
	sh := &n.rooms[shardOf(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.m[name]
	if r == nil {
		return
	}
	i, ok := r.index[s]
	if !ok {
		return
	}
	last := len(r.members) - 1
	if i != last {
		moved := r.members[last]
		r.members[i] = moved
		r.index[moved] = i
	}
	r.members[last] = nil
	r.members = r.members[:last]
	delete(r.index, s)
	if len(r.members) == 0 {
		delete(sh.m, name)
	}
}

// Broadcast describes the recipients of a broadcast. It is a small value:
// build it with Namespace.To or Socket.To, refine it, then Emit.
type Broadcast struct {
	nsp    *Namespace
	room   string
	more   []string
	all    bool
	except []*Socket
	skip   uint64 // members marked with it (Socket.MarkHas) are left out; 0: none
	latest bool
}

// To targets the sockets in a room. Further To calls add rooms; a socket
// in several of them receives the packet once.
func (n *Namespace) To(room string) Broadcast { return Broadcast{nsp: n, room: room} }

// All targets every socket of the namespace.
func (n *Namespace) All() Broadcast { return Broadcast{nsp: n, all: true} }

// To adds a room to the targets.
func (b Broadcast) To(room string) Broadcast {
	if b.all {
		return b
	}
	b.more = append(b.more[:len(b.more):len(b.more)], room)
	return b
}

// Except leaves sockets out.
func (b Broadcast) Except(s ...*Socket) Broadcast {
	b.except = append(b.except[:len(b.except):len(b.except)], s...)
	return b
}

// Latest makes the broadcast coalescing: a member that still has an older
// Latest broadcast of the same room queued gets it replaced by this one
// ("latest state" data such as match updates). Such packets may overtake
// ordered broadcasts queued before them. Only for single-room text
// broadcasts; ignored otherwise.
func (b Broadcast) Latest() Broadcast {
	b.latest = true
	return b
}

// Emit encodes the event once and queues it to every target. It returns
// the number of sockets it was queued to.
func (b Broadcast) Emit(event string, args ...any) (int, error) {
	pkt, bins, err := encodeArgs(nil, PacketEvent, b.nsp.name, NoID, event, true, args)
	if err != nil {
		return 0, err
	}
	return b.fanout(pkt, bins), nil
}

// EmitRaw queues an already-encoded Socket.IO packet of this namespace
// (the text after the Engine.IO "4": e.g. `2["match_data","..."]`, as made
// by EncodeEvent) to every target. The packet is kept, not copied: do not
// modify it afterwards. It returns the number of sockets reached.
func (b Broadcast) EmitRaw(packet []byte) int { return b.fanout(packet, nil) }

// BroadcastRaw is To(room).EmitRaw(packet), with Latest when coalesce.
func (n *Namespace) BroadcastRaw(room string, packet []byte, coalesce bool) int {
	return Broadcast{nsp: n, room: room, latest: coalesce}.fanout(packet, nil)
}

// BroadcastRawPrepared is BroadcastRaw that also returns the broadcast's
// frame as a Prepared (ok false when the room is empty and none was made).
// Sending it to a socket that joins afterwards shares every wire form the
// broadcast made, the context-free compressed one above all, instead of
// making its own.
func (n *Namespace) BroadcastRawPrepared(room string, packet []byte, coalesce bool) (sent int, p Prepared, ok bool) {
	return n.BroadcastRawPreparedSkip(room, packet, coalesce, 0)
}

// BroadcastRawPreparedSkip is BroadcastRawPrepared that leaves out the
// room's members marked with mark (Socket.MarkHas): those that were sent
// this packet on their own already. mark 0 leaves out none. It costs one
// load per member, and nothing when mark is 0.
func (n *Namespace) BroadcastRawPreparedSkip(room string, packet []byte, coalesce bool, mark uint64) (sent int, p Prepared, ok bool) {
	sent = Broadcast{nsp: n, room: room, latest: coalesce, skip: mark}.fanoutRoom(packet, nil, &p)
	return sent, p, p.frame != nil
}

func (b Broadcast) excluded(s *Socket) bool {
	for _, e := range b.except {
		if e == s {
			return true
		}
	}
	return false
}

func (b Broadcast) fanout(pkt []byte, bins [][]byte) int {
	switch {
	case b.all:
		return b.fanoutAll(pkt, bins)
	case len(b.more) > 0:
		return b.fanoutRooms(pkt, bins)
	}
	return b.fanoutRoom(pkt, bins, nil)
}

// fanoutRoom is a single-room broadcast; prep, if not nil, receives its
// frame when it is a single text frame.
func (b Broadcast) fanoutRoom(pkt []byte, bins [][]byte, prep *Prepared) int {
	sh := &b.nsp.rooms[shardOf(b.room)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r := sh.m[b.room]
	if r == nil {
		return 0
	}
	r.bmu.Lock()
	defer r.bmu.Unlock()
	st := r.stream
	if b.latest && len(bins) == 0 {
		if r.latest == nil {
			r.latest = b.nsp.srv.newStream(true)
		}
		st = r.latest
	}
	frames := buildFrames(st, pkt, bins)
	if prep != nil && len(frames) == 1 {
		*prep = Prepared{nsp: b.nsp, frame: frames[0]}
	}
	return b.sendToMembers(r.members, frames)
}

// parallelFanout is the room size from which one broadcast's sends are
// spread over GOMAXPROCS goroutines. Each send to an idle socket is one
// write(2) of a few µs; one goroutine needs ~50 ms for 10 000 of them,
// half a send interval of the relay.
const parallelFanout = 2048

// sendToMembers hands the frames to every member not excepted and returns
// how many took them. The caller holds the room's broadcast lock, so every
// member still gets the room's broadcasts in order.
func (b Broadcast) sendToMembers(members []*Socket, frames []*engineio.Frame) int {
	workers := min(runtime.GOMAXPROCS(0), len(members)/(parallelFanout/2))
	if workers < 2 {
		return b.sendRange(members, frames)
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	chunk := (len(members) + workers - 1) / workers
	for i := chunk; i < len(members); i += chunk {
		part := members[i:min(i+chunk, len(members))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent.Add(int64(b.sendRange(part, frames)))
		}()
	}
	// The first chunk on this goroutine, at once: a spawned goroutine
	// waits for a P, and the last one spawned runs first, so the room's
	// head (its longest-standing members) got the broadcast after a whole
	// chunk of others (some 30 ms at 10 000 members) whenever the other P
	// was busy.
	n := b.sendRange(members[:chunk], frames)
	wg.Wait()
	return n + int(sent.Load())
}

func (b Broadcast) sendRange(members []*Socket, frames []*engineio.Frame) int {
	batch := b.nsp.srv.eio.BeginBatch()
	sent := 0
	for _, s := range members {
		if len(b.except) > 0 && b.excluded(s) || b.skip != 0 && s.mark.Load() == b.skip {
			continue
		}
		// A failed send means the engine socket is closing itself; its
		// OnClose removes s from the room on another goroutine.
		if s.conn.tr.SendFramesBatch(batch, frames...) == nil {
			sent++
		}
	}
	batch.End()
	return sent
}

// buildFrames encodes the packet once for all recipients.
func buildFrames(st *engineio.Stream, pkt []byte, bins [][]byte) []*engineio.Frame {
	var f *engineio.Frame
	if st != nil {
		f = st.TextFrame(pkt)
	} else {
		f = engineio.NewTextFrame(pkt)
	}
	frames := make([]*engineio.Frame, 1, 1+len(bins))
	frames[0] = f
	for _, a := range bins {
		frames = append(frames, engineio.NewBinaryFrame(a))
	}
	return frames
}

func (b Broadcast) fanoutAll(pkt []byte, bins [][]byte) int {
	n := b.nsp
	n.allMu.Lock()
	defer n.allMu.Unlock()
	frames := buildFrames(n.allStream, pkt, bins)
	batch := n.srv.eio.BeginBatch()
	defer batch.End()
	sent := 0
	for i := range n.sockets {
		sh := &n.sockets[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			if len(b.except) > 0 && b.excluded(s) {
				continue
			}
			if s.conn.tr.SendFramesBatch(batch, frames...) == nil {
				sent++
			}
		}
		sh.mu.RUnlock()
	}
	return sent
}

// fanoutRooms serves a multi-room broadcast. Members are de-duplicated with
// a set, so this path allocates per recipient; single-room broadcasts,
// the hot path, do not.
func (b Broadcast) fanoutRooms(pkt []byte, bins [][]byte) int {
	frames := buildFrames(nil, pkt, bins)
	seen := make(map[*Socket]struct{})
	sent := 0
	names := append([]string{b.room}, b.more...)
	for _, name := range names {
		sh := &b.nsp.rooms[shardOf(name)]
		sh.mu.RLock()
		if r := sh.m[name]; r != nil {
			for _, s := range r.members {
				if _, dup := seen[s]; dup || len(b.except) > 0 && b.excluded(s) {
					continue
				}
				seen[s] = struct{}{}
				if s.conn.tr.SendFrames(frames...) == nil {
					sent++
				}
			}
		}
		sh.mu.RUnlock()
	}
	return sent
}
