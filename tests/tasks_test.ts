// Tasks: evergreen 0.2.0's tests/test_tasks.py ported test by test, then one
// test per rule of API.md's "Tasks" section and its details, kill at every
// blocking point of this module, and every misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { Fiber, FiberError } from "../src/fiber.ts";
import { sleep, spawn, Task, task, TaskExit } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

class MyTask extends Task {
  called = false;
  override run(): void {
    this.called = true;
  }
}

// ---------------------------------------------------------------------------
// evergreen tests/test_tasks.py

Deno.test("tasks: test_simple_task", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  const t = new Task(() => {
    called = true;
  });
  t.start();
  await runClean(loop, errors);
  assert.equal(called, true);
});

Deno.test("tasks: test_spawn", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  spawn(() => {
    called = true;
  });
  await runClean(loop, errors);
  assert.equal(called, true);
});

Deno.test("tasks: test_spawn_kill (a task killed before it runs never runs)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  const t = spawn(() => {
    called = true;
  });
  t.kill();
  await runClean(loop, errors);
  assert.equal(called, false);
  assert.equal(t.isAlive(), false, "not alive once the loop has run");
});

Deno.test("tasks: test_spawn_kill_join (joining a task killed before it ran)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  let joined: boolean | null = null;
  const t1 = spawn(() => {
    called = true;
  });
  t1.kill();
  spawn(function* () {
    joined = yield* t1.join();
  });
  await runClean(loop, errors);
  assert.equal(called, false);
  assert.equal(joined, true);
});

Deno.test("tasks: test_task_decorator", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called: unknown = null;
  const func = task((x: number) => {
    called = x;
  });
  const t = func(7);
  assert.ok(t instanceof Task);
  await runClean(loop, errors);
  assert.equal(called, 7);
});

Deno.test("tasks: test_task_sleep", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const called: null[] = [];
  spawn(function* () {
    called.push(null);
    yield* sleep(1);
    called.push(null);
  });
  const t0 = performance.now();
  await runClean(loop, errors);
  const elapsed = performance.now() - t0;
  assert.equal(called.length, 2);
  assert.ok(elapsed >= 1 && elapsed < 100, `${elapsed} ms`);
});

Deno.test("tasks: test_spawn_order", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const called: number[] = [];
  for (let i = 0; i < 5; i++) spawn((x: number) => called.push(x), i);
  await runClean(loop, errors);
  assert.deepEqual(called, [0, 1, 2, 3, 4]);
});

Deno.test("tasks: test_custom_task (subclass overriding run())", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const t = new MyTask();
  t.start();
  await runClean(loop, errors);
  assert.equal(t.called, true);
});

Deno.test("tasks: test_kill_running (kill reaches a task blocked in sleep(0))", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const called: null[] = [];
  const task1 = spawn(function* () {
    yield* sleep(0);
    called.push(null);
    yield* sleep(0);
    called.push(null);
  });
  spawn(() => task1.kill());
  await runClean(loop, errors);
  assert.equal(called.length, 1);
});

Deno.test("tasks: test_run_order (sleep(0) lets every other ready task run first)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const called: number[] = [];
  function* func(x: number): Generator<unknown, void, unknown> {
    called.push(x);
    yield* sleep(0);
    called.push(x);
  }
  spawn(func, 1);
  spawn(func, 2);
  spawn(func, 3);
  await runClean(loop, errors);
  assert.deepEqual(called, [1, 2, 3, 1, 2, 3]);
});

Deno.test("tasks: test_task_join", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let joined: boolean | null = null;
  const t1 = spawn(function* () {
    yield* sleep(10);
  });
  spawn(function* () {
    joined = yield* t1.join();
  });
  await runClean(loop, errors);
  assert.equal(joined, true);
});

Deno.test("tasks: test_task_join_timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let joined: boolean | null = null;
  const t1 = spawn(function* () {
    yield* sleep(10_000);
  });
  spawn(function* () {
    joined = yield* t1.join(10);
  });
  spawn(function* () {
    yield* sleep(100);
    t1.kill();
  });
  await runClean(loop, errors);
  assert.equal(joined, false);
});

Deno.test("tasks: test_task_bogus_switch (a task cannot switch or throw into another task)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const t1 = spawn(function* () {
    yield* sleep(0);
    yield* sleep(0);
  });
  let checked = false;
  spawn(() => {
    assert.throws(() => t1.switch(), FiberError);
    assert.throws(() => t1.throw(new Error("x")), FiberError);
    checked = true;
  });
  await runClean(loop, errors);
  assert.equal(checked, true);
});

