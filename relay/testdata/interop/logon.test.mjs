// Acceptance 2: every logon failure of SPEC §4 answers its exact ack and the
// server then closes the connection; the checks run in the SPEC's order; a
// connection logs on once; unauthenticated and malformed data is dropped.
//
// Environment: INGEST_URL, OUTPUT_URL of a server with REQUIRE_AUTH_KEY=true
// and AUTH_KEY; REPLAY (any replay file, for the teams and toolsData).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  env, watchdog, loadReplay, logonPayload, Clients, Recorder, Overlay, track, waitConnect, waitEvent,
  waitDisconnect, logon, barrier, sleep, assertNoInternalFields, isOwnLogonAck,
} from "./lib.mjs";

watchdog(80);
const INGEST = env("INGEST_URL");
const OUTPUT = env("OUTPUT_URL");
const AUTH_KEY = env("AUTH_KEY");
const { header } = loadReplay(env("REPLAY"));

const rec = new Recorder();
const clients = new Clients(rec);
after(() => clients.closeAll());
const secrets = {};

let n = 0;
async function connect(label, opts) {
  const s = track(clients.open(INGEST, `${label} #${++n}`, opts));
  await waitConnect(s);
  return s;
}

// refused sends one logon on a new connection and checks the exact ack and
// that the server disconnects the client afterwards.
async function refused(event, body, expected, opts) {
  const s = await connect(`${event} refused`, opts);
  const order = [];
  s.onAny((name) => order.push(name));
  s.on("disconnect", () => order.push("disconnect"));
  const ackEvent = `${event}_ack`;
  const { ack } = await logon(s, event, ackEvent, body);
  if (expected instanceof RegExp) {
    assert.equal(ack.type, "authenticate");
    assert.equal(ack.value, false);
    assert.match(ack.reason, expected);
    assert.deepEqual(Object.keys(ack).sort(), ["reason", "type", "value"]);
  } else {
    assert.deepEqual(ack, expected);
  }
  const reason = await waitDisconnect(s, 5000);
  assert.equal(reason, "io server disconnect", "after a refused logon the server must disconnect the client");
  assert.deepEqual(order, [ackEvent, "disconnect"], "the ack must arrive before the disconnect");
  return ack;
}

// accepted logs an observer on and returns the socket and its secret.
async function accepted(groupCode, extra = {}, opts) {
  const s = await connect(`observer ${groupCode}`, opts);
  const { ack, raw } = await logon(s, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY, groupCode, ...extra }));
  assert.equal(ack.type, "authenticate", raw);
  assert.equal(ack.value, true, raw);
  assert.match(ack.reason, /^[A-Z0-9]{12}$/, raw);
  secrets[`groupSecret ${groupCode}`] = ack.reason;
  return { sock: s, secret: ack.reason };
}

const refusedAck = (reason) => ({ type: "authenticate", value: false, reason });
const versionReason = (v) => new RegExp(`^Client version ${v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not compatible with server version .*\\.$`);

test("obs_logon: invalid packet type", { timeout: 15000 }, async () => {
  await refused("obs_logon", logonPayload(header, { key: AUTH_KEY, groupCode: "BADTYP", type: "aux_authenticate" }), refusedAck("Invalid packet."));
  // the type check comes first: a bad version and a bad key do not matter
  await refused("obs_logon", logonPayload(header, { key: "nope", groupCode: "BADTY2", type: "auth", clientVersion: "9.9.9" }), refusedAck("Invalid packet."), { transports: ["websocket"] });
});

