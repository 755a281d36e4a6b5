// Bad input and faults of issue 6, each with real sockets on 127.0.0.1 under
// run() and runSync(): a clear error, nothing lost, nothing leaked.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { TCPError } from "../src/io/errors.ts";
import { TCPClient, type TCPConnection, TCPServer } from "../src/io/tcp.ts";
import { testLingerZero } from "../src/native/stream_native.ts";
import {
  bothModes,
  connectedToEcho,
  echoLines,
  isClosedError,
  residentBytes,
  scenario,
  serveUntilClosed,
  startEchoServer,
  text,
} from "./fixtures/stream_harness.ts";

/** A port nothing listens on (a listener's, just closed). */
function closedPort(): number {
  const server = new TCPServer({ handleConnection: () => {} });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  const port = server.sockname.port;
  server.close();
  return port;
}

function* caught(
  body: () => Generator<unknown, unknown, unknown>,
): Generator<unknown, unknown, unknown> {
  try {
    yield* body();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error, none was thrown");
}

function assertTCPError(
  error: unknown,
  code: string,
  message?: RegExp | string,
): void {
  assert.ok(
    error instanceof TCPError,
    `expected a TCPError ${code}, got ${error}`,
  );
  assert.equal(error.code, code);
  assert.ok(error.errno > 0);
  if (typeof message === "string") assert.equal(error.message, message);
  else if (message !== undefined) assert.match(error.message, message);
}

// ---- connecting and binding ----

bothModes(
  "connection refused is TCPError ECONNREFUSED naming the address",
  (mode) =>
    scenario(mode, function* () {
      const port = closedPort();
      const client = new TCPClient();
      const error = yield* caught(() =>
        client.connect({ hostname: "127.0.0.1", port })
      );
      assertTCPError(
        error,
        "ECONNREFUSED",
        `connect to 127.0.0.1:${port} failed: ECONNREFUSED`,
      );
      assert.equal(
        client.closed,
        false,
        "a failed connect leaves the client usable",
      );
      const server = startEchoServer();
      yield* client.connect(server.sockname);
      client.write("again\n");
      assert.equal(text(yield* client.readUntil("\n")), "again\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "an unresolvable host is TCPError ENOENT that says so",
  (mode) =>
    scenario(mode, function* () {
      const client = new TCPClient();
      const error = yield* caught(() =>
        client.connect({ hostname: "no-such-host.invalid", port: 80 })
      );
      assertTCPError(
        error,
        "ENOENT",
        /connect to no-such-host\.invalid:80 failed: ENOENT \(the host name does not resolve\)/,
      );
      client.close();
    }),
);

bothModes(
  "bind to a port in use throws EADDRINUSE from bind()",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const port = server.sockname.port;
      const second = new TCPServer({ handleConnection: echoLines });
      assert.throws(
        () => second.bind({ hostname: "127.0.0.1", port }),
        (error: unknown) => {
          assertTCPError(
            error,
            "EADDRINUSE",
            `bind to 127.0.0.1:${port} failed: EADDRINUSE`,
          );
          return true;
        },
      );
      second.close();
      server.close();
      yield* sleep(0);
    }),
);

bothModes(
  "invalid ports and addresses are clear errors before anything happens",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({ handleConnection: echoLines });
      for (const port of [-1, 70000, 1.5, NaN]) {
        assert.throws(
          () => server.bind({ hostname: "127.0.0.1", port }),
          (error: unknown) => {
            assertTCPError(
              error,
              "EINVAL",
              /port must be an integer from 0 to 65535/,
            );
            return true;
          },
        );
      }
      assert.throws(
        () => server.bind({ hostname: "not-an-ip", port: 0 }),
        (error: unknown) => {
          assertTCPError(
            error,
            "EINVAL",
            "bind to not-an-ip:0 failed: EINVAL (the hostname must be an IP address or localhost)",
          );
          return true;
        },
      );
      assert.throws(
        () =>
          server.bind(null as unknown as { hostname: string; port: number }),
        TypeError,
      );
      assert.throws(() =>
        server.bind(
          { hostname: 1 } as unknown as { hostname: string; port: number },
        ), TypeError);
      const client = new TCPClient();
      for (const port of [-1, 70000]) {
        assertTCPError(
          yield* caught(() => client.connect({ hostname: "127.0.0.1", port })),
          "EINVAL",
          /port must be/,
        );
      }
      assertTCPError(
        yield* caught(() =>
          client.connect({ hostname: "127.0.0.1", port: 1 }, {
            hostname: "not-an-ip",
            port: 0,
          })
        ),
        "EINVAL",
        /source must be an IP address/,
      );
      assertTCPError(
        yield* caught(() => client.connect({ hostname: "", port: 1 })),
        "EINVAL",
        /hostname is empty/,
      );
      assert.throws(() => new TCPClient({ maxBufferSize: 0 }), RangeError);
      assert.throws(
        () => new TCPClient({ maxBufferSize: 2 ** 31 }),
        RangeError,
      );
      client.close();
      server.close();
    }),
);