Deno.test("tasks: test_join_before_start throws", async () => {
  using loop = new EventLoop();
  const t = new Task();
  assert.throws(() => t.join(), /before it is started/);
  await loop.run();
});

// ---------------------------------------------------------------------------
// API.md rules

Deno.test("tasks: tasks are named Task-N unless given a name", () => {
  using _loop = new EventLoop();
  const a = new Task();
  const b = new Task();
  assert.match(a.name, /^Task-\d+$/);
  const n = Number(a.name.slice(5));
  assert.equal(b.name, `Task-${n + 1}`);
  assert.equal(new Task(undefined, { name: "worker" }).name, "worker");
});

Deno.test("tasks: a task is a child of the hub and a Fiber", () => {
  using loop = new EventLoop();
  const t = new Task();
  assert.ok(t instanceof Fiber);
  assert.equal(t.parent, loop.task);
});

Deno.test("tasks: start() schedules through callSoon, after earlier callbacks", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  loop.callSoon(() => seen.push("callback"));
  spawn(() => seen.push("task"));
  loop.callSoon(() => seen.push("later callback"));
  assert.deepEqual(seen, [], "nothing runs before the loop");
  await runClean(loop, errors);
  assert.deepEqual(seen, ["callback", "task", "later callback"]);
});

Deno.test("tasks: TaskExit ends a task quietly; other errors go to the exception handler", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const boom = new Error("boom");
  spawn(() => {
    throw new TaskExit();
  });
  spawn(() => {
    throw boom;
  });
  let after = false;
  spawn(() => {
    after = true;
  });
  await loop.run();
  assert.deepEqual(errors, [boom]);
  assert.equal(after, true);
});

Deno.test("tasks: kill(error) raises that error, which is reported", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const reason = new Error("reason");
  let caught: unknown = null;
  const t = spawn(function* () {
    try {
      yield* sleep(10_000);
    } catch (error) {
      caught = error;
      throw error;
    }
  });
  loop.callLater(5, () => t.kill(reason));
  await loop.run();
  assert.equal(caught, reason);
  assert.deepEqual(errors, [reason]);
});

Deno.test("tasks: kill reaches a task in sleep(ms) and its finally blocks run", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  const t = spawn(function* () {
    try {
      try {
        yield* sleep(10_000);
      } finally {
        seen.push("inner finally");
      }
    } finally {
      seen.push("outer finally");
    }
    seen.push("not reached");
  });
  loop.callLater(5, () => t.kill());
  const t0 = loop.time();
  await runClean(loop, errors);
  assert.deepEqual(seen, ["inner finally", "outer finally"]);
  assert.ok(loop.time() - t0 < 1000, "the 10 s timer was cancelled");
  assert.equal(t.isAlive(), false);
});

Deno.test("tasks: kill reaches a task blocked in join()", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  const sleeper = spawn(function* () {
    yield* sleep(50);
    seen.push("sleeper done");
  });
  const joiner = spawn(function* () {
    try {
      yield* sleeper.join();
      seen.push("joined");
    } finally {
      seen.push("joiner finally");
    }
  });
  loop.callLater(5, () => joiner.kill());
  await runClean(loop, errors);
  assert.deepEqual(seen, ["joiner finally", "sleeper done"]);
});

Deno.test("tasks: a task killing itself gets TaskExit at its next blocking point", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  const box: Task[] = [];
  box.push(spawn(function* () {
    try {
      box[0].kill();
      seen.push("after kill");
      yield* sleep(0);
      seen.push("not reached");
    } catch (error) {
      seen.push(error instanceof TaskExit ? "TaskExit" : "other");
      throw error;
    }
  }));
  await runClean(loop, errors);
  assert.deepEqual(seen, ["after kill", "TaskExit"]);
});

Deno.test("tasks: kill() of an ended task does nothing", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const t = spawn(() => {});
  await runClean(loop, errors);
  assert.equal(t.isAlive(), false);
  t.kill();
  t.kill(new Error("ignored"));
});

Deno.test("tasks: a task killed before start() never runs its body once started", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  const t = new Task(() => {
    called = true;
  });
  t.kill();
  assert.equal(t.isAlive(), true, "never started, still alive");
  t.start();
  let joined: boolean | null = null;
  spawn(function* () {
    joined = yield* t.join();
  });
  await runClean(loop, errors);
  assert.equal(called, false);
  assert.equal(joined, true);
  assert.equal(t.isAlive(), false);
});

