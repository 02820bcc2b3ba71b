// Large messages and permessage-deflate: a 200 KB message both ways, and a
// sequence of large near-identical room broadcasts (compressed once per
// room with a shared context) decoded by a client that joined mid-sequence.
//
// socket.io-client 4.8 in Node opens its websocket with the `ws` package
// and engine.io-client's default perMessageDeflate option ({threshold:
// 1024}), so `ws` offers "permessage-deflate; client_max_window_bits" with
// no extra client option. The tests check the negotiated extension on the
// client's `ws` socket and count wire bytes on its TCP socket to prove the
// server really compressed.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { MODES, envURL, connect, closeAll, collect, uid, within, wsOf, wireBytesRead, wireBytesWritten, sha256hex } from "./helpers.mjs";

const URL = envURL("SIO_URL");

// ~200 KB of JSON: structured and repetitive like real payloads, with
// enough variety that it is not a trivial run.
function bigJSON(bytes) {
  const rows = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const row = { i, id: `row-${i.toString(36)}`, v: (i * 7919) % 10007, ok: i % 3 === 0, tag: ["alpha", "beta", "gamma", "δέλτα"][i % 4] };
    size += JSON.stringify(row).length + 1;
    rows.push(row);
  }
  return JSON.stringify(rows);
}

function assertDeflate(t, s) {
  const ws = wsOf(s);
  assert.ok(ws, "on a websocket transport");
  assert.equal(ws.extensions, "permessage-deflate", "permessage-deflate negotiated");
  const pmd = ws._extensions["permessage-deflate"];
  t.diagnostic(`negotiated permessage-deflate params: ${JSON.stringify(pmd.params)}`);
  // The server always tells the client not to keep its context.
  assert.equal(pmd.params.client_no_context_takeover, true);
  assert.equal(pmd.params.server_no_context_takeover, undefined, "server context takeover allowed");
}

for (const mode of MODES) {
  describe(`large messages: ${mode.name}`, () => {
    const open = [];
    after(() => closeAll(...open));
    const conn = async (extra = {}) => {
      const s = await connect(URL, mode, extra);
      open.push(s);
      return s;
    };

    test("a 200 KB message goes both ways intact" + (mode.ws ? ", compressed" : ""), async (t) => {
      const s = await conn();
      const big = bigJSON(200 * 1024);
      assert.ok(big.length >= 200 * 1024);
      if (mode.ws) assertDeflate(t, s);
      const r0 = wireBytesRead(s);
      const w0 = wireBytesWritten(s);
      const echoed = await within(s.emitWithAck("echo:ack", big), "200 KB echo", 15000);
      assert.equal(typeof echoed, "string");
      assert.equal(echoed.length, big.length);
      assert.ok(echoed === big, "200 KB payload changed on the way");
      assert.deepEqual(JSON.parse(echoed).at(-1), JSON.parse(big).at(-1));
      if (mode.ws) {
        const read = wireBytesRead(s) - r0;
        const written = wireBytesWritten(s) - w0;
        t.diagnostic(`200 KB echo: ${big.length} B payload, ${written} B sent by the client, ${read} B received from the server`);
        assert.ok(read < big.length / 3, `server→client frame not compressed: ${read} wire bytes for ${big.length}`);
        assert.ok(written < big.length / 3, `client→server frame not compressed: ${written} wire bytes for ${big.length}`);
      }
      // The event path too (server-initiated event, not an ack).
      const echo = collect(s, "echo");
      s.emit("echo", big, "tail");
      const [[again, tail]] = await echo.until(1, 15000);
      assert.ok(again === big);
      assert.equal(tail, "tail");
    });

    test("large near-identical room broadcasts, one client joining mid-sequence", async (t) => {
      const room = uid("bigseq");
      const a = await conn();
      const b = await conn();
      const seqA = collect(a, "bigseq");
      const seqB = collect(b, "bigseq");
      const pokesB = collect(b, "poke");
      if (mode.ws) {
        assertDeflate(t, a);
        assertDeflate(t, b);
      }
      assert.equal(await within(a.emitWithAck("join", room), "a joins"), 1);

      // 1..5 go to a alone.
      assert.equal(await within(a.emitWithAck("bigseq:send", { room, from: 1, count: 5 }), "batch 1"), 5);
      await seqA.until(5);

      // b joins mid-sequence; 6..15 go to both.
      assert.equal(await within(b.emitWithAck("join", room), "b joins"), 2);
      const a0 = wireBytesRead(a);
      const b0 = wireBytesRead(b);
      assert.equal(await within(a.emitWithAck("bigseq:send", { room, from: 6, count: 10 }), "batch 2"), 20);
      await Promise.all([seqA.until(15), seqB.until(10)]);
      const aRead = wireBytesRead(a) - a0;
      const bRead = wireBytesRead(b) - b0;

      // 16..24 to both, with a large direct event to b after every third
      // broadcast (compressed outside the room's stream), which must not
      // derail b's decoding of the stream.
      assert.equal(await within(b.emitWithAck("bigseq:send", { room, from: 16, count: 9, poke: 3 }), "batch 3"), 18);
      await Promise.all([seqA.until(24), seqB.until(19), pokesB.until(3)]);

      const raw2 = check(seqA.items.slice(5, 15), 6);
      check(seqA.items, 1);
      check(seqB.items, 6);
      assert.equal(seqA.items.length, 24, "a got exactly 1..24");
      assert.equal(seqB.items.length, 19, "b got exactly 6..24");
      assert.deepEqual(pokesB.items.map(([seq]) => seq), [18, 21, 24]);
      for (const [seq, poke] of pokesB.items) assert.equal(JSON.parse(poke).seq, 1_000_000 + seq);

      if (mode.ws) {
        t.diagnostic(`batch 2 (10 broadcasts, ${raw2} B of payload): ${aRead} B on the wire to a (had the whole stream), ${bRead} B to b (joined mid-sequence)`);
        // a's decompressor holds the whole stream: every frame is a delta
        // against the room's shared context, a small fraction of the
        // payload.
        assert.ok(aRead < raw2 / 15, `a: ${aRead} wire bytes for ${raw2} B of broadcasts`);
        // b's window holds none of the stream when it joins: it is sent
        // frames compressed on their own (larger) until its window holds
        // the stream's last 32 KB, then the same delta frames as a.
        assert.ok(bRead < raw2 / 10, `b: ${bRead} wire bytes for ${raw2} B of broadcasts`);
        assert.ok(bRead > aRead, `b (${bRead} B) should have needed context-free frames at first, a got ${aRead} B`);
      }
    });
  });
}

// check asserts that items are consecutive bigseq events from `from` on,
// each payload intact (sha256 as sent by the server, JSON with the right
// seq), and returns their total payload size.
function check(items, from) {
  let bytes = 0;
  items.forEach(([seq, sha, payload], i) => {
    assert.equal(seq, from + i, `sequence number at #${i}`);
    assert.equal(typeof payload, "string");
    assert.equal(sha256hex(payload), sha, `payload ${seq} does not match its sha256`);
    const doc = JSON.parse(payload);
    assert.equal(doc.seq, seq);
    assert.ok(payload.length >= 15000 && payload.length <= 20000, `payload ${seq} is ${payload.length} B, want 15-20 KB`);
    bytes += Buffer.byteLength(payload);
  });
  return bytes;
}
