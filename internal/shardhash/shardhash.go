// Package shardhash is the hash that picks a shard for a key (a session
// id, a room name, a group code) in the engine's session table, the
// namespaces' socket and room registries and the relay's match table.
package shardhash

// FNV1a is the 32-bit FNV-1a hash of s. It is written out rather than
// taken from hash/fnv so that a lookup inlines, allocates nothing and
// makes no interface call.
func FNV1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
