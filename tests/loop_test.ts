// The event loop: evergreen 0.2.0's tests/test_loop.py ported test by test,
// then one test per rule of API.md's "Event loop" section and its details
// (batching, I/O not starved, exception handler, fd watchers, tokens) and one
// per misuse. Deno-specific behaviour of run() is in loop_deno_test.ts.

import assert from "node:assert/strict";
import { EventLoop, Handler } from "../src/loop.ts";
import { current, Fiber } from "../src/fiber.ts";
import { sleep, spawn } from "../src/tasks.ts";
import {
  fnv1a,
  startReadExact,
  testClose,
  testPipe,
  testRead,
  testSocketPair,
  testWrite,
} from "../src/native/test_support.ts";
import {
  KIND_READ_EXACT,
  type NativeError,
} from "../src/native/native_loop.ts";
import { makeLoop } from "./fixtures/loop_harness.ts";

/** Runs the loop, then fails the test with the first collected error. */
async function runClean(
  loop: EventLoop,
  errors: unknown[],
): Promise<void> {
  await loop.run();
  if (errors.length > 0) throw errors[0];
}

// Descriptors for fd watchers come from the native library's test support
// (Deno hands JS no raw descriptors). Pipes exist on POSIX only; socket pairs
// everywhere.

function writeByte(fd: number): void {
  assert.equal(testWrite(fd, new Uint8Array([7])), 1);
}

function readByte(fd: number): void {
  assert.equal(testRead(fd, 1).length, 1);
}

/** Reads one byte if there is one; false on EAGAIN. */
function tryReadByte(fd: number): boolean {
  try {
    return testRead(fd, 1).length === 1;
  } catch (error) {
    if ((error as NativeError).code === "EAGAIN") return false;
    throw error;
  }
}

function closeFds(...fds: number[]): void {
  for (const fd of fds) testClose(fd);
}

const posixOnly = { ignore: Deno.build.os === "windows" };

// ---------------------------------------------------------------------------
// evergreen tests/test_loop.py: TLSTest

Deno.test("loop: test_no_noop (destroying twice throws)", () => {
  const loop = EventLoop.current();
  assert.ok(loop instanceof EventLoop);
  loop.destroy();
  assert.throws(() => loop.destroy(), /already destroyed/);
});

Deno.test("loop: test_make_loop (a new loop is the current one)", () => {
  const loop = new EventLoop();
  assert.equal(EventLoop.current(), loop);
  loop.destroy();
});

Deno.test("loop: test_destroy_create (current() makes a new loop after destroy)", () => {
  const loop1 = EventLoop.current();
  loop1.destroy();
  const loop2 = EventLoop.current();
  assert.notEqual(loop1, loop2);
  loop2.destroy();
});

