// Cancellation regressions (kills, Timeouts, shields, TaskGroup): each test
// is the smallest program that went wrong, with what was expected.

import assert from "node:assert/strict";
import { shield, sleep, spawn, TaskExit } from "../src/tasks.ts";
import { TaskGroup } from "../src/task_group.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { makeLoop, within } from "./fixtures/loop_harness.ts";

Deno.test("task group: a task spawned into the group after its first failure starts killed, so join() does not wait for it", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let lateBodyRan = false;
  let caught: unknown = null;
  spawn(function* () {
    const group = new TaskGroup();
    group.spawn(function* () {
      try {
        yield* sleep(10_000);
      } finally {
        // Cleanup that spawns into the failing group.
        group.spawn(function* () {
          lateBodyRan = true;
          yield* sleep(10_000);
        });
      }
    });
    group.spawn(function* () {
      yield* sleep(1);
      throw new Error("first");
    });
    try {
      yield* group.join();
    } catch (error) {
      caught = error;
    }
  });
  const outcome = await within(loop.run(), 3_000);
  if (outcome === "pending") loop.stop();
  assert.notEqual(outcome, "pending", "join() waited for the late task");
  assert.equal(lateBodyRan, false, "the late task ran its body");
  assert.equal((caught as Error)?.message, "first");
  assert.deepEqual(errors, []);
});

Deno.test("task group: a task spawned after kill() starts killed", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let bodyRan = false;
  spawn(function* () {
    const group = new TaskGroup();
    group.kill();
    const late = group.spawn(() => {
      bodyRan = true;
    });
    yield* group.join();
    assert.ok(late.killed);
  });
  await loop.run();
  assert.equal(bodyRan, false);
  assert.deepEqual(errors, []);
});

Deno.test("task group: failures after the first go to the exception handler instead of being lost", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  spawn(function* () {
    const group = new TaskGroup();
    group.spawn(function* () {
      yield* sleep(1);
      throw new Error("A");
    });
    group.spawn(function* () {
      yield* sleep(1);
      throw new Error("B");
    });
    group.spawn(function* () {
      try {
        yield* sleep(10_000);
      } finally {
        // deno-lint-ignore no-unsafe-finally
        throw new Error("C in cleanup");
      }
    });
    try {
      yield* group.join();
    } catch (error) {
      caught = error;
    }
  });
  await loop.run();
  assert.equal((caught as Error).message, "A");
  assert.deepEqual(
    errors.map((error) => (error as Error).message).sort(),
    ["B", "C in cleanup"],
  );
});

Deno.test("task group: a failure that came before the joiner's Timeout is thrown by join(); the Timeout stays sticky", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  spawn(function* () {
    const group = new TaskGroup();
    group.spawn(function* () {
      yield* sleep(1);
      throw new Error("E");
    });
    group.spawn(function* () {
      try {
        yield* sleep(10_000);
      } finally {
        // Cleanup outlasts the joiner's Timeout, which fires meanwhile.
        yield* shield(() => sleep(30));
      }
    });
    const timeout = Timeout.after(5);
    try {
      yield* group.join();
    } catch (error) {
      log.push(`join: ${error === timeout ? "the Timeout" : String(error)}`);
    }
    try {
      yield* sleep(1);
    } catch (error) {
      log.push(`next: ${error === timeout ? "the Timeout" : String(error)}`);
    }
    timeout.cancel();
  });
  await loop.run();
  assert.deepEqual(errors, []);
  assert.deepEqual(log, ["join: Error: E", "next: the Timeout"]);
});

Deno.test("task group: a failure that came before the joiner was killed is thrown by join(); the kill stays sticky", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  const joiner = spawn(function* () {
    const group = new TaskGroup();
    group.spawn(function* () {
      yield* sleep(1);
      joiner.kill();
      throw new Error("E");
    });
    try {
      yield* group.join();
    } catch (error) {
      log.push(`join: ${(error as Error).message}`);
    }
    try {
      yield* sleep(1);
    } catch (error) {
      log.push(`next: ${error instanceof TaskExit ? "TaskExit" : error}`);
    }
  });
  await loop.run();
  assert.deepEqual(errors, []);
  assert.deepEqual(log, ["join: E", "next: TaskExit"]);
});