// ---- broken connections ----

bothModes(
  "a peer reset while reading is ECONNRESET; other connections keep going",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          const line = text(yield* connection.readUntil("\n"));
          if (line === "reset me\n") {
            testLingerZero(connection._handle);
            connection.close();
            return;
          }
          connection.write(line);
          yield* echoLines(connection);
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const survivor = new TCPClient();
      yield* survivor.connect(server.sockname);
      survivor.write("first\n");
      assert.equal(text(yield* survivor.readUntil("\n")), "first\n");
      const victim = new TCPClient();
      yield* victim.connect(server.sockname);
      victim.write("reset me\n");
      const error = yield* caught(() => victim.readBytes(100));
      assertTCPError(error, "ECONNRESET", "readBytes failed: ECONNRESET");
      assert.equal(victim.closed, true);
      survivor.write("still here\n");
      assert.equal(text(yield* survivor.readUntil("\n")), "still here\n");
      survivor.close();
      server.close();
    }),
);

bothModes(
  "a peer reset while writing fails the flush, never the process (no SIGPIPE)",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          const line = text(yield* connection.readUntil("\n"));
          if (line === "reset me\n") {
            yield* sleep(20);
            testLingerZero(connection._handle);
            connection.close();
            return;
          }
          connection.write(line);
          yield* echoLines(connection);
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const survivor = new TCPClient();
      yield* survivor.connect(server.sockname);
      const victim = new TCPClient();
      yield* victim.connect(server.sockname);
      victim.write("reset me\n");
      const chunk = new Uint8Array(1024 * 1024);
      for (let i = 0; i < 32; i++) victim.write(chunk);
      const error = yield* caught(() => victim.flush());
      assert.ok(
        error instanceof TCPError &&
          ["ECONNRESET", "EPIPE"].includes(error.code),
        `got ${error}`,
      );
      const later = yield* caught(function* () {
        victim.write("more");
      });
      assert.ok(
        later instanceof TCPError &&
          ["ECONNRESET", "EPIPE"].includes(later.code),
        "a later write reports it too",
      );
      survivor.write("alive\n");
      assert.equal(text(yield* survivor.readUntil("\n")), "alive\n");
      victim.close();
      survivor.close();
      server.close();
    }),
);

bothModes(
  "writing to a peer that closed normally ends in EPIPE or ECONNRESET, not a signal",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          yield* connection.readUntil("\n");
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      client.write("bye\n");
      assert.equal(
        (yield* client.readBytes(1)).length,
        0,
        "the peer's close reads as end of stream",
      );
      let failure: unknown = null;
      for (let i = 0; i < 50 && failure === null; i++) {
        try {
          client.write("x".repeat(1000));
          yield* client.flush();
          yield* sleep(2);
        } catch (error) {
          failure = error;
        }
      }
      assert.ok(
        failure instanceof TCPError &&
          ["EPIPE", "ECONNRESET"].includes(failure.code),
        `got ${failure}`,
      );
      client.close();
      server.close();
    }),
);

