// Futures: evergreen 0.2.0's tests/test_futures.py ported test by test (the
// TaskPoolExecutor ones; see PORTING.md for the thread and process pools),
// then Future's rules, wait/asCompleted, waitPromise, kill and timeout while
// blocked, and every misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { current } from "../src/fiber.ts";
import { sleep, spawn, type Task } from "../src/tasks.ts";
import {
  asCompleted,
  CancelledError,
  Future,
  TaskPoolExecutor,
  TimeoutError,
  wait,
  waitPromise,
} from "../src/futures.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

class ZeroDivisionError extends Error {}

// ---------------------------------------------------------------------------
// evergreen tests/test_futures.py

Deno.test("futures: test_taskpool_executor", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  let got: number | null = null;
  spawn(function* () {
    const f = executor.submit(() => 42);
    got = yield* f.get();
    yield* executor.shutdown();
  });
  await runClean(loop, errors);
  assert.equal(got, 42);
});

Deno.test("futures: test_taskpool_executor_raises", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  let caught: unknown = null;
  spawn(function* () {
    const f = executor.submit(() => {
      throw new ZeroDivisionError();
    });
    try {
      yield* f.get();
    } catch (error) {
      caught = error;
    }
    yield* executor.shutdown();
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof ZeroDivisionError);
});

Deno.test("futures: test_executor_with (shutdown in finally)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let got: number | null = null;
  spawn(function* () {
    const e = new TaskPoolExecutor(5);
    try {
      const f = e.submit(() => 42);
      got = yield* f.get();
    } finally {
      yield* e.shutdown();
    }
  });
  await runClean(loop, errors);
  assert.equal(got, 42);
});

Deno.test("futures: test_future_wait", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  const func = function* () {
    yield* sleep(1);
    return 42;
  };
  spawn(function* () {
    const f = executor.submit(func);
    const { done } = yield* wait([f]);
    assert.ok(done.has(f));
    assert.equal(yield* f.get(), 42);
    yield* executor.shutdown();
  });
  await runClean(loop, errors);
});

