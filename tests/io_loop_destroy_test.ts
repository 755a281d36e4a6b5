// Issue 10 point 6: objects whose loop was stopped and destroyed while tasks
// were blocked in their I/O are not left marked busy. Used from a new loop,
// each throws its class's error (EBADF, "its loop was destroyed") at once;
// nothing blocks for ever. Real sockets on 127.0.0.1, both loop modes.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { PipeError, TCPError, UDPError } from "../src/io/errors.ts";
import { TCPClient, type TCPConnection, TCPServer } from "../src/io/tcp.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { PipeClient, PipeServer } from "../src/io/pipe.ts";
import { type Mode, MODES } from "./fixtures/stream_harness.ts";

function drive(loop: EventLoop, mode: Mode): Promise<void> | void {
  return mode === "run" ? loop.run() : loop.runSync();
}

function* outcomeOf(
  body: () => Generator<unknown, unknown, unknown>,
): Generator<unknown, unknown, unknown> {
  try {
    return yield* body();
  } catch (error) {
    return error;
  }
}

function assertLoopGone(
  error: unknown,
  errorClass: typeof TCPError | typeof UDPError | typeof PipeError,
  what: string,
): void {
  assert.ok(error instanceof errorClass, `${what}: got ${error}`);
  assert.equal(error.code, "EBADF", what);
  assert.match(error.message, /its loop was destroyed/, what);
}

for (const mode of MODES) {
  Deno.test(`objects whose loop was stopped and destroyed mid-I/O throw EBADF on a new loop, none blocks [${mode}]`, async () => {
    const first = new EventLoop();
    const server = new TCPServer({
      *handleConnection(connection: TCPConnection) {
        yield* connection.readBytes(1000);
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    const reader = new TCPClient();
    const connecting = new TCPClient();
    const udp = new UDPEndpoint();
    udp.bind({ hostname: "127.0.0.1", port: 0 });
    const path = Deno.makeTempFileSync({ suffix: ".sock" });
    Deno.removeSync(path);
    const pipeServer = new PipeServer({
      *handleConnection(connection) {
        yield* connection.readBytes(1000);
      },
    });
    pipeServer.bind(path);
    const pipe = new PipeClient();
    spawn(function* () {
      yield* server.serve();
    });
    spawn(function* () {
      yield* pipeServer.serve();
    });
    spawn(function* () {
      yield* reader.connect(server.sockname);
      yield* pipe.connect(path);
      spawn(function* () {
        yield* reader.readBytes(10);
      });
      spawn(function* () {
        yield* pipe.readUntil("\n");
      });
      spawn(function* () {
        yield* udp.receive();
      });
      yield* sleep(20);
      // Stopped in the turn the connect starts: it never completes.
      spawn(function* () {
        connecting.write("early");
        yield* connecting.connect(server.sockname);
      });
      spawn(function* () {
        yield* connecting.flush();
      });
      spawn(() => first.stop());
    });
    try {
      await drive(first, mode);
    } finally {
      first.destroy();
    }

    const second = new EventLoop();
    const outcomes: Record<string, unknown> = {};
    const watchdog = second.callLater(10_000, () => second.stop());
    spawn(function* () {
      outcomes.readBytes = yield* outcomeOf(() => reader.readBytes(10));
      outcomes.readUntil = yield* outcomeOf(() => pipe.readUntil("\n"));
      outcomes.readInto = yield* outcomeOf(() =>
        reader.readInto(new Uint8Array(8))
      );
      outcomes.write = yield* outcomeOf(function* () {
        reader.write("x");
      });
      outcomes.flush = yield* outcomeOf(() => connecting.flush());
      outcomes.connect = yield* outcomeOf(() =>
        connecting.connect(server.sockname)
      );
      outcomes.serve = yield* outcomeOf(() => server.serve());
      outcomes.receive = yield* outcomeOf(() => udp.receive());
      outcomes.udpFlush = yield* outcomeOf(() => udp.flush());
      watchdog.cancel();
    });
    try {
      await drive(second, mode);
    } finally {
      second.destroy();
    }
    for (const what of ["readBytes", "readInto", "write"]) {
      assertLoopGone(outcomes[what], TCPError, what);
    }
    assertLoopGone(outcomes.readUntil, PipeError, "readUntil");
    assertLoopGone(outcomes.flush, TCPError, "flush");
    assertLoopGone(outcomes.connect, TCPError, "connect");
    assertLoopGone(outcomes.serve, TCPError, "serve");
    assertLoopGone(outcomes.receive, UDPError, "receive");
    assertLoopGone(outcomes.udpFlush, UDPError, "udp flush");
    // Closing still works and gives the descriptors back.
    for (
      const closable of [reader, connecting, pipe, server, pipeServer, udp]
    ) {
      closable.close();
    }
  });
}
