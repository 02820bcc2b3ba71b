// Package relay is the Spectra relay server: the match controller, the
// ingest handlers (observer and auxiliary clients, Socket.IO on 5100), the
// output handlers (overlays, Socket.IO on 5200), the HTTP extras (5101) and
// replay-file writing. It is a drop-in replacement for the TypeScript
// Spectra Server 0.3.4; the golden files in testdata/replays/golden and
// shared/SPEC.md define the behaviour.
//
// # Concurrency
//
// Live matches are kept in shards keyed by an FNV-1a hash of the group code,
// each behind its own RWMutex, so ingest for different matches never
// contends on a global lock. Each live match has two mutexes:
//
//   - mu serialises the match state (Apply, Tick, AppendJSON) and the
//     bookkeeping next to it (version, bound connections, replay log);
//   - sendMu serialises what leaves for the overlays: broadcasts and
//     logon snapshots of the match are queued in version order under it.
//
// Lock order: shard.mu → liveMatch.sendMu → liveMatch.mu → idShard.mu.
// Nothing takes a shard lock while holding a match lock.
//
// # Sending
//
// A change is sent to the match's room at once when the previous send is at
// least SendInterval (100 ms) old (leading edge), otherwise a per-match timer
// sends the newest state when the interval has passed (trailing edge), so a
// room sees at most 10 match_data per second and never misses the last
// state. Each send encodes the state once and hands one packet to the room
// broadcast, which coalesces a queued older state with the newer one.
//
// # Deliberate differences from the existing server
//
// Only where it was a bug or a security problem and invisible to correct
// clients: an output logon sends the snapshot to the new overlay only (the
// existing server re-sent it to the whole room); every auxiliary connection
// of an ended match is disconnected; a connection may only write group-code
// data into the match it logged on to; an empty AUTH_KEY never matches; an
// auxiliary logon with an empty match id finds no match; the replay file
// name uses a sanitised group code; finished-team info lives one hour after
// game_end (not after logon); previews do not carry the playercams secret;
// a closed auxiliary connection is sent to the overlays at once rather than
// with the next event.
package relay
