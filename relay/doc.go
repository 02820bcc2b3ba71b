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
//     A change never waits for it: schedule only tries it, and otherwise
//     leaves a kick that the holder schedules when it unlocks.
//
// Lock order: shard.mu → liveMatch.sendMu → liveMatch.mu → idShard.mu.
// LOCKS.md at the repository root has the chain across packages.
// Nothing takes a shard lock while holding a match lock.
//
// # Cluster mode
//
// With Server.JoinCluster the matches are shared through Redis
// (relay/cluster); the cluster_*.go files hold everything the relay does
// differently then, behind one-line hooks marked "cluster hook". An owned
// match has a third mutex, clusterMatch.applyMu, taken before all the
// others: it keeps the Redis stream in the order the events were applied.
//
// # Sending
//
// A change is sent to the match's room at once when the previous send is at
// least SendInterval (100 ms) old (leading edge), otherwise a per-match timer
// sends the newest state when the interval has passed (trailing edge), so a
// room sees at most 10 match_data per second and never misses the last
// state. Each send encodes the state once and hands one packet to the room
// broadcast, which coalesces a queued older state with the newer one.
// While overlays log on in a burst (Config.LogonBurst, logonburst.go) the
// interval is four times as long, so that a reconnecting tournament's
// logons get the CPU the broadcasts would take.
//
// # Deliberate differences from the existing server
//
// Only where it was a bug or a security problem and invisible to correct
// clients: an output logon sends the snapshot to the new overlay only (the
// existing server re-sent it to the whole room); every auxiliary connection
// of an ended match is disconnected; a connection writes only into the
// match it logged on to, whether an event names a match by group code or
// by match id (the existing server applied match-id data to every match
// with that id, so anyone who read a match id off an overlay could write
// into it); an auxiliary connection may send only aux_* events (not, say,
// round_info game_end), though for any player of its match, as the real
// client's spectator variant does; dropped events leave the connection up
// and are logged at most once per connection per second; an empty AUTH_KEY
// never matches; an auxiliary logon with an empty match id finds no match;
// logon fields are type-checked and length-capped (below); the replay file
// name uses a sanitised group code; finished-team info lives one hour after
// game_end (not after logon); previews do not carry the playercams secret;
// a closed auxiliary connection is sent to the overlays at once rather than
// with the next event. The extras port serves only the existing server's
// endpoints; the operator's (status page, /status/matches with every live
// group code and match id, /metrics, health checks, pprof) are on a
// separate admin handler (admin.go) that cmd/spectra-server keeps on
// loopback or behind a token.
//
// # Logon limits
//
// Logons that the existing server took whatever their content are refused
// with "Invalid packet." in the usual ack (after the type check, before the
// version and key checks): an obs_logon whose groupCode is not a non-empty
// string of at most 64 bytes (maxGroupCodeLen), or whose obsName or a
// team's name or tricode is longer than 256 bytes (maxNameLen); an
// aux_logon whose name, playerId or matchId is longer than 256 bytes; and
// either whose clientVersion, which the version refusal quotes, is longer
// than 64 bytes (maxVersionLen). An overlay's logon on the output port
// takes its group code by the obs_logon rule (decodeGroupCode: a
// non-empty string of at most 64 bytes); one that breaks it is answered
// as the existing server answers a logon it cannot parse: not at all (no
// room, no logon_success; the connection stays), with a log line that
// gives the code's size, not the code. An empty code, which the existing
// server joined, is refused too: no observer can log on with it, so such
// an overlay would wait for ever. Group codes are not checked for
// characters, on either port: the existing server takes any, the log
// quotes them, the status page sets them as text and file names use a
// sanitised copy.
// Lengths are of the decoded string, or of the JSON text for other values.
// Real group codes are 6 characters and names a few dozen; the caps keep a
// client from making every match_data, log line and file name carry
// hundreds of kilobytes. Team URLs and toolsData are not capped beyond
// the transport's MaxPayload.
package relay
