// Shared helpers of the interop scripts. Not a test file itself: the Go
// test runs only *.test.mjs.
import { createHash, randomUUID } from "node:crypto";
import { io } from "socket.io-client";

/** Reads a server URL from the environment; the Go test sets them. */
export function envURL(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these scripts through socketio/interop_test.go (go test ./socketio -run Interop)`);
  }
  return v.replace(/\/$/, "");
}

/** Every wait in these scripts is bounded by this (ms). */
export const WAIT = 8000;

/**
 * The three transport modes of socket.io-client / engine.io-client.
 * upgrade: the session starts on polling and must move to websocket.
 * ws: the session ends up on websocket (deflate can be negotiated).
 */
// Over TLS (the Go side sets NODE_TLS_REJECT_UNAUTHORIZED=0 and serves a
// self-signed test pair) the clients must be told to accept it: their own
// rejectUnauthorized (default true) overrides the variable.
const TLS_OPTS = process.env.NODE_TLS_REJECT_UNAUTHORIZED === "0" ? { rejectUnauthorized: false } : {};

export const MODES = [
  { name: "default (polling then upgrade)", opts: { ...TLS_OPTS }, upgrade: true, ws: true },
  { name: "websocket only", opts: { transports: ["websocket"], ...TLS_OPTS }, upgrade: false, ws: true },
  { name: "polling only", opts: { transports: ["polling"], ...TLS_OPTS }, upgrade: false, ws: false },
];

// fastReconnect is a reconnecting client's options (those of the real
// observer connector) with short, fixed delays for tests.
export const fastReconnect = {
  forceNew: true,
  reconnection: true,
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
  timeout: WAIT,
};

export const uid = (prefix) => `${prefix}-${randomUUID()}`;

export const sha256hex = (s) => createHash("sha256").update(s).digest("hex");

/** Rejects after ms with a message naming what was awaited. */
export function within(promise, what, ms = WAIT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with the arguments (as an array) of the next `event` on a
 * component-emitter (socket.io-client Socket/Manager, engine.io-client
 * Socket). Optional failOn events reject instead.
 */
export function next(emitter, event, { failOn = [], ms = WAIT } = {}) {
  const cleanups = [];
  const p = new Promise((resolve, reject) => {
    const ok = (...args) => resolve(args);
    emitter.once(event, ok);
    cleanups.push(() => emitter.off(event, ok));
    for (const bad of failOn) {
      const fail = (...args) => reject(new Error(`"${bad}" while waiting for "${event}": ${args.map(describe).join(", ")}`));
      emitter.once(bad, fail);
      cleanups.push(() => emitter.off(bad, fail));
    }
  });
  return within(p, `"${event}"`, ms).finally(() => cleanups.forEach((fn) => fn()));
}

function describe(v) {
  if (v instanceof Error) {
    return `${v.message}${v.description ? ` (${describe(v.description)})` : ""}`;
  }
  if (v && typeof v === "object") {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/**
 * Collects every delivery of `event` on a socket. until(n) resolves once
 * n have arrived.
 */
export function collect(socket, event) {
  const items = [];
  let waiters = [];
  socket.on(event, (...args) => {
    items.push(args);
    waiters = waiters.filter((w) => {
      if (items.length >= w.n) {
        w.resolve(items);
        return false;
      }
      return true;
    });
  });
  return {
    items,
    until(n, ms = WAIT) {
      if (items.length >= n) return Promise.resolve(items);
      return within(new Promise((resolve) => waiters.push({ n, resolve })), `${n} "${event}" events (have ${items.length})`, ms);
    },
  };
}

/** The engine.io-client Socket under a socket.io-client Socket. */
export const engineOf = (socket) => socket.io.engine;

/** The `ws` WebSocket of a socket.io-client Socket on websocket, or null. */
export function wsOf(socket) {
  const t = engineOf(socket)?.transport;
  return t && t.name === "websocket" ? t.ws : null;
}

/**
 * Resolves once the engine is on websocket (immediately if it already is).
 */
export async function upgraded(socket) {
  const engine = engineOf(socket);
  if (engine.transport.name === "websocket") return;
  await next(engine, "upgrade", { failOn: ["upgradeError", "close"] });
  if (engine.transport.name !== "websocket") {
    throw new Error(`after "upgrade" the transport is ${engine.transport.name}`);
  }
}

/**
 * Opens a socket.io-client socket in a mode and waits for "connect" (and,
 * in the default mode, the upgrade to websocket unless waitUpgrade is
 * false). Each call has its own Manager unless extra.forceNew is false.
 */
export async function connect(url, mode, extra = {}, { waitUpgrade = true } = {}) {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    timeout: WAIT,
    ...mode.opts,
    ...extra,
  });
  try {
    await next(socket, "connect", { failOn: ["connect_error"] });
    const want = mode.opts.transports?.[0] ?? "polling";
    if (!mode.upgrade && engineOf(socket).transport.name !== want) {
      throw new Error(`connected on ${engineOf(socket).transport.name}, want ${want}`);
    }
    if (mode.upgrade && waitUpgrade) await upgraded(socket);
  } catch (err) {
    socket.disconnect();
    throw err;
  }
  return socket;
}

/** Disconnects sockets (and closes their managers' engines). */
export function closeAll(...sockets) {
  for (const s of sockets) {
    if (!s) continue;
    s.io.opts.reconnection = false;
    s.io.reconnection(false);
    s.disconnect();
    s.io.engine?.close();
  }
}

/**
 * Wire bytes read by the client's TCP socket under a websocket transport
 * (the `ws` WebSocket's net.Socket); null on polling.
 */
export function wireBytesRead(socket) {
  const ws = wsOf(socket);
  return ws?._socket ? ws._socket.bytesRead : null;
}

export function wireBytesWritten(socket) {
  const ws = wsOf(socket);
  return ws?._socket ? ws._socket.bytesWritten : null;
}