Deno.test("loop: test_destroy (destroy from plain JS while running throws)", async () => {
  const { loop, errors } = makeLoop();
  let threw: unknown = null;
  const timer = setTimeout(() => {
    try {
      loop.destroy();
    } catch (error) {
      threw = error;
    }
    loop.stop();
  }, 20);
  try {
    await loop.runForever();
  } finally {
    clearTimeout(timer);
  }
  assert.match(String(threw), /while the loop is running/);
  loop.destroy();
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------
// evergreen tests/test_loop.py: LoopTests

Deno.test("loop: test_run (an empty loop returns and its hub ends)", async () => {
  using loop = new EventLoop();
  await loop.run();
  assert.equal(loop.task.isAlive(), false);
});

Deno.test("loop: test_call_soon", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let called = false;
  loop.callSoon(() => {
    called = true;
  });
  await runClean(loop, errors);
  assert.equal(called, true);
});

Deno.test("loop: test_call_soon_cancel", async () => {
  using loop = new EventLoop();
  let called = false;
  const handler = loop.callSoon(() => {
    called = true;
  });
  handler.cancel();
  assert.equal(handler.cancelled, true);
  await loop.run();
  assert.equal(called, false);
});

Deno.test("loop: test_call_later", async () => {
  using loop = new EventLoop();
  let called = false;
  const t0 = loop.time();
  loop.callLater(100, () => {
    called = true;
  });
  await loop.run();
  assert.equal(called, true);
  assert.ok(loop.time() - t0 >= 99, "fired no earlier than its delay");
});

Deno.test("loop: test_call_later_cancel (a cancelled timer keeps nothing alive)", async () => {
  using loop = new EventLoop();
  let called = false;
  const handler = loop.callLater(10_000, () => {
    called = true;
  });
  handler.cancel();
  const t0 = loop.time();
  await loop.run();
  assert.equal(called, false);
  assert.ok(
    loop.time() - t0 < 5000,
    "run() did not wait for the cancelled timer",
  );
});

Deno.test("loop: test_call_later_cancel2 (a timer cancels another due at the same time)", async () => {
  using loop = new EventLoop();
  let called = false;
  loop.callLater(10, () => h2.cancel());
  const h2 = loop.callLater(10, () => {
    called = true;
  });
  await loop.run();
  assert.equal(called, false);
});

Deno.test("loop: test_call_at", async () => {
  using loop = new EventLoop();
  let called = false;
  const when = loop.time() + 100;
  let firedAt = 0;
  loop.callAt(when, () => {
    called = true;
    firedAt = loop.time();
  });
  await loop.run();
  assert.equal(called, true);
  assert.ok(firedAt >= when - 1);
});

Deno.test("loop: test_stop (stop() on a loop never started throws)", () => {
  using loop = new EventLoop();
  assert.throws(() => loop.stop(), /has not been started/);
});

Deno.test("loop: test_stop2 (stop() ends run() despite a far timer)", async () => {
  using loop = new EventLoop();
  loop.callLater(100_000, () => {});
  loop.callLater(10, () => loop.stop());
  const t0 = loop.time();
  await loop.run();
  assert.ok(loop.time() - t0 < 50_000);
});

Deno.test("loop: test_run_forever (callSoon from plain JS wakes and stops it)", async () => {
  using loop = new EventLoop();
  let called = false;
  const timer = setTimeout(() => {
    loop.callSoon(() => {
      called = true;
      loop.stop();
    });
  }, 200);
  try {
    await loop.runForever();
  } finally {
    clearTimeout(timer);
  }
  assert.equal(called, true);
});

const signalTest = { ignore: Deno.build.os === "windows" };

Deno.test({
  name: "loop: test_signal",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    let called = false;
    loop.addSignalHandler("SIGWINCH", () => {
      called = true;
    });
    loop.callLater(100, () => Deno.kill(Deno.pid, "SIGWINCH"));
    loop.callLater(150, () => loop.stop());
    await loop.runForever();
    assert.equal(called, true);
  },
});

Deno.test({
  name: "loop: test_signal_multi (every handler of a signal runs)",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    const called: string[] = [];
    loop.addSignalHandler("SIGWINCH", () => called.push("1"));
    loop.addSignalHandler("SIGWINCH", () => called.push("2"));
    loop.callLater(100, () => Deno.kill(Deno.pid, "SIGWINCH"));
    loop.callLater(150, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(called.sort(), ["1", "2"]);
  },
});

Deno.test({
  name: "loop: test_signal_cancel (a cancelled handler does not run)",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    const called: string[] = [];
    loop.addSignalHandler("SIGWINCH", () => called.push("1"));
    const h2 = loop.addSignalHandler("SIGWINCH", () => called.push("2"));
    h2.cancel();
    loop.callLater(100, () => Deno.kill(Deno.pid, "SIGWINCH"));
    loop.callLater(150, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(called, ["1"]);
  },
});

Deno.test({
  name: "loop: test_signal_remove (removeSignalHandler drops every handler)",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    const called: string[] = [];
    loop.addSignalHandler("SIGWINCH", () => called.push("1"));
    assert.equal(loop.removeSignalHandler("SIGWINCH"), true);
    assert.equal(loop.removeSignalHandler("SIGWINCH"), false);
    loop.addSignalHandler("SIGWINCH", () => called.push("2"));
    loop.callLater(100, () => Deno.kill(Deno.pid, "SIGWINCH"));
    loop.callLater(150, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(called, ["2"]);
  },
});

