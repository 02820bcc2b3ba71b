// Package relay is the Spectra relay server: the match controller, the
// ingest handlers (observer and auxiliary clients, Socket.IO on 5100), the
// output handlers (overlays, Socket.IO on 5200) and the wiring of the HTTP
// extras (5101), the admin listener and the replay files, which live in
// the packages below. It is a drop-in replacement for the TypeScript
// Spectra Server 0.3.4; the golden files in testdata/replays/golden and
// shared/SPEC.md define the behaviour.
//
// # The parts, from the top down
//
// Read the relay as floors, each importing only the floors below it; no
// import runs back up, and the root imports its parts, never the other
// way round (a test at the module root checks this from go list):
//
//   - relay (this package): the Server and its wiring (server.go,
//     surfaces.go), the socket handlers (ingest.go, output.go,
//     sessions.go), the match controller (controller.go, send.go,
//     loops.go, recover.go), and the broker to other nodes (broker.go:
//     localBroker alone; the Redis broker in cluster_glue.go,
//     cluster_owner.go, cluster_remote.go and cluster_sessions.go). The
//     controller calls the broker without asking which mode runs.
//   - relay/operator: the admin listener (status page, /metrics, health,
//     pprof). It reads the relay through its Source interface and a
//     metrics handler; status.go and metrics.go here fill them in.
//   - relay/extras: the public HTTP extras and previews of port 5101,
//     reading the relay through its Source and Previews interfaces. The
//     operator surface uses its JSON answers.
//   - relay/replaylog: a match's replay file as written (buffered, written
//     through per event, capped) and read back after a restart, with the
//     group secret sidecar. recover.go rebuilds live matches from it.
//   - relay/replayplayer: what plays a replay file into an ingest server
//     as its clients; the replay tool and the bench use it, the relay
//     does not.
//   - the ground floor of the relay: relay/match (a match's state and its
//     match_data JSON), relay/replayfile (the replay format) and
//     relay/cluster (the Redis side of cluster mode: leases, streams,
//     pub/sub, shared stores). They import nothing of the relay.
//
// Below the relay come socketio, engineio and internal, in that order.
// Before this layout the surfaces, the replay log and the cluster glue were
// files of this package, the controller checked for cluster mode at each
// step that differs there, and internal held the replay player, which imported
// the relay's replay format and the Socket.IO client: two imports ran up
// from the ground floor.
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
// The controller reaches other nodes through one broker interface
// (broker.go), which it calls unconditionally: localBroker when the relay
// runs alone (nothing is owned elsewhere, previews live in memory), and
// after Server.JoinCluster the Redis broker, clusterGlue in the
// cluster_*.go files on relay/cluster, which shares the matches through
// Redis. An owned match has a third mutex, clusterMatch.applyMu, taken
// before all the others: it keeps the Redis stream in the order the
// events were applied.
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
// round_info game_end), and only for the player it logged on as (below);
// dropped events leave the connection up and are logged at most once per
// connection per second; an empty AUTH_KEY
// never matches; an auxiliary logon with an empty match id finds no match;
// logon fields are type-checked and length-capped (below); the replay file
// name uses a sanitised group code; finished-team info lives one hour after
// game_end (not after logon); previews do not carry the playercams secret;
// a closed auxiliary connection is sent to the overlays at once rather than
// with the next event. The extras port serves only the existing server's
// endpoints; the operator's (status page, /status/matches with every live
// group code and match id, /metrics, health checks, pprof) are on a
// separate admin handler (relay/operator) that cmd/spectra-server keeps on
// loopback or behind a token.
//
// # Auxiliary clients change only their own player
//
// The existing server applied any auxiliary client's data to whichever
// player it named, so anyone with a match id could set any player's
// health, money or abilities on a live broadcast. Here an auxiliary
// connection has an owner: the playerId string of its aux_logon, or, when
// that was empty (the real client's first run) or not a string, the first
// player id (of at most 256 bytes) one of its events names. match.CheckAux then drops, before
// the replay log, aux_scoreboard whose data.playerId, and aux_abilities,
// aux_health, aux_astra_targeting and aux_cypher_cam whose playerId, names
// another player of the match, and aux_scoreboard_team with an entry for
// a player of the team it updates when that is not the owner's team. In
// cluster mode the owner travels with the forwarded data. The real
// client's own data always passes; what its spectator mode sends for the
// other players (aux_scoreboard of each) is dropped: the observer's
// scoreboard has it. The existing server's user.playerId, which a
// disconnect resets, is kept as it was (set by aux_scoreboard only).
//
// # What is refused that the existing server takes
//
// Observer and auxiliary data is taken with the existing server's
// JavaScript semantics: match_start takes any value as the match id
// (true stays true in match_data); round_info's roundNumber and
// roundPhase and score's team_0 and team_1 are kept as sent and compared
// with JS conversions; aux_scoreboard_team's data is parsed from its
// string form; an event argument that is not a string is read as
// msg.toString() reads it. What is still refused:
//
//	refused                                   why
//	----------------------------------------  ------------------------------------------
//	any payload over MaxPayload (1 MB) or     memory and stack: the size a byte
//	nested deeper than 512 levels             stream may make the relay hold
//	obs_logon groupCode not a string of       it names rooms, files, log lines and
//	1-64 bytes; names over 256 bytes;         Redis keys and rides in every
//	clientVersion over 64; aux_logon name,    match_data (Logon limits, below); a
//	playerId or matchId over 256 bytes        numeric code reaches no overlay there
//	aux_logon with an empty matchId, or one   the match id is an auxiliary client's
//	equal only to a match without an id yet   only credential: "" == 0 would open
//	("" == 0, null == undefined)              every match before match_start
//	aux_logon matchId equal to the match's    the match-id index is keyed by the
//	id only across types with another string  string form; no client sends such ids
//	form (true == 1, 5 == "5.0")              (true finds true, "5" finds 5)
//	non-aux_* events on an auxiliary          security: an auxiliary client must not
//	connection; data for another match;       end or rewrite a match, or change
//	aux data for another player               another player
//	binary event attachments (the original    no Spectra client sends binary; the
//	parses a Buffer's text)                   placeholder object is dropped
//	roster name, tagline, playerId,           not a danger, an open difference:
//	agentInternal not strings; scoreboard     these feed arithmetic on the players'
//	and aux scoreboard agentInternal not a    number state, where JS would
//	string, isAlive or hasSpike not a         concatenate or compare strings; the
//	boolean, kills, deaths, assists, money,   clients copy Overwolf's numbers and
//	currUltPoints, maxUltPoints not numbers   booleans (match/doc.go)
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