Deno.test("futures: test_future_wait_multiple", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  const func = function* () {
    yield* sleep(1);
    return 42;
  };
  let checked = false;
  spawn(function* () {
    const f1 = executor.submit(func);
    const f2 = executor.submit(func);
    const { done, notDone } = yield* wait([f1, f2]);
    assert.ok(done.has(f1) && done.has(f2));
    assert.equal(notDone.size, 0);
    assert.equal(yield* f1.get(), 42);
    assert.equal(yield* f2.get(), 42);
    yield* executor.shutdown();
    checked = true;
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("futures: test_future_wait_multiple_wait_first", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  const func = function* (ms: number) {
    yield* sleep(ms);
    return 42;
  };
  let checked = false;
  spawn(function* () {
    const f = executor.submit(func, 10);
    const l = [f];
    for (let x = 0; x < 100; x++) l.push(executor.submit(func, 100_000));
    const { done, notDone } = yield* wait(l, undefined, "FIRST_COMPLETED");
    assert.ok(done.has(f));
    assert.equal(notDone.size, 100);
    assert.equal(yield* f.get(), 42);
    checked = true;
    loop.stop();
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("futures: test_future_wait_multiple_exception", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  const func = function* () {
    yield* sleep(1);
    return 42;
  };
  let checked = false;
  spawn(function* () {
    const f1 = executor.submit(() => {
      throw new ZeroDivisionError();
    });
    const f2 = executor.submit(func);
    const f3 = executor.submit(func);
    const { done, notDone } = yield* wait(
      [f1, f2, f3],
      undefined,
      "FIRST_EXCEPTION",
    );
    assert.ok(done.has(f1));
    assert.ok(notDone.has(f2) && notDone.has(f3));
    try {
      yield* f1.get();
      assert.fail("f1 failed");
    } catch (error) {
      assert.ok(error instanceof ZeroDivisionError);
    }
    checked = true;
    loop.stop();
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("futures: test_future_as_completed", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  const func = function* (ms: number) {
    yield* sleep(ms);
    return 42;
  };
  let count = 0;
  spawn(function* () {
    const l = [];
    for (let x = 0; x < 10; x++) l.push(executor.submit(func, 1));
    for (const f of yield* asCompleted(l)) {
      assert.equal(yield* f.get(), 42);
      count++;
    }
    yield* executor.shutdown();
  });
  await runClean(loop, errors);
  assert.equal(count, 10);
});

Deno.test("futures: test_map", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const executor = new TaskPoolExecutor(10);
  let r: number[] = [];
  spawn(function* () {
    r = yield* executor.map((x: number) => x * x, [2, 4, 6]);
    yield* executor.shutdown();
  });
  await runClean(loop, errors);
  assert.deepEqual(r, [4, 16, 36]);
});

// ---------------------------------------------------------------------------
// Future

Deno.test("futures: a Future's states: pending, cancelled, done", () => {
  const f = new Future<number>();
  assert.equal(f.done(), false);
  assert.equal(f.cancelled(), false);
  assert.equal(f.cancel(), true);
  assert.equal(f.cancel(), true, "cancelling again says it is cancelled");
  assert.equal(f.cancelled(), true);
  assert.equal(f.done(), true);
  const g = new Future<number>();
  g.setResult(1);
  assert.equal(g.cancel(), false, "a finished future cannot be cancelled");
  assert.equal(g.done(), true);
});

Deno.test("futures: get() returns a result, throws the failure or CancelledError", () => {
  const ok = new Future<number>();
  ok.setResult(3);
  assert.deepEqual(startOp(ok.get()), { done: true, value: 3 });
  const failed = new Future<number>();
  const boom = new Error("boom");
  failed.setException(boom);
  assert.throws(() => startOp(failed.get()), (error) => error === boom);
  const cancelled = new Future<number>();
  cancelled.cancel();
  assert.throws(() => startOp(cancelled.get()), CancelledError);
  const undefinedFailure = new Future<number>();
  undefinedFailure.setException(undefined);
  assert.throws(() => startOp(undefinedFailure.get()));
});

Deno.test("futures: get() blocks until set, or throws TimeoutError after its timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const f = new Future<string>();
  const log: string[] = [];
  spawn(function* () {
    try {
      yield* f.get(5);
    } catch (error) {
      log.push(error instanceof TimeoutError ? "timeout" : "other");
    }
    log.push(yield* f.get());
  });
  loop.callLater(20, () => f.setResult("late"));
  await runClean(loop, errors);
  assert.deepEqual(log, ["timeout", "late"]);
});

Deno.test("futures: cancel() wakes a blocked get() with CancelledError", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const f = new Future<string>();
  let caught: unknown = null;
  spawn(function* () {
    try {
      yield* f.get();
    } catch (error) {
      caught = error;
    }
  });
  loop.callLater(2, () => f.cancel());
  await runClean(loop, errors);
  assert.ok(caught instanceof CancelledError);
});

Deno.test("futures: done callbacks run on completion, at once when already done", () => {
  const f = new Future<number>();
  const seen: unknown[] = [];
  f.addDoneCallback((x) => seen.push(["first", x === f]));
  f.setResult(1);
  f.addDoneCallback(() => seen.push("after"));
  assert.deepEqual(seen, [["first", true], "after"]);
  const c = new Future<number>();
  let cancelledSeen = false;
  c.addDoneCallback((x) => {
    cancelledSeen = x.cancelled();
  });
  c.cancel();
  assert.equal(cancelledSeen, true);
});

Deno.test("futures: a throwing done callback goes to the loop's exception handler", () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const f = new Future<number>();
  const boom = new Error("callback");
  let second = false;
  f.addDoneCallback(() => {
    throw boom;
  });
  f.addDoneCallback(() => {
    second = true;
  });
  f.setResult(1);
  assert.deepEqual(errors, [boom]);
  assert.equal(second, true);
});

Deno.test("futures: a task killed in get() runs its finally; the future still works", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const f = new Future<number>();
  const log: string[] = [];
  const victim = spawn(function* () {
    try {
      yield* f.get();
    } finally {
      log.push("victim finally");
    }
  });
  spawn(function* () {
    log.push(`other ${yield* f.get()}`);
  });
  loop.callLater(2, () => victim.kill());
  loop.callLater(5, () => f.setResult(7));
  await runClean(loop, errors);
  assert.deepEqual(log, ["victim finally", "other 7"]);
});

// ---------------------------------------------------------------------------
// wait, asCompleted, executor

Deno.test("futures: wait() with a timeout returns what is done by then", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const fast = new Future<number>();
  const slow = new Future<number>();
  loop.callLater(1, () => fast.setResult(1));
  let sizes: number[] = [];
  spawn(function* () {
    const { done, notDone } = yield* wait([fast, slow], 20);
    sizes = [done.size, notDone.size];
    slow.cancel();
  });
  await runClean(loop, errors);
  assert.deepEqual(sizes, [1, 1]);
});

Deno.test("futures: wait() returns at once when the condition already holds", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const done1 = new Future<number>();
  done1.setResult(1);
  const pending = new Future<number>();
  const failed = new Future<number>();
  failed.setException(new Error("x"));
  const results: number[] = [];
  spawn(function* () {
    results.push(
      (yield* wait([done1, pending], 0, "FIRST_COMPLETED")).done.size,
    );
    results.push(
      (yield* wait([failed, pending], undefined, "FIRST_EXCEPTION")).done.size,
    );
    results.push((yield* wait([done1, failed])).notDone.size);
    results.push((yield* wait([])).done.size);
  });
  await runClean(loop, errors);
  assert.deepEqual(results, [1, 1, 0, 0]);
});

Deno.test("futures: FIRST_EXCEPTION without failures waits for all", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const a = new Future<number>();
  const b = new Future<number>();
  loop.callLater(2, () => a.setResult(1));
  loop.callLater(6, () => b.setResult(2));
  let doneSize = 0;
  spawn(function* () {
    doneSize = (yield* wait([a, b], undefined, "FIRST_EXCEPTION")).done.size;
  });
  await runClean(loop, errors);
  assert.equal(doneSize, 2);
});

