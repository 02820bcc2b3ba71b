// connector.mjs plays a recorded match into the relay the way the real
// Spectra observer client and its auxiliary clients do
// (ValoSpectra/Spectra-Client, src/services/connectorService.ts):
// socket.io-client 4.8 with reconnection on (reconnectionDelay 1000,
// reconnectionDelayMax 5000), the logon (obs_logon / aux_logon) emitted
// once, and every event emitted whatever the connection's state: while
// disconnected socket.io-client buffers the emits and sends them after the
// reconnect. Nothing here logs on again.
//
// Not a node:test script: relay/recovery_fault_test.go drives it through
// stdin/stdout, one JSON object per line. It prints {"at": i} after
// event i of PAUSE_AT has been read by the relay (or, while a connection
// is down, once it is back up and has been), and waits for a line "go".
// At the end it prints {"done": true, ...} with what the sockets saw.
//
// Environment: INGEST_URL, REPLAY (path), PAUSE_AT (comma-separated event
// indexes), PACE_MS (pause between events, default 5).
import readline from "node:readline";
import { io } from "socket.io-client";
import { env, watchdog, loadReplay, isObs, isAux, payload, rosterNames, logonPayload, barrier, sleep } from "./lib.mjs";

watchdog(170);
const ingest = env("INGEST_URL");
const { header, events } = loadReplay(env("REPLAY"));
const pauses = new Set(env("PAUSE_AT", "").split(",").filter(Boolean).map(Number));
const pace = Number(env("PACE_MS", "5"));
const names = rosterNames(events);

const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

// Lines from the test, in order.
const lines = [];
let waiter = null;
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (l) => {
  if (waiter) {
    const w = waiter;
    waiter = null;
    w(l);
  } else lines.push(l);
});
// The test went away (it failed, or is done with us): so do we.
rl.on("close", () => {
  if (waiter) {
    console.error("stdin closed while waiting for the test");
    process.exit(4);
  }
});
const nextLine = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => (waiter = r)));

// The connector's options.
const OPTS = { forceNew: true, reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 5000, timeout: 20000 };

const stats = {}; // label → {connects, recovered, disconnects}
function open(label) {
  const s = io(ingest, OPTS);
  s.label = label;
  const st = (stats[label] = { connects: 0, recovered: 0, disconnects: 0 });
  s.on("connect", () => {
    st.connects++;
    if (s.recovered) st.recovered++;
  });
  s.on("disconnect", (reason) => {
    st.disconnects++;
    // The test continues a fault once the client knows of it: events
    // emitted from then on are buffered by socket.io-client. (One emitted
    // into a dead connection before the client noticed is lost, with or
    // without recovery: the protocol has no acknowledgement for it.)
    if (label === "obs") say({ obsDown: reason });
  });
  return s;
}

// settle returns once the relay has read everything emitted on sock: it
// waits for the connection to be up (a reconnect flushes the buffered
// emits before "connect"), then for a barrier on it. Bounded.
async function settle(sock) {
  for (let i = 0; i < 3; i++) {
    if (!sock.connected) {
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${sock.label}: not reconnected within 30 s`)), 30000);
        sock.once("connect", () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    try {
      await barrier(sock, 5000);
      if (sock.connected) return;
    } catch (err) {
      if (sock.connected) throw err;
      // the connection went down during the barrier: wait for it again
    }
  }
  throw new Error(`${sock.label}: no barrier through within 3 attempts`);
}

function ackOf(sock, event) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${sock.label}: no ${event} within 20 s`)), 20000);
    sock.once(event, (msg) => {
      clearTimeout(t);
      resolve(JSON.parse(msg.toString()));
    });
  });
}

// The observer: connect, logon emitted at once (the client does not wait
// for the connection either).
const obs = open("obs");
const obsAck = ackOf(obs, "obs_logon_ack");
obs.emit("obs_logon", JSON.stringify(logonPayload(header, { key: process.env.AUTH_KEY ?? "" })));
const ack = await obsAck;
if (ack.value !== true) throw new Error(`observer logon refused: ${ack.reason}`);
say({ loggedOn: true });

const aux = {};
async function auxFor(e) {
  if (aux[e.playerId]) return aux[e.playerId];
  const s = open(`aux ${e.playerId.slice(0, 8)}`);
  const p = ackOf(s, "aux_logon_ack");
  s.emit("aux_logon", JSON.stringify({
    type: "aux_authenticate", clientVersion: header.clientVersion,
    name: names[e.playerId] ?? `Aux-${e.playerId.slice(0, 8)}`, matchId: e.matchId, playerId: e.playerId,
  }));
  const a = await p;
  if (a.value !== true) throw new Error(`aux logon of ${e.playerId} refused`);
  aux[e.playerId] = s;
  return s;
}

let last = null;
for (let i = 0; i < events.length; i++) {
  const e = events[i];
  let sock;
  let channel;
  if (isObs(e)) {
    sock = obs;
    channel = "obs_data";
  } else if (isAux(e)) {
    if (!aux[e.playerId] && last) await settle(last); // the aux logon needs the match id
    sock = await auxFor(e);
    channel = "aux_data";
  } else {
    throw new Error(`event ${i}: neither an observer nor an auxiliary event`);
  }
  // The events of one client follow those of the other in file order, as
  // diffdrive orders them: the switch waits until the relay read them.
  if (last && sock !== last) await settle(last);
  last = sock;
  sock.emit(channel, payload(e)); // whatever the state: buffered while down
  if (pauses.has(i)) {
    await settle(sock);
    const port = obs.io.engine?.transport?.name === "websocket" ? obs.io.engine.transport.ws?._socket?.localPort : null;
    say({ at: i, obsPort: port ?? 0 });
    const l = await nextLine();
    if (l !== "go") throw new Error(`expected "go", got ${JSON.stringify(l)}`);
  } else if (pace > 0) {
    await sleep(pace);
  }
}
if (last) await settle(last);
say({ done: true, stats });
obs.io.reconnection(false);
obs.close();
for (const s of Object.values(aux)) {
  s.io.reconnection(false);
  s.close();
}
process.exit(0);
