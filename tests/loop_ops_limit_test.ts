// A loop holds as many blocked operations as the program makes: the native op
// table grows on demand up to a hard cap (NATIVE_OPS_MAX, a million), and
// only the cap fails a start, with an error that names it (issue 10,
// point 8: the table held 16384, and read 16385 failed with a bare EOVERFLOW
// and closed its connection).

import assert from "node:assert/strict";
import { type EventLoop, PipeStream, spawn, StreamError } from "../mod.ts";
import { errorFromResult } from "../src/io/errors.ts";
import { ERROR_NAMES } from "../src/native/errors.ts";
import { NATIVE_OPS_MAX } from "../src/native/native_loop.ts";
import { testSocketPair } from "../src/native/test_support.ts";
import { makeLoop } from "./fixtures/loop_harness.ts";

// Both ends of each pair read, so PAIRS pairs hold 2 * PAIRS blocked reads on
// 2 * PAIRS descriptors (this machine allows 20000 per process).
const PAIRS = 9_000;

async function blockedReads(
  loop: EventLoop,
  errors: unknown[],
  mode: "run" | "runSync",
): Promise<void> {
  const streams: PipeStream[] = [];
  for (let i = 0; i < PAIRS; i++) {
    for (const fd of testSocketPair()) {
      const stream = new PipeStream();
      stream.open(fd);
      streams.push(stream);
    }
  }
  const received: string[] = new Array(streams.length);
  let liveWhileBlocked = 0;
  try {
    streams.forEach((stream, i) => {
      spawn(function* () {
        received[i] = new TextDecoder().decode(yield* stream.readBytes(1));
      });
    });
    // Spawned last, so it runs once every reader has blocked.
    spawn(() => {
      liveWhileBlocked = loop._native.opsLive();
      for (let i = 0; i < streams.length; i += 2) {
        streams[i].write("b");
        streams[i + 1].write("a");
      }
    });
    if (mode === "run") await loop.run();
    else loop.runSync();
  } finally {
    for (const stream of streams) stream.close();
  }
  assert.deepEqual(errors, []);
  assert.ok(
    liveWhileBlocked >= 2 * PAIRS,
    `${liveWhileBlocked} native ops were live while every reader blocked`,
  );
  const expected = streams.map((_, i) => (i % 2 === 0 ? "a" : "b"));
  assert.deepEqual(received, expected, "every blocked read got its byte");
}

for (const mode of ["run", "runSync"] as const) {
  Deno.test({
    name:
      `18000 reads blocked at once on one loop all start and complete (past the old 16384 limit), under ${mode}()`,
    ignore: Deno.build.os === "windows",
    fn: async () => {
      const { loop, errors } = makeLoop();
      try {
        await blockedReads(loop, errors, mode);
      } finally {
        loop.destroy();
      }
    },
  });
}

Deno.test("reaching the op cap is an EOVERFLOW whose message names the limit", () => {
  const overflow = -ERROR_NAMES.indexOf("EOVERFLOW");
  const error = errorFromResult(StreamError, overflow, "readBytes");
  assert.equal(error.code, "EOVERFLOW");
  assert.match(
    error.message,
    new RegExp(`limit of ${NATIVE_OPS_MAX} operations blocked at once`),
  );
});
