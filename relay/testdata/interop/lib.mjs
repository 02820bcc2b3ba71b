// Shared helpers of the interop scripts: real socket.io-client 4.8 clients
// against a running cmd/spectra-server. The Go test (relay/interop_test.go)
// starts the servers and passes their URLs in the environment.
import assert from "node:assert/strict";
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { io } from "socket.io-client";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// env returns a required environment variable.
export function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") {
    if (fallback !== undefined) return fallback;
    throw new Error(`environment variable ${name} is not set (run through relay/interop_test.go)`);
  }
  return v;
}

// watchdog ends the process when a script overruns its budget, whatever
// handle keeps the event loop alive.
export function watchdog(seconds) {
  setTimeout(() => {
    console.error(`watchdog: script still running after ${seconds}s, exiting`);
    process.exit(3);
  }, seconds * 1000).unref();
}

// ---------------------------------------------------------------- replays

export function loadReplay(path) {
  const all = JSON.parse("[" + fs.readFileSync(path, "utf8") + "]");
  const header = all.shift();
  return { header, events: all };
}

export const isObs = (e) => "obsName" in e && "groupCode" in e;
export const isAux = (e) => "playerId" in e && "matchId" in e && !("groupCode" in e);

// payload is an event as the clients send it: without the server's timestamp.
export function payload(e, groupCode) {
  const { timestamp, ...rest } = e;
  if (groupCode && "groupCode" in rest) rest.groupCode = groupCode;
  return JSON.stringify(rest);
}

export function rosterNames(events) {
  const names = {};
  for (const e of events) {
    if (e.type === "roster" && e.data && e.data.playerId) names[e.data.playerId] = `${e.data.name}#${e.data.tagline}`;
  }
  return names;
}

// logonPayload builds the observer's obs_logon object from a replay header.
export function logonPayload(header, { key, groupCode, groupSecret, clientVersion, type } = {}) {
  return {
    type: type ?? "authenticate",
    clientVersion: clientVersion ?? header.clientVersion,
    obsName: header.obsName,
    key: key ?? "",
    groupCode: groupCode ?? header.groupCode,
    groupSecret: groupSecret ?? "",
    leftTeam: header.leftTeam,
    rightTeam: header.rightTeam,
    toolsData: header.toolsData,
  };
}

// ---------------------------------------------------------------- clients

// Clients is the set of sockets a script opened; closeAll ends them all.
export class Clients {
  constructor(recorder) {
    this.sockets = [];
    this.recorder = recorder;
  }

  // open creates a socket.io-client socket (new Manager) and records every
  // packet the server sends on it. label names the client in reports.
  open(url, label, opts = {}) {
    // A test server over TLS uses a self-signed pair: the Go side sets
    // NODE_TLS_REJECT_UNAUTHORIZED=0, which socket.io-client's explicit
    // rejectUnauthorized (default true) would override.
    const tlsOpts = process.env.NODE_TLS_REJECT_UNAUTHORIZED === "0" ? { rejectUnauthorized: false } : {};
    const sock = io(url, { forceNew: true, reconnection: false, timeout: 10000, ...tlsOpts, ...opts });
    sock.label = label;
    this.sockets.push(sock);
    if (this.recorder) this.recorder.attach(sock, label);
    return sock;
  }

