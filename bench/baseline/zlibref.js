// Offline reference for the bench: what a WebSocket permessage-deflate sender
// using Node's zlib the way ws does (deflate-raw, level 3, memLevel 7, 15-bit
// window, Z_SYNC_FLUSH per message with the 00 00 ff ff tail stripped,
// messages under 1024 bytes sent as is) puts on the wire for a sequence of
// messages, with per-connection context takeover and without it.
//
// Input (argv[2]): records of a 4-byte big-endian length and the message
// bytes (the Engine.IO packet text as the server framed it).
// Output (stdout): one JSON object; byte figures include the WebSocket frame
// header a server sends (2, 4 or 10 bytes).
"use strict";

const fs = require("fs");
const zlib = require("zlib");

const opts = { level: 3, memLevel: 7, windowBits: 15 };
const threshold = 1024;

function frameHeader(n) {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

function readRecords(file) {
  const buf = fs.readFileSync(file);
  const out = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const n = buf.readUInt32BE(off);
    off += 4;
    if (off + n > buf.length) break;
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

// One shared stream: each message is written and flushed, and the output
// since the previous flush is that message.
function withContext(msgs) {
  return new Promise((resolve, reject) => {
    const z = zlib.createDeflateRaw(opts);
    const chunks = [];
    z.on("data", (c) => chunks.push(c));
    z.on("error", reject);
    let total = 0;
    let i = 0;
    const next = () => {
      while (i < msgs.length && msgs[i].length < threshold) {
        total += msgs[i].length + frameHeader(msgs[i].length);
        i++;
      }
      if (i >= msgs.length) {
        z.close();
        resolve(total);
        return;
      }
      chunks.length = 0;
      z.write(msgs[i]);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const n = Buffer.concat(chunks).length - 4;
        total += n + frameHeader(n);
        i++;
        next();
      });
    };
    next();
  });
}

function noContext(msgs) {
  let total = 0;
  for (const m of msgs) {
    if (m.length < threshold) {
      total += m.length + frameHeader(m.length);
      continue;
    }
    const n = zlib.deflateRawSync(m, Object.assign({ finishFlush: zlib.constants.Z_SYNC_FLUSH }, opts)).length - 4;
    total += n + frameHeader(n);
  }
  return total;
}

async function main() {
  const msgs = readRecords(process.argv[2]);
  const raw = msgs.reduce((a, m) => a + m.length, 0);
  const ctx = await withContext(msgs);
  const noctx = noContext(msgs);
  const n = Math.max(msgs.length, 1);
  process.stdout.write(JSON.stringify({
    messages: msgs.length,
    rawBytesPerMessage: raw / n,
    contextBytesPerMessage: ctx / n,
    noContextBytesPerMessage: noctx / n,
  }) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
