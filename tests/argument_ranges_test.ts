// Times and integers at the edges of their ranges (API.md, "Changes and
// additions"; issue 10, points 5 and 7). Any time up to Infinity works and a
// wait longer than the native layer can express is clamped there; negative
// or NaN times are RangeErrors (a Timeout's negative ms still never fires).
// Integers that would reach the FFI out of range (descriptors >= 2^31,
// backlogs >= 2^32) are RangeErrors naming the argument, never a raw
// "Invalid FFI" error.

import assert from "node:assert/strict";
import {
  asCompleted,
  BoundedSemaphore,
  Channel,
  Condition,
  Event,
  EventLoop,
  Future,
  Lock,
  PipeStream,
  Queue,
  RLock,
  Semaphore,
  sleep,
  spawn,
  TaskPoolExecutor,
  TCPServer,
  Timeout,
  TTYStream,
  UDPEndpoint,
  wait,
} from "../mod.ts";
import { makeLoop, startOp } from "./fixtures/loop_harness.ts";

const FAR_TIMES = [
  Infinity,
  2 ** 32,
  1e10,
  Number.MAX_SAFE_INTEGER,
];

/**
 * Blocks tasks in every API that takes a time, each with a time the native
 * layer cannot take as is; the loop then has nothing else to do. A child
 * process sends SIGUSR2 after a while and the handler stops the loop.
 */
function blockEverywhere(loop: EventLoop): {
  ended: string[];
  blocked: number;
  started: () => number;
} {
  const ended: string[] = [];
  let blocked = 0;
  let started = 0;
  const block = (name: string, body: () => Generator<unknown, unknown>) => {
    blocked++;
    spawn(function* () {
      started++;
      try {
        yield* body();
        ended.push(`${name} returned`);
      } catch (error) {
        ended.push(`${name} threw ${(error as Error).message}`);
      }
    });
  };
  for (const ms of FAR_TIMES) {
    block(`sleep(${ms})`, () => sleep(ms));
    block(`Event.wait(${ms})`, () => new Event().wait(ms));
    block(`Timeout(${ms})`, function* () {
      using _ = new Timeout(ms).start();
      yield* new Event().wait();
    });
    block(`Semaphore.acquire(${ms})`, () => new Semaphore(0).acquire(true, ms));
    block(`BoundedSemaphore.acquire(${ms})`, () => {
      const semaphore = new BoundedSemaphore(1);
      startOp(semaphore.acquire(false));
      return semaphore.acquire(true, ms);
    });
    block(`Lock.acquire(${ms})`, function* () {
      const lock = new Lock();
      yield* lock.acquire();
      const other = spawn(function* () {
        return yield* lock.acquire(true, ms);
      });
      yield* other.join(ms);
    });
    block(`RLock+Condition.wait(${ms})`, function* () {
      const condition = new Condition(new RLock());
      yield* condition.acquire();
      yield* condition.wait(ms);
    });
    block(`Condition.waitFor(${ms})`, function* () {
      const condition = new Condition();
      yield* condition.acquire();
      yield* condition.waitFor(() => false, ms);
    });
    block(`Queue.get(${ms})`, () => new Queue<number>().get(true, ms));
    block(`Queue.put(${ms})`, function* () {
      const queue = new Queue<number>(1);
      yield* queue.put(1);
      yield* queue.put(2, true, ms);
    });
    block(`Future.get(${ms})`, () => new Future<number>().get(ms));
    block(`Task.join(${ms})`, () => spawn(() => sleep(ms)).join(ms));
    block(`Channel.receive with a Timeout(${ms})`, function* () {
      using _ = new Timeout(ms).start();
      yield* new Channel<number>().receive();
    });
    loop.callLater(ms, () => ended.push(`callLater(${ms}) fired`));
    loop.callAt(loop.time() + ms, () => ended.push(`callAt(+${ms}) fired`));
  }
  return { ended, blocked, started: () => started };
}

function signalSoon(): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", `sleep 0.3; kill -USR2 ${Deno.pid}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

