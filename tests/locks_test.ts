// Locks: evergreen 0.2.0's tests/test_locks.py ported test by test, then the
// API.md rules for Semaphore, BoundedSemaphore, Lock, RLock and Condition,
// kill and timeout at every blocking point (state stays consistent: a killed
// waiter never swallows a release or a notify), and every misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn, type Task, TaskExit } from "../src/tasks.ts";
import { BoundedSemaphore, Lock, Semaphore } from "../src/sync/locks.ts";
import { RLock } from "../src/sync/rlock.ts";
import { Condition } from "../src/sync/condition.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

// ---------------------------------------------------------------------------
// evergreen tests/test_locks.py

Deno.test("locks: test_semaphore", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let checked = false;
  spawn(function* () {
    const lock = new Semaphore();
    yield* lock.acquire();
    assert.equal(yield* lock.acquire(false), false);
    checked = true;
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("locks: test_bounded_semaphore", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let checked = false;
  spawn(function* () {
    const lock = new BoundedSemaphore();
    yield* lock.acquire();
    lock.release();
    assert.throws(() => lock.release(), /released too many times/);
    checked = true;
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("locks: test_rlock", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  const results: boolean[] = [];
  spawn(function* () {
    yield* lock.acquire();
    results.push(yield* lock.acquire());
  });
  spawn(function* () {
    results.push(yield* lock.acquire(false));
  });
  await runClean(loop, errors);
  assert.deepEqual(results, [true, false]);
});

Deno.test("locks: test_condition", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let value = 0;
  const cond = new Condition();
  let checked = false;
  spawn(function* () {
    yield* cond.acquire();
    try {
      assert.equal(value, 0);
      yield* cond.wait();
      assert.equal(value, 42);
      checked = true;
    } finally {
      cond.release();
    }
  });
  spawn(function* () {
    yield* cond.acquire();
    try {
      value = 42;
      cond.notifyAll();
    } finally {
      cond.release();
    }
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

// ---------------------------------------------------------------------------
// Semaphore

Deno.test("locks: a semaphore admits `value` holders at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(2);
  let inside = 0;
  let most = 0;
  for (let i = 0; i < 6; i++) {
    spawn(function* () {
      yield* sem.acquire();
      try {
        most = Math.max(most, ++inside);
        yield* sleep(2);
      } finally {
        inside--;
        sem.release();
      }
    });
  }
  await runClean(loop, errors);
  assert.equal(most, 2);
});

Deno.test("locks: waiters acquire in FIFO order", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  const order: number[] = [];
  for (let i = 0; i < 4; i++) {
    spawn(function* () {
      yield* sem.acquire();
      order.push(i);
    });
  }
  spawn(function* () {
    yield* sleep(1);
    for (let i = 0; i < 4; i++) sem.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(order, [0, 1, 2, 3]);
});

Deno.test("locks: a release goes to the waiter, not to a later non-blocking acquire", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  const seen: string[] = [];
  spawn(function* () {
    yield* sem.acquire();
    seen.push("waiter");
  });
  spawn(function* () {
    yield* sleep(1);
    sem.release();
    seen.push(`barger: ${yield* sem.acquire(false)}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["barger: false", "waiter"]);
});

Deno.test("locks: acquire with a timeout returns false, and a later release still counts", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  const results: unknown[] = [];
  spawn(function* () {
    const t0 = loop.time();
    results.push(yield* sem.acquire(true, 10));
    results.push(loop.time() - t0 >= 9);
    sem.release();
    results.push(yield* sem.acquire(false));
  });
  await runClean(loop, errors);
  assert.deepEqual(results, [false, true, true]);
});

Deno.test("locks: an infinite timeout waits without limit", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  let got: boolean | null = null;
  spawn(function* () {
    got = yield* sem.acquire(true, Infinity);
  });
  loop.callLater(20, () => sem.release());
  await runClean(loop, errors);
  assert.equal(got, true);
});

Deno.test("locks: a killed semaphore waiter does not swallow a release", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  const seen: string[] = [];
  const first = spawn(function* () {
    try {
      yield* sem.acquire();
      seen.push("first acquired");
    } finally {
      seen.push("first finally");
    }
  });
  spawn(function* () {
    yield* sem.acquire();
    seen.push("second acquired");
  });
  spawn(function* () {
    yield* sleep(1);
    // The kill is queued first, then the release is handed to `first`,
    // which dies before it resumes: the unit must move on to `second`.
    first.kill();
    sem.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["first finally", "second acquired"]);
});

Deno.test("locks: a waiter whose timeout and release coincide loses no unit", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(0);
  const results: boolean[] = [];
  spawn(function* () {
    const acquired = yield* sem.acquire(true, 5);
    results.push(acquired);
    if (acquired) sem.release();
  });
  // Due at the same time as the timeout, so both land in one batch.
  loop.callLater(5, () => sem.release());
  await runClean(loop, errors);
  assert.equal(results.length, 1);
  // Whichever won, exactly one unit is free now.
  assert.equal(startOp(sem.acquire(false)).value, true);
  assert.equal(startOp(sem.acquire(false)).value, false);
});

Deno.test("locks: semaphore state after timeouts and kills is exact", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new Semaphore(1);
  const tasks: Task[] = [];
  spawn(function* () {
    yield* sem.acquire();
    yield* sleep(20);
    sem.release();
  });
  for (let i = 0; i < 5; i++) {
    tasks.push(spawn(function* () {
      if (yield* sem.acquire(true, i % 2 === 0 ? 5 : undefined)) {
        sem.release();
      }
    }));
  }
  loop.callLater(10, () => {
    tasks[1].kill();
    tasks[3].kill();
  });
  let free: boolean[] = [];
  spawn(function* () {
    yield* sleep(40);
    free = [yield* sem.acquire(false), yield* sem.acquire(false)];
  });
  await runClean(loop, errors);
  assert.deepEqual(free, [true, false], "exactly one unit is left");
});

Deno.test("locks: BoundedSemaphore counts a unit handed to a waiter", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const sem = new BoundedSemaphore(1);
  let threw = false;
  spawn(function* () {
    yield* sem.acquire();
  });
  spawn(function* () {
    yield* sem.acquire();
    sem.release();
  });
  spawn(() => {
    sem.release();
    // The unit went to the waiter, which has not run yet: one more release
    // would exceed the bound.
    assert.throws(() => sem.release(), /too many times/);
    threw = true;
  });
  await runClean(loop, errors);
  assert.equal(threw, true);
});

// ---------------------------------------------------------------------------
// Lock and RLock

Deno.test("locks: Lock excludes and reports locked()", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  const log: string[] = [];
  for (const name of ["a", "b"]) {
    spawn(function* () {
      yield* lock.acquire();
      try {
        assert.equal(lock.locked(), true);
        log.push(`${name} in`);
        yield* sleep(1);
        log.push(`${name} out`);
      } finally {
        lock.release();
      }
    });
  }
  await runClean(loop, errors);
  assert.equal(lock.locked(), false);
  assert.deepEqual(log, ["a in", "a out", "b in", "b out"]);
});

Deno.test("locks: RLock nests and frees only at the last release", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  const seen: string[] = [];
  spawn(function* () {
    yield* lock.acquire();
    yield* lock.acquire();
    lock.release();
    yield* sleep(5);
    seen.push("a still holds");
    lock.release();
  });
  spawn(function* () {
    yield* sleep(1);
    yield* lock.acquire();
    seen.push("b got it");
    lock.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["a still holds", "b got it"]);
});

Deno.test("locks: a killed RLock waiter leaves the lock usable", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  let later = false;
  spawn(function* () {
    yield* lock.acquire();
    yield* sleep(10);
    lock.release();
  });
  const waiter = spawn(function* () {
    yield* lock.acquire();
    lock.release();
  });
  loop.callLater(2, () => waiter.kill());
  spawn(function* () {
    yield* sleep(20);
    later = yield* lock.acquire(false);
    lock.release();
  });
  await runClean(loop, errors);
  assert.equal(later, true);
});

// ---------------------------------------------------------------------------
// Condition

Deno.test("locks: Condition over a Lock", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const cond = new Condition(new Lock());
  const items: number[] = [];
  let got: number | undefined;
  spawn(function* () {
    yield* cond.acquire();
    try {
      while (items.length === 0) yield* cond.wait();
      got = items.shift();
    } finally {
      cond.release();
    }
  });
  spawn(function* () {
    yield* cond.acquire();
    items.push(7);
    cond.notify();
    cond.release();
  });
  await runClean(loop, errors);
  assert.equal(got, 7);
});

Deno.test("locks: notify(n) wakes n waiters in FIFO order", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const cond = new Condition();
  const woken: number[] = [];
  for (let i = 0; i < 4; i++) {
    spawn(function* () {
      yield* cond.acquire();
      if (yield* cond.wait(50)) woken.push(i);
      cond.release();
    });
  }
  spawn(function* () {
    yield* sleep(1);
    yield* cond.acquire();
    cond.notify(2);
    cond.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(woken, [0, 1]);
});

Deno.test("locks: Condition.wait times out with false and holds the lock again", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  const cond = new Condition(lock);
  const seen: unknown[] = [];
  spawn(function* () {
    yield* cond.acquire();
    seen.push(yield* cond.wait(5));
    seen.push(lock.locked());
    cond.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, [false, true]);
});

Deno.test("locks: waitFor re-checks its predicate and honours the timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const cond = new Condition();
  let count = 0;
  const results: boolean[] = [];
  spawn(function* () {
    yield* cond.acquire();
    results.push(yield* cond.waitFor(() => count >= 3));
    results.push(yield* cond.waitFor(() => count >= 100, 10));
    cond.release();
  });
  spawn(function* () {
    for (let i = 0; i < 3; i++) {
      yield* sleep(1);
      yield* cond.acquire();
      count++;
      cond.notifyAll();
      cond.release();
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(results, [true, false]);
});

Deno.test("locks: a task killed in Condition.wait holds the lock again in its finally", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  const cond = new Condition(lock);
  const seen: string[] = [];
  const waiter = spawn(function* () {
    yield* cond.acquire();
    try {
      yield* cond.wait();
    } catch (error) {
      seen.push(error instanceof TaskExit ? "TaskExit" : String(error));
      throw error;
    } finally {
      // Releasing works: the lock was re-acquired before the error left.
      cond.release();
      seen.push("released");
    }
  });
  spawn(function* () {
    yield* sleep(1);
    // Hold the lock while the kill arrives: the waiter must wait for it.
    yield* cond.acquire();
    waiter.kill();
    yield* sleep(5);
    seen.push("holder releases");
    cond.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["holder releases", "TaskExit", "released"]);
});

Deno.test("locks: a notified waiter killed before it resumes passes the notify on", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const cond = new Condition();
  const woken: string[] = [];
  const first = spawn(function* () {
    yield* cond.acquire();
    try {
      yield* cond.wait();
      woken.push("first");
    } finally {
      cond.release();
    }
  });
  spawn(function* () {
    yield* cond.acquire();
    if (yield* cond.wait(100)) woken.push("second");
    cond.release();
  });
  spawn(function* () {
    yield* sleep(1);
    yield* cond.acquire();
    // The kill reaches `first` before the notify's wake-up does.
    first.kill();
    cond.notify(1);
    cond.release();
  });
  await runClean(loop, errors);
  assert.deepEqual(woken, ["second"]);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("locks: a negative or non-integer Semaphore value throws", () => {
  assert.throws(() => new Semaphore(-1), RangeError);
  assert.throws(() => new BoundedSemaphore(-1), RangeError);
  assert.throws(() => new Semaphore(1.5), TypeError);
});

Deno.test("locks: releasing an unlocked Lock throws", () => {
  const lock = new Lock();
  assert.throws(() => lock.release(), /not locked/);
});

Deno.test("locks: releasing an RLock one does not own throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new RLock();
  assert.throws(() => lock.release(), /not held/);
  spawn(function* () {
    yield* lock.acquire();
    yield* sleep(5);
    lock.release();
  });
  let checked = false;
  spawn(function* () {
    yield* sleep(1);
    assert.throws(() => lock.release(), /cannot release an RLock not held/);
    checked = true;
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("locks: un-acquired Condition use throws", () => {
  using _loop = new EventLoop();
  const cond = new Condition();
  assert.throws(() => cond.wait(), /un-acquired Condition/);
  assert.throws(() => cond.waitFor(() => true), /un-acquired Condition/);
  assert.throws(() => cond.notify(), /un-acquired Condition/);
  assert.throws(() => cond.notifyAll(), /un-acquired Condition/);
  const lockCond = new Condition(new Lock());
  assert.throws(() => lockCond.wait(), /un-acquired Condition/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Condition({} as any), TypeError);
});

Deno.test("locks: blocking outside a task throws; a NaN timeout throws RangeError", async () => {
  using loop = new EventLoop();
  const sem = new Semaphore(0);
  assert.throws(() => startOp(sem.acquire()), /main fiber/);
  assert.equal(startOp(sem.acquire(false)).value, false);
  assert.throws(() => startOp(sem.acquire(true, Number.NaN)), RangeError);
  let inHub: unknown = null;
  loop.callSoon(() => {
    try {
      startOp(sem.acquire());
    } catch (error) {
      inHub = error;
    }
  });
  await loop.run();
  assert.match(String(inHub), /would block the hub/);
});