Deno.test("loop: test_destroy_while_running (from a task)", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let threw = false;
  spawn(function* () {
    yield* sleep(10);
    assert.throws(() => loop.destroy(), /while the loop is running/);
    threw = true;
  });
  await runClean(loop, errors);
  assert.equal(threw, true);
});

Deno.test("loop: test_reuse_handler (a Handler is not a callback)", () => {
  using loop = new EventLoop();
  const handler = loop.callLater(1000, () => {});
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => loop.callLater(1000, handler as any),
    TypeError,
  );
  handler.cancel();
});

// ---------------------------------------------------------------------------
// Callbacks: order, batches, errors, generators

Deno.test("loop: callbacks run in FIFO order with their arguments", async () => {
  using loop = new EventLoop();
  const seen: unknown[] = [];
  for (let i = 0; i < 5; i++) {
    loop.callSoon((a, b) => seen.push([a, b]), i, "x");
  }
  await loop.run();
  assert.deepEqual(seen, [[0, "x"], [1, "x"], [2, "x"], [3, "x"], [4, "x"]]);
});

Deno.test("loop: callbacks scheduled during a batch run in the next batch", async () => {
  using loop = new EventLoop();
  const seen: string[] = [];
  loop.callSoon(() => {
    seen.push("a");
    loop.callSoon(() => seen.push("c"));
    // This timer becomes due during the batch: the next iteration fires it
    // and queues it after "c" (as evergreen's libuv timers are).
    loop.callLater(1, () => seen.push("due"));
    const start = performance.now();
    while (performance.now() - start < 3) { /* busy */ }
  });
  loop.callSoon(() => seen.push("b"));
  await loop.run();
  assert.deepEqual(seen, ["a", "b", "c", "due"]);
});

Deno.test("loop: an endless chain of callbacks does not starve timers", async () => {
  using loop = new EventLoop();
  let chained = 0;
  let fired = false;
  const chain = (): void => {
    chained++;
    if (!fired) loop.callSoon(chain);
  };
  loop.callSoon(chain);
  loop.callLater(20, () => {
    fired = true;
  });
  await loop.run();
  assert.equal(fired, true);
  assert.ok(chained > 10, `the chain kept running meanwhile (${chained})`);
});

Deno.test({
  name: "loop: an endless chain of callbacks does not starve fd readiness",
  fn: async () => {
    using loop = new EventLoop();
    const [readFd, writeFd] = testSocketPair();
    let chained = 0;
    let readable = false;
    const chain = (): void => {
      chained++;
      if (chained === 100) writeByte(writeFd);
      if (!readable) loop.callSoon(chain);
    };
    loop.addReader(readFd, () => {
      readByte(readFd);
      readable = true;
      loop.removeReader(readFd);
    });
    loop.callSoon(chain);
    try {
      await loop.run();
    } finally {
      closeFds(readFd, writeFd);
    }
    assert.equal(readable, true);
    assert.ok(
      chained >= 100 && chained < 110,
      `reader ran promptly (${chained})`,
    );
  },
});

Deno.test("loop: a throwing callback goes to the exception handler and the loop goes on", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const boom = new Error("boom");
  let after = false;
  loop.callSoon(() => {
    throw boom;
  });
  loop.callSoon(() => {
    after = true;
  });
  await loop.run();
  assert.deepEqual(errors, [boom]);
  assert.equal(after, true);
});

Deno.test("loop: the default exception handler is console.error (null restores it)", async () => {
  using loop = new EventLoop();
  const boom = new Error("boom");
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(...args);
  try {
    loop.setExceptionHandler(() => {});
    loop.setExceptionHandler(null);
    loop.callSoon(() => {
      throw boom;
    });
    await loop.run();
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, [boom]);
});

Deno.test("loop: an exception handler that throws does not stop the loop", async () => {
  using loop = new EventLoop();
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(...args);
  let after = false;
  try {
    loop.setExceptionHandler(() => {
      throw new Error("handler failed");
    });
    loop.callSoon(() => {
      throw new Error("first");
    });
    loop.callSoon(() => {
      after = true;
    });
    await loop.run();
  } finally {
    console.error = original;
  }
  assert.equal(after, true);
  assert.match(String(logged[0]), /handler failed/);
});

