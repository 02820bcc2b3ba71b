// Minimal Spectra relay on Node socket.io 4.8, configured like the existing
// TypeScript server, so that the bench measures a Node baseline in the same
// run as the Go server.
//
// What it does (and does not) do:
//   - ingest (obs_logon / aux_logon / obs_data / aux_data) and output (logon)
//     on two socket.io servers, CORS *, permessage-deflate with threshold
//     1024, zlib level 3, memLevel 7 — the existing server's settings;
//   - a match per group code; its state starts as a copy of a real match
//     state (the last checkpoint of a golden file, ~18 KB, BASE_STATE) and
//     each event patches it: scoreboard → that player's numbers, round_info
//     → round and phase, score → rounds won, toast → toastInfo (toggled as
//     the real server does: it carries the bench's latency marker), match_start
//     → matchId, observing → isObserved flags; any accepted event marks the
//     match changed;
//   - every 100 ms each changed match sends its whole state as a JSON string
//     `match_data` to its room (change-driven, like the existing server);
//   - no game rules, timers, semver or key checks, no replay files.
//
// Environment: BIND (127.0.0.1), INGEST_PORT, OUTPUT_PORT, EXTRAS_PORT (0 =
// any free port), BASE_STATE (path of a golden checkpoints file).
// Prints `spectra-server listening ingest=H:P output=H:P extras=H:P`.
"use strict";

const http = require("http");
const fs = require("fs");
const crypto = require("crypto");
const { Server } = require("socket.io");

const bind = process.env.BIND || "127.0.0.1";
const serverOpts = {
  cors: { origin: "*" },
  perMessageDeflate: {
    threshold: 1024,
    zlibDeflateOptions: { level: 3, memLevel: 7 },
  },
};

function loadBase() {
  const file = process.env.BASE_STATE;
  if (file) {
    try {
      const doc = JSON.parse(fs.readFileSync(file, "utf8"));
      const cps = doc.checkpoints || [];
      if (cps.length > 0) return cps[cps.length - 1].data;
    } catch (e) {
      console.error("baseline: cannot read BASE_STATE:", e.message);
    }
  }
  // A stub that grows like a real state once players report.
  return {
    matchId: "", matchType: "bomb", groupCode: "", isRunning: true,
    roundNumber: 0, roundPhase: "shopping",
    teams: [{ teamName: "L", roundsWon: 0, players: [] }, { teamName: "R", roundsWon: 0, players: [] }],
    toastInfo: { active: false, title: "", message: "", duration: null, eventLogoEnabled: true },
  };
}
const baseJSON = JSON.stringify(loadBase());

const matches = new Map(); // groupCode → match
let output; // the output socket.io server

function newMatch(logon) {
  const state = JSON.parse(baseJSON);
  state.groupCode = logon.groupCode;
  state.isRunning = true;
  const m = {
    groupCode: logon.groupCode,
    secret: crypto.randomBytes(6).toString("hex").toUpperCase(),
    state,
    changed: true,
    players: new Map(), // playerId → player object in state
  };
  for (const t of state.teams || []) {
    for (const p of t.players || []) {
      if (p.riotId) m.players.set(p.riotId, p);
    }
  }
  return m;
}

const scoreFields = ["kills", "deaths", "assists", "money", "currUltPoints", "maxUltPoints", "isAlive", "hasSpike"];

function apply(m, ev) {
  const s = m.state;
  const d = ev.data;
  switch (ev.type) {
    case "scoreboard":
    case "aux_scoreboard": {
      const p = d && m.players.get(d.playerId);
      if (p) for (const f of scoreFields) if (f in d) p[f] = d[f];
      break;
    }
    case "aux_health": {
      const p = m.players.get(ev.playerId);
      if (p && typeof d === "number") p.health = d;
      break;
    }
    case "round_info":
      if (d) {
        s.roundNumber = d.roundNumber;
        s.roundPhase = d.roundPhase;
      }
      break;
    case "score":
      if (d && s.teams && s.teams.length === 2) {
        s.teams[0].roundsWon = d.team_0;
        s.teams[1].roundsWon = d.team_1;
      }
      break;
    case "match_start":
      s.matchId = d;
      break;
    case "observing":
      for (const t of s.teams || []) for (const p of t.players || []) p.isObserved = p.searchName === d;
      break;
    case "toast":
      if (s.toastInfo && s.toastInfo.active) {
        s.toastInfo.active = false;
      } else if (d && typeof d === "object") {
        s.toastInfo = Object.assign({}, d, { active: true });
      }
      break;
  }
  s.timestamp = ev.timestamp;
  m.changed = true;
}

