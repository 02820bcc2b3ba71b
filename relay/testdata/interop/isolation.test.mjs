// Issue 8: a connection writes only into the match it logged on to, and an
// auxiliary connection sends only aux_* events. Two live matches A and B
// (different group codes and match ids); A's observer and one of A's
// auxiliary clients (logged on with nothing but A's public match id) try to
// end or alter B, and the auxiliary client tries to end A. Every attempt is
// dropped: both matches' states are unchanged, every client stays connected.
// The same events from the rightful sender do take effect (controls).
//
// Environment: INGEST_URL, OUTPUT_URL, AUTH_KEY, REPLAY (short_3rounds.replay).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  env, watchdog, loadReplay, logonPayload, Clients, Overlay, Feeder, track, waitConnect, waitDisconnect,
  logon, barrier, findPlayer, masked,
} from "./lib.mjs";

watchdog(80);
const INGEST = env("INGEST_URL");
const OUTPUT = env("OUTPUT_URL");
const AUTH_KEY = env("AUTH_KEY");
const { header, events } = loadReplay(env("REPLAY"));

const clients = new Clients();
after(() => clients.closeAll());

const GA = header.groupCode;
const GB = "ISOB01";
const MA = events.find((e) => e.type === "match_start").data;
const MB = "0badc0de-0000-4000-8000-00000000000b";
const combat1 = events.findIndex((e) => e.type === "round_info" && e.data.roundPhase === "combat");
const gameEnd = { roundNumber: 1, roundPhase: "game_end" };

// asMatch rewrites the replay's events for another group code and match id.
function asMatch(evs, groupCode, matchId) {
  return evs.map((e) => {
    const c = { ...e };
    if ("groupCode" in c) c.groupCode = groupCode;
    if ("matchId" in c) c.matchId = matchId;
    if (c.type === "match_start") c.data = matchId;
    return c;
  });
}

// startMatch logs an observer on and feeds everything up to round 1's
// combat phase: rosters, match_start and the auxiliary clients' logons.
async function startMatch(groupCode, evs, label) {
  const obs = track(clients.open(INGEST, `observer ${label}`));
  await waitConnect(obs);
  const { ack } = await logon(obs, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY, groupCode }));
  assert.equal(ack.value, true, JSON.stringify(ack));
  const feeder = new Feeder(clients, { ingest: INGEST, events: evs, clientVersion: header.clientVersion });
  feeder.obs = obs;
  await feeder.feed(0, combat1);
  const auxIds = Object.keys(feeder.aux).filter((id) => feeder.aux[id]);
  assert.ok(auxIds.length > 0, `${label}: auxiliary clients logged on`);
  const overlay = new Overlay(clients, OUTPUT, groupCode, `overlay ${label}`, { transports: ["websocket"] });
  await overlay.logon();
  return { groupCode, obs, aux: feeder.aux, auxIds, overlay };
}

// snapshot is the state a newly logged-on overlay receives: the server's
// state after everything it has read so far.
async function snapshot(groupCode, label) {
  const o = new Overlay(clients, OUTPUT, groupCode, label, { transports: ["websocket"] });
  await o.logon();
  const d = await o.waitFor(() => true, 3000, "snapshot at logon");
  o.sock.close();
  return d;
}

test("a connection writes only into its own match; aux connections only send aux_*", { timeout: 70000 }, async () => {
  const A = await startMatch(GA, events, "A");
  const B = await startMatch(GB, asMatch(events, GB, MB), "B");
  // A send already scheduled when an overlay logs on may follow its
  // snapshot; count from when both rooms are quiet.
  await Promise.all([A.overlay.settle(), B.overlay.settle()]);
  const beforeA = await snapshot(GA, "snapshot A before");
  const beforeB = await snapshot(GB, "snapshot B before");
  assert.equal(beforeA.matchId ?? MA, MA);
  const countA = A.overlay.count;
  const countB = B.overlay.count;

  const auxId = A.auxIds[0];
  const auxA = A.aux[auxId];
  const bPlayer = B.auxIds[0];
  const obsEv = (routing, type, data) => JSON.stringify({ obsName: header.obsName, ...routing, type, data });
  const auxEv = (routing, type, data, playerId = auxId) => JSON.stringify({ playerId, ...routing, type, data });

  // A's observer, into B: by group code, then by match id.
  A.obs.emit("obs_data", obsEv({ groupCode: GB }, "observing", "Intruder #1"));
  A.obs.emit("obs_data", obsEv({ groupCode: GB }, "round_info", gameEnd));
  A.obs.emit("obs_data", obsEv({ matchId: MB }, "round_info", gameEnd));
  // A's auxiliary client: a non-auxiliary event for its own match, by match
  // id and by group code, and its own kind of event into B.
  auxA.emit("aux_data", auxEv({ matchId: MA }, "round_info", gameEnd));
  auxA.emit("aux_data", auxEv({ groupCode: GA }, "round_info", gameEnd));
  auxA.emit("aux_data", auxEv({ matchId: MB }, "aux_health", 1, bPlayer));
  auxA.emit("aux_data", auxEv({ groupCode: GB }, "aux_health", 1, bPlayer));
  auxA.emit("aux_data", auxEv({ matchId: MB }, "round_info", gameEnd));
  await barrier(A.obs);
  await barrier(auxA);

  for (const s of [A.obs, B.obs, auxA, ...B.auxIds.map((id) => B.aux[id])]) {
    assert.ok(s.connected, `${s.label} was disconnected (${s.disconnectReason})`);
  }
  const afterA = await snapshot(GA, "snapshot A after");
  const afterB = await snapshot(GB, "snapshot B after");
  assert.deepEqual(masked(afterB), masked(beforeB), "match B changed");
  assert.deepEqual(masked(afterA), masked(beforeA), "match A changed");
  assert.equal(B.overlay.count, countB, "B's overlay received match_data");
  assert.equal(A.overlay.count, countA, "A's overlay received match_data");

  // Controls: the rightful senders' events take effect.
  const mark = A.overlay.count;
  auxA.emit("aux_data", auxEv({ matchId: MA }, "aux_health", 42));
  await barrier(auxA);
  await A.overlay.waitFor((d) => findPlayer(d, auxId)?.health === 42, 3000, "A's own auxiliary health", mark);
  B.obs.emit("obs_data", obsEv({ groupCode: GB }, "round_info", gameEnd));
  assert.equal(await waitDisconnect(B.obs), "io server disconnect", "B's own game_end ends B");
  assert.ok(A.obs.connected && auxA.connected, "A's clients outlive B");
});