Deno.test("tasks: join() returns at once for an ended task", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const t = spawn(() => {});
  const results: boolean[] = [];
  spawn(function* () {
    yield* sleep(5);
    results.push(yield* t.join());
    results.push(yield* t.join(0));
  });
  await runClean(loop, errors);
  assert.deepEqual(results, [true, true]);
});

Deno.test("tasks: a bare yield inside a task is reported as a FiberError", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  spawn(function* () {
    yield 1;
  });
  await loop.run();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof FiberError, String(errors[0]));
});

Deno.test("tasks: the task target receives its args and plain functions end at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: unknown[] = [];
  spawn((a: number, b: string) => seen.push(a, b), 1, "two");
  new Task((x: number) => seen.push(x), { args: [3] }).start();
  await runClean(loop, errors);
  assert.deepEqual(seen, [1, "two", 3]);
});

Deno.test("tasks: tasks run under runSync too", () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    spawn(function* () {
      yield* sleep(2);
      seen.push(i);
    });
  }
  loop.runSync();
  assert.deepEqual(errors, []);
  assert.deepEqual(seen, [0, 1, 2]);
});

Deno.test("tasks: many tasks each yielding many times interleave fairly", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const rounds: number[] = [];
  for (let i = 0; i < 50; i++) {
    spawn(function* () {
      for (let j = 0; j < 20; j++) {
        rounds.push(j);
        yield* sleep(0);
      }
    });
  }
  await runClean(loop, errors);
  assert.equal(rounds.length, 1000);
  for (let k = 0; k < 1000; k++) {
    assert.equal(rounds[k], Math.floor(k / 50), "round by round");
  }
});

Deno.test("tasks: tasks blocked on a primitive nobody can signal do not keep run() alive", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const never = new Event();
  let after = false;
  const blocked = spawn(function* () {
    yield* never.wait();
    after = true;
  });
  const t0 = loop.time();
  await runClean(loop, errors);
  assert.ok(loop.time() - t0 < 100);
  assert.equal(after, false);
  assert.equal(blocked.isAlive(), true, "abandoned, still suspended");
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("tasks: start() twice throws", () => {
  using _loop = new EventLoop();
  const t = new Task();
  t.start();
  assert.throws(() => t.start(), /already started/);
});

Deno.test("tasks: a task cannot join itself", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const box: Task[] = [];
  box.push(spawn(() => {
    assert.throws(() => box[0].join(), /cannot join itself/);
  }));
  await runClean(loop, errors);
});

Deno.test("tasks: non-function targets throw TypeError", () => {
  using _loop = new EventLoop();
  // deno-lint-ignore no-explicit-any
  const bogus = 42 as any;
  assert.throws(() => new Task(bogus), TypeError);
  assert.throws(() => spawn(bogus), TypeError);
  assert.throws(() => task(bogus), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Task(() => {}, { args: 1 as any }), TypeError);
});

Deno.test("tasks: sleep() outside a task throws; sleep(NaN) throws RangeError", async () => {
  using loop = new EventLoop();
  assert.throws(() => sleep(Number.NaN), RangeError);
  assert.throws(() => startOp(sleep(0)), /cannot block/);
  assert.throws(() => startOp(sleep(5)), /main fiber/);
  let inHub: unknown = null;
  loop.callSoon(() => {
    try {
      startOp(sleep(5));
    } catch (error) {
      inHub = error;
    }
  });
  await loop.run();
  assert.match(String(inHub), /would block the hub/);
});

Deno.test("tasks: a task resumed early out of sleep(0) is not resumed again by its stale ready entry", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  const a = spawn(function* () {
    log.push("a0");
    yield* sleep(0);
    log.push("a1");
    yield* sleep(0);
    log.push("a2");
  });
  spawn(function* () {
    log.push("b0");
    yield* sleep(0);
    log.push("b1");
    yield* sleep(0);
    log.push("b2");
  });
  // Resumes a out of its first sleep(0) before that sleep's entry fires:
  // the entry is stale and must not cut a's second sleep(0) short.
  loop.callSoon(() => a.switch());
  await runClean(loop, errors);
  assert.deepEqual(log, ["a0", "b0", "a1", "b1", "a2", "b2"]);
});

Deno.test("tasks: sleep(0) in a plain fiber the loop runs still works", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  const fiber = new Fiber(function* () {
    log.push("f0");
    yield* sleep(0);
    log.push("f1");
  });
  spawn(function* () {
    log.push("t0");
    yield* sleep(0);
    log.push("t1");
  });
  loop.callSoon(() => fiber.switch());
  await runClean(loop, errors);
  assert.deepEqual(log, ["t0", "f0", "t1", "f1"]);
});
