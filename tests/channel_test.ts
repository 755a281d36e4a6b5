// Channel: evergreen 0.2.0's tests/test_channel.py ported test by test (its
// two test_channel_iter definitions both), then the rendezvous rules, kill
// of senders and receivers while blocked, and misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { Channel, StopIteration } from "../src/sync/channel.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

class RuntimeError extends Error {}

// ---------------------------------------------------------------------------
// evergreen tests/test_channel.py

Deno.test("channel: test_channel_simple", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  let got: string | null = null;
  spawn(function* () {
    yield* ch.send("test");
  });
  spawn(function* () {
    got = yield* ch.receive();
  });
  await runClean(loop, errors);
  assert.equal(got, "test");
});

Deno.test("channel: test_channel_exception", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  let caught: unknown = null;
  spawn(function* () {
    yield* ch.sendException(new RuntimeError());
  });
  spawn(function* () {
    try {
      yield* ch.receive();
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof RuntimeError);
});

Deno.test("channel: test_channel_iter (first definition: one sender)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  const items: string[] = [];
  spawn(function* () {
    yield* ch.send("hello");
    yield* sleep(0);
    yield* ch.send("world");
    yield* sleep(0);
    yield* ch.sendException(new StopIteration());
  });
  spawn(function* () {
    yield* ch.forEach((item) => {
      items.push(item);
    });
  });
  await runClean(loop, errors);
  assert.deepEqual(items, ["hello", "world"]);
});

Deno.test("channel: test_channel_multiple_waiters", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  const got: string[] = [];
  spawn(function* () {
    yield* ch.send("hello");
    yield* ch.send("world");
  });
  spawn(function* () {
    got.push(`1 ${yield* ch.receive()}`);
  });
  spawn(function* () {
    got.push(`2 ${yield* ch.receive()}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(got, ["1 hello", "2 world"]);
});

Deno.test("channel: test_channel_iter (second definition: two senders)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  const items: string[] = [];
  spawn(function* () {
    yield* ch.send("hello");
  });
  spawn(function* () {
    yield* ch.send("world");
    yield* ch.sendException(new StopIteration());
  });
  spawn(function* () {
    yield* ch.forEach((item) => {
      items.push(item);
    });
  });
  await runClean(loop, errors);
  assert.deepEqual(items, ["hello", "world"]);
});

// ---------------------------------------------------------------------------
// rendezvous rules

Deno.test("channel: send() returns only once the value was received", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<number>();
  const log: string[] = [];
  spawn(function* () {
    yield* ch.send(1);
    log.push("sent");
  });
  spawn(function* () {
    yield* sleep(10);
    log.push("receiving");
    log.push(`got ${yield* ch.receive()}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["receiving", "got 1", "sent"]);
});

Deno.test("channel: a receiver waits for a sender", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<number>();
  let got: number | null = null;
  spawn(function* () {
    got = yield* ch.receive();
  });
  spawn(function* () {
    yield* sleep(5);
    yield* ch.send(5);
  });
  await runClean(loop, errors);
  assert.equal(got, 5);
});

Deno.test("channel: forEach runs a generator callback with yield* and rethrows other errors", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<number>();
  const log: string[] = [];
  const boom = new RuntimeError("boom");
  spawn(function* () {
    yield* ch.send(1);
    yield* ch.sendException(boom);
  });
  spawn(function* () {
    try {
      yield* ch.forEach(function* (n) {
        yield* sleep(1);
        log.push(`item ${n}`);
      });
    } catch (error) {
      log.push(error === boom ? "boom" : "other");
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["item 1", "boom"]);
});

// ---------------------------------------------------------------------------
// kill while blocked

Deno.test("channel: a sender killed before its value is taken withdraws it", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  const log: string[] = [];
  const victim = spawn(function* () {
    try {
      yield* ch.send("withdrawn");
    } finally {
      log.push("victim finally");
    }
  });
  spawn(function* () {
    yield* sleep(2);
    victim.kill();
    yield* sleep(2);
    spawn(function* () {
      yield* ch.send("kept");
    });
    log.push(`got ${yield* ch.receive()}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["victim finally", "got kept"]);
});

Deno.test("channel: a receiver killed after being woken passes the value on", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const ch = new Channel<string>();
  const log: string[] = [];
  const first = spawn(function* () {
    log.push(`first ${yield* ch.receive()}`);
  });
  spawn(function* () {
    log.push(`second ${yield* ch.receive()}`);
  });
  spawn(function* () {
    yield* sleep(1);
    first.kill();
    yield* ch.send("value");
    log.push("sent");
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["second value", "sent"]);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("channel: blocking outside a task throws; forEach needs a function", () => {
  using _loop = new EventLoop();
  const ch = new Channel<number>();
  assert.throws(() => startOp(ch.send(1)), /main fiber/);
  assert.throws(() => startOp(ch.receive()), /main fiber/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => ch.forEach(5 as any), TypeError);
});
