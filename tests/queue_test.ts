// Queues: evergreen 0.2.0 has no tests/test_queue.py (see PORTING.md), so
// these follow its queue.py (Python's queue module semantics): order of the
// three kinds, bounds, blocking with timeouts, taskDone/join, kill and
// timeout at every blocking point (a killed getter never swallows an item),
// and every misuse.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import {
  LifoQueue,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
} from "../src/sync/queue.ts";
import { makeLoop, runClean, startOp } from "./fixtures/loop_harness.ts";

// ---------------------------------------------------------------------------
// order and sizes

Deno.test("queue: Queue is FIFO, LifoQueue LIFO, PriorityQueue smallest first", () => {
  const fifo = new Queue<number>();
  const lifo = new LifoQueue<number>();
  const prio = new PriorityQueue<number>();
  for (const x of [3, 1, 4, 1, 5, 9, 2, 6]) {
    fifo.putNowait(x);
    lifo.putNowait(x);
    prio.putNowait(x);
  }
  const drain = (q: Queue<number>) => {
    const out: number[] = [];
    while (!q.empty()) out.push(q.getNowait());
    return out;
  };
  assert.deepEqual(drain(fifo), [3, 1, 4, 1, 5, 9, 2, 6]);
  assert.deepEqual(drain(lifo), [6, 2, 9, 5, 1, 4, 1, 3]);
  assert.deepEqual(drain(prio), [1, 1, 2, 3, 4, 5, 6, 9]);
});

Deno.test("queue: PriorityQueue orders [priority, data] pairs and takes a compare function", () => {
  const pairs = new PriorityQueue<[number, string]>();
  pairs.putNowait([2, "b"]);
  pairs.putNowait([1, "z"]);
  pairs.putNowait([1, "a"]);
  assert.deepEqual(
    [pairs.getNowait(), pairs.getNowait(), pairs.getNowait()],
    [[1, "a"], [1, "z"], [2, "b"]],
  );
  const largest = new PriorityQueue<number>(0, (a, b) => b - a);
  for (const x of [5, 50, 7]) largest.putNowait(x);
  assert.deepEqual([largest.getNowait(), largest.getNowait()], [50, 7]);
});

Deno.test("queue: qsize, empty and full follow maxsize (0 or less: unbounded)", () => {
  const q = new Queue<number>(2);
  assert.equal(q.maxsize, 2);
  assert.equal(q.empty(), true);
  q.putNowait(1);
  q.putNowait(2);
  assert.equal(q.qsize(), 2);
  assert.equal(q.full(), true);
  assert.throws(() => q.putNowait(3), QueueFull);
  const unbounded = new Queue<number>(-1);
  for (let i = 0; i < 10_000; i++) unbounded.putNowait(i);
  assert.equal(unbounded.full(), false);
  assert.equal(unbounded.qsize(), 10_000);
  for (let i = 0; i < 10_000; i++) assert.equal(unbounded.getNowait(), i);
});

Deno.test("queue: getNowait on an empty queue throws QueueEmpty", () => {
  assert.throws(() => new Queue<number>().getNowait(), QueueEmpty);
  assert.throws(() => new LifoQueue<number>().getNowait(), QueueEmpty);
  assert.throws(() => new PriorityQueue<number>().getNowait(), QueueEmpty);
});

// ---------------------------------------------------------------------------
// blocking

Deno.test("queue: get blocks until an item is put", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<string>();
  const got: string[] = [];
  spawn(function* () {
    got.push(yield* q.get());
    got.push(yield* q.get());
  });
  spawn(function* () {
    yield* sleep(2);
    yield* q.put("a");
    q.putNowait("b");
  });
  await runClean(loop, errors);
  assert.deepEqual(got, ["a", "b"]);
});

Deno.test("queue: put blocks while a bounded queue is full", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>(1);
  const log: string[] = [];
  spawn(function* () {
    for (let i = 0; i < 3; i++) {
      yield* q.put(i);
      log.push(`put ${i}`);
    }
  });
  spawn(function* () {
    for (let i = 0; i < 3; i++) {
      yield* sleep(1);
      log.push(`got ${yield* q.get()}`);
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["put 0", "got 0", "put 1", "got 1", "put 2", "got 2"]);
});

Deno.test("queue: get and put without blocking throw at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>(1);
  const seen: string[] = [];
  spawn(function* () {
    try {
      yield* q.get(false);
    } catch (error) {
      seen.push(error instanceof QueueEmpty ? "empty" : "other");
    }
    yield* q.put(1, false);
    try {
      yield* q.put(2, false);
    } catch (error) {
      seen.push(error instanceof QueueFull ? "full" : "other");
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["empty", "full"]);
});

Deno.test("queue: get and put with a timeout throw after it", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>(1);
  const seen: string[] = [];
  spawn(function* () {
    let t0 = loop.time();
    try {
      yield* q.get(true, 10);
    } catch (error) {
      seen.push(error instanceof QueueEmpty ? "empty" : "other");
      assert.ok(loop.time() - t0 >= 9);
    }
    q.putNowait(1);
    t0 = loop.time();
    try {
      yield* q.put(2, true, 10);
    } catch (error) {
      seen.push(error instanceof QueueFull ? "full" : "other");
      assert.ok(loop.time() - t0 >= 9);
    }
    try {
      yield* q.put(2, true, 0);
    } catch (error) {
      seen.push(error instanceof QueueFull ? "full at once" : "other");
    }
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["empty", "full", "full at once"]);
});

Deno.test("queue: a get with a timeout returns an item put in time", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>();
  let got: number | null = null;
  spawn(function* () {
    got = yield* q.get(true, 1000);
  });
  loop.callLater(5, () => q.putNowait(9));
  await runClean(loop, errors);
  assert.equal(got, 9);
});

Deno.test("queue: getters are served in FIFO order", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>();
  const got: string[] = [];
  for (const name of ["a", "b", "c"]) {
    spawn(function* () {
      got.push(`${name}${yield* q.get()}`);
    });
  }
  loop.callLater(2, () => {
    for (let i = 1; i <= 3; i++) q.putNowait(i);
  });
  await runClean(loop, errors);
  assert.deepEqual(got, ["a1", "b2", "c3"]);
});

