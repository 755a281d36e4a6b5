// Issue 10 point 4: a read whose native op completes in the loop turn in
// which another task closes the stream returns the data or throws EBADF,
// never bytes that were not received; readInto into a buffer detached while
// it waited never claims end of stream. Real sockets on 127.0.0.1, both
// loop modes.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { TCPClient, type TCPConnection, TCPServer } from "../src/io/tcp.ts";
import type { Stream } from "../src/io/stream.ts";
import {
  bothModes,
  bytes,
  isClosedError,
  scenario,
  serveUntilClosed,
  text,
} from "./fixtures/stream_harness.ts";

/** A connected client and the server's side of it. */
function* connectedPair(): Generator<
  unknown,
  { server: TCPServer; client: TCPClient; peer: TCPConnection },
  unknown
> {
  let peer: TCPConnection | null = null;
  const server = new TCPServer({
    *handleConnection(connection) {
      peer = connection;
      // The test drives the connection; the handler holds it until closed.
      while (!connection.closed) yield* sleep(5);
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  spawn(serveUntilClosed, server);
  const client = new TCPClient();
  yield* client.connect(server.sockname);
  while (peer === null) yield* sleep(1);
  return { server, client, peer: peer as TCPConnection };
}

/** Blocks the JS thread (not the loop's tasks) for `ms`. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the kernel delivers meanwhile */ }
}

type Read = (stream: Stream) => Generator<unknown, unknown, unknown>;

const reads: [string, Read][] = [
  ["readBytes", (stream) => stream.readBytes(5)],
  ["readUntil", (stream) => stream.readUntil("\n")],
  ["readUntilRegex", (stream) => stream.readUntilRegex(/o\n/)],
  ["readInto", function* (stream) {
    const buffer = new Uint8Array(16);
    const count = yield* stream.readInto(buffer);
    return buffer.subarray(0, count);
  }],
];

for (const [name, read] of reads) {
  bothModes(
    `${name}() completing in the turn another task closes the stream returns the data or throws EBADF`,
    (mode) =>
      scenario(mode, function* () {
        const { server, client, peer } = yield* connectedPair();
        let outcome: unknown = "pending";
        spawn(function* () {
          try {
            outcome = yield* read(client);
          } catch (error) {
            outcome = error;
          }
        });
        // The closer's timer and the read's completion become ready in the
        // same turn: timers are queued first, so close() runs first.
        spawn(function* () {
          yield* sleep(20);
          client.close();
        });
        yield* sleep(1);
        peer.write("hello\n");
        busyWait(60);
        while (outcome === "pending") yield* sleep(1);
        if (outcome instanceof Uint8Array) {
          assert.equal(text(outcome).slice(0, 5), "hello");
        } else {
          assert.ok(isClosedError(outcome), `got ${outcome}`);
        }
        server.close();
      }),
  );
}

bothModes(
  "readInto() into a buffer detached while it waited throws a clear error and keeps the data",
  (mode) =>
    scenario(mode, function* () {
      const { server, client, peer } = yield* connectedPair();
      const buffer = new Uint8Array(16);
      let outcome: unknown = "pending";
      spawn(function* () {
        try {
          outcome = yield* client.readInto(buffer);
        } catch (error) {
          outcome = error;
        }
      });
      yield* sleep(5);
      buffer.buffer.transfer();
      peer.write(bytes("kept\n"));
      while (outcome === "pending") yield* sleep(1);
      assert.ok(outcome instanceof TypeError, `got ${outcome}`);
      assert.match(outcome.message, /detached/);
      assert.equal(text(yield* client.readUntil("\n")), "kept\n");
      client.close();
      server.close();
    }),
);
