// TCP streams: evergreen 0.2.0's tests/test_io.py TCP cases ported test by
// test, libuv's test-tcp-shutdown-after-write and test-tcp-close-reset, then
// one test per behaviour of API.md's I/O section. Every test runs under run()
// and runSync() with real sockets on 127.0.0.1. Faults are in io_faults_test.ts.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { TCPError } from "../src/io/errors.ts";
import { TCPClient, TCPConnection, TCPServer } from "../src/io/tcp.ts";
import { streamsLive, testLingerZero } from "../src/native/stream_native.ts";
import {
  bothModes,
  bytes,
  connectedToEcho,
  echoLines,
  scenario,
  serveUntilClosed,
  startEchoServer,
  text,
} from "./fixtures/stream_harness.ts";
import { startOp } from "./fixtures/loop_harness.ts";

// ---- evergreen tests/test_io.py ----

bothModes(
  "evergreen test_tcp_read: a line written comes back from the echo server",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      yield* client.connect({
        hostname: "127.0.0.1",
        port: server.sockname.port,
      });
      assert.equal(
        client.write(bytes("PING\n")),
        true,
        "a small write goes out at once",
      );
      assert.equal(text(yield* client.readUntil("\n")), "PING\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "evergreen test_tcp_read_error: reading a closed client throws TCPError",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      yield* client.connect({
        hostname: "127.0.0.1",
        port: server.sockname.port,
      });
      yield* sleep(100);
      client.close();
      assert.throws(() => startOp(client.readUntil("\n")), (error: unknown) =>
        error instanceof TCPError && error.code === "EBADF");
      server.close();
    }),
);

bothModes(
  "evergreen test_tcp_shutdown: write until the kernel pushes back, then shutdown",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      yield* client.connect({
        hostname: "127.0.0.1",
        port: server.sockname.port,
      });
      const line = bytes("PING\n".repeat(4096));
      let writes = 0;
      while (client.write(line)) {
        writes++;
        assert.ok(
          writes < 100_000,
          "write() must eventually report back-pressure",
        );
      }
      yield* client.shutdown();
      client.close();
      server.close();
    }),
);

// ---- libuv test-tcp-shutdown-after-write ----

bothModes(
  "libuv tcp_shutdown_after_write: shutdown right after a write sends the data, then end of stream",
  (mode) =>
    scenario(mode, function* () {
      const received = new Event();
      let got = "";
      let ended = false;
      const server = new TCPServer({
        *handleConnection(connection) {
          got = text(yield* connection.readBytes(4));
          ended = (yield* connection.readBytes(1)).length === 0;
          connection.close();
          received.set();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      yield* sleep(125);
      client.write("TEST");
      yield* client.shutdown();
      assert.equal(yield* received.wait(5000), true);
      assert.equal(got, "TEST");
      assert.equal(ended, true, "the peer reads end of stream after the data");
      client.close();
      server.close();
    }),
);

// ---- libuv test-tcp-close-reset ----

bothModes(
  "libuv tcp_close_reset_client: the accepted side reads 16 bytes, then sees the reset",
  (mode) =>
    scenario(mode, function* () {
      const done = new Event();
      let readSize = 0;
      let failure: unknown = null;
      const server = new TCPServer({
        *handleConnection(connection) {
          try {
            for (;;) {
              const chunk = yield* connection.readBytes(4);
              if (chunk.length === 0) break;
              readSize += chunk.length;
            }
          } catch (error) {
            failure = error;
          }
          connection.close();
          done.set();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      for (let i = 0; i < 4; i++) client.write("PING");
      yield* client.flush();
      yield* sleep(50);
      assert.equal(testLingerZero(client._handle), 0);
      client.close();
      assert.equal(yield* done.wait(5000), true);
      assert.equal(readSize, 16, "every byte sent before the reset arrives");
      assert.ok(
        failure === null ||
          (failure instanceof TCPError && failure.code === "ECONNRESET"),
        `the reset ends the read with ECONNRESET or end of stream, got ${failure}`,
      );
      server.close();
    }),
);

bothModes(
  "libuv tcp_close_reset_accepted: the client sees the accepted side's reset as ECONNRESET",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          yield* connection.readBytes(16);
          testLingerZero(connection._handle);
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      for (let i = 0; i < 4; i++) client.write("PING");
      const error = yield* readError(client);
      assert.ok(error instanceof TCPError, `expected a TCPError, got ${error}`);
      assert.equal(error.code, "ECONNRESET");
      assert.equal(
        client.closed,
        true,
        "a broken connection closes the stream",
      );
      server.close();
    }),
);

function* readError(
  client: TCPClient,
): Generator<unknown, TCPError | null, unknown> {
  try {
    yield* client.readBytes(1);
    return null;
  } catch (error) {
    return error as TCPError;
  }
}

// ---- reads ----

bothModes(
  "readBytes returns exactly n bytes gathered from several sends",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          for (const part of ["ab", "cde", "fghij", "klm"]) {
            connection.write(part);
            yield* sleep(5);
          }
          yield* connection.flush();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      assert.equal(text(yield* client.readBytes(7)), "abcdefg");
      assert.equal(text(yield* client.readBytes(3)), "hij");
      assert.equal(
        text(yield* client.readBytes(10)),
        "klm",
        "end of stream: what is left",
      );
      assert.equal((yield* client.readBytes(10)).length, 0, "then empty");
      assert.equal(
        (yield* client.readUntil("\n")).length,
        0,
        "empty on every later read",
      );
      client.close();
      server.close();
    }),
);

bothModes(
  "readUntil finds a multi-byte delimiter split across sends, keeps what follows",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          connection.write("GET / HTTP/1.0\r");
          yield* sleep(10);
          connection.write("\n\r\nbody");
          yield* connection.shutdown();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      assert.equal(
        text(yield* client.readUntil("\r\n\r\n")),
        "GET / HTTP/1.0\r\n\r\n",
      );
      assert.equal(
        text(yield* client.readUntil(bytes("\r\n"))),
        "body",
        "end of stream: the rest without the delimiter",
      );
      assert.equal((yield* client.readUntil("\r\n")).length, 0);
      client.close();
      server.close();
    }),
);

