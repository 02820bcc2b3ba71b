package socketio

// RoomSize is a room's name and member count.
type RoomSize struct {
	Name    string
	Members int
}

// AppendRooms appends every room of the namespace that has members to
// dst. It takes each room shard's read lock in turn, so the list is not
// one atomic snapshot; meant for status pages and metrics, not for the
// broadcast path.
func (n *Namespace) AppendRooms(dst []RoomSize) []RoomSize {
	for i := range n.rooms {
		sh := &n.rooms[i]
		sh.mu.RLock()
		for name, r := range sh.m {
			dst = append(dst, RoomSize{Name: name, Members: len(r.members)})
		}
		sh.mu.RUnlock()
	}
	return dst
}
