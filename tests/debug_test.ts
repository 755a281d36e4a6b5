// Errors you can debug (issue 12.7): an error escaping a task carries the
// task's name and, with traceSpawns, where it was spawned (through the
// chain of spawning tasks); the stall detector names the task that kept
// the JS thread.

import assert from "node:assert/strict";
import { EventLoop, type StallReport } from "../src/loop.ts";
import { sleep, Task } from "../src/tasks.ts";

function collecting(
  options: ConstructorParameters<typeof EventLoop>[0],
): { loop: EventLoop; errors: unknown[] } {
  const loop = new EventLoop(options);
  const errors: unknown[] = [];
  loop.setExceptionHandler((error) => errors.push(error));
  return { loop, errors };
}

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* keep the JS thread */ }
}

Deno.test("debug: an error escaping a task names the task in its stack", async () => {
  const { loop, errors } = collecting({});
  using _ = loop;
  new Task(function* () {
    yield* sleep(0);
    throw new Error("broken");
  }, { name: "parser" }).start();
  await loop.run();
  assert.equal(errors.length, 1);
  const stack = (errors[0] as Error).stack ?? "";
  assert.match(stack, /^Error: broken\n/);
  assert.match(stack, /\n {4}in task parser$/);
});

function spawnTheWorker(): Task {
  return new Task(function* () {
    yield* sleep(0);
    throw new Error("deep failure");
  }, { name: "worker" });
}

Deno.test("debug: with traceSpawns the stack shows where the task and its spawners were spawned", async () => {
  const { loop, errors } = collecting({ traceSpawns: true });
  using _ = loop;
  function startTheParent(): void {
    new Task(function* () {
      spawnTheWorker().start();
      yield* sleep(1);
    }, { name: "parent" }).start();
  }
  startTheParent();
  await loop.run();
  assert.equal(errors.length, 1);
  const stack = (errors[0] as Error).stack ?? "";
  const worker = stack.indexOf("in task worker, spawned:");
  const spawnSite = stack.indexOf("spawnTheWorker", worker);
  const parent = stack.indexOf("in task parent, spawned:", spawnSite);
  const parentSite = stack.indexOf("startTheParent", parent);
  assert.ok(
    worker > 0 && spawnSite > worker && parent > spawnSite &&
      parentSite > parent,
    `expected the worker's then the parent's spawn site in:\n${stack}`,
  );
});

Deno.test("debug: without traceSpawns no spawn site is recorded", async () => {
  const { loop, errors } = collecting({});
  using _ = loop;
  spawnTheWorker().start();
  await loop.run();
  const stack = (errors[0] as Error).stack ?? "";
  assert.doesNotMatch(stack, /spawned:/);
  assert.match(stack, /in task worker$/);
});

Deno.test("debug: the stall detector names the task that kept the JS thread", async () => {
  const reports: StallReport[] = [];
  const { loop, errors } = collecting({
    stallWarningMs: 20,
    onStall: (report) => reports.push(report),
  });
  using _ = loop;
  new Task(function* () {
    yield* sleep(0);
    busyFor(60);
    yield* sleep(0);
  }, { name: "cruncher" }).start();
  new Task(function* () {
    for (let i = 0; i < 5; i++) yield* sleep(0);
  }, { name: "polite" }).start();
  await loop.run();
  assert.deepEqual(errors, []);
  assert.equal(reports.length, 1, JSON.stringify(reports));
  assert.equal(reports[0].task, "cruncher");
  assert.ok(reports[0].durationMs >= 60);
  assert.match(reports[0].message, /task cruncher kept the JS thread for \d+/);
});

Deno.test("debug: a stalling task that ends, and a stalling callback, are reported too", async () => {
  const reports: StallReport[] = [];
  const { loop, errors } = collecting({
    stallWarningMs: 20,
    onStall: (report) => reports.push(report),
  });
  using _ = loop;
  new Task(() => busyFor(40), { name: "ender" }).start();
  loop.callLater(1, () => busyFor(40));
  await loop.run();
  assert.deepEqual(errors, []);
  assert.deepEqual(reports.map((report) => report.task), ["ender", null]);
});

Deno.test("debug: stallWarningMs must be a non-negative number", () => {
  assert.throws(() => new EventLoop({ stallWarningMs: -1 }), RangeError);
  assert.throws(
    () => new EventLoop({ onStall: 5 as unknown as () => void }),
    TypeError,
  );
});
