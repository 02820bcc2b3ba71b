// engine.io-client 6.6 against a bare engineio.Server that echoes every
// message (EIO_URL, path /engine.io/), in the three transport modes.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "engine.io-client";
import { MODES, envURL, next, collect, within, WAIT } from "./helpers.mjs";

const URL = envURL("EIO_URL");

async function open(mode, { waitUpgrade = true } = {}) {
  const s = new Socket(URL, { path: "/engine.io/", ...mode.opts });
  try {
    await next(s, "open", { failOn: ["error", "close"] });
    const want = mode.opts.transports?.[0] ?? "polling";
    assert.equal(s.transport.name, want, "transport of the handshake");
    if (mode.upgrade && waitUpgrade && s.transport.name !== "websocket") {
      await next(s, "upgrade", { failOn: ["upgradeError", "close"] });
    }
  } catch (err) {
    s.close();
    throw err;
  }
  return s;
}

// Sends and awaits one echo.
async function roundTrip(s, data) {
  const got = next(s, "message", { failOn: ["close"] });
  s.send(data);
  const [m] = await got;
  return m;
}

const bytesOf = (v) => Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v);

for (const mode of MODES) {
  describe(`engine.io-client: ${mode.name}`, () => {
    const sockets = [];
    after(() => sockets.forEach((s) => s.close()));
    const conn = async (opts) => {
      const s = await open(mode, opts);
      sockets.push(s);
      return s;
    };

    test("handshake and transport", async () => {
      const s = await conn();
      assert.match(s.id, /^[A-Za-z0-9_-]{20}$/, "sid");
      const want = mode.ws ? "websocket" : "polling";
      assert.equal(s.transport.name, want);
      assert.equal(await roundTrip(s, "transport?"), `transport=${want}`, "the server agrees on the transport");
    });

    test("text and binary messages echo intact", async () => {
      const s = await conn();
      for (const text of ["hello", "héllo \u{1F680} \u2028 \u0000", "4 starts like a packet", "b64 not really base64"]) {
        assert.equal(await roundTrip(s, text), text);
      }
      // An empty message travels as a bare "4"; engine.io-parser decodes
      // a packet without data as data: undefined.
      assert.equal(await roundTrip(s, ""), undefined);
      const payloads = [
        Buffer.from([0, 1, 2, 3, 254, 255]),
        new Uint8Array([10, 20, 30]),
        new Uint8Array([5, 6, 7, 8]).buffer,
        Buffer.alloc(3000, 7),
      ];
      for (const bin of payloads) {
        const got = await roundTrip(s, bin);
        assert.ok(Buffer.isBuffer(got), `binary comes back as a Buffer, got ${typeof got}`);
        assert.deepEqual(got, bytesOf(bin));
      }
    });

    test("a burst sent before the upgrade finishes keeps its order", async () => {
      const s = await conn({ waitUpgrade: false });
      const msgs = collect(s, "message");
      const N = 100;
      const sent = [...Array(N).keys()].map((i) => (i % 5 === 0 ? Buffer.from([i, i + 1]) : `m${i}`));
      sent.forEach((m) => s.send(m));
      const got = await msgs.until(N);
      got.forEach(([m], i) => {
        if (typeof sent[i] === "string") assert.equal(m, sent[i], `message #${i}`);
        else assert.deepEqual(bytesOf(m), sent[i], `message #${i}`);
      });
      if (mode.upgrade && s.transport.name !== "websocket") await next(s, "upgrade", { failOn: ["upgradeError", "close"] });
    });

    test("a 200 KB message echoes intact" + (mode.ws ? ", compressed both ways" : ""), async (t) => {
      const s = await conn();
      const big = "{" + [...Array(11000).keys()].map((i) => `"k${i}":"value-${(i * 31) % 997}"`).join(",") + "}";
      assert.ok(big.length >= 200 * 1024);
      let r0, w0;
      const sock = mode.ws ? s.transport.ws._socket : null;
      if (mode.ws) {
        assert.equal(s.transport.ws.extensions, "permessage-deflate");
        r0 = sock.bytesRead;
        w0 = sock.bytesWritten;
      }
      const got = await roundTrip(s, big);
      assert.ok(got === big, "200 KB message changed on the way");
      if (mode.ws) {
        const read = sock.bytesRead - r0;
        const written = sock.bytesWritten - w0;
        t.diagnostic(`200 KB engine.io echo: ${written} B sent, ${read} B received`);
        assert.ok(read < big.length / 3 && written < big.length / 3, `not compressed: ${written} B sent, ${read} B read for ${big.length}`);
      }
    });

    test('the server closing the session: the last message, then "transport close"', async () => {
      const s = await conn();
      const msgs = collect(s, "message");
      const errors = [];
      s.on("error", (e) => errors.push(e));
      const closed = next(s, "close", { ms: WAIT });
      s.send("close-me"); // the server sends "bye" and closes the session
      const [reason, details] = await closed;
      assert.equal(reason, "transport close", `close reason (${JSON.stringify(details?.description)})`);
      assert.deepEqual(msgs.items, [["bye"]], "the message queued before the close must arrive");
      assert.deepEqual(errors, []);
    });

    test('a client close: "forced close"', async () => {
      const s = await conn();
      assert.equal(await roundTrip(s, "still open"), "still open");
      const closed = next(s, "close");
      s.close();
      const [reason] = await closed;
      assert.equal(reason, "forced close");
    });
  });
}

test("engine.io-client reconnects as a new session after the server closes one", async () => {
  const mode = MODES[0];
  const first = await open(mode);
  const firstId = first.id;
  const closed = next(first, "close");
  first.send("close-now");
  await within(closed, "the server to close the first session");
  const second = await open(mode);
  try {
    assert.notEqual(second.id, firstId);
    assert.equal(await roundTrip(second, "again"), "again");
  } finally {
    second.close();
  }
});
