// The loop inside Deno: run() lets Deno's own event loop work (timers,
// Deno.serve, fetch) whether the hub is busy or parked, calls from plain JS
// wake a parked loop at once, signals reach handlers under run() and
// runSync(), an idle runForever() costs no CPU, and nothing is left pending
// in Deno afterwards (Deno's op and resource sanitizers stay on).

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { waitPromise } from "../src/futures.ts";
import { makeLoop, runClean } from "./fixtures/loop_harness.ts";
import { NativeLoop } from "../src/native/native_loop.ts";

Deno.test("deno: setInterval keeps firing while tasks sleep on the loop", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let intervals = 0;
  let taskTicks = 0;
  const interval = setInterval(() => intervals++, 2);
  spawn(function* () {
    const end = loop.time() + 200;
    while (loop.time() < end) {
      yield* sleep(2);
      taskTicks++;
    }
  });
  try {
    await runClean(loop, errors);
  } finally {
    clearInterval(interval);
  }
  assert.ok(intervals >= 20, `setInterval ran ${intervals} times`);
  assert.ok(taskTicks >= 20, `the task ran ${taskTicks} times`);
});

Deno.test("deno: Deno timers and the loop both progress while the hub is never idle", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let intervals = 0;
  let spins = 0;
  const interval = setInterval(() => intervals++, 1);
  spawn(function* () {
    const end = loop.time() + 200;
    // Always ready: the hub never parks, only yields Deno turns.
    while (loop.time() < end) {
      yield* sleep(0);
      spins++;
    }
  });
  try {
    await runClean(loop, errors);
  } finally {
    clearInterval(interval);
  }
  assert.ok(intervals >= 20, `setInterval ran ${intervals} times`);
  assert.ok(spins >= 10_000, `the task yielded ${spins} times`);
});

Deno.test("deno: Deno.serve answers fetches while a task keeps the hub busy", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const controller = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      onListen() {},
    },
    () => new Response("pong"),
  );
  let answered = 0;
  let stop = false;
  spawn(function* () {
    while (!stop) yield* sleep(0);
  });
  const client = (async () => {
    try {
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
        assert.equal(await response.text(), "pong");
        answered++;
      }
    } finally {
      stop = true;
    }
  })();
  try {
    await runClean(loop, errors);
    await client;
  } finally {
    controller.abort();
    await server.finished;
  }
  assert.equal(answered, 20);
});

Deno.test("deno: a task fetches from Deno.serve through waitPromise", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const controller = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      onListen() {},
    },
    (request) => new Response(new URL(request.url).pathname),
  );
  const bodies: string[] = [];
  for (const path of ["/a", "/b"]) {
    spawn(function* () {
      const response = yield* waitPromise(
        fetch(`http://127.0.0.1:${server.addr.port}${path}`),
      );
      bodies.push(yield* waitPromise(response.text()));
    });
  }
  try {
    await runClean(loop, errors);
  } finally {
    controller.abort();
    await server.finished;
  }
  assert.deepEqual(bodies.sort(), ["/a", "/b"]);
});

Deno.test("deno: callSoon from a Deno timer wakes a parked loop at once", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  loop.callLater(10_000, () => {});
  let latency = -1;
  const timer = setTimeout(() => {
    const t0 = loop.time();
    loop.callSoon(() => {
      latency = loop.time() - t0;
      loop.stop();
    });
  }, 50);
  const t0 = loop.time();
  try {
    await loop.runForever();
  } finally {
    clearTimeout(timer);
  }
  const elapsed = loop.time() - t0;
  assert.deepEqual(errors, []);
  assert.ok(latency >= 0 && latency < 20, `woken after ${latency} ms`);
  assert.ok(elapsed < 1000, `run ended after ${elapsed} ms`);
});

Deno.test("deno: callLater from plain JS re-arms a parked loop's wait", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  loop.callLater(10_000, () => {});
  const timer = setTimeout(() => loop.callLater(10, () => loop.stop()), 20);
  const t0 = loop.time();
  try {
    await loop.runForever();
  } finally {
    clearTimeout(timer);
  }
  const elapsed = loop.time() - t0;
  assert.deepEqual(errors, []);
  assert.ok(elapsed >= 29 && elapsed < 500, `run ended after ${elapsed} ms`);
});

Deno.test("deno: stop() from a promise callback ends runForever", async () => {
  using loop = new EventLoop();
  const later = new Promise<void>((resolve) => setTimeout(resolve, 30));
  later.then(() => loop.stop());
  const t0 = loop.time();
  await loop.runForever();
  const elapsed = loop.time() - t0;
  assert.ok(elapsed >= 25 && elapsed < 500, `ended after ${elapsed} ms`);
});

/** Runs tests/fixtures/idle_cpu.ts in a process of its own. */
async function idleScenario(
  scenario: "forever" | "timer",
  ms: number,
): Promise<{ cpuMs: number; wallMs: number; fired: boolean }> {
  const fixture = new URL("./fixtures/idle_cpu.ts", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", fixture.pathname, scenario, String(ms)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `idle_cpu.ts failed: ${decoder.decode(stderr)}`);
  return JSON.parse(decoder.decode(stdout));
}

Deno.test("deno: an idle runForever uses under 1% of a core", async () => {
  const { cpuMs, wallMs } = await idleScenario("forever", 2000);
  assert.ok(
    cpuMs < wallMs * 0.01,
    `idle loop used ${cpuMs.toFixed(1)} ms of CPU in ${wallMs.toFixed(0)} ms`,
  );
});

Deno.test("deno: a loop waiting on a far timer parks instead of spinning", async () => {
  const { cpuMs, fired } = await idleScenario("timer", 500);
  assert.equal(fired, true);
  assert.ok(cpuMs < 25, `used ${cpuMs.toFixed(1)} ms of CPU waiting 500 ms`);
});

const signalTest = { ignore: Deno.build.os === "windows" };

Deno.test({
  name: "deno: a signal sent to the process reaches its handler under run()",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    let count = 0;
    loop.addSignalHandler("SIGWINCH", () => {
      count++;
      loop.stop();
    });
    const timer = setTimeout(() => Deno.kill(Deno.pid, "SIGWINCH"), 20);
    try {
      await loop.runForever();
    } finally {
      clearTimeout(timer);
    }
    assert.equal(count, 1);
  },
});