function parse(str) {
  try {
    return typeof str === "string" ? JSON.parse(str) : str;
  } catch (e) {
    return null;
  }
}

function ingestConnection(socket) {
  let role = null; // "obs" | "aux"
  let match = null;
  socket.on("obs_logon", (str) => {
    if (role) return;
    role = "obs";
    const l = parse(str);
    if (!l || l.type !== "authenticate" || !l.groupCode) {
      socket.emit("obs_logon_ack", JSON.stringify({ type: "authenticate", value: false, reason: "Invalid packet." }));
      socket.disconnect(true);
      return;
    }
    let m = matches.get(l.groupCode);
    let reason;
    if (m) {
      reason = "reconnected";
    } else {
      m = newMatch(l);
      matches.set(l.groupCode, m);
      reason = m.secret;
    }
    match = m;
    socket.emit("obs_logon_ack", JSON.stringify({ type: "authenticate", value: true, reason }));
  });
  socket.on("aux_logon", (str) => {
    if (role) return;
    role = "aux";
    const l = parse(str);
    let found = false;
    if (l) for (const m of matches.values()) if (m.state.matchId === l.matchId) found = true;
    socket.emit("aux_logon_ack", JSON.stringify(found
      ? { type: "aux_authenticate", value: true }
      : { type: "authenticate", value: false, reason: `Game with Match ID ${l && l.matchId} not found.` }));
  });
  const onData = (str) => {
    if (!role) return;
    const ev = parse(str);
    if (!ev || !(ev.obsName || ev.playerId) || !(ev.groupCode || ev.matchId) || !ev.type || !("data" in ev)) return;
    ev.timestamp = Date.now();
    if (ev.groupCode) {
      const m = matches.get(ev.groupCode);
      if (m) apply(m, ev);
    } else {
      for (const m of matches.values()) if (m.state.matchId === ev.matchId) apply(m, ev);
    }
    if (ev.type === "round_info" && ev.data && ev.data.roundPhase === "game_end" && match) {
      matches.delete(match.groupCode);
    }
  };
  socket.on("obs_data", onData);
  socket.on("aux_data", onData);
}

function outputConnection(socket) {
  socket.on("logon", (str) => {
    const l = parse(str);
    if (!l || typeof l.groupCode !== "string") return;
    socket.join(l.groupCode);
    socket.emit("logon_success", JSON.stringify({ groupCode: l.groupCode, msg: `Logon succeeded for group code ${l.groupCode}` }));
    const m = matches.get(l.groupCode);
    if (m) socket.emit("match_data", JSON.stringify(m.state));
  });
}

setInterval(() => {
  for (const m of matches.values()) {
    if (!m.changed) continue;
    m.changed = false;
    output.to(m.groupCode).emit("match_data", JSON.stringify(m.state));
  }
}, 100);

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, bind, () => resolve(`${bind}:${server.address().port}`));
  });
}

async function main() {
  const ingestHTTP = http.createServer();
  const outputHTTP = http.createServer();
  const extrasHTTP = http.createServer((req, res) => {
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ status: "UP", matchesRunning: matches.size }));
  });
  new Server(ingestHTTP, serverOpts).on("connection", ingestConnection);
  output = new Server(outputHTTP, serverOpts);
  output.on("connection", outputConnection);
  const port = (name) => Number(process.env[name] || 0);
  const i = await listen(ingestHTTP, port("INGEST_PORT"));
  const o = await listen(outputHTTP, port("OUTPUT_PORT"));
  const x = await listen(extrasHTTP, port("EXTRAS_PORT"));
  console.log(`spectra-server listening ingest=${i} output=${o} extras=${x}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