Deno.test("loop: a callback returning a fiber switch resumes that fiber in the hub", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const received: unknown[] = [];
  const fiber = new Fiber(function* () {
    received.push(yield* loop.switch());
  });
  spawn(function* () {
    // Start the fiber from a task: it parks in the hub with loop.switch().
    yield* fiber.switch();
  });
  loop.callLater(5, () => fiber.switch("value"));
  await runClean(loop, errors);
  assert.deepEqual(received, ["value"]);
  assert.equal(fiber.isAlive(), false);
});

Deno.test("loop: a generator function is accepted as a callback", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const seen: string[] = [];
  const fiber = new Fiber(() => {
    seen.push("fiber");
  }, { parent: loop.task });
  loop.callSoon(function* () {
    seen.push("before");
    yield* fiber.switch();
    seen.push("after");
  });
  await runClean(loop, errors);
  assert.deepEqual(seen, ["before", "fiber", "after"]);
});

Deno.test("loop: callLater with zero delay is callSoon", async () => {
  using loop = new EventLoop();
  const seen: string[] = [];
  loop.callLater(0, () => seen.push("zero"));
  loop.callSoon(() => seen.push("soon"));
  loop.callLater(0, () => seen.push("zero again"));
  await loop.run();
  assert.deepEqual(seen, ["zero", "soon", "zero again"]);
});

Deno.test("loop: timers fire in time order, FIFO when due at the same time", async () => {
  using loop = new EventLoop();
  const seen: number[] = [];
  const when = loop.time() + 20;
  loop.callAt(when + 10, () => seen.push(3));
  loop.callAt(when, () => seen.push(1));
  loop.callAt(when, () => seen.push(2));
  loop.callLater(5, () => seen.push(0));
  await loop.run();
  assert.deepEqual(seen, [0, 1, 2, 3]);
});

Deno.test("loop: many cancelled timers do not keep run() alive", async () => {
  using loop = new EventLoop();
  const handlers = [];
  for (let i = 0; i < 10_000; i++) {
    handlers.push(loop.callLater(60_000 + i, () => {}));
  }
  let fired = 0;
  loop.callLater(5, () => fired++);
  for (const handler of handlers) handler.cancel();
  const t0 = loop.time();
  await loop.run();
  assert.equal(fired, 1);
  assert.ok(loop.time() - t0 < 1000);
});

Deno.test("loop: time() is monotonic and in milliseconds", async () => {
  using loop = new EventLoop();
  const t0 = loop.time();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t1 = loop.time();
  assert.ok(t1 - t0 >= 15 && t1 - t0 < 1000, `${t1 - t0} ms`);
});

Deno.test("loop: running is true only while the loop runs", async () => {
  using loop = new EventLoop();
  let inside = false;
  loop.callLater(10, () => {
    inside = loop.running;
  });
  assert.equal(loop.running, false);
  const done = loop.run();
  assert.equal(loop.running, true);
  await done;
  assert.equal(inside, true);
  assert.equal(loop.running, false);
});

Deno.test("loop: runSync runs callbacks and timers and blocks in the native poll", () => {
  using loop = new EventLoop();
  const seen: string[] = [];
  const t0 = loop.time();
  loop.callLater(30, () => seen.push("timer"));
  loop.callSoon(() => seen.push("soon"));
  loop.runSync();
  assert.deepEqual(seen, ["soon", "timer"]);
  assert.ok(loop.time() - t0 >= 29);
  assert.equal(loop.task.isAlive(), false);
});

Deno.test("loop: stop() from a callback under runSync", () => {
  using loop = new EventLoop();
  loop.callLater(100_000, () => {});
  loop.callLater(5, () => loop.stop());
  loop.runSync();
  assert.equal(loop.running, false);
});

Deno.test("loop: stop() drops callbacks still queued for the next batch", async () => {
  using loop = new EventLoop();
  const seen: string[] = [];
  loop.callSoon(() => {
    seen.push("a");
    loop.stop();
    loop.callSoon(() => seen.push("next batch"));
  });
  loop.callSoon(() => seen.push("same batch"));
  await loop.run();
  assert.deepEqual(seen, ["a", "same batch"]);
});

