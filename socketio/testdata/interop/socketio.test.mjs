// socket.io-client 4.8 against socketio.Server: connection and auth,
// events and acks with string / JSON / binary payloads, namespaces, rooms.
// Every scenario runs in the three transport modes.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { MODES, envURL, connect, closeAll, next, collect, uid, within, engineOf, upgraded } from "./helpers.mjs";

const URL = envURL("SIO_URL");

// JSON values whose exact round trip matters: unicode beyond the BMP,
// escapes, JS-significant separators, numbers at the edges of doubles.
const JSON_VALUE = {
  text: "héllo \u{1F680} \"quoted\" \\ back\nslash \u2028\u2029 \u0000 end",
  n: 42,
  neg: -0.5,
  big: 9007199254740991,
  tiny: 1e-7,
  huge: 1.5e300,
  flag: true,
  nothing: null,
  list: [1, "two", { three: [3] }, []],
  nested: { deep: { deeper: { deepest: "yes" } } },
};

for (const mode of MODES) {
  describe(`socket.io-client: ${mode.name}`, () => {
    const open = [];
    after(() => closeAll(...open));
    const conn = async (path = "", extra = {}, opts) => {
      const s = await connect(URL + path, mode, extra, opts);
      open.push(s);
      return s;
    };

    test("connects with a CONNECT auth payload the server sees", async () => {
      const auth = { token: "t0k", user: { id: 7, roles: ["a", "b"] }, unicode: "ünï \u{1F600}" };
      const s = await conn("", { auth });
      assert.equal(s.connected, true);
      assert.ok(s.id, "socket id");
      const me = await within(s.emitWithAck("whoami"), "whoami ack");
      assert.deepEqual(me.auth, auth);
      assert.equal(me.nsp, "/");
      assert.equal(me.id, s.id, "the socket id is the one the server gave");
      assert.notEqual(me.engineId, s.id, "socket id and engine id differ in v5");
      assert.equal(engineOf(s).id, me.engineId);
      assert.equal(engineOf(s).transport.name, mode.ws ? "websocket" : "polling");
    });

    test("without auth the server sees {}", async () => {
      const s = await conn();
      const me = await within(s.emitWithAck("whoami"), "whoami ack");
      assert.deepEqual(me.auth, {});
    });

    test("events with string, JSON and binary payloads round-trip", async () => {
      const s = await conn();
      const echoes = collect(s, "echo");
      const bin = Buffer.from([0, 1, 2, 3, 127, 128, 254, 255]);
      const sent = [
        ["plain string"],
        [""],
        ["héllo \u{1F680} \u2028"],
        [JSON_VALUE],
        [1, 2.5, true, null, "mixed", [1, [2, [3]]]],
        [bin],
        [{ file: bin, meta: { name: "x.bin", parts: [Buffer.from("a"), Buffer.from("bc")] } }, "after"],
        [Buffer.alloc(0)],
      ];
      for (const args of sent) s.emit("echo", ...args);
      const got = await echoes.until(sent.length);
      assert.equal(got.length, sent.length);
      // Order is kept, and every value comes back equal, binary as Buffer.
      for (let i = 0; i < sent.length; i++) {
        assert.deepEqual(normalise(got[i]), normalise(sent[i]), `echo #${i}`);
      }
      assert.ok(Buffer.isBuffer(got[5][0]), "binary comes back as a Buffer");
      assert.ok(Buffer.isBuffer(got[6][0].meta.parts[1]), "nested binary comes back as a Buffer");
    });

    test("a burst sent right after connect (before any upgrade) keeps its order", async () => {
      const s = await conn("", {}, { waitUpgrade: false });
      const echoes = collect(s, "echo");
      const N = 60;
      for (let i = 0; i < N; i++) s.emit("echo", i, i % 7 === 0 ? Buffer.from([i]) : `m${i}`);
      const got = await echoes.until(N);
      assert.deepEqual(got.map((a) => a[0]), [...Array(N).keys()]);
      got.forEach((a, i) => assert.deepEqual(normalise(a[1]), normalise(i % 7 === 0 ? Buffer.from([i]) : `m${i}`)));
      if (mode.upgrade) await upgraded(s);
    });

    test("client→server acks carry strings, JSON and binary", async () => {
      const s = await conn();
      const bin = Buffer.from("binary \u0000 ack", "utf8");
      assert.deepEqual(await within(s.emitWithAck("echo:ack", "str"), "ack"), "str");
      assert.deepEqual(await within(s.emitWithAck("echo:ack", JSON_VALUE), "ack"), JSON_VALUE);
      const got = await within(s.emitWithAck("echo:ack", bin), "binary ack");
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual(got, bin);
      // Several arguments: the plain callback form receives them all.
      const args = await within(
        new Promise((resolve) => s.emit("echo:ack", 1, { two: 2 }, [bin], (...a) => resolve(a))),
        "multi-argument ack",
      );
      assert.deepEqual(normalise(args), normalise([1, { two: 2 }, [bin]]));
      // Interleaved acks resolve to their own requests.
      const many = await within(Promise.all([...Array(20).keys()].map((i) => s.emitWithAck("echo:ack", i))), "20 acks");
      assert.deepEqual(many, [...Array(20).keys()]);
    });

    test("server→client acks: the server asks, the client answers (JSON and binary)", async () => {
      const s = await conn();
      let question;
      s.on("question", (...args) => {
        const cb = args.pop();
        question = args;
        cb({ answer: 42, got: args[1] }, Buffer.from([9, 8, 7]));
      });
      const reply = await within(
        new Promise((resolve) => s.emit("ask", {}, (...a) => resolve(a))),
        "the answer relayed back",
      );
      assert.deepEqual(normalise(question), normalise(["what is it?", { n: 42, nested: { ok: true } }, Buffer.from([0, 1, 2, 250, 255])]));
      assert.ok(Buffer.isBuffer(question[2]), "binary argument of a server event with ack");
      assert.deepEqual(normalise(reply), normalise([{ answer: 42, got: { n: 42, nested: { ok: true } } }, Buffer.from([9, 8, 7])]));
    });

    test("a server→client ack that never comes times out on the server", async () => {
      const s = await conn();
      s.on("question", () => {}); // never acknowledges
      const [res] = await within(new Promise((resolve) => s.emit("ask", { timeoutMs: 200 }, (...a) => resolve(a))), "timeout report");
      assert.deepEqual(res, { error: "socketio: ack timeout" });
    });

    test("custom namespace with auth middleware, multiplexed on one connection", async () => {
      const main = await conn("", { forceNew: true });
      // Same Manager: the namespace rides the main socket's Engine.IO
      // session (Manager.socket connects it: autoConnect).
      const custom = main.io.socket("/custom", { auth: { token: "let-me-in" } });
      open.push(custom);
      await next(custom, "connect", { failOn: ["connect_error"] });
      const me = await within(custom.emitWithAck("whoami"), "whoami on /custom");
      assert.equal(me.nsp, "/custom");
      assert.deepEqual(me.auth, { token: "let-me-in" });
      assert.equal(me.engineId, engineOf(main).id, "one Engine.IO session for both namespaces");
      const bin = Buffer.from([1, 2, 3]);
      const [a, b] = await within(Promise.all([main.emitWithAck("echo:ack", "main"), custom.emitWithAck("echo:ack", bin)]), "acks on both");
      assert.equal(a, "main");
      assert.deepEqual(b, bin);
      // Leaving one namespace keeps the other.
      custom.disconnect();
      assert.equal(await within(main.emitWithAck("echo:ack", "still here"), "ack after leaving /custom"), "still here");
    });

    test("custom namespace refuses a bad token with the middleware's error", async () => {
      const s = io(URL + "/custom", { forceNew: true, reconnection: false, auth: { token: "wrong" }, ...mode.opts });
      open.push(s);
      const [err] = await next(s, "connect_error", { failOn: ["connect"] });
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { reason: "bad token" });
      assert.equal(s.connected, false);
    });

    test("an invalid namespace is refused with \"Invalid namespace\"", async () => {
      const s = io(URL + "/does-not-exist", { forceNew: true, reconnection: false, ...mode.opts });
      open.push(s);
      const [err] = await next(s, "connect_error", { failOn: ["connect"] });
      assert.equal(err.message, "Invalid namespace");
      assert.equal(s.connected, false);
      // The client is still usable: the main namespace connects on the same Manager.
      const main = s.io.socket("/");
      open.push(main);
      main.connect();
      await next(main, "connect", { failOn: ["connect_error"] });
      assert.equal(await within(main.emitWithAck("echo:ack", "ok"), "ack"), "ok");
    });

    test("a room broadcast reaches exactly the room's members", async () => {
      const room = uid("room");
      const barrier = uid("barrier");
      const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
      const sockets = { a, b, c };
      const msgs = {};
      const barriers = {};
      for (const [k, s] of Object.entries(sockets)) {
        msgs[k] = collect(s, "room:msg");
        barriers[k] = collect(s, "room:barrier");
        await within(s.emitWithAck("join", barrier), "join barrier");
      }
      assert.equal(await within(a.emitWithAck("join", room), "a joins"), 1);
      assert.equal(await within(b.emitWithAck("join", room), "b joins"), 2);

      // 1. From the namespace: a and b get it, c does not.
      const payload = { hello: "room", bin: "no", n: [1, 2, 3] };
      assert.equal(await within(c.emitWithAck("room:emit", { room, barrier, payload }), "room:emit ack"), 2);
      await Promise.all(Object.values(barriers).map((x) => x.until(1)));
      assert.deepEqual(msgs.a.items, [[payload]]);
      assert.deepEqual(msgs.b.items, [[payload]]);
      assert.deepEqual(msgs.c.items, [], "a socket outside the room got the broadcast");

      // 2. From a member (socket.to(room)): the sender is left out.
      assert.equal(await within(a.emitWithAck("room:emit", { room, barrier, payload: 2, exceptSelf: true }), "ack"), 1);
      await Promise.all(Object.values(barriers).map((x) => x.until(2)));
      assert.deepEqual(msgs.a.items, [[payload]]);
      assert.deepEqual(msgs.b.items, [[payload], [2]]);
      assert.deepEqual(msgs.c.items, []);

      // 3. After b leaves, only a is reached.
      assert.equal(await within(b.emitWithAck("leave", room), "leave"), 1);
      assert.equal(await within(c.emitWithAck("room:emit", { room, barrier, payload: 3 }), "ack"), 1);
      await Promise.all(Object.values(barriers).map((x) => x.until(3)));
      assert.deepEqual(msgs.a.items, [[payload], [3]]);
      assert.deepEqual(msgs.b.items, [[payload], [2]]);
      assert.deepEqual(msgs.c.items, []);

      // 4. A disconnected member is no longer in the room.
      a.disconnect();
      await within(waitRoomSize(c, room, 0), "room to empty");
      assert.equal(await within(c.emitWithAck("room:emit", { room, barrier, payload: 4 }), "ack"), 0);
    });
  });
}

// The server removes a disconnected socket from its rooms when it sees the
// DISCONNECT; poll the room size through acks (each an awaited round trip).
async function waitRoomSize(s, room, want) {
  for (;;) {
    const size = await s.emitWithAck("leave", room); // c is not in it: a no-op returning the size
    if (size === want) return;
    await new Promise((r) => setImmediate(r));
  }
}

// Buffers (and Uint8Arrays) compare by content; everything else as is.
function normalise(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer) {
    return { $bin: Buffer.from(v).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  }
  return v;
}