Deno.test("futures: asCompleted returns futures in completion order, or throws TimeoutError", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(3);
  const order: number[] = [];
  let timedOut = false;
  spawn(function* () {
    const futures = [30, 10, 20].map((ms) =>
      pool.submit(function* () {
        yield* sleep(ms);
        return ms;
      })
    );
    for (const f of yield* asCompleted(futures)) order.push(yield* f.get());
    const never = new Future<number>();
    try {
      yield* asCompleted([never], 5);
    } catch (error) {
      timedOut = error instanceof TimeoutError;
    }
    yield* pool.shutdown();
  });
  await runClean(loop, errors);
  assert.deepEqual(order, [10, 20, 30]);
  assert.equal(timedOut, true);
});

Deno.test("futures: the executor runs at most maxWorkers calls at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(2);
  let running = 0;
  let most = 0;
  spawn(function* () {
    const results = yield* pool.map(function* (x: number) {
      most = Math.max(most, ++running);
      yield* sleep(2);
      running--;
      return x + 1;
    }, [1, 2, 3, 4, 5]);
    assert.deepEqual(results, [2, 3, 4, 5, 6]);
    yield* pool.shutdown();
  });
  await runClean(loop, errors);
  assert.equal(most, 2);
});

Deno.test("futures: map() with a timeout throws TimeoutError and cancels the rest", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(1);
  let caught: unknown = null;
  const started: number[] = [];
  spawn(function* () {
    try {
      yield* pool.map(
        function* (ms: number) {
          started.push(ms);
          yield* sleep(ms);
          return ms;
        },
        [50, 50, 50],
        10,
      );
    } catch (error) {
      caught = error;
    }
    yield* pool.shutdown();
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof TimeoutError);
  assert.deepEqual(started, [50], "the queued calls were cancelled");
});

Deno.test("futures: a cancelled submitted call never runs", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(1);
  let ran = false;
  spawn(function* () {
    const f = pool.submit(() => {
      ran = true;
    });
    assert.equal(f.cancel(), true);
    yield* pool.shutdown();
  });
  await runClean(loop, errors);
  assert.equal(ran, false);
});

Deno.test("futures: shutdown(false) returns at once; shutdown twice is harmless", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(2);
  const log: string[] = [];
  spawn(function* () {
    const f = pool.submit(function* () {
      yield* sleep(5);
      return "work";
    });
    yield* pool.shutdown(false);
    log.push("shutdown returned");
    log.push(yield* f.get());
    yield* pool.shutdown();
    log.push("again");
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["shutdown returned", "work", "again"]);
});

