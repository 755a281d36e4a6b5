// Kills and Timeouts that cannot be swallowed (issue 12.2): after kill()
// every blocking call of the task throws TaskExit again until it ends; a
// fired Timeout is thrown again inside its block until the block is left;
// shield() defers both for cleanup that must block. And cheap Timeouts
// (issue 11.6): no stack until one fires.

import assert from "node:assert/strict";
import { shield, sleep, spawn, TaskExit } from "../src/tasks.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { Event } from "../src/sync/event.ts";
import { makeLoop, runClean } from "./fixtures/loop_harness.ts";

Deno.test("cancel: after kill() every blocking call throws TaskExit again, and finally runs", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const caught: string[] = [];
  let finallyRan = false;
  const t0 = loop.time();
  const task = spawn(function* () {
    try {
      for (let i = 0; i < 3; i++) {
        try {
          yield* sleep(10_000);
        } catch (error) {
          caught.push(error instanceof TaskExit ? "TaskExit" : String(error));
        }
      }
      yield* new Event().wait();
      caught.push("not reached");
    } finally {
      finallyRan = true;
    }
  });
  loop.callLater(5, () => task.kill());
  await runClean(loop, errors);
  assert.deepEqual(caught, ["TaskExit", "TaskExit", "TaskExit"]);
  assert.equal(finallyRan, true);
  assert.equal(task.isAlive(), false);
  assert.equal(task.killed, true);
  assert.ok(loop.time() - t0 < 5_000, "no sleep after the kill waited");
});

Deno.test("cancel: kill(error) is sticky with that error", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const reason = new Error("shut down");
  const seen: unknown[] = [];
  const task = spawn(function* () {
    for (let i = 0; i < 2; i++) {
      try {
        yield* sleep(10_000);
      } catch (error) {
        seen.push(error);
      }
    }
  });
  loop.callLater(2, () => task.kill(reason));
  await runClean(loop, errors);
  assert.deepEqual(seen, [reason, reason]);
});

Deno.test("cancel: a task killing itself gets TaskExit at every later blocking call", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let count = 0;
  const task = spawn(function* () {
    task.kill();
    for (let i = 0; i < 3; i++) {
      try {
        yield* sleep(0);
      } catch (error) {
        if (error instanceof TaskExit) count++;
      }
    }
  });
  await runClean(loop, errors);
  assert.equal(count, 3);
});

Deno.test("cancel: a fired Timeout is thrown again by every blocking call inside its block", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  spawn(function* () {
    {
      using timeout = new Timeout(5).start();
      for (let i = 0; i < 3; i++) {
        try {
          yield* sleep(10_000);
        } catch (error) {
          seen.push(error === timeout ? "timeout" : String(error));
        }
      }
      assert.equal(timeout.fired, true);
    }
    // The block was left: blocking works again.
    yield* sleep(1);
    seen.push("slept after the block");
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, [
    "timeout",
    "timeout",
    "timeout",
    "slept after the block",
  ]);
});

Deno.test("cancel: cancel() of a fired Timeout ends its stickiness", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let slept = false;
  spawn(function* () {
    const timeout = new Timeout(2).start();
    try {
      yield* sleep(10_000);
    } catch (error) {
      assert.equal(error, timeout);
    }
    timeout.cancel();
    assert.equal(timeout.fired, false);
    yield* sleep(1);
    slept = true;
  });
  await runClean(loop, errors);
  assert.equal(slept, true);
});

Deno.test("cancel: shield() defers a kill until its body ends, then the next blocking call throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  const task = spawn(function* () {
    try {
      yield* shield(function* () {
        yield* sleep(20);
        log.push("shielded sleep done");
        return 1;
      });
      log.push("after shield");
      yield* sleep(10_000);
      log.push("not reached");
    } catch (error) {
      log.push(error instanceof TaskExit ? "TaskExit" : String(error));
    }
  });
  loop.callLater(2, () => task.kill());
  await runClean(loop, errors);
  assert.deepEqual(log, ["shielded sleep done", "after shield", "TaskExit"]);
});

Deno.test("cancel: cleanup in a finally blocks inside shield() after a kill", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  const task = spawn(function* () {
    try {
      yield* sleep(10_000);
    } finally {
      let unshielded = "";
      try {
        yield* sleep(1);
      } catch (error) {
        unshielded = error instanceof TaskExit ? "TaskExit" : String(error);
      }
      log.push(`unshielded: ${unshielded}`);
      const value = yield* shield(function* () {
        yield* sleep(2);
        return "goodbye";
      });
      log.push(value);
    }
  });
  loop.callLater(2, () => task.kill());
  await runClean(loop, errors);
  assert.deepEqual(log, ["unshielded: TaskExit", "goodbye"]);
});

Deno.test("cancel: an outer Timeout waits for the shield's body; one started inside fires inside", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const log: string[] = [];
  spawn(function* () {
    try {
      using _outer = Timeout.after(5);
      yield* shield(function* () {
        try {
          using _inner = Timeout.after(10);
          yield* sleep(10_000);
        } catch (error) {
          log.push(error instanceof Timeout && error.ms === 10 ? "inner" : "?");
        }
        yield* sleep(10); // the outer one fired meanwhile: deferred
        log.push("shield body done");
      });
      yield* sleep(10_000);
    } catch (error) {
      log.push(error instanceof Timeout && error.ms === 5 ? "outer" : "?");
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["inner", "shield body done", "outer"]);
});

Deno.test("cancel: shield() returns its body's value and needs a function", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let value = 0;
  spawn(function* () {
    value = yield* shield(function* () {
      yield* sleep(0);
      return 42;
    });
  });
  await runClean(loop, errors);
  assert.equal(value, 42);
  assert.throws(
    () => shield(42 as unknown as () => Generator<unknown, void>),
    TypeError,
  );
});

Deno.test("timeout: a Timeout takes no stack until it fires, then has one", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const unfired = new Timeout(10);
  assert.ok(unfired instanceof Error);
  assert.equal(Object.hasOwn(unfired, "stack"), false);
  assert.equal(String(unfired), "Timeout: timed out after 10 ms");
  let fired: Timeout | null = null;
  spawn(function* () {
    try {
      using _t = Timeout.after(1);
      yield* sleep(10_000);
    } catch (error) {
      fired = error as Timeout;
    }
  });
  await runClean(loop, errors);
  assert.ok(fired !== null);
  const stack = (fired as Timeout).stack ?? "";
  assert.match(stack, /^Timeout: timed out after 1 ms\n\s+at /);
});

Deno.test("timeout: Timeout.after() returns a started Timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let pending = false;
  spawn(function* () {
    using timeout = Timeout.after(1_000, new Error("custom"));
    pending = timeout.pending;
    yield* sleep(0);
  });
  await runClean(loop, errors);
  assert.equal(pending, true);
  assert.throws(() => Timeout.after("5" as unknown as number), TypeError);
});

Deno.test("cancel: a kill reaches a blocking call that does not suspend, even after a stray cancel() of an ended task's Timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let leaked: Timeout | null = null;
  spawn(function* () {
    leaked = Timeout.after(1);
    try {
      yield* sleep(10_000);
    } catch {
      // fired; the task ends without leaving the Timeout's block
    }
  });
  const ready = new Event();
  ready.set();
  let caught: unknown = null;
  const task = spawn(function* () {
    yield* sleep(20);
    task.kill();
    (leaked as Timeout | null)?.cancel();
    try {
      yield* ready.wait(); // set: it would not suspend
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof TaskExit, `got ${String(caught)}`);
});
