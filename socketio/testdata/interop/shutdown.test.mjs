// A clean close on server shutdown. One client per transport mode is
// connected to a server of its own (SIO_SHUTDOWN_URL); when all are in, one
// of them asks the Go side to run socketio.Server.Shutdown.
//
// What socket.io-client 4.8 reports: Shutdown sends an Engine.IO close
// packet ("1") on every session. On polling, engine.io-client's transport
// turns that packet into its "close" ("transport closed by the server"); on
// websocket the packet itself is not acted upon and the close frame that
// follows closes the transport. Both reach socket.io-client as the engine
// closing with reason "transport close", which the Socket reports as its
// disconnect reason. ("io server disconnect" is only for a DISCONNECT
// packet, which a shutdown does not send, as with the reference server's
// io.close().) The close must come with no error on the way.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { MODES, envURL, connect, closeAll, next, within, engineOf } from "./helpers.mjs";

const URL = envURL("SIO_SHUTDOWN_URL");

test("clean close of every transport on server shutdown", async (t) => {
  const sockets = [];
  after(() => closeAll(...sockets));
  for (const mode of MODES) sockets.push(await connect(URL, mode));
  const names = MODES.map((m) => m.name);

  const problems = [];
  const observed = sockets.map((s, i) => {
    const engine = engineOf(s);
    const transport = engine.transport.name;
    s.on("connect_error", (e) => problems.push(`${names[i]}: connect_error ${e.message}`));
    engine.on("error", (e) => problems.push(`${names[i]}: engine error ${e?.message ?? e}`));
    const engineClosed = next(engine, "close");
    const disconnected = next(s, "disconnect");
    return Promise.all([disconnected, engineClosed]).then(([[reason, details], [eReason, eDesc]]) => ({
      transport,
      reason,
      details,
      eReason,
      eDesc,
    }));
  });

  // Every socket is in; the last request starts Shutdown on the Go side.
  const ws = sockets[1];
  assert.equal(await within(ws.emitWithAck("shutdown", { expect: sockets.length }), "shutdown ack"), "shutting down");

  const results = await within(Promise.all(observed), "every client to see the shutdown");
  results.forEach((r, i) => {
    t.diagnostic(`${names[i]} (${r.transport}): disconnect "${r.reason}", engine close "${r.eReason}" ${describe(r.eDesc)}`);
    assert.equal(r.reason, "transport close", `${names[i]}: disconnect reason`);
    assert.equal(r.eReason, "transport close", `${names[i]}: engine close reason`);
    if (r.transport === "websocket") {
      // A close frame with 1001 Going Away, not a dropped connection.
      assert.equal(r.eDesc?.context?.code, 1001, `${names[i]}: websocket close code`);
    } else {
      assert.equal(r.eDesc?.description, "transport closed by the server", `${names[i]}: polling close`);
    }
    assert.equal(sockets[i].connected, false);
  });
  assert.deepEqual(problems, []);
});

function describe(d) {
  if (!d) return "";
  const { description, context } = d;
  return JSON.stringify({ description, code: context?.code, reason: context?.reason?.toString?.() });
}