  closeAll() {
    for (const s of this.sockets) {
      try {
        s.io.reconnection(false);
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

// Recorder keeps every Engine.IO packet the server sent to any client so a
// test can scan them all, e.g. for secrets.
export class Recorder {
  constructor() {
    this.frames = [];
  }

  attach(sock, label) {
    const m = sock.io;
    const hook = () => {
      m.engine.on("packet", (p) => {
        let data = p.data;
        if (data === undefined || data === null) data = "";
        else if (typeof data !== "string") data = Buffer.from(data).toString("latin1");
        this.frames.push({ label, type: p.type, data, t: Date.now() });
      });
    };
    // The Manager emits "open" (after the handshake, again after each
    // reconnection) before it subscribes to the engine's data, so a listener
    // added here sees every packet after the Engine.IO open packet.
    m.on("open", hook);
  }

  // assertNoSecrets fails when any recorded frame contains one of the
  // strings. allow(frame, secret) may exempt a frame (the observer's own
  // successful logon ack carries its group secret by design).
  assertNoSecrets(secrets, allow = () => false) {
    assert.ok(this.frames.length > 0, "no frames were recorded");
    const leaks = [];
    for (const f of this.frames) {
      for (const [name, s] of Object.entries(secrets)) {
        if (!s) continue;
        if (f.data.includes(s) && !allow(f, s, name)) {
          leaks.push(`${name} (${s}) in a ${f.type} packet to ${f.label}: ${f.data.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(leaks, [], `secrets were sent to clients (${this.frames.length} frames scanned)`);
    return this.frames.length;
  }
}

// isOwnLogonAck exempts the successful obs_logon_ack frames, which carry the
// group secret to the observer that created the match.
export function isOwnLogonAck(f, secret) {
  if (f.type !== "message") return false;
  // The ingest port recovers connection state: an offset string may follow
  // the ack's one argument.
  const m = /^2(?:\d*)\["obs_logon_ack","((?:[^"\\]|\\.)*)"(?:,"[^"\\]*")?\]$/s.exec(f.data);
  if (!m) return false;
  try {
    const ack = JSON.parse(JSON.parse(`"${m[1]}"`));
    return ack.value === true && ack.reason === secret;
  } catch {
    return false;
  }
}

export function waitEvent(sock, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sock.off(event, on);
      reject(new Error(`${sock.label ?? "socket"}: no ${event} within ${ms} ms`));
    }, ms);
    const on = (...args) => {
      clearTimeout(t);
      // An event of a recovering namespace ends with an offset string
      // (connection state recovery): it is not an argument of the event.
      if (sock._pid && args.length > 1 && typeof args[args.length - 1] === "string") args = args.slice(0, -1);
      resolve(args.length <= 1 ? args[0] : args);
    };
    sock.once(event, on);
  });
}

export function waitConnect(sock, ms = 10000) {
  if (sock.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${sock.label}: not connected within ${ms} ms`)), ms);
    sock.once("connect", () => {
      clearTimeout(t);
      resolve();
    });
    sock.once("connect_error", (e) => {
      clearTimeout(t);
      reject(new Error(`${sock.label}: connect_error ${e.message}`));
    });
  });
}

// waitDisconnect resolves with the disconnect reason.
export function waitDisconnect(sock, ms = 5000) {
  if (!sock.connected && sock.disconnectReason) return Promise.resolve(sock.disconnectReason);
  // socket.io-client passes (reason, details); keep the reason.
  return waitEvent(sock, "disconnect", ms).then((a) => (Array.isArray(a) ? a[0] : a));
}

// track remembers a socket's disconnect reason on the socket.
export function track(sock) {
  sock.disconnectReason = null;
  sock.on("disconnect", (r) => {
    sock.disconnectReason = r;
  });
  return sock;
}

// logon emits a logon event (payload JSON-encoded into a string) and
// returns the parsed ack. The ack listener is registered first.
export async function logon(sock, event, ackEvent, body, ms = 10000) {
  const p = waitEvent(sock, ackEvent, ms);
  sock.emit(event, typeof body === "string" ? body : JSON.stringify(body));
  const raw = await p;
  assert.equal(typeof raw, "string", `${ackEvent} must be a JSON string argument, got ${typeof raw}`);
  return { raw, ack: JSON.parse(raw) };
}

// barrier returns once the server has read everything sent before on this
// connection: it asks to join a namespace that does not exist on the same
// Engine.IO connection and waits for the CONNECT_ERROR answer.
let barrierN = 0;
export async function barrier(sock, ms = 5000) {
  if (!sock.connected) return;
  const b = sock.io.socket(`/__barrier_${++barrierN}`);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${sock.label}: barrier not answered within ${ms} ms`)), ms);
    b.once("connect_error", () => {
      clearTimeout(t);
      resolve();
    });
    b.once("connect", () => {
      clearTimeout(t);
      b.disconnect();
      resolve();
    });
  });
}

// ---------------------------------------------------------------- overlays

// Overlay is an output-side client that records every match_data.
export class Overlay {
  constructor(clients, url, groupCode, label, opts = {}) {
    this.clients = clients;
    this.url = url;
    this.groupCode = groupCode;
    this.sock = track(clients.open(url, label, opts));
    this.label = label;
    this.received = []; // {t, raw, data}
    this.order = []; // event names in arrival order
    this.sock.onAny((name) => this.order.push(name));
    this.sock.on("match_data", (raw) => {
      const entry = { t: performance.now(), raw, data: null, error: null };
      try {
        assert.equal(typeof raw, "string", "match_data must be a JSON string argument");
        entry.data = JSON.parse(raw);
      } catch (e) {
        entry.error = String(e);
      }
      this.received.push(entry);
    });
  }

  async logon(ms = 10000) {
    await waitConnect(this.sock, ms);
    const p = waitEvent(this.sock, "logon_success", ms);
    this.sock.emit("logon", JSON.stringify({ groupCode: this.groupCode }));
    const raw = await p;
    assert.equal(typeof raw, "string", "logon_success must be a JSON string argument");
    assert.deepEqual(JSON.parse(raw), {
      groupCode: this.groupCode,
      msg: `Logon succeeded for group code ${this.groupCode}`,
    });
    return this;
  }

  get count() {
    return this.received.length;
  }

  latest() {
    const e = this.received[this.received.length - 1];
    return e ? e.data : null;
  }

  get lastAt() {
    const e = this.received[this.received.length - 1];
    return e ? e.t : -Infinity;
  }

  // waitFor resolves when pred(data) holds for a received match_data.
  // Only match_data from index from on are considered.
  async waitFor(pred, ms = 5000, what = "matching match_data", from = 0) {
    const t0 = performance.now();
    let seen = from;
    for (;;) {
      for (; seen < this.received.length; seen++) {
        const d = this.received[seen].data;
        if (d && pred(d)) return d;
      }
      if (performance.now() - t0 > ms) throw new Error(`${this.label}: no ${what} within ${ms} ms (got ${this.received.length})`);
      await sleep(10);
    }
  }

  // settle waits until no match_data arrived for quietMs (at least minMs in all).
  async settle({ quietMs = 300, minMs = 250, maxMs = 8000 } = {}) {
    const t0 = performance.now();
    await sleep(minMs);
    while (performance.now() - this.lastAt < quietMs) {
      if (performance.now() - t0 > maxMs) throw new Error(`${this.label}: match_data did not settle within ${maxMs} ms`);
      await sleep(20);
    }
    return this.latest();
  }

  // current waits until this overlay's latest match_data is the server's
  // current state of the match, read as the snapshot a new overlay (a
  // probe, closed after) gets at logon, and returns it. Call it once the
  // feeder's barrier has passed: every event fed is applied then, and what
  // the probe gets is the state the trailing send brings. Unlike settle it
  // does not take a quiet spell for the end, which a stall on a loaded
  // machine can fake.
  async current(ms = 8000) {
    const probe = new Overlay(this.clients, this.url, this.groupCode, `${this.label} (probe)`);
    await probe.logon(ms);
    const want = await probe.waitFor(() => true, ms, "snapshot at logon");
    probe.sock.close();
    await this.waitFor((d) => d === this.latest() && isDeepStrictEqual(d, want), ms, "the server's current state");
    return want;
  }

  errors() {
    return this.received.filter((e) => e.error).map((e) => e.error);
  }
}

// ---------------------------------------------------------------- feeding

// Feeder sends replay events as the observer and the auxiliary clients would,
// keeping the file's order across connections with a barrier at each switch.
export class Feeder {
  constructor(clients, { ingest, events, names, clientVersion, pace = 0, onAuxAck }) {
    this.clients = clients;
    this.ingest = ingest;
    this.events = events;
    this.names = names ?? rosterNames(events);
    this.clientVersion = clientVersion;
    this.pace = pace;
    this.obs = null;
    this.aux = {}; // playerId → socket (null when refused)
    this.auxAcks = {};
    this.last = null;
    this.onAuxAck = onAuxAck;
    this.sent = 0;
  }

  async auxFor(e) {
    if (e.playerId in this.aux) return this.aux[e.playerId];
    const s = track(this.clients.open(this.ingest, `aux ${e.playerId.slice(0, 8)}`));
    await waitConnect(s);
    const { ack } = await logon(s, "aux_logon", "aux_logon_ack", {
      type: "aux_authenticate",
      clientVersion: this.clientVersion,
      name: this.names[e.playerId] ?? `Aux-${e.playerId.slice(0, 8)}`,
      matchId: e.matchId,
      playerId: e.playerId,
    });
    this.auxAcks[e.playerId] = ack;
    if (this.onAuxAck) this.onAuxAck(e.playerId, ack);
    if (ack.value !== true) {
      s.close();
      this.aux[e.playerId] = null;
    } else {
      this.aux[e.playerId] = s;
    }
    return this.aux[e.playerId];
  }

  // feed sends events [from, to).
  async feed(from, to) {
    for (let i = from; i < to; i++) {
      const e = this.events[i];
      let sock;
      let channel;
      if (isObs(e)) {
        sock = this.obs;
        channel = "obs_data";
      } else if (isAux(e)) {
        if (!(e.playerId in this.aux)) await barrier(this.last ?? this.obs); // the logon needs match_start
        sock = await this.auxFor(e);
        channel = "aux_data";
        if (!sock) continue;
      } else {
        throw new Error(`event ${i}: neither an observer nor an auxiliary event`);
      }
      assert.ok(sock && sock.connected, `event ${i}: ${channel} connection is not connected (${sock && sock.disconnectReason})`);
      if (this.last && sock !== this.last) await barrier(this.last);
      this.last = sock;
      sock.emit(channel, payload(e));
      this.sent++;
      if (this.pace > 0) await sleep(this.pace);
      else if (this.sent % 50 === 0) await barrier(sock); // keep the send buffer short
    }
    if (this.last) await barrier(this.last);
  }
}

// ---------------------------------------------------------------- state

// Fields whose values derive from the server's clock.
export const CLOCK_FIELDS = ["timestamp", "logStartTime", "roundTimeoutTime", "spikeDetonationTime", "agentSelectStartTime"];

// masked returns a deep copy with the clock fields' values replaced (their
// presence is kept, so a missing field still shows up as a difference).
export function masked(v, fields = CLOCK_FIELDS) {
  if (Array.isArray(v)) return v.map((x) => masked(x, fields));
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = fields.includes(k) ? "<clock>" : masked(x, fields);
    return o;
  }
  return v;
}

export function findPlayer(state, playerId) {
  for (const t of state.teams ?? []) for (const p of t.players ?? []) if (p.riotId === playerId) return p;
  return null;
}

// assertNoInternalFields checks one match_data object against SPEC §5.
export function assertNoInternalFields(state, where) {
  for (const k of ["groupSecret", "replayLog", "eventNumber", "timeoutEndTimeout", "timeoutRemainingLoop", "toastEndTimeout", "playercamUrl", "key"]) {
    assert.ok(!(k in state), `${where}: match_data has the internal field ${k}`);
  }
  const pc = state.tools && state.tools.playercamsInfo;
  if (pc && typeof pc === "object") {
    assert.ok(!("secret" in pc), `${where}: tools.playercamsInfo.secret is sent`);
    assert.ok(!("endTime" in pc), `${where}: tools.playercamsInfo.endTime is sent`);
  }
}