bothModes(
  "half-close: the rest is readable, then empty reads, and the other side can still write",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          const request = yield* connection.readUntil("\n");
          const rest = yield* connection.readBytes(1000);
          assert.equal(text(rest), "tail without newline");
          assert.equal((yield* connection.readBytes(1)).length, 0);
          assert.equal((yield* connection.readUntil("\n")).length, 0);
          connection.write(`got ${text(request).trim()}\n`);
          yield* connection.flush();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      client.write("request\ntail without newline");
      yield* client.shutdown();
      assert.equal(
        text(yield* client.readUntil("\n")),
        "got request\n",
        "a half-closed stream still reads",
      );
      client.close();
      server.close();
    }),
);

// ---- the read buffer's bound ----

bothModes(
  "a read past maxBufferSize throws ENOBUFS and closes the stream",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          connection.write("x".repeat(5000));
          try {
            yield* connection.readBytes(1);
          } catch (error) {
            // The client closes with our bytes unread: the kernel resets.
            if (!(error instanceof TCPError)) throw error;
          }
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient({ maxBufferSize: 1024 });
      yield* client.connect(server.sockname);
      const error = yield* caught(() => client.readUntil("\n"));
      assertTCPError(error, "ENOBUFS", /maxBufferSize \(1024 bytes\)/);
      assert.equal(client.closed, true);
      assertTCPError(yield* caught(() => client.readUntil("\n")), "EBADF");

      const big = new TCPClient({ maxBufferSize: 1024 });
      yield* big.connect(server.sockname);
      assertTCPError(yield* caught(() => big.readBytes(1025)), "ENOBUFS");
      const regex = new TCPClient({ maxBufferSize: 1024 });
      yield* regex.connect(server.sockname);
      assertTCPError(
        yield* caught(() => regex.readUntilRegex(/\n/)),
        "ENOBUFS",
      );
      server.close();
    }),
);

// ---- closed streams ----

bothModes(
  "every use of a closed stream throws EBADF; close is idempotent",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.close();
      client.close();
      assert.equal(client.closed, true);
      for (
        const use of [
          () => client.readBytes(1),
          () => client.readUntil("\n"),
          () => client.readUntilRegex(/x/),
          () => client.flush(),
          () => client.shutdown(),
          () => client.connect(server.sockname),
        ]
      ) {
        assertTCPError(
          yield* caught(use),
          "EBADF",
          /\(the TCPClient is closed\)/,
        );
      }
      assert.throws(
        () => client.write("x"),
        (error: unknown) => isClosedError(error),
      );
      server.close();
      server.close();
      yield* server.serve(); // a closed server's serve() returns at once
      assert.throws(
        () => server.bind({ hostname: "127.0.0.1", port: 0 }),
        (error: unknown) => isClosedError(error),
      );
      const fresh = new TCPClient();
      fresh.close();
      assertTCPError(
        yield* caught(() => fresh.connect({ hostname: "127.0.0.1", port: 1 })),
        "EBADF",
      );
    }),
);

bothModes(
  "closing a stream wakes the tasks blocked reading and flushing with EBADF",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          try {
            yield* connection.readBytes(1 << 22);
          } catch (error) {
            if (!isClosedError(error)) throw error;
          }
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      const errors: unknown[] = [];
      const reader = spawn(function* () {
        errors.push(yield* caught(() => client.readBytes(10)));
      });
      client.write(new Uint8Array(64 * 1024 * 1024));
      const flusher = spawn(function* () {
        errors.push(yield* caught(() => client.flush()));
      });
      yield* sleep(20);
      client.close();
      assert.equal(yield* reader.join(5000), true);
      assert.equal(yield* flusher.join(5000), true);
      assert.equal(errors.length, 2);
      for (const error of errors) assertTCPError(error, "EBADF", /closed/);
      server.close();
    }),
);

