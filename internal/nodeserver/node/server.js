// Reference server for the Go client interop tests: a socket.io 4.8 server on
// /socket.io/ and a bare engine.io server on /engine.io/, both with the
// production permessage-deflate settings. Prints its port on stdout, exits
// when stdin closes so it never outlives the test that started it.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const engine = require("engine.io");

const pingInterval = Number(process.env.PING_INTERVAL || 25000);
const pingTimeout = Number(process.env.PING_TIMEOUT || 20000);
const perMessageDeflate = {
  zlibDeflateOptions: { chunkSize: 1024, memLevel: 7, level: 3 },
  zlibInflateOptions: { chunkSize: 10 * 1024 },
  threshold: 1024,
};

const httpServer = http.createServer();

// The Sec-WebSocket-Extensions offer of each WebSocket request, by the
// X-Test-Id header the Go test sets, so a test can check what it offered.
const offers = new Map();
httpServer.prependListener("upgrade", (req) => {
  const id = req.headers["x-test-id"];
  if (id) offers.set(id, req.headers["sec-websocket-extensions"] || "");
});
const testId = (req) => req.headers["x-test-id"] || "";

// ---- bare engine.io: echo plus a few commands
const eio = new engine.Server({ pingInterval, pingTimeout, perMessageDeflate, cors: { origin: "*" } });
eio.attach(httpServer, { path: "/engine.io/" });
eio.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (typeof data !== "string") {
      socket.send(data);
      return;
    }
    if (!data.startsWith("cmd:")) {
      socket.send(data);
      return;
    }
    const [, cmd, ...rest] = data.split(":");
    switch (cmd) {
      case "repeat": {
        // cmd:repeat:N:payload → N messages "i:payload"
        const n = Number(rest[0]);
        const payload = rest.slice(1).join(":");
        for (let i = 0; i < n; i++) socket.send(`${i}:${payload}`);
        break;
      }
      case "binary": {
        // cmd:binary:N → N binary messages of N bytes each, value = index
        const n = Number(rest[0]);
        for (let i = 0; i < n; i++) socket.send(Buffer.alloc(n, i));
        break;
      }
      case "ext":
        socket.send(`ext:${offers.get(testId(socket.request)) ?? "<none>"}`);
        break;
      case "transport":
        socket.send(`transport:${socket.transport.name}`);
        break;
      case "close":
        socket.close();
        break;
      default:
        socket.send(`unknown:${cmd}`);
    }
  });
});

// ---- socket.io
const io = new Server(httpServer, { pingInterval, pingTimeout, perMessageDeflate, cors: { origin: "*" } });

function wire(socket) {
  socket.on("echo", (...args) => socket.emit("echo", ...args));
  socket.on("echo_ack", (...args) => {
    const cb = args.pop();
    if (typeof cb === "function") cb(...args);
  });
  socket.on("ask", (q) => {
    socket.timeout(5000).emit("question", q, (err, ...answer) => {
      if (err) socket.emit("answer", "timeout");
      else socket.emit("answer", ...answer);
    });
  });
  socket.on("auth", (cb) => cb(socket.handshake.auth));
  socket.on("kick", () => socket.disconnect(true));
  socket.on("repeat", (n, payload) => {
    for (let i = 0; i < n; i++) socket.emit("rep", i, payload);
  });
  socket.on("transport", (cb) => cb(socket.conn.transport.name));
  socket.on("ext", (cb) => cb(offers.get(testId(socket.request)) ?? "<none>"));
}

io.on("connection", wire);
io.of("/private")
  .use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.token === "letmein") return next();
    const err = new Error("not authorized");
    err.data = { hint: "token" };
    next(err);
  })
  .on("connection", wire);

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${httpServer.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
