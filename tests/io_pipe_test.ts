// Pipes: evergreen 0.2.0's tests/test_io.py pipe cases ported test by test,
// libuv's test-pipe-connect-error, then PipeServer/PipeClient behaviour and
// PipeStream.open over inherited descriptors. Unix sockets live in a fresh
// temporary directory; every test runs under run() and runSync().

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { PipeError } from "../src/io/errors.ts";
import {
  PipeClient,
  PipeConnection,
  PipeServer,
  PipeStream,
} from "../src/io/pipe.ts";
import {
  testClose,
  testPipe,
  testSocketPair,
} from "../src/native/test_support.ts";
import {
  bothModes,
  bytes,
  echoLines,
  scenario,
  serveUntilClosed,
  text,
} from "./fixtures/stream_harness.ts";
import { startOp } from "./fixtures/loop_harness.ts";

const isWindows = Deno.build.os === "windows";
const directory = Deno.makeTempDirSync({ prefix: "evergreen-pipes-" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(directory, { recursive: true });
});
let serial = 0;
const socketPath = (): string => `${directory}/test-pipe-${++serial}`;

function startEchoPipe(): PipeServer {
  const server = new PipeServer({ handleConnection: echoLines });
  server.bind(socketPath());
  spawn(serveUntilClosed, server);
  return server;
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

function assertPipeError(error: unknown, codes: string[]): void {
  assert.ok(error instanceof PipeError, `expected a PipeError, got ${error}`);
  assert.ok(
    codes.includes(error.code),
    `expected ${codes.join(" or ")}, got ${error.code}`,
  );
}

// ---- evergreen tests/test_io.py ----

bothModes(
  "evergreen test_pipe_read: a line written comes back from the echo server",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoPipe();
      const client = new PipeClient();
      yield* client.connect(server.pipename);
      client.write(bytes("PING\n"));
      assert.equal(text(yield* client.readUntil("\n")), "PING\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "evergreen test_pipe_read_error: reading a closed client throws PipeError",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoPipe();
      const client = new PipeClient();
      yield* client.connect(server.pipename);
      yield* sleep(100);
      client.close();
      assert.throws(() => startOp(client.readUntil("\n")), (error: unknown) =>
        error instanceof PipeError && error.code === "EBADF");
      server.close();
    }),
);

// ---- libuv test-pipe-connect-error ----

bothModes(
  "libuv pipe_connect_bad_name: a path with nothing there is ENOENT",
  (mode) =>
    scenario(mode, function* () {
      const client = new PipeClient();
      const error = yield* caught(() =>
        client.connect("/path/to/unix/socket/that/really/should/not/be/there")
      );
      assertPipeError(error, ["ENOENT"]);
      assert.match(
        (error as PipeError).message,
        /^connect to \/path\/to\/unix\/socket\/that\/really\/should\/not\/be\/there failed: ENOENT/,
      );
      client.close();
    }),
);

bothModes(
  "libuv pipe_connect_to_file: a regular file is ENOTSOCK or ECONNREFUSED",
  (mode) =>
    scenario(mode, function* () {
      const path = `${directory}/empty_file`;
      Deno.writeFileSync(path, new Uint8Array(0));
      const client = new PipeClient();
      assertPipeError(yield* caught(() => client.connect(path)), [
        "ENOTSOCK",
        "ECONNREFUSED",
      ]);
      client.close();
    }),
);

// ---- servers and clients ----

bothModes(
  "bind on a path in use is EADDRINUSE; close removes the socket file",
  (mode) =>
    scenario(mode, function* () {
      const server = startEchoPipe();
      const path = server.pipename;
      assert.ok(Deno.statSync(path).isSocket, "bind creates the socket file");
      const second = new PipeServer({ handleConnection: echoLines });
      assert.throws(() => second.bind(path), (error: unknown) => {
        assertPipeError(error, ["EADDRINUSE"]);
        assert.equal(
          (error as PipeError).message,
          `bind to ${path} failed: EADDRINUSE`,
        );
        return true;
      });
      second.close();
      assert.ok(
        Deno.statSync(path).isSocket,
        "a failed bind leaves the other server's file alone",
      );
      server.close();
      assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
      yield* sleep(0);
    }),
);

bothModes(
  "bad paths are PipeError EINVAL or ENOENT, non-strings TypeError",
  (mode) =>
    scenario(mode, function* () {
      const server = new PipeServer({ handleConnection: echoLines });
      assert.throws(
        () => server.bind(`${directory}/${"x".repeat(200)}`),
        (error: unknown) => {
          assertPipeError(error, ["EINVAL"]);
          assert.match((error as PipeError).message, /Unix socket path/);
          return true;
        },
      );
      assert.throws(
        () => server.bind(""),
        (error: unknown) =>
          error instanceof PipeError && error.code === "EINVAL",
      );
      assert.throws(
        () => server.bind(`${directory}/missing/dir/sock`),
        (error: unknown) =>
          error instanceof PipeError && error.code === "ENOENT",
      );
      assert.throws(() => server.bind(7 as unknown as string), TypeError);
      assert.throws(
        () => server.pipename,
        (error: unknown) =>
          error instanceof PipeError && error.code === "EINVAL",
      );
      const client = new PipeClient();
      assertPipeError(yield* caught(() => client.connect("")), ["EINVAL"]);
      client.close();
      server.close();
    }),
);

