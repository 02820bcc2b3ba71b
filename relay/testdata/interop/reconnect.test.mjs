// Acceptance 2: an observer with default transports (polling, then the
// upgrade to WebSocket) logs on, streams a replay, loses its connection in
// the middle of round 2, logs on again with its group secret and continues;
// the match state survives and the final state equals that of a second
// server fed the same replay without the drop. Every frame any client
// receives is scanned for the secrets.
//
// Environment: INGEST_URL, OUTPUT_URL (server A), REF_INGEST_URL,
// REF_OUTPUT_URL (server B), AUTH_KEY, REPLAY (short_3rounds.replay).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  env, watchdog, loadReplay, logonPayload, Clients, Recorder, Overlay, Feeder, track, waitConnect,
  waitEvent, logon, barrier, sleep, masked, assertNoInternalFields, isOwnLogonAck,
} from "./lib.mjs";

watchdog(110);
const INGEST = env("INGEST_URL");
const OUTPUT = env("OUTPUT_URL");
const REF_INGEST = env("REF_INGEST_URL");
const REF_OUTPUT = env("REF_OUTPUT_URL");
const AUTH_KEY = env("AUTH_KEY");
const { header, events } = loadReplay(env("REPLAY"));
const group = header.groupCode;

const rec = new Recorder();
const clients = new Clients(rec);
after(() => clients.closeAll());

// dropConnection cuts the observer's transport the way a network failure
// does: the TCP socket under the WebSocket is destroyed without a close
// frame (falling back to closing the Engine.IO socket). socket.io-client
// then reconnects by itself, as the real observer client does.
function dropConnection(sock) {
  const transport = sock.io.engine.transport;
  const raw = transport && transport.ws && transport.ws._socket;
  if (raw && typeof raw.destroy === "function") {
    raw.destroy();
    return "tcp socket destroyed";
  }
  sock.io.engine.close();
  return "engine.io socket closed";
}

test("observer logon, drop, reconnect with the group secret, state intact", { timeout: 90000 }, async () => {
  // An overlay waiting for the match before it exists: logon_success only.
  const early = new Overlay(clients, OUTPUT, group, "overlay early (default transports)");
  await early.logon();
  await sleep(300);
  assert.equal(early.count, 0, "an overlay of a group code without a match must not get match_data");

  // The observer: default transports and default reconnection.
  const obs = track(clients.open(INGEST, "observer", { reconnection: true, timeout: 20000 }));
  await waitConnect(obs);
  const first = await logon(obs, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY }));
  assert.equal(first.ack.type, "authenticate");
  assert.equal(first.ack.value, true, `logon refused: ${first.raw}`);
  assert.match(first.ack.reason, /^[A-Z0-9]{12}$/, "a new match's ack carries a 12-character group secret");
  const secret = first.ack.reason;

  const feeder = new Feeder(clients, { ingest: INGEST, events, clientVersion: header.clientVersion });
  feeder.obs = obs;
  const combat2 = events.findIndex((e) => e.type === "round_info" && e.data.roundNumber === 2 && e.data.roundPhase === "combat");
  assert.ok(combat2 > 0);
  const cut = combat2 + 14; // in the middle of round 2's combat phase
  await feeder.feed(0, cut);
  const before = await early.current();
  assert.ok(before, "no match_data while streaming");
  assert.equal(before.roundNumber, 2);
  assert.equal(before.roundPhase, "combat");
  assert.equal(obs.io.engine.transport.name, "websocket", "the default client should have upgraded to WebSocket");
  const auxBefore = Object.values(feeder.aux).filter(Boolean);
  assert.equal(auxBefore.length, 3, "three auxiliary clients logged on by match id");
  for (const [id, ack] of Object.entries(feeder.auxAcks)) {
    assert.deepEqual(ack, { type: "aux_authenticate", value: true }, `aux logon of ${id}`);
  }

  // Drop, wait for socket.io-client's own reconnection, log on again.
  const countAtDrop = early.count;
  const disconnected = waitEvent(obs, "disconnect", 10000);
  const reconnected = new Promise((resolve) => obs.io.once("reconnect", resolve));
  const how = dropConnection(obs);
  const reason = [await disconnected].flat()[0];
  assert.notEqual(reason, "io server disconnect", `the drop (${how}) looked like a server disconnect`);
  let timer;
  await Promise.race([
    reconnected,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("socket.io-client did not reconnect within 15 s")), 15000); }),
  ]).finally(() => clearTimeout(timer));
  await waitConnect(obs);
  const again = await logon(obs, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY, groupSecret: secret }));
  assert.deepEqual(again.ack, { type: "authenticate", value: true, reason: "reconnected" });

  // The match was kept as it was: a new overlay's snapshot is the state
  // before the drop, and nothing changed for the overlay already there.
  const late = new Overlay(clients, OUTPUT, group, "overlay late (websocket)", { transports: ["websocket"] });
  await late.logon();
  const snap = await late.waitFor(() => true, 3000, "snapshot at logon");
  assert.deepEqual(snap, before, "state after the reconnect differs from the state before the drop");
  assert.equal(early.count, countAtDrop, "the drop and the reconnect changed the match state (extra match_data)");
  for (const s of auxBefore) assert.ok(s.connected, `${s.label} lost its connection when the observer dropped`);

  // Continue on the new connection.
  await feeder.feed(cut, events.length);
  const finalA = await early.current();
  await late.current();
  assert.deepEqual(late.latest(), finalA, "two overlays of the room ended with different states");
  assert.equal(finalA.roundNumber, 3);
  assert.deepEqual(finalA.teams.map((t) => t.roundsWon), [1, 2], "final score of short_3rounds is 1-2");

  // Reference: the same replay into a fresh server without the drop.
  const ref = new Overlay(clients, REF_OUTPUT, group, "overlay reference server");
  await ref.logon();
  const refObs = track(clients.open(REF_INGEST, "observer reference server"));
  await waitConnect(refObs);
  const refLogon = await logon(refObs, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY }));
  assert.equal(refLogon.ack.value, true, refLogon.raw);
  const refFeeder = new Feeder(clients, { ingest: REF_INGEST, events, clientVersion: header.clientVersion });
  refFeeder.obs = refObs;
  await refFeeder.feed(0, events.length);
  const finalB = await ref.current();
  assert.deepEqual(masked(finalA), masked(finalB), "final state after a reconnect differs from an uninterrupted run");

  // Nothing internal or secret was sent.
  for (const o of [early, late, ref]) {
    assert.deepEqual(o.errors(), [], `${o.label}: unparsable match_data`);
    for (const r of o.received) assertNoInternalFields(r.data, o.label);
  }
  await barrier(obs);
  const n = rec.assertNoSecrets(
    {
      groupSecret: secret,
      refGroupSecret: refLogon.ack.reason,
      accessKey: AUTH_KEY,
      playercamsSecret: header.toolsData.playercamsInfo.secret,
    },
    isOwnLogonAck,
  );
  console.log(`# reconnect: drop by ${how} (client reason "${reason}"), ${early.count} match_data on the early overlay, ${n} frames scanned`);
});
