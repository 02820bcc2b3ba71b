// Package match holds the state of one live match (teams, players, rounds,
// timeouts, toasts, tools) and renders it as the match_data JSON that the
// overlays consume. It reproduces the existing TypeScript Spectra Server
// (0.3.4) exactly, quirks included; the golden checkpoint files in
// testdata/replays/golden are the reference and the parity test checks them
// byte for byte.
//
// # API
//
//   - ParseLogon parses an obs_logon payload (or a replay header) into a
//     Logon. Type, version and key checks are the caller's job; IsSupporter
//     is set by the caller from the key check (false for this server).
//   - New(logon, groupSecret, now) builds the match. It fails where the
//     existing server's constructor throws (toolsData members of the wrong
//     shape), which that server reports as a failed logon.
//   - ParseEvent validates an obs_data / aux_data payload (SPEC §4: obsName or
//     playerId, groupCode or matchId, type, data). Route by GroupCode when
//     HasGroupCode, else to every match whose MatchID equals Event.MatchID.
//   - (*Match).Apply(ev, now) applies one event; now is the server clock at
//     receipt and drives every time-derived field. changed reports a new
//     EventNumber. Bad data is returned as an error and never panics.
//   - (*Match).Tick(now) runs the timers of the existing server (timeout
//     countdown every second, timeout end, toast expiry) deterministically:
//     there are no goroutines or runtime timers in this package. Call it from
//     the send loop (every 100 ms); Apply also runs due timers first.
//   - (*Match).AppendJSON(dst) appends match_data: all fields in the existing
//     server's order, without the group secret, the access key, replay log,
//     event counter, timer handles and tools.playercamsInfo.secret/endTime.
//   - Accessors: GroupCode, MatchID, GroupSecret, IsRunning, Ended (game_end
//     seen: remove the match and disconnect its clients), EventNumber,
//     FinishedTeamInfo (for /getTeamInfoForCode, set at game_end) and
//     AuxDisconnected(playerID) for closed auxiliary connections.
//
// A Match is not safe for concurrent use; the controller serialises calls per
// match (one goroutine or one mutex per match, no global lock).
//
// # Fidelity
//
// Parts of the state are kept as JS-like values (jv): toolsData, the toast
// payload and a few raw fields are echoed as sent, with JS property order
// (array-index keys first), undefined members dropped, NaN/Infinity written
// as null and numbers in ECMAScript formatting. Reproduced quirks include:
// kill breakdowns never exceed 1; kdRatio/headshotRatio are null after a
// division by zero and headshotRatio uses the kill count from before the
// scoreboard update; aux_scoreboard_team always updates the second team;
// the killfeed assist fallback never matches an agent; the last round's
// reason is never recorded; removeTricodes applies only at player creation;
// cancelling a timeout inside the grace period keeps timeRemaining; a
// completed timeout leaves timeRemaining at 1; combat hides a toast without
// stopping its timer; where the existing server throws halfway through a
// handler, the changes made before the throw stay and the event does not
// count as a change.
//
// Values the existing server keeps as sent are kept as JS values with its
// comparisons: the match id (any type), round_info's roundNumber and
// roundPhase, score's team_0 and team_1. Deliberate differences, for
// malformed input only: the roster and scoreboard fields that feed the
// players' arithmetic must have their JSON types here (numeric kills,
// boolean isAlive, string names); otherwise the event is rejected with an
// error and the state is left unchanged. Real clients send the right types
// (relay/doc.go lists every refusal). MMR tiers are always null (no
// backend).
//
// CheckAux is the relay's rule for auxiliary clients (not the existing
// server's): call it before Apply with Event.Aux and Event.AuxPlayer set.
package match
