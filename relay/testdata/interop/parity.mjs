// Golden-parity driver, run by relay/parity_test.go (TestGoldenParity).
//
// For each replay given, concurrently, against one running server: log on as
// the observer with the replay's header, put one overlay on the output port,
// send every event in file order from the observer or the auxiliary client
// that recorded it (the auxiliary clients log on by match id once
// match_start has been applied), and at the checkpoints the golden files
// were taken at, record the overlay's latest match_data once the server has
// applied everything sent and its send loop has flushed. After game_end it
// records which sockets the server disconnected. Comparing with the golden
// file is the Go test's job; this script only records what a real
// socket.io-client 4.8 sees, one <out-dir>/<name>.json per replay.
//
// Usage: node parity.mjs --ingest URL --output URL --out-dir DIR
//          [--max-wait-ms 5000] [--settle-ms 150] [--timeout 300] file.replay...
// --max-wait-ms bounds each wait for the overlay to catch up, --settle-ms is
// how long to count match_data after game_end (allowed, not compared).
// Exit status: 0 every replay was driven to its end, 1 otherwise (the
// result files then list the errors), 2 usage.
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Clients, barrier, isAux, isObs, loadReplay, logon, payload, rosterNames, sleep, track, waitEvent } from "./lib.mjs";

const opts = { ingest: "", output: "", outDir: "", settleMs: 150, maxWaitMs: 5000, timeout: 300 };
const files = [];
{
  const argv = process.argv.slice(2);
  const num = (s, name) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0) usage(`${name} wants a number, got ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--ingest") opts.ingest = v();
    else if (a === "--output") opts.output = v();
    else if (a === "--out-dir") opts.outDir = v();
    else if (a === "--settle-ms") opts.settleMs = num(v(), a);
    else if (a === "--max-wait-ms") opts.maxWaitMs = num(v(), a);
    else if (a === "--timeout") opts.timeout = num(v(), a);
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else files.push(a);
  }
  if (!opts.ingest || !opts.output || !opts.outDir || files.length === 0) usage("--ingest, --output, --out-dir and a replay file are required");
}

function usage(msg) {
  console.error(`parity.mjs: ${msg}\nusage: node parity.mjs --ingest URL --output URL --out-dir DIR [--max-wait-ms N] [--settle-ms N] [--timeout S] file.replay...`);
  process.exit(2);
}

// Events after which the golden files hold a checkpoint (besides score,
// combat starts and explicit plants): the observer's hotkeys.
const HOTKEYS = new Set(["tech_pause", "switch_kda_credits", "swap_left_right", "swap_attacker_defender", "toast"]);

// The existing server accepts observer versions 0.3.3 up to 0.3.24; a header
// outside that range (none of the fixtures) logs on as the newest.
function clientVersionFor(v) {
  const m = /^0\.3\.(\d+)/.exec(v ?? "");
  return m && +m[1] >= 3 && +m[1] < 25 ? v : "0.3.24";
}

const isRoundPhase = (e, phase) => e.type === "round_info" && e.data && e.data.roundPhase === phase;

async function drive(file) {
  const { header, events } = loadReplay(file);
  const res = {
    replay: path.basename(file),
    groupCode: header.groupCode,
    events: events.length,
    sent: { obs: 0, aux: 0, auxDropped: 0 },
    auxClients: {},
    logon: null,
    checkpoints: [],
    epilogue: null,
    errors: [],
    warnings: [],
    elapsedMs: 0,
  };
  const t0 = performance.now();
  const clients = new Clients();
  const clientVersion = clientVersionFor(header.clientVersion);
  let gameEndSent = false;
  let lost = null; // first unexpected disconnect before game_end
  const watchLoss = (sock, name) =>
    sock.on("disconnect", (r) => {
      if (!gameEndSent && r !== "io client disconnect" && !lost) lost = `${name} disconnected (${r}) before game_end`;
    });
  const aux = {}; // auxiliary clients by playerId (null: refused)
  const opened = {}; // every auxiliary socket, refused ones too

  try {
    // Observer.
    const obs = track(clients.open(opts.ingest, `${header.groupCode} observer`));
    watchLoss(obs, "observer");
    const { ack } = await logon(obs, "obs_logon", "obs_logon_ack", {
      type: "authenticate",
      clientVersion,
      obsName: header.obsName,
      key: "parity-no-key-required",
      groupCode: header.groupCode,
      groupSecret: header.groupSecret ?? "",
      leftTeam: header.leftTeam,
      rightTeam: header.rightTeam,
      toolsData: header.toolsData,
    });
    // The accepted ack carries the new group secret, a random value.
    res.logon = { type: ack.type, value: ack.value, reason: ack.value ? "<groupSecret>" : ack.reason };
    if (ack.value !== true) throw new Error(`obs_logon refused: ${ack.reason}`);

    // Overlay.
    let latestRaw = null; // the latest match_data argument, as sent
    let received = 0;
    const overlay = track(clients.open(opts.output, `${header.groupCode} overlay`));
    watchLoss(overlay, "overlay");
    overlay.on("match_data", (raw) => {
      if (typeof raw !== "string") {
        res.errors.push(`match_data argument is a ${typeof raw}, not a JSON string`);
        return;
      }
      latestRaw = raw;
      received++;
    });
    const ok = waitEvent(overlay, "logon_success");
    overlay.emit("logon", JSON.stringify({ groupCode: header.groupCode }));
    await ok;
    // A live match greets a new overlay with its state at once.
    for (const until = performance.now() + 1000; received === 0 && performance.now() < until; ) await sleep(10);
    res.logon.initialMatchData = received > 0;

    const names = rosterNames(events);
    let last = obs; // the connection that sent the latest event

    const auxFor = async (e) => {
      if (e.playerId in aux) return aux[e.playerId];
      await barrier(last); // the logon needs the match id: match_start must be applied
      const s = track(clients.open(opts.ingest, `${header.groupCode} aux ${e.playerId.slice(0, 8)}`));
      opened[e.playerId] = s;
      const info = { accepted: false, reason: null, disconnectReason: null, firstEvent: null };
      res.auxClients[e.playerId] = info;
      try {
        const { ack: a } = await logon(s, "aux_logon", "aux_logon_ack", {
          type: "aux_authenticate",
          clientVersion,
          name: names[e.playerId] ?? `Aux-${e.playerId.slice(0, 8)}`,
          matchId: e.matchId,
          playerId: e.playerId,
        });
        info.accepted = a.value === true;
        info.reason = info.accepted ? null : a.reason;
      } catch (err) {
        info.reason = String(err.message ?? err);
      }
      if (info.accepted) {
        watchLoss(s, `aux ${e.playerId.slice(0, 8)}`);
        aux[e.playerId] = s;
      } else {
        s.close();
        aux[e.playerId] = null;
      }
      return aux[e.playerId];
    };

    // snapshot logs a new overlay on and returns the match_data it is
    // greeted with: the match's state at that moment.
    const snapshot = async () => {
      const p = clients.open(opts.output, `${header.groupCode} probe`, { transports: ["websocket"] });
      try {
        const first = waitEvent(p, "match_data");
        p.emit("logon", JSON.stringify({ groupCode: header.groupCode }));
        return await first;
      } finally {
        p.close();
        clients.sockets.splice(clients.sockets.indexOf(p), 1);
      }
    };

    // checkpoint records the overlay's state once every event sent so far
    // is applied (barrier) and the server's send loop has broadcast it: the
    // overlay's latest match_data is then the very text a new overlay is
    // greeted with. No fixed pauses, so a loaded machine only makes it
    // slower; past maxWaitMs it records what it has, with a warning.
    let lastCpIdx = null;
    let round = 0;
    const checkpoint = async (label, idx, ev) => {
      const cp = { label, afterEvent: idx, type: ev ? ev.type : null, round, data: null };
      if (idx === lastCpIdx) {
        cp.data = res.checkpoints[res.checkpoints.length - 1].data; // nothing sent since
        res.checkpoints.push(cp);
        return;
      }
      lastCpIdx = idx;
      await barrier(last);
      const target = await snapshot();
      const limit = performance.now() + opts.maxWaitMs;
      while (latestRaw !== target && performance.now() < limit) await sleep(5);
      if (latestRaw !== target) res.warnings.push(`${label}@${idx}: the overlay's match_data did not reach the current state within ${opts.maxWaitMs} ms`);
      cp.data = latestRaw === null ? null : JSON.parse(latestRaw);
      res.checkpoints.push(cp);
    };

    const firstMatchStart = events.findIndex((e) => e.type === "match_start");
    let sinceBarrier = 0;
    for (let i = 0; i < events.length; i++) {
      if (lost) throw new Error(`${lost}; stopped at event ${i}`);
      const e = events[i];
      if (e.type === "round_info" && e.data && typeof e.data.roundNumber === "number") round = e.data.roundNumber;
      const gameEnd = isRoundPhase(e, "game_end");
      if (i === firstMatchStart && i > 0) await checkpoint("agent_select_end", i - 1, events[i - 1]);
      if (gameEnd) await checkpoint("before_game_end", i - 1, events[i - 1]);

      let sock;
      let channel;
      if (isObs(e)) {
        sock = obs;
        channel = "obs_data";
      } else if (isAux(e)) {
        sock = await auxFor(e);
        channel = "aux_data";
        if (!sock) {
          res.sent.auxDropped++;
          continue;
        }
        if (res.auxClients[e.playerId].firstEvent === null) res.auxClients[e.playerId].firstEvent = i;
      } else {
        throw new Error(`event ${i} is neither an observer nor an auxiliary event`);
      }
      // The file's order holds across connections only if the previous
      // connection's events are applied before this one sends.
      if (sock !== last) {
        await barrier(last);
        sinceBarrier = 0;
      }
      last = sock;
      if (gameEnd) gameEndSent = true;
      sock.emit(channel, payload(e));
      if (channel === "obs_data") res.sent.obs++;
      else res.sent.aux++;
      if (++sinceBarrier >= 50) {
        await barrier(sock); // keeps the client's send buffer short
        sinceBarrier = 0;
      }
      if (gameEnd) break;

      if (e.type === "score") await checkpoint(`score_r${round}`, i, e);
      else if (isRoundPhase(e, "combat")) await checkpoint(`combat_start_r${round}`, i, e);
      else if (e.type === "spike_planted") await checkpoint(`spike_planted_r${round}`, i, e);
      else if (HOTKEYS.has(e.type)) await checkpoint(`${e.type}_r${round}`, i, e);
      else if (e.type === "game_mode" || e.type === "map") await checkpoint(e.type, i, e);
    }
    if (lost) throw new Error(lost);

    if (!gameEndSent) {
      await checkpoint("end_of_replay", events.length - 1, events[events.length - 1]);
      res.epilogue = { gameEnd: false };
    } else {
      // The server ends the match: wait (bounded) for it to disconnect the
      // observer and every accepted auxiliary client.
      const before = received;
      const accepted = Object.entries(aux).filter(([, s]) => s);
      const limit = performance.now() + opts.maxWaitMs;
      while (performance.now() < limit && (obs.connected || accepted.some(([, s]) => s.connected))) await sleep(10);
      await sleep(opts.settleMs); // a last match_data may still be under way (allowed, counted)
      res.epilogue = {
        gameEnd: true,
        matchDataAfterGameEnd: received - before,
        observerDisconnectedByServer: obs.disconnectReason === "io server disconnect",
        auxDisconnectedByServer: Object.fromEntries(accepted.map(([id, s]) => [id, s.disconnectReason === "io server disconnect"])),
      };
    }
  } catch (e) {
    res.errors.push(String(e && e.stack ? e.stack : e));
  } finally {
    // Closing a connected socket records "io client disconnect", which is
    // what the golden files hold for clients the server left connected.
    clients.closeAll();
    for (const [id, info] of Object.entries(res.auxClients)) if (opened[id]) info.disconnectReason = opened[id].disconnectReason;
    res.elapsedMs = Math.round(performance.now() - t0);
  }
  return res;
}

const watchdog = setTimeout(() => {
  console.error(`parity.mjs: still running after ${opts.timeout}s, exiting`);
  process.exit(3);
}, opts.timeout * 1000);
watchdog.unref();

fs.mkdirSync(opts.outDir, { recursive: true });
const results = await Promise.all(
  files.map(async (f) => {
    const r = await drive(f);
    const out = path.join(opts.outDir, path.basename(f).replace(/\.replay$/, "") + ".json");
    fs.writeFileSync(out, JSON.stringify(r, null, 1));
    console.log(`${r.replay}: ${r.checkpoints.length} checkpoints, ${r.sent.obs}+${r.sent.aux} events, ${r.errors.length} errors, ${r.warnings.length} warnings, ${r.elapsedMs} ms`);
    return r;
  }),
);
clearTimeout(watchdog);
process.exit(results.every((r) => r.errors.length === 0) ? 0 : 1);