// ---------------------------------------------------------------------------
// fd watchers

Deno.test({
  name: "loop: addReader calls back while the fd is readable",
  ...posixOnly,
  fn: async () => {
    using loop = new EventLoop();
    const [readFd, writeFd] = testPipe();
    const seen: string[] = [];
    loop.addReader(readFd, (tag: string) => {
      readByte(readFd);
      seen.push(tag);
      if (seen.length === 2) loop.removeReader(readFd);
      else writeByte(writeFd);
    }, "r");
    loop.callLater(5, () => writeByte(writeFd));
    try {
      await loop.run();
    } finally {
      closeFds(readFd, writeFd);
    }
    assert.deepEqual(seen, ["r", "r"]);
  },
});

Deno.test({
  name: "loop: addWriter calls back while the fd is writable",
  fn: () => {
    using loop = new EventLoop();
    const [readFd, writeFd] = testSocketPair();
    let writable = 0;
    loop.addWriter(writeFd, () => {
      writable++;
      assert.equal(loop.removeWriter(writeFd), true);
    });
    try {
      loop.runSync();
    } finally {
      closeFds(readFd, writeFd);
    }
    assert.equal(writable, 1);
  },
});

Deno.test({
  name: "loop: a reader and a writer on one fd work independently",
  fn: async () => {
    using loop = new EventLoop();
    const [a, b] = testSocketPair();
    const seen: string[] = [];
    loop.addWriter(a, () => {
      seen.push("writable");
      loop.removeWriter(a);
      writeByte(b);
    });
    loop.addReader(a, () => {
      readByte(a);
      seen.push("readable");
      loop.removeReader(a);
    });
    try {
      await loop.run();
    } finally {
      closeFds(a, b);
    }
    assert.deepEqual(seen, ["writable", "readable"]);
  },
});

Deno.test({
  name: "loop: under runSync a reader is not called twice for one readiness",
  fn: async () => {
    using loop = new EventLoop();
    const [a, b] = testSocketPair();
    // A worker thread writes while runSync blocks in the native poll, so the
    // readiness is harvested by that blocking poll.
    const support = new URL("../src/native/test_support.ts", import.meta.url);
    const source = `
      import { testWrite } from ${JSON.stringify(support.href)};
      self.onmessage = () => {
        setTimeout(() => {
          testWrite(${b}, new Uint8Array([7]));
          self.postMessage("written");
        }, 20);
      };
      self.postMessage("ready");`;
    const worker = new Worker(
      URL.createObjectURL(new Blob([source], { type: "text/javascript" })),
      { type: "module" },
    );
    // Wait until the worker runs (slow under an emulator) before blocking.
    const messages: Promise<unknown>[] = [];
    const settle: ((value: unknown) => void)[] = [];
    for (let i = 0; i < 2; i++) {
      messages.push(new Promise((resolve) => settle.push(resolve)));
    }
    let received = 0;
    worker.onmessage = (event) => settle[received++]?.(event.data);
    await messages[0];
    const written = messages[1];
    let reads = 0;
    let empty = 0;
    // A safety net in case the worker never writes.
    const giveUp = loop.callLater(10_000, () => loop.removeReader(a));
    loop.addReader(a, () => {
      if (!tryReadByte(a)) {
        empty++;
        return;
      }
      reads++;
      giveUp.cancel();
      // Long enough for a second, wrong call in the same batch to show.
      loop.callLater(20, () => loop.removeReader(a));
    });
    worker.postMessage("go");
    try {
      loop.runSync();
      await written;
    } finally {
      worker.terminate();
      closeFds(a, b);
    }
    assert.equal(reads, 1);
    assert.equal(empty, 0, "the reader ran without data");
  },
});

