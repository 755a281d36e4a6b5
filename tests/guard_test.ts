// Guards for `using` (issue 12.5): `using _ = yield* lock.guard(ms?)` on
// Lock, RLock, Semaphore, BoundedSemaphore and Condition releases on
// leaving the block, also when it throws; TimeoutError when not acquired
// in time.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { BoundedSemaphore, Guard, Lock, Semaphore } from "../src/sync/locks.ts";
import { RLock } from "../src/sync/rlock.ts";
import { Condition } from "../src/sync/condition.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { TimeoutError } from "../src/futures.ts";
import { makeLoop, runClean } from "./fixtures/loop_harness.ts";

Deno.test("guard: a Lock guard holds the lock until the block is left", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  const seen: boolean[] = [];
  spawn(function* () {
    {
      using held = yield* lock.guard();
      assert.ok(held instanceof Guard);
      seen.push(lock.locked());
    }
    seen.push(lock.locked());
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, [true, false]);
});

Deno.test("guard: the lock is released when the block throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  let caught = "";
  spawn(function* () {
    try {
      using _held = yield* lock.guard();
      throw new Error("inside");
    } catch (error) {
      caught = (error as Error).message;
    }
  });
  await runClean(loop, errors);
  assert.equal(caught, "inside");
  assert.equal(lock.locked(), false);
});

Deno.test("guard: guard(ms) throws TimeoutError when not acquired in time", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  let caught: unknown = null;
  spawn(function* () {
    using _held = yield* lock.guard();
    yield* sleep(50);
  });
  spawn(function* () {
    try {
      using _held = yield* lock.guard(5);
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof TimeoutError);
  assert.match(
    (caught as Error).message,
    /Lock\.guard\(\) not acquired within 5 ms/,
  );
  assert.equal(lock.locked(), false);
});

Deno.test("guard: Semaphore and BoundedSemaphore guards give their unit back", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const slots = new Semaphore(2);
  const bounded = new BoundedSemaphore(1);
  let most = 0;
  let inside = 0;
  for (let i = 0; i < 4; i++) {
    spawn(function* () {
      using _slot = yield* slots.guard();
      using _one = yield* bounded.guard();
      most = Math.max(most, ++inside);
      yield* sleep(1);
      inside--;
    });
  }
  await runClean(loop, errors);
  assert.equal(most, 1);
  // Both are back to their initial value: a further release overflows.
  assert.throws(() => bounded.release(), /released too many times/);
});

Deno.test("guard: an RLock guard nests and frees the lock at the outer block's end", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  let otherGot = false;
  spawn(function* () {
    using _outer = yield* lock.guard();
    {
      using _inner = yield* lock.guard();
    }
    yield* sleep(5);
  });
  spawn(function* () {
    yield* sleep(1);
    using _held = yield* lock.guard();
    otherGot = true;
  });
  await runClean(loop, errors);
  assert.equal(otherGot, true);
});

Deno.test("guard: a Condition guard holds its lock for wait and notify", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const cond = new Condition(new Lock());
  const items: number[] = [];
  let got = 0;
  spawn(function* () {
    using _held = yield* cond.guard();
    yield* cond.waitFor(() => items.length > 0);
    got = items.shift()!;
  });
  spawn(function* () {
    using _held = yield* cond.guard();
    items.push(42);
    cond.notify();
  });
  await runClean(loop, errors);
  assert.equal(got, 42);
});

Deno.test("guard: a guard held when a Timeout fires is released, and the next task gets the lock", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  const log: string[] = [];
  spawn(function* () {
    try {
      using _t = Timeout.after(5);
      using _held = yield* lock.guard();
      log.push("a holds");
      yield* sleep(10_000);
    } catch (error) {
      log.push(error instanceof Timeout ? "a timed out" : String(error));
    }
  });
  spawn(function* () {
    using _held = yield* lock.guard();
    log.push("b holds");
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["a holds", "a timed out", "b holds"]);
  assert.equal(lock.locked(), false);
});

Deno.test("guard: disposing a guard twice releases once; a bad timeout throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  spawn(function* () {
    const held = yield* lock.guard();
    held[Symbol.dispose]();
    held[Symbol.dispose]();
    assert.equal(held.released, true);
    assert.equal(lock.locked(), false);
  });
  await runClean(loop, errors);
  assert.throws(() => lock.guard("5" as unknown as number), TypeError);
});

Deno.test("guard: a bad timeout's error names the guard() it was given to", () => {
  const owners = [
    new Lock(),
    new RLock(),
    new Semaphore(),
    new BoundedSemaphore(),
    new Condition(),
  ];
  for (const owner of owners) {
    const call = `${owner.constructor.name}.guard()`;
    assert.throws(
      () => owner.guard(-1),
      (error: unknown) =>
        error instanceof RangeError && error.message.startsWith(`${call}: `),
      `${call} with -1 must throw a RangeError naming ${call}`,
    );
    assert.throws(
      () => owner.guard("5" as unknown as number),
      (error: unknown) =>
        error instanceof TypeError && error.message.startsWith(`${call}: `),
      `${call} with "5" must throw a TypeError naming ${call}`,
    );
  }
});
