// Timeout: evergreen 0.2.0's tests/test_timeout.py ported test by test, then
// the API.md details (start() returns this, `using` disarms, a negative ms
// never fires, it fires in the task that started it wherever it blocks) and
// misuse.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { Event } from "../src/sync/event.ts";
import { Lock } from "../src/sync/locks.ts";
import { Queue } from "../src/sync/queue.ts";
import { makeLoop, runClean } from "./fixtures/loop_harness.ts";

class FooTimeout extends Error {}

// ---------------------------------------------------------------------------
// evergreen tests/test_timeout.py

Deno.test("timeout: test_with_timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  spawn(function* () {
    try {
      using _timeout = new Timeout(10).start();
      yield* sleep(10_000);
    } catch (error) {
      caught = error;
    }
  });
  const t0 = loop.time();
  await runClean(loop, errors);
  assert.ok(caught instanceof Timeout);
  assert.ok(loop.time() - t0 < 1000, "the sleep's timer went away too");
});

Deno.test("timeout: test_with_none_timeout (no ms: never fires)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let slept = false;
  spawn(function* () {
    using _timeout = new Timeout().start();
    yield* sleep(10);
    slept = true;
  });
  await runClean(loop, errors);
  assert.equal(slept, true);
});

Deno.test("timeout: test_with_negative_timeout (never fires)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let slept = false;
  spawn(function* () {
    using _timeout = new Timeout(-1).start();
    yield* sleep(10);
    slept = true;
  });
  await runClean(loop, errors);
  assert.equal(slept, true);
});

Deno.test("timeout: test_timeout_custom_exception", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  const custom = new FooTimeout();
  spawn(function* () {
    try {
      using _timeout = new Timeout(10, custom).start();
      yield* sleep(10_000);
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.equal(caught, custom);
});

Deno.test("timeout: test_timeout (without using: the Timeout itself is thrown)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let same = false;
  spawn(function* () {
    const t = new Timeout(10);
    t.start();
    try {
      yield* sleep(10_000);
    } catch (error) {
      same = error === t;
    }
  });
  await runClean(loop, errors);
  assert.equal(same, true);
});

// ---------------------------------------------------------------------------
// API.md details

Deno.test("timeout: leaving the using block disarms it", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let finished = false;
  spawn(function* () {
    {
      using t = new Timeout(5).start();
      assert.equal(t.pending, true);
      yield* sleep(1);
    }
    yield* sleep(20);
    finished = true;
  });
  await runClean(loop, errors);
  assert.equal(finished, true);
});

Deno.test("timeout: cancel() disarms it and it can be started again", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  spawn(function* () {
    const t = new Timeout(5).start();
    t.cancel();
    assert.equal(t.pending, false);
    yield* sleep(10);
    t.start();
    try {
      yield* sleep(10_000);
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof Timeout);
});

Deno.test("timeout: it fires in the task that started it, not the one running", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  spawn(function* () {
    try {
      using _timeout = new Timeout(5).start();
      yield* sleep(10_000);
    } catch (error) {
      log.push(error instanceof Timeout ? "starter timed out" : "other");
    }
  });
  spawn(function* () {
    for (let i = 0; i < 3; i++) yield* sleep(4);
    log.push("bystander done");
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["starter timed out", "bystander done"]);
});

Deno.test("timeout: it reaches a task blocked on a primitive, which stays consistent", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  const event = new Event();
  const queue = new Queue<number>();
  const log: string[] = [];
  spawn(function* () {
    yield* lock.acquire();
    yield* sleep(30);
    lock.release();
  });
  spawn(function* () {
    for (
      const [name, op] of [
        ["lock", () => lock.acquire()],
        ["event", () => event.wait()],
        ["queue", () => queue.get()],
      ] as const
    ) {
      try {
        using _timeout = new Timeout(5).start();
        yield* op();
        log.push(`${name} returned`);
      } catch (error) {
        log.push(error instanceof Timeout ? `${name} timed out` : "other");
      }
    }
    // Nothing was left behind: the primitives still work.
    yield* lock.acquire();
    lock.release();
    event.set();
    assert.equal(yield* event.wait(), true);
    queue.putNowait(1);
    assert.equal(yield* queue.get(), 1);
    log.push("all usable");
  });
  await runClean(loop, errors);
  assert.deepEqual(log, [
    "lock timed out",
    "event timed out",
    "queue timed out",
    "all usable",
  ]);
});

Deno.test("timeout: a Timeout is an Error with a readable message", () => {
  const t = new Timeout(25);
  assert.ok(t instanceof Error);
  assert.equal(t.name, "Timeout");
  assert.equal(t.ms, 25);
  assert.match(t.message, /25 ms/);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("timeout: start() twice throws; start() outside a task throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  assert.throws(() => new Timeout(5).start(), /main fiber/);
  let threw = false;
  spawn(() => {
    const t = new Timeout(5).start();
    assert.throws(() => t.start(), /already started/);
    t.cancel();
    threw = true;
  });
  await runClean(loop, errors);
  assert.equal(threw, true);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Timeout("5" as any), TypeError);
});
