// Acceptance 2: auxiliary clients log on by match id, their data shows in
// match_data (auxiliaryAvailable flags), and when an auxiliary connection
// closes, that player's flags are reset.
//
// Environment: INGEST_URL, OUTPUT_URL, AUTH_KEY, REPLAY (short_3rounds.replay).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  env, watchdog, loadReplay, logonPayload, Clients, Recorder, Overlay, Feeder, track, waitConnect,
  logon, barrier, sleep, findPlayer, assertNoInternalFields, isOwnLogonAck, isAux,
} from "./lib.mjs";

watchdog(80);
const INGEST = env("INGEST_URL");
const OUTPUT = env("OUTPUT_URL");
const AUTH_KEY = env("AUTH_KEY");
const { header, events } = loadReplay(env("REPLAY"));
const group = header.groupCode;

const rec = new Recorder();
const clients = new Clients(rec);
after(() => clients.closeAll());

const allFalse = { health: false, abilities: false, scoreboard: false };

// pollSnapshot logs new overlays on until pred holds for the snapshot one
// gets at logon (the server need not broadcast a state change for an
// auxiliary disconnect, but every later snapshot must show it).
async function pollSnapshot(pred, ms, what) {
  const t0 = Date.now();
  let last = null;
  for (let i = 0; Date.now() - t0 < ms; i++) {
    const o = new Overlay(clients, OUTPUT, group, `overlay poll ${i}`, { transports: ["websocket"] });
    await o.logon();
    last = await o.waitFor(() => true, 3000, "snapshot at logon");
    o.sock.close();
    if (pred(last)) return last;
    await sleep(100);
  }
  throw new Error(`no snapshot with ${what} within ${ms} ms; last: ${JSON.stringify(last && last.teams.map((t) => t.players.map((p) => [p.name, p.auxiliaryAvailable])))}`);
}

test("aux clients by match id; disconnect resets the availability flags", { timeout: 60000 }, async () => {
  const overlay = new Overlay(clients, OUTPUT, group, "overlay (polling)", { transports: ["polling"] });
  await overlay.logon();
  const obs = track(clients.open(INGEST, "observer"));
  await waitConnect(obs);
  const { ack } = await logon(obs, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY }));
  assert.equal(ack.value, true, JSON.stringify(ack));
  const secret = ack.reason;

  // Everything up to the end of round 1's shopping phase: rosters,
  // match_start, and each auxiliary client's first data.
  const feeder = new Feeder(clients, { ingest: INGEST, events, clientVersion: header.clientVersion });
  feeder.obs = obs;
  const combat1 = events.findIndex((e) => e.type === "round_info" && e.data.roundPhase === "combat");
  await feeder.feed(0, combat1);
  const state = await overlay.settle();
  const ids = Object.keys(feeder.aux);
  assert.equal(ids.length, 3, "three auxiliary clients");
  for (const id of ids) assert.deepEqual(feeder.auxAcks[id], { type: "aux_authenticate", value: true });

  // Each player with an auxiliary client shows what it sent.
  const sentTypes = {};
  for (const e of events.slice(0, combat1)) if (isAux(e)) (sentTypes[e.playerId] ??= new Set()).add(e.type);
  for (const id of ids) {
    const p = findPlayer(state, id);
    assert.ok(p, `player ${id} is in the match`);
    assert.equal(typeof p.auxiliaryAvailable, "object");
    if (sentTypes[id].has("aux_health")) assert.equal(p.auxiliaryAvailable.health, true, `${p.name}: health flag`);
    if (sentTypes[id].has("aux_abilities")) assert.equal(p.auxiliaryAvailable.abilities, true, `${p.name}: abilities flag`);
  }
  // Make sure one player has all three flags set before its client leaves.
  const victim = ids[0];
  const auxSock = feeder.aux[victim];
  const matchId = events.find((e) => e.type === "match_start").data;
  const auxEv = (type, data) => JSON.stringify({ playerId: victim, matchId, type, data });
  const mark = overlay.count;
  auxSock.emit("aux_data", auxEv("aux_health", 77));
  auxSock.emit("aux_data", auxEv("aux_abilities", { grenade: 1, ability_1: 2, ability_2: 0 }));
  const sb = events.find((e) => isAux(e) && e.playerId === victim && e.type === "aux_scoreboard");
  if (sb) auxSock.emit("aux_data", auxEv("aux_scoreboard", sb.data));
  await barrier(auxSock);
  const withFlags = await overlay.waitFor((d) => {
    const p = findPlayer(d, victim);
    return p && p.health === 77 && p.auxiliaryAvailable.health && p.auxiliaryAvailable.abilities;
  }, 3000, "the auxiliary health 77 with its flags", mark);
  const victimName = findPlayer(withFlags, victim).name;
  const others = ids.slice(1).map((id) => [id, findPlayer(withFlags, id).auxiliaryAvailable]);

  // The auxiliary client closes: its player's flags reset, the others keep theirs.
  auxSock.close();
  const snap = await pollSnapshot((d) => {
    const a = findPlayer(d, victim).auxiliaryAvailable;
    return !a.health && !a.abilities && !a.scoreboard;
  }, 3000, `${victimName}'s flags reset`);
  assert.deepEqual(findPlayer(snap, victim).auxiliaryAvailable, allFalse);
  for (const [id, flags] of others) assert.deepEqual(findPlayer(snap, id).auxiliaryAvailable, flags, `flags of ${id} changed`);

  // The room's overlay sees the reset with the next change at the latest.
  const mark2 = overlay.count;
  obs.emit("obs_data", JSON.stringify({ obsName: header.obsName, groupCode: group, type: "observing", data: `${victimName} #x` }));
  await barrier(obs);
  const after = await overlay.waitFor((d) => {
    const a = findPlayer(d, victim).auxiliaryAvailable;
    return !a.health && !a.abilities && !a.scoreboard;
  }, 3000, "reset flags on the room's overlay", mark2);
  assertNoInternalFields(after, "overlay");
  assert.ok(obs.connected, "the observer is unaffected");

  // A second logon for the same player (the client restarts) is accepted and
  // its data sets the flags again.
  const again = track(clients.open(INGEST, "aux again", { transports: ["websocket"] }));
  await waitConnect(again);
  const r = await logon(again, "aux_logon", "aux_logon_ack", {
    type: "aux_authenticate", clientVersion: header.clientVersion, name: victimName, matchId, playerId: victim,
  });
  assert.deepEqual(r.ack, { type: "aux_authenticate", value: true });
  const mark3 = overlay.count;
  again.emit("aux_data", auxEv("aux_health", 55));
  await barrier(again);
  await overlay.waitFor((d) => {
    const p = findPlayer(d, victim);
    return p.health === 55 && p.auxiliaryAvailable.health === true;
  }, 3000, "flags set again by the new auxiliary connection", mark3);

  rec.assertNoSecrets({ groupSecret: secret, accessKey: AUTH_KEY, playercamsSecret: header.toolsData.playercamsInfo.secret }, isOwnLogonAck);
});