test("obs_logon: client versions outside >=0.3.3 <0.3.25", { timeout: 20000 }, async () => {
  for (const v of ["0.3.25", "0.3.2", "0.4.0", "1.0.0", "0.3.10-beta.1", "banana", ""]) {
    await refused("obs_logon", logonPayload(header, { key: AUTH_KEY, groupCode: "VERSN1", clientVersion: v }), versionReason(v));
  }
  // the version check comes before the key check
  await refused("obs_logon", logonPayload(header, { key: "nope", groupCode: "VERSN1", clientVersion: "0.2.0" }), versionReason("0.2.0"), { transports: ["polling"] });
  // both ends of the range are compatible
  for (const [v, code] of [["0.3.3", "VMIN03"], ["0.3.24", "VMAX24"]]) {
    const { sock } = await accepted(code, { clientVersion: v });
    sock.close();
  }
});

test("obs_logon: invalid key with REQUIRE_AUTH_KEY=true", { timeout: 15000 }, async () => {
  const running = async () => (await fetch(env("EXTRAS_URL") + "/status").then((r) => r.json())).matchesRunning;
  const before = await running();
  await refused("obs_logon", logonPayload(header, { key: "not-the-key", groupCode: "BADKEY" }), refusedAck("Invalid Key"));
  await refused("obs_logon", logonPayload(header, { key: "", groupCode: "BADKEY" }), refusedAck("Invalid Key"), { transports: ["polling"] });
  assert.equal(await running(), before, "refused logons must not create matches");
});

test("obs_logon: group code already live", { timeout: 20000 }, async () => {
  const { sock: live, secret } = await accepted("LIVE01");
  const exists = refusedAck("Game with Group Code LIVE01 exists and is still live.");
  await refused("obs_logon", logonPayload(header, { key: AUTH_KEY, groupCode: "LIVE01" }), exists);
  await refused("obs_logon", logonPayload(header, { key: AUTH_KEY, groupCode: "LIVE01", groupSecret: "WRONGSECRET1" }), exists, { transports: ["websocket"] });
  await refused("obs_logon", logonPayload(header, { key: AUTH_KEY, groupCode: "LIVE01", groupSecret: secret.toLowerCase() }), exists, { transports: ["polling"] });
  // the key is checked before the group code
  await refused("obs_logon", logonPayload(header, { key: "nope", groupCode: "LIVE01", groupSecret: secret }), refusedAck("Invalid Key"));
  // the right secret reconnects (even while the first connection is open)
  const s = await connect("observer LIVE01 second");
  const { ack } = await logon(s, "obs_logon", "obs_logon_ack", logonPayload(header, { key: AUTH_KEY, groupCode: "LIVE01", groupSecret: secret }));
  assert.deepEqual(ack, { type: "authenticate", value: true, reason: "reconnected" });
  await sleep(300);
  assert.ok(s.connected && live.connected, "accepted observers stay connected");
});

test("a connection logs on once; later logons are ignored", { timeout: 15000 }, async () => {
  const { sock } = await accepted("ONCE01");
  const late = [];
  sock.on("obs_logon_ack", (m) => late.push(["obs_logon_ack", m]));
  sock.on("aux_logon_ack", (m) => late.push(["aux_logon_ack", m]));
  sock.emit("obs_logon", JSON.stringify(logonPayload(header, { key: AUTH_KEY, groupCode: "ONCE02" })));
  sock.emit("aux_logon", JSON.stringify({ type: "aux_authenticate", clientVersion: header.clientVersion, name: "x", matchId: "none", playerId: "p" }));
  await barrier(sock);
  await sleep(300);
  assert.deepEqual(late, [], "a second logon on a logged-on connection must be ignored");
  assert.ok(sock.connected);
  const o = new Overlay(clients, OUTPUT, "ONCE02", "overlay ONCE02");
  await o.logon();
  await sleep(300);
  assert.equal(o.count, 0, "the ignored second obs_logon created a match");
});

