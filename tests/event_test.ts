// Event: evergreen 0.2.0's tests/test_event.py ported test by test, then the
// API.md rules (a set event returns at once, set() wakes every waiter),
// kill and timeout while waiting, and misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

// ---------------------------------------------------------------------------
// evergreen tests/test_event.py

Deno.test("event: test_event_simple", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  let result: boolean | null = null;
  spawn(function* () {
    result = yield* ev.wait();
  });
  spawn(() => ev.set());
  await runClean(loop, errors);
  assert.equal(result, true);
});

Deno.test("event: test_event_timeout", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  let result: boolean | null = null;
  spawn(function* () {
    result = yield* ev.wait(1);
  });
  loop.callLater(100, () => ev.set());
  await runClean(loop, errors);
  assert.equal(result, false);
});

Deno.test("event: test_event_kill_waiter", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  const t1 = spawn(function* () {
    yield* ev.wait();
  });
  spawn(() => t1.kill());
  spawn(() => ev.set());
  await runClean(loop, errors);
  assert.equal(ev.isSet(), true);
  assert.equal(t1.isAlive(), false);
});

Deno.test("event: test_event_clear", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  let result: boolean | null = null;
  spawn(function* () {
    result = yield* ev.wait();
    ev.clear();
  });
  spawn(() => ev.set());
  await runClean(loop, errors);
  assert.equal(result, true);
  assert.equal(ev.isSet(), false);
});

// ---------------------------------------------------------------------------
// API.md rules, kill and timeout

Deno.test("event: wait() on a set event returns true without yielding", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  ev.set();
  const order: string[] = [];
  spawn(function* () {
    order.push(`a: ${yield* ev.wait()}`);
    order.push("a again");
  });
  spawn(() => order.push("b"));
  await runClean(loop, errors);
  assert.deepEqual(order, ["a: true", "a again", "b"]);
  // Outside any task too: nothing blocks.
  assert.deepEqual(startOp(ev.wait()), { done: true, value: true });
});

Deno.test("event: set() wakes every waiter", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  const woken: number[] = [];
  for (let i = 0; i < 5; i++) {
    spawn(function* () {
      if (yield* ev.wait()) woken.push(i);
    });
  }
  loop.callLater(5, () => ev.set());
  await runClean(loop, errors);
  assert.deepEqual(woken, [0, 1, 2, 3, 4]);
});

Deno.test("event: a waiter woken by set() reports true even if the event is cleared before it runs", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  let result: boolean | null = null;
  spawn(function* () {
    result = yield* ev.wait();
  });
  spawn(() => {
    ev.set();
    ev.clear();
  });
  await runClean(loop, errors);
  assert.equal(result, true);
});

Deno.test("event: a killed waiter runs its finally and does not disturb the others", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  const seen: string[] = [];
  const victim = spawn(function* () {
    try {
      yield* ev.wait();
      seen.push("victim woke");
    } finally {
      seen.push("victim finally");
    }
  });
  spawn(function* () {
    yield* ev.wait();
    seen.push("other woke");
  });
  spawn(function* () {
    yield* sleep(1);
    victim.kill();
    yield* sleep(1);
    ev.set();
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["victim finally", "other woke"]);
});

Deno.test("event: a timed-out waiter leaves no wake-up behind", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ev = new Event();
  const seen: string[] = [];
  spawn(function* () {
    seen.push(`first: ${yield* ev.wait(2)}`);
    // Blocked elsewhere now: the later set() must not resume this sleep.
    yield* sleep(20);
    seen.push("slept fully");
  });
  loop.callLater(5, () => {
    ev.set();
    seen.push("set");
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["first: false", "set", "slept fully"]);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("event: waiting outside a task throws; a bad timeout throws TypeError", () => {
  using _loop = new EventLoop();
  const ev = new Event();
  assert.throws(() => startOp(ev.wait()), /main fiber/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => startOp(ev.wait("5" as any)), TypeError);
});