Deno.test({
  name:
    "loop: a second reader or writer on an fd throws; remove returns false when none",
  fn: () => {
    using loop = new EventLoop();
    const [readFd, writeFd] = testSocketPair();
    try {
      loop.addReader(readFd, () => {});
      assert.throws(() => loop.addReader(readFd, () => {}), /another reader/);
      loop.addWriter(writeFd, () => {});
      assert.throws(() => loop.addWriter(writeFd, () => {}), /another writer/);
      assert.equal(loop.removeWriter(readFd), false);
      assert.equal(loop.removeReader(readFd), true);
      assert.equal(loop.removeReader(readFd), false);
      assert.equal(loop.removeWriter(writeFd), true);
      assert.equal(loop.removeReader(12345), false);
    } finally {
      closeFds(readFd, writeFd);
    }
  },
});

Deno.test({
  name: "loop: a registered reader keeps run() alive until removed",
  fn: async () => {
    using loop = new EventLoop();
    const [readFd, writeFd] = testSocketPair();
    loop.addReader(readFd, () => {});
    const t0 = loop.time();
    loop.callLater(30, () => loop.removeReader(readFd));
    try {
      await loop.run();
    } finally {
      closeFds(readFd, writeFd);
    }
    assert.ok(loop.time() - t0 >= 29);
  },
});

Deno.test({
  name: "loop: destroy() removes the watchers left",
  fn: () => {
    const loop = new EventLoop();
    const [readFd, writeFd] = testSocketPair();
    loop.addReader(readFd, () => {});
    loop.addWriter(writeFd, () => {});
    loop.destroy();
    closeFds(readFd, writeFd);
    // The fds are free for a new loop.
    using again = new EventLoop();
    assert.equal(again.removeReader(readFd), false);
  },
});

// ---------------------------------------------------------------------------
// native operation tokens (the I/O layer's seam)

const hello = new TextEncoder().encode("hello");

Deno.test("loop: a native operation's completion runs its token callback in the hub", async () => {
  using loop = new EventLoop();
  const [a, b] = testSocketPair();
  const seen: number[][] = [];
  const token = loop._registerToken((result, kind, aux) => {
    seen.push([result, kind, aux]);
    loop._releaseToken(token);
  });
  startReadExact(loop._native, a, hello.length, token);
  loop.callLater(10, () => testWrite(b, hello));
  try {
    await loop.run();
  } finally {
    closeFds(a, b);
  }
  assert.deepEqual(seen, [[hello.length, KIND_READ_EXACT, fnv1a(hello)]]);
});

for (const mode of ["run", "runSync"] as const) {
  Deno.test(`loop: a task blocks on a native operation and its token resumes it (${mode})`, async () => {
    const { loop, errors } = makeLoop();
    using _ = loop;
    const [a, b] = testSocketPair();
    let got: unknown = null;
    spawn(function* () {
      const task = current();
      const token = loop._registerToken((result) => task.switch(result));
      try {
        startReadExact(loop._native, a, hello.length, token);
        got = yield* loop.switch();
      } finally {
        loop._releaseToken(token);
      }
    });
    loop.callLater(5, () => testWrite(b, hello));
    try {
      if (mode === "run") await loop.run();
      else loop.runSync();
    } finally {
      closeFds(a, b);
    }
    if (errors.length > 0) throw errors[0];
    assert.equal(got, hello.length);
  });
}

Deno.test("loop: completions for a released token are dropped", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const [a, b] = testSocketPair();
  let called = false;
  const token = loop._registerToken(() => {
    called = true;
  });
  startReadExact(loop._native, a, 1, token);
  loop._releaseToken(token);
  // Keep the loop running while the completion arrives.
  const keeper = loop._registerToken(() => {});
  loop.callLater(5, () => writeByte(b));
  loop.callLater(40, () => loop._releaseToken(keeper));
  try {
    await loop.run();
  } finally {
    closeFds(a, b);
  }
  assert.deepEqual(errors, []);
  assert.equal(called, false);
});

Deno.test("loop: a registered token keeps run() alive until released", async () => {
  using loop = new EventLoop();
  const token = loop._registerToken(() => {});
  assert.ok(token > 0);
  const t0 = loop.time();
  loop.callLater(20, () => loop._releaseToken(token));
  await loop.run();
  assert.ok(loop.time() - t0 >= 19);
  assert.throws(() => loop._releaseToken(token), /not registered/);
});