for (const mode of ["run", "runSync"] as const) {
  Deno.test({
    name:
      `an idle loop whose only timers are beyond 2^31-1 ms (up to Infinity) waits and keeps working under ${mode}()`,
    ignore: Deno.build.os === "windows",
    fn: async () => {
      const { loop, errors } = makeLoop();
      try {
        const { ended, blocked, started } = blockEverywhere(loop);
        let signalled = false;
        loop.addSignalHandler("SIGUSR2", () => {
          signalled = true;
          loop.stop();
        });
        const child = signalSoon();
        const began = performance.now();
        if (mode === "run") await loop.run();
        else loop.runSync();
        const waitedMs = performance.now() - began;
        await child.status;
        assert.deepEqual(errors, [], "the loop reported no error");
        assert.equal(signalled, true, "the loop ran until the signal");
        assert.ok(waitedMs >= 200, `the loop waited (${waitedMs} ms)`);
        assert.equal(started(), blocked, "every task started");
        assert.deepEqual(ended, [], "nothing far away ended early");
      } finally {
        loop.destroy();
      }
    },
  });
}

Deno.test("negative and NaN times are RangeErrors naming the argument", () => {
  using loop = new EventLoop();
  for (const bad of [-1, -Infinity, NaN]) {
    assert.throws(() => loop.callLater(bad, () => {}), {
      name: "RangeError",
      message: /callLater\(\): delayMs must be a number of ms/,
    });
    assert.throws(() => loop.callAt(bad, () => {}), {
      name: "RangeError",
      message: /callAt\(\): when must be a number of ms/,
    });
    assert.throws(() => sleep(bad), {
      name: "RangeError",
      message: /sleep\(\): ms must be a number of ms/,
    });
    const checks: Array<[string, () => unknown]> = [
      ["Event.wait()", () => startOp(new Event().wait(bad))],
      [
        "Semaphore.acquire()",
        () => startOp(new Semaphore(1).acquire(true, bad)),
      ],
      ["Lock.acquire()", () => startOp(new Lock().acquire(true, bad))],
      ["Queue.get()", () => startOp(new Queue().get(true, bad))],
      ["Queue.put()", () => startOp(new Queue().put(1, true, bad))],
      ["Future.get()", () => startOp(new Future().get(bad))],
      ["wait()", () => wait([], bad)],
      ["asCompleted()", () => asCompleted([], bad)],
      [
        "TaskPoolExecutor.map()",
        () => startOp(new TaskPoolExecutor(1).map((x) => x, [1], bad)),
      ],
    ];
    for (const [what, call] of checks) {
      assert.throws(call, (error: Error) => {
        assert.equal(error.name, "RangeError", `${what}(${bad})`);
        assert.match(error.message, /timeoutMs must be a number of ms/);
        return true;
      });
    }
  }
  assert.throws(() => new Timeout(NaN), RangeError);
  assert.equal(new Timeout(-1).ms, -1, "a negative Timeout never fires");
});

Deno.test("out-of-range descriptors are RangeErrors naming fd, never FFI errors", () => {
  using loop = new EventLoop();
  for (const fd of [2 ** 31, 2 ** 32, 2 ** 53, -1, 1.5]) {
    for (
      const [what, call] of [
        ["addReader()", () => loop.addReader(fd, () => {})],
        ["addWriter()", () => loop.addWriter(fd, () => {})],
        ["PipeStream.open()", () => new PipeStream().open(fd)],
        ["TTYStream", () => new TTYStream(fd, true)],
      ] as Array<[string, () => unknown]>
    ) {
      assert.throws(call, (error: Error) => {
        assert.equal(error.name, "RangeError", `${what} with fd ${fd}`);
        assert.match(
          error.message,
          /fd must be an integer from 0 to 2147483647/,
        );
        assert.ok(error.message.startsWith(what), error.message);
        return true;
      });
    }
  }
  assert.throws(() => loop.addReader("3" as unknown as number, () => {}), {
    name: "TypeError",
    message: /addReader\(\): fd must be an integer/,
  });
});

Deno.test("an out-of-range backlog is a RangeError naming backlog", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const server = new TCPServer();
  server.bind({ hostname: "127.0.0.1", port: 0 });
  const seen: unknown[] = [];
  spawn(function* () {
    for (const backlog of [2 ** 32, 2 ** 31, -1, 1.5]) {
      try {
        yield* server.serve(backlog);
      } catch (error) {
        seen.push(error);
      }
    }
    server.close();
  });
  await loop.run();
  assert.deepEqual(errors, []);
  assert.equal(seen.length, 4);
  for (const error of seen) {
    assert.ok(error instanceof RangeError, String(error));
    assert.match(
      (error as Error).message,
      /serve\(\): backlog must be an integer from 0 to 2147483647/,
    );
  }
});

Deno.test("out-of-range UDP sizes are RangeErrors naming the option", () => {
  assert.throws(() => new UDPEndpoint({ maxQueuedBytes: 2 ** 32 }), {
    name: "RangeError",
    message: /maxQueuedBytes must be an integer/,
  });
});