bothModes(
  "readUntilRegex matches latin1 text, including bytes above 0x7f",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({
        *handleConnection(connection) {
          connection.write(new Uint8Array([0x68, 0x69, 0xe9, 0x7e, 0x7e]));
          yield* sleep(10);
          connection.write("world~");
          yield* sleep(10);
          connection.write("~tail");
          yield* connection.flush();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      const first = yield* client.readUntilRegex(/\xe9~~/);
      assert.deepEqual([...first], [0x68, 0x69, 0xe9, 0x7e, 0x7e]);
      assert.equal(
        text(yield* client.readUntilRegex(/~~/g)),
        "world~~",
        "a global flag changes nothing",
      );
      assert.equal(
        text(yield* client.readUntilRegex(/~~/)),
        "tail",
        "end of stream: what is left",
      );
      assert.equal((yield* client.readUntilRegex(/x/)).length, 0);
      client.close();
      server.close();
    }),
);

bothModes(
  "a second reader of the same stream is refused while the first waits",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      const first = spawn(function* () {
        return text(yield* client.readUntil("\n"));
      });
      yield* sleep(10);
      assert.throws(() => startOp(client.readBytes(1)), /already reading/);
      client.write("one\n");
      assert.equal(yield* first.join(5000), true);
      client.close();
      server.close();
    }),
);

bothModes(
  "a killed reader cancels its op; the bytes stay for the next read",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      const reader = spawn(function* () {
        yield* client.readBytes(100);
      });
      yield* sleep(10);
      reader.kill();
      yield* reader.join();
      client.write("after the kill\n");
      assert.equal(text(yield* client.readUntil("\n")), "after the kill\n");
      client.close();
      server.close();
    }),
);

// ---- writes ----

