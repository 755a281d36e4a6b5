// Tasks are promises (issue 12.3): `await task` gives the result or the
// error (TaskExit when killed), and waitPromise((signal) => ...) aborts the
// signal when the waiting task is killed or its Timeout fires.

import assert from "node:assert/strict";
import { sleep, spawn, Task, TaskExit } from "../src/tasks.ts";
import { EventLoop } from "../src/loop.ts";
import { Event } from "../src/sync/event.ts";
import { waitPromise } from "../src/futures.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { makeLoop, runClean, within } from "./fixtures/loop_harness.ts";

Deno.test("task promise: await task gives its result", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const task = spawn(function* () {
    yield* sleep(1);
    return "done";
  });
  const running = loop.run();
  assert.equal(await task, "done");
  await running;
  assert.deepEqual(errors, []);
});

Deno.test("task promise: await of an ended task settles at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const task = spawn(() => 7);
  await runClean(loop, errors);
  assert.equal(await task, 7);
});

Deno.test("task promise: await task throws its error, which is then not reported", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const boom = new Error("boom");
  const task = spawn(function* () {
    yield* sleep(1);
    throw boom;
  });
  // Awaited before it ends: the error goes to the awaiter only.
  const outcome = task.then(() => "resolved", (error) => error);
  await loop.run();
  assert.equal(await outcome, boom);
  assert.deepEqual(errors, []);
});

Deno.test("task promise: await of a killed task throws TaskExit", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const task = spawn(function* () {
    yield* sleep(10_000);
  });
  loop.callLater(2, () => task.kill());
  const running = loop.run();
  await assert.rejects(async () => await task, TaskExit);
  await running;
  assert.deepEqual(errors, []);
});

Deno.test("task promise: a Task is a PromiseLike usable with Promise.all", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const tasks: Task<number>[] = [1, 2, 3].map((n) =>
    spawn(function* () {
      yield* sleep(n);
      return n * 10;
    })
  );
  const running = loop.run();
  assert.deepEqual(await Promise.all(tasks), [10, 20, 30]);
  await running;
  assert.deepEqual(errors, []);
});

Deno.test("task promise: waitPromise(fn) aborts the signal when the task is killed", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let signal: AbortSignal | null = null;
  let caught: unknown = null;
  const task = spawn(function* () {
    try {
      yield* waitPromise((s) => {
        signal = s;
        return new Promise((_resolve, reject) => {
          s.addEventListener("abort", () => reject(s.reason));
        });
      });
    } catch (error) {
      caught = error;
      throw error;
    }
  });
  loop.callLater(5, () => task.kill());
  await runClean(loop, errors);
  assert.ok(caught instanceof TaskExit);
  const aborted = signal as AbortSignal | null;
  assert.equal(aborted?.aborted, true);
  assert.ok(aborted?.reason instanceof TaskExit);
});

Deno.test("task promise: waitPromise(fn) aborts a real fetch when the task's Timeout fires", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  // A server that never answers.
  const hung = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async () => {
      await hung.promise;
      return new Response("late");
    },
  );
  let reason: unknown = null;
  let caught: unknown = null;
  spawn(function* () {
    try {
      using _t = Timeout.after(20);
      yield* waitPromise((signal) => {
        signal.addEventListener("abort", () => (reason = signal.reason));
        return fetch(`http://127.0.0.1:${server.addr.port}/`, { signal });
      });
    } catch (error) {
      caught = error;
    }
  });
  try {
    await runClean(loop, errors);
  } finally {
    hung.resolve();
    await server.shutdown();
  }
  assert.ok(caught instanceof Timeout);
  assert.equal(reason, caught);
});

Deno.test("task promise: waitPromise(fn) leaves the signal alone when the promise settles", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let signal: AbortSignal | null = null;
  let value = "";
  spawn(function* () {
    value = yield* waitPromise((s) => {
      signal = s;
      return Promise.resolve("ok");
    });
    yield* sleep(1);
  });
  await runClean(loop, errors);
  assert.equal(value, "ok");
  assert.equal((signal as AbortSignal | null)?.aborted, false);
});

/**
 * What `await task` gives: its value, or the error it rejects with. Calls
 * then() at once (an `await` would call it a microtask later).
 */
function settle(task: Task): Promise<{ value?: unknown; error?: Error }> {
  return task.then(
    (value) => ({ value }),
    (error) => ({ error: error as Error }),
  );
}

Deno.test("task promise: await of a task never started rejects with ELOOPDESTROYED when its loop is destroyed", async () => {
  const loop = new EventLoop();
  const task = new Task(() => 1, { name: "idle" });
  const outcome = settle(task);
  loop.destroy();
  const result = await within(outcome, 2000);
  assert.notEqual(result, "pending");
  const { error } = result as { error?: Error & { code?: string } };
  assert.equal(error?.code, "ELOOPDESTROYED");
  assert.match(
    error!.message,
    /^idle can never end: its loop was destroyed while the task was never started/,
  );
});

Deno.test("task promise: await of a task still blocked when run() ends rejects with ELOOPENDED", async () => {
  const { loop, errors } = makeLoop();
  const task = spawn(function* () {
    yield* new Event().wait();
  });
  const outcome = settle(task);
  try {
    // Nothing can wake the task: run() ends with it blocked, and the
    // pending await does not keep the loop alive; the task can never end
    // once run() has returned, so the await settles then.
    await runClean(loop, errors);
    const result = await within(outcome, 2000);
    assert.notEqual(result, "pending");
    const { error } = result as { error?: Error & { code?: string } };
    assert.equal(error?.code, "ELOOPENDED");
    assert.match(error!.message, /has ended while the task was blocked/);
  } finally {
    loop.destroy();
  }
});

Deno.test("task promise: await of a task after its loop has ended without it rejects with ELOOPENDED", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const task = spawn(function* () {
    yield* new Event().wait();
  });
  await runClean(loop, errors);
  await assert.rejects(
    async () => await task,
    (error: Error & { code?: string }) =>
      error.code === "ELOOPENDED" &&
      /has ended while the task/.test(error.message),
  );
});

Deno.test("task promise: awaiting tasks that end releases the loop's registration", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const tasks = [1, 2, 3].map((n) =>
    spawn(function* () {
      yield* sleep(n);
      return n;
    })
  );
  const running = runClean(loop, errors);
  assert.deepEqual(await Promise.all(tasks), [1, 2, 3]);
  await running;
  // A new await after they all ended settles at once, from the outcome.
  assert.equal(await tasks[0], 1);
});