bothModes(
  "closing a client while it connects wakes the connecting task with EBADF",
  (mode) =>
    scenario(mode, function* () {
      const client = new TCPClient();
      let error: unknown = null;
      const connecting = spawn(function* () {
        // A name: the lookup runs off the JS thread while the client is closed.
        error = yield* caught(() =>
          client.connect({ hostname: "localhost", port: closedPort() })
        );
      });
      yield* sleep(0);
      client.close();
      assert.equal(yield* connecting.join(5000), true);
      assertTCPError(error, "EBADF");
    }),
);

bothModes(
  "a server closed with live connections closes them and wakes their handlers",
  (mode) =>
    scenario(mode, function* () {
      const woken: unknown[] = [];
      const server = new TCPServer({
        *handleConnection(connection) {
          try {
            yield* connection.readUntil("\n");
          } catch (error) {
            woken.push(error);
          }
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const clients: TCPClient[] = [];
      for (let i = 0; i < 3; i++) {
        const client = new TCPClient();
        yield* client.connect(server.sockname);
        clients.push(client);
      }
      while (server.connections.length < 3) yield* sleep(1);
      const connections: TCPConnection[] = [...server.connections];
      server.close();
      assert.equal(server.connections.length, 0);
      assert.ok(connections.every((connection) =>
        connection.closed && connection.server === null
      ));
      yield* sleep(10);
      assert.equal(woken.length, 3);
      for (const error of woken) {
        assertTCPError(error, "EBADF");
      }
      for (const client of clients) {
        assert.equal(
          (yield* client.readBytes(1)).length,
          0,
          "clients read end of stream",
        );
        client.close();
      }
    }),
);

// ---- volume and leaks ----

bothModes(
  "64 MiB to a slow reader arrive complete and in order, with bounded memory",
  (mode) =>
    scenario(mode, function* () {
      const size = 64 * 1024 * 1024;
      const payload = new Uint8Array(size);
      for (let i = 0; i < size; i += 4) payload[i] = (i >>> 2) & 0xff;
      const rssBefore = residentBytes();
      let rssPeak = 0;
      const server = new TCPServer({
        *handleConnection(connection) {
          connection.write(payload);
          yield* connection.flush();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      let offset = 0;
      let chunks = 0;
      for (;;) {
        const chunk = yield* client.readBytes(256 * 1024);
        if (chunk.length === 0) break;
        for (let i = 0; i < chunk.length; i += 4093) {
          if (chunk[i] !== payload[offset + i]) {
            throw new Error(
              `byte ${offset + i} differs: got ${chunk[i]}, sent ${
                payload[offset + i]
              }`,
            );
          }
        }
        offset += chunk.length;
        if (++chunks % 2 === 0) {
          rssPeak = Math.max(rssPeak, residentBytes());
          yield* sleep(1);
        }
      }
      assert.equal(offset, size);
      // One native copy of the unsent part at most, plus the reader's buffer.
      assert.ok(
        rssPeak - rssBefore < 3 * size,
        `RSS grew by ${(rssPeak - rssBefore) >> 20} MiB`,
      );
      client.close();
      server.close();
    }, 60_000),
);

Deno.test("10,000 connect/close cycles leave the descriptor count, handles and RSS flat", async () => {
  // In a process of its own: test files running in parallel share this
  // process's descriptor table and RSS.
  const fixture = new URL("./fixtures/connect_cycles.ts", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", fixture.pathname, "10000"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `connect_cycles.ts failed: ${decoder.decode(stderr)}`);
  const result = JSON.parse(decoder.decode(stdout));
  assert.equal(result.fdsAfter, result.fdsBefore, "every socket was closed");
  assert.equal(
    result.handlesAfter,
    result.handlesBefore,
    "every native stream was freed",
  );
  assert.ok(
    result.rssGrowth < 32 * 1024 * 1024,
    `RSS grew by ${result.rssGrowth >> 20} MiB over 9,000 cycles`,
  );
});
