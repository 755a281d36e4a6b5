// The library inside a real Deno program: regressions found by driving it
// from plain async code (Deno timers, signal listeners) beside `run()`.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";

const LOCALHOST = { hostname: "127.0.0.1", port: 0 };
// Long enough for run() to have left its spin and parked off the JS thread.
const PARKED_MS = 150;

/**
 * Runs the loop until it ends or `limitMs` passes; a loop still running
 * then is stopped (so that a failing test does not hang) and false returned.
 */
async function runWithin(loop: EventLoop, limitMs: number): Promise<boolean> {
  const running = loop.run();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), limitMs);
  });
  const ended = await Promise.race([running.then(() => true), limit]);
  clearTimeout(timer);
  if (!ended) {
    loop.stop();
    await running;
  }
  return ended;
}

Deno.test("interop: server.close() from a Deno timer ends serve() while run() is parked", async () => {
  using loop = new EventLoop();
  using server = new TCPServer({ *handleConnection() {} });
  server.bind(LOCALHOST);
  let returned = false;
  spawn(function* () {
    yield* server.serve();
    returned = true;
  });
  // As a Deno.addSignalListener("SIGINT", () => server.close()) would.
  const timer = setTimeout(() => server.close(), PARKED_MS);
  const ended = await runWithin(loop, 3000);
  clearTimeout(timer);
  assert.ok(ended, "run() ended once the server was closed");
  assert.ok(returned, "serve() returned");
});

Deno.test("interop: stream.close() from a Deno timer wakes a task blocked in a read while run() is parked", async () => {
  // The peer is Deno's own, so nothing in the library's loop stirs.
  using listener = Deno.listen(LOCALHOST);
  const accepted = listener.accept();
  using loop = new EventLoop();
  const client = new TCPClient();
  let outcome = "still blocked";
  spawn(function* () {
    yield* client.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    try {
      yield* client.readBytes(1);
      outcome = "read";
    } catch (error) {
      outcome = (error as { code?: string }).code ?? String(error);
    }
  });
  const timer = setTimeout(() => client.close(), PARKED_MS);
  const ended = await runWithin(loop, 3000);
  clearTimeout(timer);
  (await accepted).close();
  assert.ok(ended, "run() ended once the stream was closed");
  assert.equal(outcome, "EBADF");
});

Deno.test("interop: spawn() after run() ended says the loop has ended", async () => {
  using loop = new EventLoop();
  loop.callSoon(() => {});
  await loop.run();
  assert.throws(
    () => spawn(function* () {}),
    (error: Error) =>
      !(error.name === "FiberError") && /loop has ended/.test(error.message),
  );
});