bothModes(
  "pipe connections run their handlers in tasks and leave connections when closed",
  (mode) =>
    scenario(mode, function* () {
      const server = new PipeServer({
        *handleConnection(connection) {
          connection.write("hello\n");
          yield* connection.readUntil("\n");
          connection.close();
        },
      });
      server.bind(socketPath());
      spawn(serveUntilClosed, server);
      const clients: PipeClient[] = [];
      for (let i = 0; i < 3; i++) {
        const client = new PipeClient();
        yield* client.connect(server.pipename);
        assert.equal(text(yield* client.readUntil("\n")), "hello\n");
        clients.push(client);
      }
      assert.equal(server.connections.length, 3);
      assert.ok(server.connections.every((c) =>
        c instanceof PipeConnection && c.server === server
      ));
      for (const client of clients) {
        client.write("bye\n");
      }
      for (const client of clients) {
        assert.equal((yield* client.readBytes(1)).length, 0);
      }
      assert.equal(server.connections.length, 0);
      for (const client of clients) {
        client.close();
      }
      server.close();
    }),
);

bothModes(
  "a large write over a pipe arrives complete; flush waits for it",
  (mode) =>
    scenario(mode, function* () {
      const size = 4 * 1024 * 1024;
      let received: Uint8Array | null = null;
      const server = new PipeServer({
        *handleConnection(connection) {
          received = yield* connection.readBytes(size);
          connection.close();
        },
      });
      server.bind(socketPath());
      spawn(serveUntilClosed, server);
      const client = new PipeClient();
      yield* client.connect(server.pipename);
      const payload = new Uint8Array(size).map((_, i) => i % 251);
      client.write(payload);
      yield* client.flush();
      assert.equal((yield* client.readBytes(1)).length, 0);
      assert.deepEqual(received, payload);
      client.close();
      server.close();
    }),
);

bothModes(
  "a task in PipeServer.serve() returns normally when close() is called",
  (mode) =>
    scenario(mode, function* () {
      const server = new PipeServer({ handleConnection: echoLines });
      server.bind(socketPath());
      let returned = false;
      const serving = spawn(function* () {
        yield* server.serve();
        returned = true;
      });
      yield* sleep(5);
      server.close();
      assert.equal(yield* serving.join(5000), true);
      assert.equal(returned, true);
    }),
);

// ---- PipeStream.open ----

bothModes(
  "PipeStream.open reads and writes an inherited pipe, then reads its end",
  (mode) =>
    scenario(mode, function* () {
      const [readEnd, writeEnd] = testPipe();
      const reader = new PipeStream();
      reader.open(readEnd);
      const writer = new PipeStream();
      writer.open(writeEnd);
      assert.equal(writer.write("through a pipe\nand more"), true);
      assert.equal(text(yield* reader.readUntil("\n")), "through a pipe\n");
      writer.close();
      assert.equal(text(yield* reader.readBytes(100)), "and more");
      assert.equal((yield* reader.readBytes(1)).length, 0);
      reader.close();
    }),
  { ignore: isWindows },
);

bothModes(
  "PipeStream over a socket pair reads, writes and shuts down",
  (mode) =>
    scenario(mode, function* () {
      const [a, b] = testSocketPair();
      const left = new PipeStream();
      left.open(a);
      const right = new PipeStream();
      right.open(b);
      left.write("ping\n");
      assert.equal(text(yield* right.readUntil("\n")), "ping\n");
      right.write("pong");
      yield* right.shutdown();
      assert.equal(text(yield* left.readBytes(10)), "pong");
      assert.equal((yield* left.readBytes(1)).length, 0);
      left.close();
      right.close();
    }),
  { ignore: isWindows },
);

bothModes(
  "writing to a pipe whose reader is gone is EPIPE, never SIGPIPE",
  (mode) =>
    scenario(mode, function* () {
      const [readEnd, writeEnd] = testPipe();
      testClose(readEnd);
      const writer = new PipeStream();
      writer.open(writeEnd);
      // Coalesced: the write leaves before the loop polls; its failure is
      // reported by the next write or flush.
      writer.write("nobody reads this");
      yield* sleep(0);
      assert.throws(
        () => writer.write("again"),
        (error: unknown) =>
          error instanceof PipeError && error.code === "EPIPE",
      );
      assertPipeError(yield* caught(() => writer.flush()), ["EPIPE"]);
      writer.close();
    }),
  { ignore: isWindows },
);

bothModes(
  "PipeStream.open refuses bad descriptors and a second open",
  (mode) =>
    scenario(mode, function* () {
      const stream = new PipeStream();
      assert.throws(() => stream.open(-1), RangeError);
      assert.throws(
        () => stream.open(1_000_000),
        (error: unknown) =>
          error instanceof PipeError && error.code === "EBADF",
      );
      const [readEnd, writeEnd] = testPipe();
      stream.open(readEnd);
      assert.throws(
        () => stream.open(writeEnd),
        (error: unknown) =>
          error instanceof PipeError && error.code === "EISCONN",
      );
      stream.close();
      testClose(writeEnd);
      assert.throws(
        () => new PipeStream().open(readEnd),
        (error: unknown) =>
          error instanceof PipeError && error.code === "EBADF",
        "the stream closed its descriptor",
      );
      yield* sleep(0);
    }),
  { ignore: isWindows },
);