Deno.test("loop: a token registered without keepAlive does not keep run() alive", async () => {
  using loop = new EventLoop();
  const token = loop._registerToken(() => {}, false);
  const t0 = loop.time();
  await loop.run();
  assert.ok(loop.time() - t0 < 5000);
  loop._releaseToken(token);
});

// ---------------------------------------------------------------------------
// misuse

Deno.test("loop: a second live loop in one thread throws", () => {
  using _loop = new EventLoop();
  assert.throws(() => new EventLoop(), /second EventLoop/);
});

Deno.test("loop: run() twice, or after the loop ended, throws", async () => {
  using loop = new EventLoop();
  await loop.run();
  await assert.rejects(() => loop.run(), /already ended/);
  assert.throws(() => loop.runSync(), /already ended/);
  await assert.rejects(() => loop.runForever(), /already ended/);
});

Deno.test("loop: run() while running throws", async () => {
  using loop = new EventLoop();
  loop.callLater(10, () => {});
  const first = loop.run();
  await assert.rejects(() => loop.run(), /already started/);
  await first;
});

Deno.test("loop: run() inside a fiber throws", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  spawn(() => {
    assert.throws(() => loop.runSync(), /not inside fiber/);
  });
  await runClean(loop, errors);
});

Deno.test("loop: a destroyed loop refuses run() and new callbacks", async () => {
  const loop = new EventLoop();
  loop.destroy();
  await assert.rejects(() => loop.run(), /destroyed/);
  assert.throws(() => loop.callSoon(() => {}), /destroyed/);
  assert.throws(() => loop.callLater(5, () => {}), /destroyed/);
});

Deno.test("loop: non-function callbacks throw TypeError", () => {
  using loop = new EventLoop();
  // deno-lint-ignore no-explicit-any
  const bogus = 42 as any;
  assert.throws(() => loop.callSoon(bogus), TypeError);
  assert.throws(() => loop.callLater(5, bogus), TypeError);
  assert.throws(() => loop.callAt(loop.time() + 5, bogus), TypeError);
  assert.throws(() => loop.addReader(0, bogus), TypeError);
  assert.throws(() => loop.addWriter(0, bogus), TypeError);
  assert.throws(() => loop.addSignalHandler("SIGINT", bogus), TypeError);
  assert.throws(() => loop.setExceptionHandler(bogus), TypeError);
  assert.throws(() => loop._registerToken(bogus), TypeError);
  assert.throws(() => new Handler(bogus, []), TypeError);
});

Deno.test("loop: non-numbers and bad signals throw TypeError; NaN, negative and out-of-range numbers RangeError", () => {
  using loop = new EventLoop();
  assert.throws(() => loop.callLater(NaN, () => {}), RangeError);
  assert.throws(() => loop.callLater(-5, () => {}), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => loop.callLater("5" as any, () => {}), TypeError);
  assert.throws(() => loop.addReader(-1, () => {}), RangeError);
  assert.throws(() => loop.addWriter(1.5, () => {}), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => loop.addReader("3" as any, () => {}), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => loop.addSignalHandler(2 as any, () => {}), TypeError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => loop.addSignalHandler("SIGNOPE" as any, () => {}),
    TypeError,
  );
});

Deno.test("loop: switch() outside a running loop throws", () => {
  using loop = new EventLoop();
  const fiber = new Fiber(function* () {
    yield* loop.switch();
  });
  assert.throws(() => fiber.switchSync(), /loop is not running/);
});

Deno.test("loop: switch() from the hub itself throws", async () => {
  using loop = new EventLoop();
  let threw: unknown = null;
  loop.callSoon(() => {
    try {
      loop.switch();
    } catch (error) {
      threw = error;
    }
  });
  await loop.run();
  assert.match(String(threw), /hub cannot switch to itself/);
});

Deno.test("loop: [Symbol.dispose] destroys once and tolerates an earlier destroy()", () => {
  const loop = new EventLoop();
  loop.destroy();
  loop[Symbol.dispose]();
  assert.throws(() => loop.destroy(), /already destroyed/);
});