// ---------------------------------------------------------------------------
// taskDone and join

Deno.test("queue: join waits until every item is marked done", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>();
  const log: string[] = [];
  for (let i = 0; i < 3; i++) q.putNowait(i);
  spawn(function* () {
    for (;;) {
      const item = yield* q.get();
      yield* sleep(1);
      log.push(`done ${item}`);
      q.taskDone();
    }
  });
  spawn(function* () {
    yield* q.join();
    log.push("joined");
    loop.stop();
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["done 0", "done 1", "done 2", "joined"]);
});

Deno.test("queue: join on a queue with nothing unfinished returns at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let joined = false;
  spawn(function* () {
    yield* new Queue<number>().join();
    joined = true;
  });
  await runClean(loop, errors);
  assert.equal(joined, true);
});

// ---------------------------------------------------------------------------
// kill and timeout at every blocking point

Deno.test("queue: a getter killed after being woken does not swallow the item", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<string>();
  const got: string[] = [];
  const first = spawn(function* () {
    got.push(`first ${yield* q.get()}`);
  });
  spawn(function* () {
    got.push(`second ${yield* q.get()}`);
  });
  spawn(function* () {
    yield* sleep(1);
    first.kill();
    q.putNowait("item");
  });
  await runClean(loop, errors);
  assert.deepEqual(got, ["second item"]);
  assert.equal(q.qsize(), 0);
});

Deno.test("queue: a getter that timed out leaves the item to the next getter", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<string>();
  const got: string[] = [];
  spawn(function* () {
    try {
      yield* q.get(true, 5);
    } catch (error) {
      got.push(error instanceof QueueEmpty ? "timed out" : "other");
    }
  });
  spawn(function* () {
    yield* sleep(10);
    q.putNowait("late");
    got.push(`later ${yield* q.get()}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(got, ["timed out", "later late"]);
});

Deno.test("queue: a putter killed while blocked adds nothing and frees its wake-up", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>(1);
  q.putNowait(0);
  const log: string[] = [];
  const victim = spawn(function* () {
    try {
      yield* q.put(1);
      log.push("victim put");
    } finally {
      log.push("victim finally");
    }
  });
  spawn(function* () {
    yield* q.put(2);
    log.push("other put");
  });
  spawn(function* () {
    yield* sleep(1);
    victim.kill();
    log.push(`got ${q.getNowait()}`);
  });
  await runClean(loop, errors);
  assert.deepEqual(log, ["got 0", "victim finally", "other put"]);
  assert.deepEqual([q.getNowait(), q.qsize()], [2, 0]);
});

Deno.test("queue: a task killed in join() runs its finally", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>();
  q.putNowait(1);
  const log: string[] = [];
  const joiner = spawn(function* () {
    try {
      yield* q.join();
    } finally {
      log.push("joiner finally");
    }
  });
  loop.callLater(2, () => joiner.kill());
  await runClean(loop, errors);
  assert.deepEqual(log, ["joiner finally"]);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("queue: taskDone() called too often throws", () => {
  const q = new Queue<number>();
  q.putNowait(1);
  q.getNowait();
  q.taskDone();
  assert.throws(() => q.taskDone(), /too many times|more times/);
});

Deno.test("queue: a negative timeout throws RangeError; a bad maxsize TypeError", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const q = new Queue<number>();
  spawn(() => {
    assert.throws(() => startOp(q.get(true, -1)), RangeError);
    assert.throws(() => startOp(q.put(1, true, -1)), RangeError);
  });
  await runClean(loop, errors);
  assert.throws(() => new Queue(1.5), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new PriorityQueue(0, 5 as any), TypeError);
});

Deno.test("queue: blocking outside a task throws", () => {
  using _loop = new EventLoop();
  assert.throws(() => startOp(new Queue<number>().get()), /main fiber/);
  const full = new Queue<number>(1);
  full.putNowait(1);
  assert.throws(() => startOp(full.put(2)), /main fiber/);
});