Deno.test({
  name: "deno: a signal reaches its handler under runSync()",
  ...signalTest,
  fn: () => {
    using loop = new EventLoop();
    let count = 0;
    loop.addSignalHandler("SIGWINCH", () => count++);
    loop.callLater(10, () => Deno.kill(Deno.pid, "SIGWINCH"));
    // A timer keeps runSync() blocked in the native poll while the signal
    // arrives; signal handlers alone do not keep a loop alive.
    loop.callLater(60, () => {});
    loop.runSync();
    assert.equal(count, 1);
  },
});

Deno.test({
  name:
    "deno: a loop gets a signal Deno listened to before (Deno's handler stays, acting out the default)",
  ...signalTest,
  fn: async () => {
    const fixture = new URL(
      "./fixtures/signal_after_deno_listener.ts",
      import.meta.url,
    );
    const { code, signal, stdout, stderr } = await new Deno.Command(
      Deno.execPath(),
      {
        args: [
          "run",
          "--allow-ffi",
          "--allow-read",
          "--allow-env",
          fixture.href,
        ],
        stdout: "piped",
        stderr: "piped",
      },
    ).output();
    const decoder = new TextDecoder();
    assert.equal(signal, null, decoder.decode(stderr));
    assert.equal(code, 0, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout).trim(), "handled 2");
  },
});

/**
 * Runs tests/fixtures/signal_handled_exit.ts, sends it SIGTERM once it is
 * serving, and returns its exit and whether the code after run() ran.
 */
async function handledTermination(
  removeSelf: boolean,
  sync: boolean,
): Promise<{ code: number; signal: string | null; after: boolean }> {
  const fixture = new URL(
    "./fixtures/signal_handled_exit.ts",
    import.meta.url,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      fixture.href,
      removeSelf ? "remove" : "keep",
      sync ? "sync" : "async",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const decoder = new TextDecoder();
  let text = "";
  const reader = child.stdout.getReader();
  let signalled = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (!signalled && text.includes("ready")) {
      signalled = true;
      child.kill("SIGTERM");
    }
  }
  const { code, signal } = await child.status;
  return { code, signal, after: text.includes("after run") };
}

Deno.test({
  name:
    "deno: a SIGTERM the loop handles never ends the process, whether its handler closes the server or also removes itself, under run() or runSync() (100 runs)",
  ...signalTest,
  fn: async () => {
    const runs = 100;
    const batch = 10;
    const failures: string[] = [];
    for (let started = 0; started < runs; started += batch) {
      const outcomes = await Promise.all(
        Array.from(
          { length: batch },
          (_, i) =>
            handledTermination(
              (started + i) % 2 === 1,
              (started + i) % 4 >= 2,
            ),
        ),
      );
      outcomes.forEach((outcome, i) => {
        if (outcome.code !== 0 || outcome.signal !== null || !outcome.after) {
          failures.push(`run ${started + i}: ${JSON.stringify(outcome)}`);
        }
      });
    }
    assert.deepEqual(failures, [], `${failures.length} of ${runs} runs failed`);
  },
});

Deno.test({
  name: "deno: a signal handler alone does not keep run() alive",
  ...signalTest,
  fn: async () => {
    using loop = new EventLoop();
    loop.addSignalHandler("SIGWINCH", () => {});
    const t0 = loop.time();
    await loop.run();
    assert.ok(loop.time() - t0 < 100);
  },
});

Deno.test("deno: after run() and destroy() nothing is pending in Deno", async () => {
  // The sanitizers of this test fail it if a park, an immediate or a timer
  // outlives the loop.
  const loop = new EventLoop();
  let parks = 0;
  for (let i = 0; i < 5; i++) loop.callLater(5 * i, () => parks++);
  spawn(function* () {
    yield* waitPromise(new Promise((resolve) => setTimeout(resolve, 10)));
  });
  await loop.run();
  loop.destroy();
  assert.equal(parks, 5);
});

Deno.test({
  name:
    "deno: the native loop sees whether Deno's runtime has I/O events waiting",
  ignore: Deno.build.os !== "linux",
}, async () => {
  using native = new NativeLoop();
  // A child that answers a line; Deno waits for it in its own epoll set.
  const child = new Deno.Command("sh", {
    args: ["-c", "read line; echo ready"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const read = reader.read();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(native.hostIoPending(), false, "quiet while the child waits");
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  // The JS thread stays busy, so Deno collects nothing until it yields.
  const until = performance.now() + 5000;
  while (!native.hostIoPending() && performance.now() < until) {
    // busy
  }
  assert.equal(native.hostIoPending(), true, "the child's answer is seen");
  const { value } = await read;
  assert.equal(new TextDecoder().decode(value), "ready\n");
  reader.releaseLock();
  await writer.close();
  await child.stdout.cancel();
  await child.status;
});
