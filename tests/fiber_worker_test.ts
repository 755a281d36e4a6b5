// Fibers belong to the thread (main thread or Worker) that created them: each
// Worker has its own main fiber and trampoline. Also python-fibers'
// test_threads, test_thread_bug and the cross-thread tests
// (test_switch_to_another_thread, test_threaded_reparent,
// test_throw_doesnt_crash), with Workers for OS threads.

import assert from "node:assert/strict";
import { current, Fiber } from "../src/fiber.ts";

const FIBER_URL = new URL("../src/fiber.ts", import.meta.url).href;
const LOCAL_URL = new URL("../src/local.ts", import.meta.url).href;

const main = current();

/**
 * Starts a module Worker running `body` (JavaScript) after importing the
 * fiber modules; resolves with the first message the body posts.
 */
async function inWorker(
  body: string,
  message?: unknown,
): Promise<Record<string, unknown>> {
  const code = `
import { current, Fiber, FiberError } from ${JSON.stringify(FIBER_URL)};
import { FiberLocal } from ${JSON.stringify(LOCAL_URL)};
${body}`;
  const url = URL.createObjectURL(
    new Blob([code], { type: "text/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  try {
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`worker failed: ${event.message}`));
      };
    });
    if (message !== undefined) worker.postMessage(message);
    return await reply;
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

Deno.test("fiber worker: fibers made in a Worker run there, under the Worker's own main fiber", async () => {
  new Fiber(); // this thread has made fibers; the Worker's numbering is its own
  const reply = await inWorker(`
    const main = current();
    const log = [];
    const f = new Fiber(function* (x) {
      log.push(current() === f);
      const y = yield* main.switch(x + 1);
      return y * 2;
    }, { args: [1] });
    const first = f.switchSync();
    const second = f.switchSync(5);
    const local = new FiberLocal(() => "initial");
    postMessage({
      mainName: main.name,
      mainParentIsNull: main.parent === null,
      fiberName: f.name,
      fiberParentIsMain: f.parent === main,
      first,
      second,
      alive: f.isAlive(),
      log,
      backInMain: current() === main,
      local: local.get(),
    });
  `);
  assert.deepEqual(reply, {
    mainName: "MainFiber",
    mainParentIsNull: true,
    fiberName: "Fiber-1",
    fiberParentIsMain: true,
    first: 2,
    second: 10,
    alive: false,
    log: [true],
    backInMain: true,
    local: "initial",
  });
});

Deno.test("fiber worker: a Worker switches its fibers while this thread is inside a fiber", async () => {
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    URL.createObjectURL(
      new Blob([
        `
import { current, Fiber } from ${JSON.stringify(FIBER_URL)};
onmessage = (event) => {
  const shared = event.data;
  const main = current();
  let total = 0;
  const f = new Fiber(function* () {
    for (;;) total += yield* main.switch();
  });
  f.switchSync();
  for (let i = 1; i <= 100; i++) f.switchSync(i);
  Atomics.store(shared, 1, total);
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
};
postMessage("ready");
`,
      ], { type: "text/javascript" }),
    ),
    { type: "module" },
  );
  try {
    await new Promise((resolve) => (worker.onmessage = resolve));
    const f: Fiber = new Fiber((): unknown[] => {
      worker.postMessage(shared);
      // "not-equal" when the Worker was done before this thread waited.
      const woke = Atomics.wait(shared, 0, 0, 10_000);
      return [woke !== "timed-out", current() === f, Atomics.load(shared, 1)];
    });
    // The Worker could only use switchSync because its running fiber is
    // its own main, not the fiber this thread is blocked in.
    assert.deepEqual(f.switchSync(), [true, true, 5050]);
    assert.equal(current(), main);
  } finally {
    worker.terminate();
  }
});

const SIMPLE = `
  const lst = [];
  const g = new Fiber(function* () {
    lst.push(1);
    yield* current().parent.switch();
    lst.push(3);
  });
  lst.push(0);
  g.switchSync();
  lst.push(2);
  g.switchSync();
  lst.push(4);
  postMessage({ lst });
`;

Deno.test("fiber worker: testThreads", async () => {
  const replies = await Promise.all(
    Array.from({ length: 4 }, () => inWorker(SIMPLE)),
  );
  for (const reply of replies) {
    assert.deepEqual(reply, { lst: [0, 1, 2, 3, 4] });
  }
});

Deno.test("fiber worker: testThreadBug", async () => {
  const runner = `
    onmessage = (event) => {
      const sleep = new Int32Array(new SharedArrayBuffer(4));
      const g = new Fiber(() => Atomics.wait(sleep, 0, 0, event.data));
      postMessage({ slept: g.switchSync(), dead: !g.isAlive() });
    };
  `;
  const replies = await Promise.all([
    inWorker(runner, 20),
    inWorker(runner, 30),
  ]);
  for (const reply of replies) {
    assert.deepEqual(reply, { slept: "timed-out", dead: true });
  }
});

const POST_A_FIBER = `
  const g = new Fiber(function* () {
    yield* current().parent.switch();
  });
  g.switchSync();
  g.tag = "made in the worker";
  postMessage({ fiber: g });
`;

Deno.test("fiber worker: testSwitchToAnotherThread (a posted fiber arrives as a plain object)", async () => {
  const { fiber } = await inWorker(POST_A_FIBER);
  assert.deepEqual(fiber, { tag: "made in the worker" });
  assert.equal(fiber instanceof Fiber, false);
  assert.equal((fiber as { switchSync?: unknown }).switchSync, undefined);
});

Deno.test("fiber worker: testThreadedReparent (another thread's fiber is refused as parent)", async () => {
  const { fiber } = await inWorker(POST_A_FIBER);
  const g = new Fiber(function* () {
    yield* main.switch();
  });
  g.switchSync();
  assert.throws(() => {
    (g as { parent: unknown }).parent = fiber;
  }, TypeError);
  assert.equal(g.parent, main);
});

Deno.test("fiber worker: testThrowDoesntCrash (another thread's fiber cannot be thrown into)", async () => {
  const { fiber } = await inWorker(POST_A_FIBER);
  assert.throws(
    () => (fiber as Fiber).throwSync(new Error("x")),
    TypeError,
  );
  const probe = new Fiber(() => "this thread still works");
  assert.equal(probe.switchSync(), "this thread still works");
});