bothModes(
  "bytes written before connect are sent once connected",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      assert.equal(
        client.write("early\n"),
        false,
        "not connected: kept, not sent",
      );
      yield* client.connect(server.sockname);
      assert.equal(text(yield* client.readUntil("\n")), "early\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "flush waits until a large write is out; the peer gets every byte in order",
  (mode) =>
    scenario(mode, function* () {
      const size = 8 * 1024 * 1024;
      let received: Uint8Array | null = null;
      const server = new TCPServer({
        *handleConnection(connection) {
          received = yield* connection.readBytes(size);
          connection.write("ok\n");
          yield* connection.flush();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      const payload = new Uint8Array(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
      assert.equal(
        client.write(payload),
        false,
        "8 MiB does not fit the socket buffer",
      );
      yield* client.flush();
      assert.equal(text(yield* client.readUntil("\n")), "ok\n");
      assert.deepEqual(received, payload);
      client.close();
      server.close();
    }),
);

// ---- addresses ----

bothModes(
  "sockname and peername mirror each other and stay readable after close",
  (mode) =>
    scenario(mode, function* () {
      let accepted: TCPConnection | null = null;
      const server = new TCPServer({
        handleConnection(connection) {
          accepted = connection;
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      while (accepted === null) yield* sleep(1);
      const connection = accepted as TCPConnection;
      assert.deepEqual(client.peername, server.sockname);
      assert.deepEqual(connection.peername, client.sockname);
      assert.deepEqual(connection.sockname, server.sockname);
      assert.deepEqual(Object.keys(client.sockname).sort(), [
        "hostname",
        "port",
      ]);
      client.close();
      connection.close();
      assert.equal(client.sockname.hostname, "127.0.0.1");
      assert.equal(connection.peername.port, client.sockname.port);
      server.close();
    }),
);

bothModes(
  "localhost is resolved off the JS thread and every address tried",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      yield* client.connect({
        hostname: "localhost",
        port: server.sockname.port,
      });
      assert.equal(
        client.peername.hostname,
        "127.0.0.1",
        "::1 (first or not) has no listener; 127.0.0.1 answers",
      );
      client.write("hi\n");
      assert.equal(text(yield* client.readUntil("\n")), "hi\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "IPv6 loopback works when the machine has it",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({ handleConnection: echoLines });
      try {
        server.bind({ hostname: "::1", port: 0 });
      } catch (error) {
        assert.ok(
          error instanceof TCPError &&
            ["EADDRNOTAVAIL", "EAFNOSUPPORT"].includes(error.code),
        );
        return;
      }
      spawn(serveUntilClosed, server);
      assert.equal(server.sockname.hostname, "::1");
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      assert.equal(client.peername.hostname, "::1");
      client.write("six\n");
      assert.equal(text(yield* client.readUntil("\n")), "six\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "connect binds the source address first",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoServer();
      const client = new TCPClient();
      yield* client.connect(server.sockname, {
        hostname: "127.0.0.1",
        port: 0,
      });
      assert.equal(client.sockname.hostname, "127.0.0.1");
      const other = new TCPClient();
      yield* other.connect(server.sockname, { hostname: "127.0.0.2", port: 0 });
      assert.equal(other.sockname.hostname, "127.0.0.2");
      client.close();
      other.close();
      server.close();
    }),
);

// ---- servers ----

bothModes(
  "each connection's handler runs in its own task; connections is kept current",
  (mode) =>
    scenario(mode, function* () {
      const release = new Event();
      const server = new TCPServer({
        *handleConnection(connection) {
          connection.write("hello\n");
          yield* release.wait();
          connection.close();
        },
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const clients: TCPClient[] = [];
      for (let i = 0; i < 5; i++) {
        const client = new TCPClient();
        yield* client.connect(server.sockname);
        assert.equal(
          text(yield* client.readUntil("\n")),
          "hello\n",
          "a blocked handler blocks no other",
        );
        clients.push(client);
      }
      assert.equal(server.connections.length, 5);
      assert.ok(server.connections.every((c) =>
        c instanceof TCPConnection && c.server === server
      ));
      release.set();
      for (const client of clients) {
        assert.equal((yield* client.readBytes(1)).length, 0);
      }
      assert.equal(
        server.connections.length,
        0,
        "closed connections leave server.connections",
      );
      for (const client of clients) {
        client.close();
      }
      server.close();
    }),
);

bothModes(
  "a subclass can override handleConnection",
  (mode) =>
    scenario(mode, function* () {
      class Greeter extends TCPServer {
        override *handleConnection(connection: TCPConnection) {
          connection.write(`hi ${connection.peername.port}\n`);
          yield* connection.flush();
          connection.close();
        }
      }
      const server = new Greeter();
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(serveUntilClosed, server);
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      assert.equal(
        text(yield* client.readUntil("\n")),
        `hi ${client.sockname.port}\n`,
      );
      client.close();
      server.close();
    }),
);

bothModes(
  "using closes clients and servers at the end of the block",
  (mode) =>
    scenario(mode, function* () {
      let kept: TCPClient | null = null;
      {
        using server = startEchoServer();
        using client = new TCPClient();
        yield* client.connect(server.sockname);
        kept = client;
      }
      assert.equal(kept!.closed, true);
    }),
);

bothModes(
  "run() ends by itself once every stream is closed",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.close();
      server.close();
    }),
);

Deno.test("streams leave no native handle behind", async () => {
  const before = streamsLive();
  await scenario("runSync", function* () {
    const server = startEchoServer();
    for (let i = 0; i < 20; i++) {
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      client.write("x\n");
      yield* client.readUntil("\n");
      client.close();
    }
    server.close();
  });
  assert.equal(streamsLive(), before);
});

bothModes(
  "a task in serve() returns normally when another task closes the server",
  (mode) =>
    scenario(mode, function* () {
      const server = new TCPServer({ handleConnection: echoLines });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      let returned = false;
      const serving = spawn(function* () {
        yield* server.serve();
        returned = true;
      });
      yield* sleep(10);
      server.close();
      assert.equal(yield* serving.join(5000), true);
      assert.equal(returned, true);
    }),
);
