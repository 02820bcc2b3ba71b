// A stand-in for the ingest port (5100) that checks what spectra-replay sends
// and reports it on request. It mirrors the logon answers of the real server
// but keeps no match state beyond counters.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const KEY = process.env.KEY || "";
const httpServer = http.createServer();
const io = new Server(httpServer, {
  perMessageDeflate: { threshold: 1024 },
  cors: { origin: "*" },
});

const stats = {
  logons: [],
  auxLogons: [],
  obs: 0,
  aux: 0,
  types: {},
  groupCodes: [],
  errors: [],
  order: [],
};
const matchIds = new Set();
const sockets = new Set();
// Replay connections still open, and "idle" callers waiting for none to be:
// a replay's data is all processed once its connections have closed.
const open = new Set();
let idleWaiters = [];
function checkIdle() {
  if (open.size > 0) return;
  const w = idleWaiters;
  idleWaiters = [];
  for (const cb of w) cb(true);
}

function parse(kind, msg) {
  if (typeof msg !== "string") {
    stats.errors.push(`${kind}: payload is a ${typeof msg}, want a JSON string`);
    return null;
  }
  try {
    return JSON.parse(msg);
  } catch (e) {
    stats.errors.push(`${kind}: bad JSON: ${e.message}`);
    return null;
  }
}

io.on("connection", (socket) => {
  socket.on("stats", (cb) => cb(stats));
  socket.on("idle", (cb) => {
    idleWaiters.push(cb);
    checkIdle();
  });
  let authed = false;
  socket.once("obs_logon", (msg) => {
    const a = parse("obs_logon", msg);
    if (!a) return;
    stats.logons.push({ type: a.type, key: a.key, groupCode: a.groupCode, clientVersion: a.clientVersion, hasToolsData: !!a.toolsData, leftTeam: a.leftTeam && a.leftTeam.name });
    if (a.type !== "authenticate") {
      socket.emit("obs_logon_ack", JSON.stringify({ type: "authenticate", value: false, reason: "Invalid packet." }));
      socket.disconnect();
      return;
    }
    if (a.key !== KEY) {
      socket.emit("obs_logon_ack", JSON.stringify({ type: "authenticate", value: false, reason: "Invalid Key" }));
      socket.disconnect();
      return;
    }
    authed = true;
    sockets.add(socket);
    open.add(socket);
    socket.emit("obs_logon_ack", JSON.stringify({ type: "authenticate", value: true, reason: "ABCDEF123456" }));
  });
  socket.once("aux_logon", (msg) => {
    const a = parse("aux_logon", msg);
    if (!a) return;
    stats.auxLogons.push(a);
    if (!matchIds.has(a.matchId)) {
      socket.emit("aux_logon_ack", JSON.stringify({ type: "authenticate", value: false, reason: `Game with Match ID ${a.matchId} not found.` }));
      socket.disconnect();
      return;
    }
    authed = true;
    sockets.add(socket);
    open.add(socket);
    socket.emit("aux_logon_ack", JSON.stringify({ type: "aux_authenticate", value: true }));
  });
  const onData = (kind) => (msg) => {
    if (!authed) {
      stats.errors.push(`${kind} before logon`);
      return;
    }
    const d = parse(kind, msg);
    if (!d) return;
    if ("timestamp" in d) stats.errors.push(`${kind}: timestamp was sent`);
    if (!d.type || !("data" in d)) stats.errors.push(`${kind}: missing type or data`);
    stats[kind === "obs_data" ? "obs" : "aux"]++;
    stats.types[d.type] = (stats.types[d.type] || 0) + 1;
    stats.order.push(d.type);
    if (d.groupCode && !stats.groupCodes.includes(d.groupCode)) stats.groupCodes.push(d.groupCode);
    if (d.type === "match_start") matchIds.add(d.data);
    if (d.type === "round_info" && d.data && d.data.roundPhase === "game_end") {
      for (const s of sockets) s.disconnect(true);
      sockets.clear();
    }
  };
  socket.on("obs_data", onData("obs_data"));
  socket.on("aux_data", onData("aux_data"));
  socket.on("disconnect", () => {
    sockets.delete(socket);
    if (open.delete(socket)) checkIdle();
  });
});

httpServer.listen(0, "127.0.0.1", () => process.stdout.write(`${httpServer.address().port}\n`));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
