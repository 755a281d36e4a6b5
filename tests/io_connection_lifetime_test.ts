// Issue 10 point 11 (API.md, "Changes and additions"): a connection's
// handler owns its connection. When it returns or throws, the server closes
// the connection once what it wrote is delivered (bounded by `lingerMs`) and
// it leaves `server.connections`; a thrown error also reaches the loop's
// exception handler. `serve()` returns normally when the server is closed.
// Real sockets on 127.0.0.1; real `nc` clients (netcat-openbsd) when
// installed, Deno.connect clients otherwise.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { PipeClient, PipeServer } from "../src/io/pipe.ts";
import {
  bothModes,
  openDescriptors,
  scenario,
  text,
} from "./fixtures/stream_harness.ts";

bothModes(
  "a handler that returns leaves its connection closed after its bytes are delivered",
  (mode) =>
    scenario(mode, function* () {
      const reply = "x".repeat(4 * 1024 * 1024) + "\n";
      const server = new TCPServer({
        *handleConnection(connection) {
          yield* connection.readUntil("\n");
          connection.write(reply); // more than the kernel takes at once
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      let served = false;
      spawn(function* () {
        yield* server.serve();
        served = true;
      });
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      client.write("hi\n");
      yield* sleep(50); // the handler has returned; its bytes still wait
      assert.equal(text(yield* client.readUntil("\n")).length, reply.length);
      assert.equal(
        (yield* client.readBytes(1)).length,
        0,
        "then end of stream",
      );
      client.close();
      for (let i = 0; i < 200 && server.connections.length > 0; i++) {
        yield* sleep(5);
      }
      assert.equal(server.connections.length, 0);
      server.close();
      // serve() resumes when its cancelled accept completes: a later turn.
      for (let i = 0; i < 200 && !served; i++) yield* sleep(5);
      assert.equal(served, true, "serve() returned normally after close()");
    }),
);

bothModes(
  "a handler that throws: its connection is closed and the error goes to the exception handler",
  (mode) =>
    scenario(mode, function* (loop) {
      const reported: unknown[] = [];
      loop.setExceptionHandler((error) => reported.push(error));
      const server = new PipeServer({
        *handleConnection(connection) {
          connection.write("bye\n");
          yield* sleep(1);
          throw new Error("handler failed");
        },
      });
      const path = Deno.makeTempFileSync({ suffix: ".sock" });
      Deno.removeSync(path);
      server.bind(path);
      spawn(function* () {
        yield* server.serve();
      });
      const client = new PipeClient();
      yield* client.connect(path);
      assert.equal(text(yield* client.readUntil("\n")), "bye\n");
      assert.equal((yield* client.readBytes(1)).length, 0);
      client.close();
      for (let i = 0; i < 200 && server.connections.length > 0; i++) {
        yield* sleep(5);
      }
      assert.equal(server.connections.length, 0);
      assert.equal(reported.length, 1);
      assert.match(String(reported[0]), /handler failed/);
      server.close();
    }),
);

bothModes(
  "a peer that stops reading holds a finished connection no longer than lingerMs",
  (mode) =>
    scenario(mode, function* () {
      let returnedAt = 0;
      const server = new TCPServer({
        lingerMs: 1000,
        *handleConnection(connection) {
          yield* connection.readUntil("\n");
          connection.write(new Uint8Array(32 * 1024 * 1024));
          returnedAt = performance.now();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(function* () {
        yield* server.serve();
      });
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      client.write("go\n");
      while (returnedAt === 0) yield* sleep(1);
      assert.equal(server.connections.length, 1, "still delivering");
      while (
        server.connections.length > 0 && performance.now() - returnedAt < 10_000
      ) {
        yield* sleep(10);
      }
      const held = performance.now() - returnedAt;
      // Loop timers count from the turn's start, which a 32 MiB write on a
      // busy machine can push back: a loose lower bound.
      assert.ok(held >= 500, `held ${held} ms, lingerMs is 1000`);
      assert.equal(server.connections.length, 0, "closed after lingerMs");
      client.close();
      server.close();
    }),
);

bothModes(
  "serve() returns normally for a server closed before it was called",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({ handleConnection: () => {} });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      server.close();
      yield* server.serve();
    }),
);

Deno.test("lingerMs must be a non-negative number", () => {
  for (const lingerMs of [-1, NaN, "5" as unknown as number]) {
    assert.throws(() => new TCPServer({ lingerMs }), RangeError);
  }
  new TCPServer({ lingerMs: 0 });
  new TCPServer({ lingerMs: Infinity });
});

function ncInstalled(): boolean {
  try {
    return new Deno.Command("nc", { args: ["-h"], stderr: "null" })
      .outputSync().code !== 127;
  } catch {
    return false;
  }
}

/** Sockets of `port` in CLOSE_WAIT (from /proc/net/tcp). */
function closeWaitSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let table = "";
    try {
      table = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of table.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      // st 08 is CLOSE_WAIT; the local address is ours.
      if (fields[3] === "08" && fields[1].endsWith(`:${hexPort}`)) count++;
    }
  }
  return count;
}

/** One client: sends a line, half-closes, reads everything back. */
async function client(port: number, line: string): Promise<string> {
  if (useNc) {
    const child = new Deno.Command("nc", {
      args: ["-N", "127.0.0.1", String(port)],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(line));
    await writer.close();
    const { stdout } = await child.output();
    return text(stdout);
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(line));
  await conn.closeWrite();
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  conn.close();
  return chunks.map(text).join("");
}

const useNc = ncInstalled();

Deno.test(
  `the README's echo server driven by 200 ${
    useNc ? "nc" : "Deno.connect"
  } clients leaves no CLOSE_WAIT socket and no extra descriptor`,
  async () => {
    const before = openDescriptors();
    const loop = new EventLoop();
    // The README's TCP example's server, as written there.
    const server = new TCPServer({
      *handleConnection(conn) {
        for (;;) {
          const line = yield* conn.readUntil("\n");
          if (line.length === 0) return; // the client closed: end of stream
          conn.write(line);
        }
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    const port = server.sockname.port;
    spawn(function* () {
      yield* server.serve();
    });
    const clients = (async () => {
      const replies: string[] = [];
      for (let batch = 0; batch < 10; batch++) {
        replies.push(
          ...await Promise.all(
            Array.from(
              { length: 20 },
              (_, i) => client(port, `client ${batch * 20 + i}\n`),
            ),
          ),
        );
      }
      return replies;
    })();
    let replies: string[] = [];
    let connectionsLeft = -1;
    let closeWait = -1;
    spawn(function* () {
      const watchdog = performance.now();
      let done = false;
      clients.then((r) => {
        replies = r;
        done = true;
      }, () => done = true);
      while (!done && performance.now() - watchdog < 60_000) yield* sleep(5);
      for (let i = 0; i < 400 && server.connections.length > 0; i++) {
        yield* sleep(5);
      }
      connectionsLeft = server.connections.length;
      closeWait = closeWaitSockets(port);
      server.close();
    });
    try {
      await loop.run();
    } finally {
      loop.destroy();
    }
    await clients;
    assert.equal(replies.length, 200);
    for (let i = 0; i < 200; i++) assert.equal(replies[i], `client ${i}\n`);
    assert.equal(connectionsLeft, 0);
    assert.equal(closeWait, 0, "no socket left in CLOSE_WAIT");
    assert.equal(openDescriptors(), before, "no descriptor left behind");
  },
);