test("aux_logon: invalid packet, bad version, unknown match id, success", { timeout: 20000 }, async () => {
  const aux = (extra) => ({ type: "aux_authenticate", clientVersion: header.clientVersion, name: "Aux#1", matchId: "9c7e5a52-0000-4000-8000-000000000001", playerId: "p-1", ...extra });
  await refused("aux_logon", aux({ type: "authenticate" }), refusedAck("Invalid packet."));
  await refused("aux_logon", aux({ type: "aux_authenticate", clientVersion: "0.3.25" }), versionReason("0.3.25"), { transports: ["websocket"] });
  await refused("aux_logon", aux({ clientVersion: "0.1.0", matchId: "nope" }), versionReason("0.1.0"));
  await refused("aux_logon", aux({ matchId: "nope-0001" }), refusedAck("Game with Match ID nope-0001 not found."));
  await refused("aux_logon", aux({}), refusedAck("Game with Match ID 9c7e5a52-0000-4000-8000-000000000001 not found."), { transports: ["polling"] });

  // After match_start the match id is known.
  const { sock: obs } = await accepted("AUXM01");
  obs.emit("obs_data", JSON.stringify({ obsName: header.obsName, groupCode: "AUXM01", type: "match_start", data: "9c7e5a52-0000-4000-8000-000000000001" }));
  await barrier(obs);
  await sleep(150);
  for (const opts of [undefined, { transports: ["websocket"] }, { transports: ["polling"] }]) {
    const s = await connect("aux accepted", opts);
    const { ack } = await logon(s, "aux_logon", "aux_logon_ack", aux({}));
    assert.deepEqual(ack, { type: "aux_authenticate", value: true });
    // logged on as aux: a later obs_logon on this connection is ignored
    const late = [];
    s.on("obs_logon_ack", (m) => late.push(m));
    s.emit("obs_logon", JSON.stringify(logonPayload(header, { key: AUTH_KEY, groupCode: "AUXOBS" })));
    await barrier(s);
    await sleep(200);
    assert.deepEqual(late, [], "an obs_logon after aux_logon must be ignored");
    assert.ok(s.connected, "an accepted aux client stays connected");
    s.close();
  }
});

test("data before logon and malformed data", { timeout: 20000 }, async () => {
  const { sock: obs } = await accepted("DATA01");
  const o = new Overlay(clients, OUTPUT, "DATA01", "overlay DATA01");
  await o.logon();
  const ev = (type, data) => JSON.stringify({ obsName: header.obsName, groupCode: "DATA01", type, data });
  obs.emit("obs_data", ev("map", "Infinityy"));
  await o.waitFor((d) => d.map === "Abyss", 3000, "map Abyss");
  await o.settle({ minMs: 150, quietMs: 200 });
  const count = o.count;

  // A connection that never logged on: its data is ignored.
  const anon = await connect("anonymous");
  anon.emit("obs_data", ev("map", "Ascent"));
  anon.emit("aux_data", JSON.stringify({ playerId: "p", matchId: "m", type: "aux_health", data: 1 }));
  await barrier(anon);
  // Malformed data on a logged-on connection: dropped, the connection stays.
  for (const bad of ["not json", "{}", "[]", "null", "42", JSON.stringify({ obsName: "x", groupCode: "DATA01", type: "map" }), JSON.stringify({ groupCode: "DATA01", type: "map", data: "Ascent" })]) {
    obs.emit("obs_data", bad);
  }
  obs.emit("obs_data", { not: "a string" });
  await barrier(obs);
  await sleep(300);
  assert.equal(o.count, count, "ignored data changed the match");
  assert.ok(obs.connected, "malformed data must not close the observer's connection");
  assert.ok(anon.connected || anon.disconnectReason === "io server disconnect");

  obs.emit("obs_data", ev("map", "Duality"));
  const d = await o.waitFor((x) => x.map === "Bind", 3000, "map Bind after the malformed data");
  assertNoInternalFields(d, "DATA01");
});

test("no frame carries a secret", { timeout: 5000 }, () => {
  rec.assertNoSecrets({ ...secrets, accessKey: AUTH_KEY, playercamsSecret: header.toolsData.playercamsInfo.secret }, isOwnLogonAck);
});
