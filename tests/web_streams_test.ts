// Web streams on every Stream (issue 12.6): `readable` and `writable`
// (ReadableStream<Uint8Array> / WritableStream<Uint8Array>, as on
// Deno.Conn) are usable from async code while the loop runs; a read through
// `readable` while a task reads is refused like two readers are. Real
// sockets on 127.0.0.1, under run() (async code needs Deno's turns).

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn, Task } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { TCPClient, type TCPConnection, TCPServer } from "../src/io/tcp.ts";
import { PipeClient, PipeServer } from "../src/io/pipe.ts";
import { Stream } from "../src/io/stream.ts";
import { serveUntilClosed } from "./fixtures/stream_harness.ts";

const encoder = new TextEncoder();

/**
 * A loop running a TCP server with `handler`, and a connected client; the
 * test body is async code that runs while the loop does.
 */
async function withClient(
  handler: (conn: TCPConnection) => Generator<unknown, void, unknown>,
  body: (client: TCPClient, loop: EventLoop) => Promise<void>,
): Promise<void> {
  using loop = new EventLoop();
  const errors: unknown[] = [];
  loop.setExceptionHandler((error) => errors.push(error));
  const server = new TCPServer({ handleConnection: handler });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  const client = new TCPClient();
  const connected = new Task(function* () {
    spawn(function* () {
      yield* serveUntilClosed(server);
    });
    yield* client.connect({
      hostname: "127.0.0.1",
      port: server.sockname.port,
    });
  });
  const ready = Promise.resolve(connected);
  connected.start();
  const running = loop.run();
  try {
    await ready;
    await body(client, loop);
  } finally {
    client.close();
    server.close();
    await running;
  }
  if (errors.length > 0) throw errors[0];
}

Deno.test("web streams: new Response(client.readable) reads everything the peer sent", async () => {
  await withClient(function* (conn) {
    for (let i = 0; i < 3; i++) {
      conn.write(`line ${i}\n`);
      yield* sleep(1);
    }
    yield* conn.shutdown();
  }, async (client) => {
    const text = await new Response(client.readable).text();
    assert.equal(text, "line 0\nline 1\nline 2\n");
    assert.ok(client.readable instanceof ReadableStream);
    assert.equal(client.readable, client.readable, "one readable per stream");
  });
});

Deno.test("web streams: writable takes a pipeTo and half-closes on close", async () => {
  const received = Promise.withResolvers<string>();
  await withClient(function* (conn) {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = yield* conn.readBytes(4096);
      if (chunk.length === 0) break;
      chunks.push(chunk);
    }
    received.resolve(new TextDecoder().decode(concat(chunks)));
    conn.write("bye\n");
    yield* conn.flush();
  }, async (client) => {
    const big = "x".repeat(300_000);
    await ReadableStream.from(["hello ", big, " end"])
      .pipeThrough(new TextEncoderStream())
      .pipeTo(client.writable);
    assert.equal(await received.promise, `hello ${big} end`);
    // Half-closed: the client still reads the reply.
    const reader = client.readable.getReader();
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "bye\n");
    reader.releaseLock();
  });
});

Deno.test("web streams: conn.readable.pipeTo(other.writable) relays between streams", async () => {
  await withClient(function* (conn) {
    // An echo through web streams, inside the server's handler task.
    const done = new Event();
    let outcome = "pending";
    conn.readable.pipeTo(conn.writable).then(
      () => outcome = "piped",
      (error) => outcome = String(error),
    ).finally(() => done.set());
    yield* done.wait();
    assert.equal(outcome, "piped");
  }, async (client) => {
    const reader = client.readable.getReader();
    const writer = client.writable.getWriter();
    await writer.write(encoder.encode("PING\n"));
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "PING\n");
    await writer.close();
    // The relay ends when it reads our end of stream: so does its echo.
    assert.equal((await reader.read()).done, true);
    reader.releaseLock();
  });
});

Deno.test("web streams: a read through readable while a task reads is refused", async () => {
  await withClient(function* (conn) {
    yield* sleep(50);
    conn.write("late\n");
    yield* conn.flush();
  }, async (client) => {
    const reading = new Task(function* () {
      return yield* client.readUntil("\n");
    });
    const line = Promise.resolve(reading);
    reading.start();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reader = client.readable.getReader();
    await assert.rejects(
      reader.read(),
      /another task is already reading from this TCPClient/,
    );
    assert.equal(new TextDecoder().decode(await line), "late\n");
  });
});

Deno.test("web streams: a pipe stream has them too", async () => {
  using loop = new EventLoop();
  const path = await Deno.makeTempFile({ suffix: ".sock" });
  await Deno.remove(path);
  const server = new PipeServer({
    *handleConnection(conn) {
      conn.write("over a pipe\n");
      yield* conn.shutdown();
    },
  });
  server.bind(path);
  const client = new PipeClient();
  const connected = new Task(function* () {
    spawn(function* () {
      yield* serveUntilClosed(server);
    });
    yield* client.connect(path);
  });
  const ready = Promise.resolve(connected);
  connected.start();
  const running = loop.run();
  try {
    await ready;
    assert.ok(client instanceof Stream);
    assert.equal(await new Response(client.readable).text(), "over a pipe\n");
  } finally {
    client.close();
    server.close();
    await running;
    await Deno.remove(path).catch(() => {});
  }
});

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

Deno.test("web streams: an async handleConnection keeps its connection until its promise settles", async () => {
  using loop = new EventLoop();
  const errors: unknown[] = [];
  loop.setExceptionHandler((error) => errors.push(error));
  // An async handler echoes through the connection's web streams; the
  // server closes the connection only once the handler's promise settles.
  const server = new TCPServer({
    async handleConnection(conn) {
      const upper = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          controller.enqueue(
            encoder.encode(new TextDecoder().decode(chunk).toUpperCase()),
          );
        },
      });
      await conn.readable.pipeThrough(upper).pipeTo(conn.writable);
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  let reply = "";
  spawn(function* () {
    yield* serveUntilClosed(server);
  });
  spawn(function* () {
    const client = new TCPClient();
    try {
      yield* client.connect(server.sockname);
      client.write("hello ");
      yield* sleep(20);
      client.write("async\n");
      yield* client.shutdown();
      for (;;) {
        const chunk = yield* client.readBytes(1);
        if (chunk.length === 0) break;
        reply += new TextDecoder().decode(chunk);
      }
    } finally {
      client.close();
      server.close();
    }
  });
  await loop.run();
  assert.deepEqual(errors, []);
  assert.equal(reply, "HELLO ASYNC\n");
});

Deno.test("web streams: an async handleConnection under runSync() fails with a clear error and its connection is closed", () => {
  using loop = new EventLoop();
  const errors: unknown[] = [];
  loop.setExceptionHandler((error) => errors.push(error));
  const server = new TCPServer({
    async handleConnection(conn) {
      await Promise.resolve();
      conn.write("never\n");
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  let got: Uint8Array | null = null;
  spawn(function* () {
    yield* serveUntilClosed(server);
  });
  spawn(function* () {
    const client = new TCPClient();
    try {
      yield* client.connect(server.sockname);
      got = yield* client.readBytes(1);
    } finally {
      client.close();
      server.close();
    }
  });
  loop.runSync();
  assert.equal(got!.length, 0, "the connection was closed without a reply");
  assert.equal(errors.length, 1);
  assert.match(
    String(errors[0]),
    /waitPromise\(\) cannot work under loop\.runSync\(\)/,
  );
});
