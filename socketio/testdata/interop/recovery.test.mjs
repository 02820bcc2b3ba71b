// Connection state recovery (socketio/recovery.go) with the real
// socket.io-client: a client that loses its connection comes back with the
// same sid, marked recovered, and the events it emitted while it was
// disconnected (socket.io-client buffers them) arrive in order after the
// ones sent before. A namespace without recovery gives no pid.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { MODES, envURL, next, within, closeAll, upgraded, WAIT, fastReconnect } from "./helpers.mjs";

const URL = envURL("SIO_URL");

for (const mode of MODES) {
  describe(`connection state recovery: ${mode.name}`, () => {
    const open = [];
    after(() => closeAll(...open));

    test("a lost connection is recovered: same sid, buffered emits arrive in order", async () => {
      // The real observer connector's options, faster delays for the test.
      const s = io(URL + "/recover", { ...fastReconnect, ...mode.opts });
      open.push(s);
      const hello = next(s, "hello");
      await next(s, "connect", { failOn: ["connect_error"] });
      const [greetedId, offset] = await hello;
      assert.equal(greetedId, s.id);
      assert.equal(typeof offset, "string", "the server adds an offset as the last argument");
      assert.ok(!s.recovered);
      if (mode.upgrade) await upgraded(s);
      const firstId = s.id;

      s.emit("note", "before-1");
      s.emit("note", "before-2");
      await within(s.emitWithAck("notes"), "notes before the cut");

      const gone = next(s, "disconnect");
      const back = next(s, "connect", { ms: 2 * WAIT });
      [gone, back].forEach((p) => p.catch(() => {}));
      s.emit("cut");
      const [reason] = await gone;
      assert.equal(reason, "transport close");
      // Emitted while disconnected: socket.io-client keeps them in its
      // sendBuffer and sends them right after the CONNECT is answered.
      s.emit("note", "during-1");
      s.emit("note", "during-2");
      await back;
      assert.equal(s.recovered, true, "the client sees the session recovered");
      assert.equal(s.id, firstId, "same sid");
      s.emit("note", "after-1");
      const notes = await within(s.emitWithAck("notes"), "notes after recovery");
      assert.deepEqual(notes, ["before-1", "before-2", "during-1", "during-2", "after-1"]);
      const me = await within(s.emitWithAck("whoami"), "whoami");
      assert.deepEqual(me, { id: firstId, recovered: true });
    });

    test("a namespace without recovery sends no pid and recovers nothing", async () => {
      const s = io(URL, {
        forceNew: true,
        reconnection: false,
        timeout: WAIT,
        ...mode.opts,
      });
      open.push(s);
      await next(s, "connect", { failOn: ["connect_error"] });
      assert.equal(s._pid, undefined, "no pid in the CONNECT reply");
      assert.ok(!s.recovered);
    });
  });
}
