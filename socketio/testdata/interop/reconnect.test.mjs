// Server-side disconnects and reconnection.
//
// socket.io-client decides whether to reconnect from the disconnect reason:
// "io server disconnect" (the server sent DISCONNECT for the namespace) means
// "stay down until the application calls connect()"; any transport-level
// reason ("transport close", "ping timeout", ...) starts the Manager's
// automatic reconnection.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { MODES, envURL, connect, closeAll, next, within, engineOf, upgraded, WAIT, fastReconnect } from "./helpers.mjs";

const URL = envURL("SIO_URL");
// A server the Go test replaces by a new instance on the same address
// whenever a client sends "restart" (SIO_RESTART_URL is used by this file
// only, one client at a time).
const RESTART_URL = envURL("SIO_RESTART_URL");

for (const mode of MODES) {
  describe(`reconnection: ${mode.name}`, () => {
    const open = [];
    after(() => closeAll(...open));

    for (const engine of [false, true]) {
      const what = engine ? "disconnect(true): namespace and connection" : "disconnect(): the namespace only";
      test(`server-side ${what} → "io server disconnect", then a manual reconnect`, async () => {
        const s = await connect(URL, mode, { auth: { who: "reconnector" } });
        open.push(s);
        const firstId = s.id;
        const firstEngine = engineOf(s).id;
        const errors = [];
        s.on("connect_error", (e) => errors.push(e));

        const gone = next(s, "disconnect");
        s.emit("disconnect-me", { engine });
        const [reason] = await gone;
        assert.equal(reason, "io server disconnect");
        assert.equal(s.connected, false);
        assert.equal(s.active, false, "the client must not reconnect by itself after io server disconnect");

        // The documented way back: connect() again.
        s.connect();
        await next(s, "connect", { failOn: ["connect_error"] });
        if (mode.upgrade) await upgraded(s);
        assert.notEqual(s.id, firstId, "a new namespace session");
        const me = await within(s.emitWithAck("whoami"), "whoami after reconnect");
        assert.equal(me.id, s.id);
        assert.deepEqual(me.auth, { who: "reconnector" }, "the auth payload is sent again");
        // With its only namespace gone the client's Manager closes the
        // Engine.IO session itself, so both cases come back on a new one.
        assert.notEqual(me.engineId, firstEngine, "a new Engine.IO session");
        assert.deepEqual(errors, []);
      });
    }

    test('server restart → "transport close", then automatic reconnection to the new server', async () => {
      const s = io(RESTART_URL, { ...fastReconnect, ...mode.opts });
      open.push(s);
      await next(s, "connect", { failOn: ["connect_error"] });
      if (mode.upgrade) await upgraded(s);
      const before = await within(s.emitWithAck("generation"), "generation");
      const firstId = s.id;
      const errors = [];
      s.on("connect_error", (e) => errors.push(e));

      const gone = next(s, "disconnect");
      const attempt = next(s.io, "reconnect_attempt");
      const reconnected = next(s.io, "reconnect", { failOn: ["reconnect_failed"] });
      const again = next(s, "connect");
      // Awaited below in order; if an earlier step fails, the later ones
      // must not surface as unhandled rejections.
      [gone, attempt, reconnected, again].forEach((p) => p.catch(() => {}));
      assert.equal(await within(s.emitWithAck("restart"), "restart ack"), "restarting");
      const [reason] = await gone;
      assert.equal(reason, "transport close");
      assert.equal(s.active, true, "the Manager reconnects by itself after a transport close");
      await attempt;
      const [attempts] = await reconnected;
      await again;
      assert.equal(attempts, 1, "the new server accepted the first attempt");
      assert.equal(s.connected, true);
      assert.notEqual(s.id, firstId);
      const later = await within(s.emitWithAck("generation"), "generation after reconnect");
      assert.equal(later, before + 1, "connected to the new server instance");
      assert.deepEqual(errors, []);
    });
  });
}