Deno.test("futures: a killed worker fails its future with TaskExit", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const pool = new TaskPoolExecutor(1);
  let worker: Task | null = null;
  let outcome = "";
  spawn(function* () {
    const f = pool.submit(function* () {
      worker = current() as Task;
      yield* sleep(10_000);
    });
    yield* sleep(1);
    worker!.kill();
    try {
      yield* f.get();
    } catch (error) {
      outcome = (error as Error).name;
    }
    yield* pool.shutdown();
  });
  await runClean(loop, errors);
  assert.equal(outcome, "TaskExit");
});

Deno.test("futures: tasks killed in wait() and asCompleted() run their finally and leave no watcher", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const f = new Future<number>();
  const log: string[] = [];
  const waiter = spawn(function* () {
    try {
      yield* wait([f]);
    } finally {
      log.push("wait finally");
    }
  });
  const collector = spawn(function* () {
    try {
      yield* asCompleted([f]);
    } finally {
      log.push("asCompleted finally");
    }
  });
  loop.callLater(2, () => {
    waiter.kill();
    collector.kill();
  });
  spawn(function* () {
    yield* sleep(5);
    f.setResult(1);
    const { done } = yield* wait([f]);
    log.push(`done ${done.size}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["wait finally", "asCompleted finally", "done 1"]);
});

// ---------------------------------------------------------------------------
// waitPromise

Deno.test("futures: waitPromise returns a resolved value and throws a rejection", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: unknown[] = [];
  const boom = new Error("rejected");
  spawn(function* () {
    log.push(yield* waitPromise(Promise.resolve(1)));
    log.push(
      yield* waitPromise(
        new Promise((resolve) => setTimeout(() => resolve(2), 10)),
      ),
    );
    try {
      yield* waitPromise(Promise.reject(boom));
    } catch (error) {
      log.push(error === boom);
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(log, [1, 2, true]);
});

Deno.test("futures: a pending waitPromise keeps run() alive", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let got = "";
  const t0 = loop.time();
  spawn(function* () {
    got = yield* waitPromise(
      new Promise<string>((resolve) => setTimeout(() => resolve("late"), 50)),
    );
  });
  await runClean(loop, errors);
  assert.equal(got, "late");
  assert.ok(loop.time() - t0 >= 45);
});

Deno.test("futures: a task killed in waitPromise stops keeping run() alive", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let resolveLater: (value: string) => void = () => {};
  const never = new Promise<string>((resolve) => {
    resolveLater = resolve;
  });
  const log: string[] = [];
  const victim = spawn(function* () {
    try {
      yield* waitPromise(never);
      log.push("not reached");
    } finally {
      log.push("victim finally");
    }
  });
  loop.callLater(5, () => victim.kill());
  await runClean(loop, errors);
  resolveLater("after the loop ended");
  await never;
  assert.deepEqual(log, ["victim finally"]);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("futures: setResult/setException on a done future throws", () => {
  const f = new Future<number>();
  f.setResult(1);
  assert.throws(() => f.setResult(2), /already done/);
  assert.throws(() => f.setException(new Error("x")), /already done/);
  const c = new Future<number>();
  c.cancel();
  assert.throws(() => c.setResult(1), /already cancelled/);
});

Deno.test("futures: submit() after shutdown() throws; bad arguments throw", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  assert.throws(() => new TaskPoolExecutor(0), RangeError);
  assert.throws(() => new TaskPoolExecutor(1.5), RangeError);
  const pool = new TaskPoolExecutor(1);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => pool.submit(5 as any), TypeError);
  spawn(function* () {
    yield* pool.shutdown();
    assert.throws(() => pool.submit(() => 1), /after shutdown/);
  });
  await runClean(loop, errors);
  const f = new Future<number>();
  // deno-lint-ignore no-explicit-any
  assert.throws(() => f.addDoneCallback(5 as any), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wait([f], undefined, "SOMETIMES" as any), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wait([5 as any]), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => asCompleted([5 as any]), TypeError);
});

Deno.test("futures: waitPromise under runSync throws a clear error", () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  spawn(function* () {
    try {
      yield* waitPromise(Promise.resolve(1));
    } catch (error) {
      caught = error;
    }
  });
  loop.runSync();
  assert.deepEqual(errors, []);
  assert.match(String(caught), /cannot work under loop\.runSync\(\)/);
});

Deno.test("futures: waitPromise and get() outside a task throw", () => {
  using _loop = new EventLoop();
  assert.throws(() => startOp(waitPromise(Promise.resolve(1))), /main fiber/);
  assert.throws(() => startOp(new Future<number>().get()), /main fiber/);
});
