// Regressions found by a review of the fibers, loop, tasks,
// TaskGroup and primitives: each test is the smallest program that went
// wrong before its fix.

import assert from "node:assert/strict";
import { Event, EventLoop, sleep, spawn, Task, TaskGroup } from "../mod.ts";
import { makeLoop, runClean, within } from "./fixtures/loop_harness.ts";

Deno.test("await of a task awaited while run() runs rejects with ELOOPENDED when run() ends with it blocked", async () => {
  // `using loop; const running = loop.run(); await task;` used to wait for
  // ever (Deno: "Top-level await promise never resolved"): the await began
  // before run() ended, and only destroy() rejected it.
  using loop = new EventLoop();
  const task = spawn(function* () {
    yield* sleep(1);
    yield* new Event().wait(); // nobody sets it: run() ends without the task
  });
  const running = loop.run();
  const outcome = task.then(
    () => "resolved",
    (error: unknown) => (error as { code?: string }).code,
  );
  await running;
  assert.equal(await within(outcome, 2000), "ELOOPENDED");
});

Deno.test("TaskGroup.join() from a task of the same group throws instead of waiting for itself", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let inner: unknown = null;
  let outerJoined = false;
  spawn(function* () {
    const group = new TaskGroup();
    group.spawn(function* () {
      try {
        yield* group.join();
        inner = "returned";
      } catch (error) {
        inner = error;
      }
    });
    yield* group.join();
    outerJoined = true;
  });
  await runClean(loop, errors);
  assert.ok(inner instanceof Error, `join() threw (got ${String(inner)})`);
  assert.match(
    (inner as Error).message,
    /cannot join its own TaskGroup: it would wait for itself/,
  );
  assert.equal(outerJoined, true, "the outer join() returned");
});

Deno.test("switching into loop.task from plain code throws FiberError and leaves the loop usable", async () => {
  // It used to run the hub outside run(): the waiting task failed with
  // "cannot block on the loop", the hub ended, and run() then threw "the
  // loop has already ended".
  const { loop, errors } = makeLoop();
  using _ = loop;
  let slept = false;
  spawn(function* () {
    yield* sleep(1);
    slept = true;
  });
  assert.throws(() => loop.task.switchSync(), {
    name: "FiberError",
    message: /cannot switch to the hub \(loop\.task\) from outside the loop/,
  });
  assert.throws(() => loop.task.throwSync(new Error("x")), {
    name: "FiberError",
    message: /cannot throw into the hub/,
  });
  assert.equal(loop.task.isAlive(), true);
  await runClean(loop, errors);
  assert.equal(slept, true, "the task ran under run()");
});

Deno.test("kill() of a task whose loop was destroyed does nothing; start() says the loop was destroyed", () => {
  const loop = new EventLoop();
  const blocked = spawn(function* () {
    yield* new Event().wait();
  });
  const started = spawn(function* () {});
  const fresh = new Task(function* () {}); // never started
  loop.runSync();
  loop.destroy();
  assert.equal(started.isAlive(), false);
  blocked.kill(); // was: Error "callSoon(): the loop was destroyed"
  assert.throws(
    () => fresh.start(),
    /start\(\): the loop of Task-\d+ was destroyed/,
  );
});

Deno.test("a timer for Infinity never fires and does not keep run() alive", async () => {
  using loop = new EventLoop();
  let fired = false;
  const never = loop.callLater(Infinity, () => {
    fired = true;
  });
  loop.callAt(Infinity, () => {
    fired = true;
  });
  const sleeper = spawn(function* () {
    yield* sleep(Infinity);
  });
  spawn(function* () {
    yield* sleep(1);
  });
  // Before: run() never returned (the Infinity timers kept it alive).
  await loop.run();
  assert.equal(fired, false);
  assert.equal(sleeper.isAlive(), true, "the sleeper is still blocked");
  never.cancel();
  assert.equal(never.cancelled, true);
});
