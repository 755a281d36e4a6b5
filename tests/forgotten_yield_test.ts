// A blocking operation called without yield* (issue 12.1) throws FiberError
// in the calling task no later than its next suspension or its end, and the
// message names the operation. Every public blocking method is covered.

import assert from "node:assert/strict";
import { FiberError } from "../src/fiber.ts";
import { shield, sleep, spawn, Task } from "../src/tasks.ts";
import { TaskGroup } from "../src/task_group.ts";
import { Event } from "../src/sync/event.ts";
import { Lock, Semaphore } from "../src/sync/locks.ts";
import { RLock } from "../src/sync/rlock.ts";
import { Condition } from "../src/sync/condition.ts";
import { Queue } from "../src/sync/queue.ts";
import { Channel } from "../src/sync/channel.ts";
import {
  asCompleted,
  Future,
  TaskPoolExecutor,
  wait,
  waitPromise,
} from "../src/futures.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { PipeClient, PipeServer } from "../src/io/pipe.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { TTYStream } from "../src/io/tty.ts";
import { TLSClient, TLSServer } from "../src/io/tls.ts";
import { lookup } from "../src/io/lookup.ts";
import { EventLoop } from "../src/loop.ts";
import { makeLoop, runClean } from "./fixtures/loop_harness.ts";

Deno.test("forgotten yield*: the task gets FiberError at its next suspension, naming the operation", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  let after = false;
  spawn(function* () {
    sleep(10);
    try {
      yield* sleep(0);
      after = true;
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof FiberError);
  assert.match(
    (caught as Error).message,
    /^sleep\(\) was called without yield\*/,
  );
  assert.equal(after, false, "the suspension did not happen");
});

Deno.test("forgotten yield*: at the task's end at the latest, reported with the task's name", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  // deno-lint-ignore require-yield
  new Task(function* () {
    lock.acquire();
  }, { name: "forgetful" }).start();
  await loop.run();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof FiberError);
  assert.match(
    (errors[0] as Error).message,
    /^acquire\(\) was called without yield\*/,
  );
  assert.match((errors[0] as Error).stack ?? "", /in task forgetful/);
  assert.equal(lock.locked(), false, "the forgotten acquire did nothing");
});

Deno.test("forgotten yield*: an operation made first and run with yield* later is fine", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const lock = new Lock();
  let got = false;
  spawn(function* () {
    const later = sleep(1);
    const acquire = lock.acquire();
    yield* acquire;
    yield* later;
    got = lock.locked();
  });
  // A task target that returns an operation starts it too.
  spawn(() => sleep(1));
  await runClean(loop, errors);
  assert.equal(got, true);
});

Deno.test("forgotten yield*: inside a TaskGroup, join() throws the FiberError", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  let caught: unknown = null;
  spawn(function* () {
    using group = new TaskGroup();
    group.spawn(function* () {
      yield* sleep(10_000);
    });
    group.spawn(function* () {
      new Event().wait();
      yield* sleep(1);
    });
    try {
      yield* group.join();
    } catch (error) {
      caught = error;
    }
  });
  await runClean(loop, errors);
  assert.ok(caught instanceof FiberError);
  assert.match((caught as Error).message, /^Event\.wait\(\) was called/);
});

Deno.test("forgotten yield*: in a loop callback it is reported; in plain code, run() throws", async () => {
  {
    const { loop, errors } = makeLoop();
    using _ = loop;
    loop.callSoon(() => {
      sleep(5);
    });
    await loop.run();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /sleep\(\) was called without yield\*/);
  }
  {
    using loop = new EventLoop();
    new Queue<number>().get();
    await assert.rejects(() => loop.run(), /Queue\.get\(\) was called/);
  }
});

// Every public blocking operation: [the name in the message, a call of it
// without yield* inside a task].
const OPERATIONS: [string, () => unknown][] = [
  ["sleep()", () => sleep(5)],
  ["sleep()", () => sleep(0)],
  ["Task.join()", () => spawn(() => {}).join()],
  ["Event.wait()", () => new Event().wait()],
  ["acquire()", () => new Semaphore(0).acquire()],
  ["acquire()", () => new Lock().acquire()],
  ["RLock.acquire()", () => new RLock().acquire()],
  ["acquire()", () => new Condition(new Lock()).acquire()],
  ["Condition.wait()", () => {
    const cond = new Condition(new Lock());
    cond.acquire()[Symbol.iterator]().next();
    cond.wait();
  }],
  ["Condition.waitFor()", () => {
    const cond = new Condition(new Lock());
    cond.acquire()[Symbol.iterator]().next();
    cond.waitFor(() => true);
  }],
  ["guard()", () => new Lock().guard()],
  ["guard()", () => new RLock().guard()],
  ["guard()", () => new Condition().guard()],
  ["Queue.get()", () => new Queue().get()],
  ["Queue.put()", () => new Queue().put(1)],
  ["Queue.join()", () => new Queue().join()],
  ["Channel.send()", () => new Channel().send(1)],
  ["Channel.sendException()", () => new Channel().sendException(1)],
  ["Channel.receive()", () => new Channel().receive()],
  ["Channel.forEach()", () => new Channel().forEach(() => {})],
  ["Future.get()", () => new Future().get()],
  ["wait()", () => wait([new Future()])],
  ["asCompleted()", () => asCompleted([new Future()])],
  ["waitPromise()", () => waitPromise(Promise.resolve(1))],
  ["TaskPoolExecutor.map()", () => new TaskPoolExecutor(1).map((x) => x, [])],
  ["TaskPoolExecutor.shutdown()", () => new TaskPoolExecutor(1).shutdown()],
  ["TaskGroup.join()", () => new TaskGroup().join()],
  ["shield()", () => shield(function* () {})],
  ["readBytes()", () => new TCPClient().readBytes(1)],
  ["readInto()", () => new TCPClient().readInto(new Uint8Array(1))],
  ["readUntil()", () => new TCPClient().readUntil("\n")],
  ["readUntilRegex()", () => new TCPClient().readUntilRegex(/x/)],
  ["flush()", () => new TCPClient().flush()],
  ["shutdown()", () => new TCPClient().shutdown()],
  [
    "connect()",
    () => new TCPClient().connect({ hostname: "127.0.0.1", port: 9 }),
  ],
  ["connect()", () => new PipeClient().connect("/nonexistent")],
  ["serve()", () => new TCPServer().serve()],
  ["serve()", () => new PipeServer().serve()],
  ["receive()", () => new UDPEndpoint().receive()],
  ["receiveMany()", () => new UDPEndpoint().receiveMany(2)],
  ["flush()", () => new UDPEndpoint().flush()],
  // TTYStream overrides the reads (a terminal is not needed: the operation
  // is made, never run).
  ["readBytes()", () => TTYStream.prototype.readBytes.call(null, 1)],
  [
    "readInto()",
    () => TTYStream.prototype.readInto.call(null, new Uint8Array(1)),
  ],
  ["readUntil()", () => TTYStream.prototype.readUntil.call(null, "\n")],
  [
    "readUntilRegex()",
    () => TTYStream.prototype.readUntilRegex.call(null, /x/),
  ],
  // TLSStream overrides every blocking Stream method.
  ["readBytes()", () => new TLSClient().readBytes(1)],
  ["readInto()", () => new TLSClient().readInto(new Uint8Array(1))],
  ["readUntil()", () => new TLSClient().readUntil("\n")],
  ["readUntilRegex()", () => new TLSClient().readUntilRegex(/x/)],
  ["flush()", () => new TLSClient().flush()],
  ["shutdown()", () => new TLSClient().shutdown()],
  [
    "connect()",
    () => new TLSClient().connect({ hostname: "127.0.0.1", port: 9 }),
  ],
  // A TLSServer needs a certificate; the operation is made, never run.
  ["serve()", () => TLSServer.prototype.serve.call(null)],
  ["lookup()", () => lookup("localhost")],
];

Deno.test("forgotten yield*: every public blocking operation is covered", async () => {
  const { loop, errors } = makeLoop();
  using _ = loop;
  const missed: string[] = [];
  for (const [name, call] of OPERATIONS) {
    spawn(function* () {
      call();
      try {
        yield* sleep(0);
        missed.push(`${name}: not reported`);
      } catch (error) {
        const message = error instanceof FiberError ? error.message : "";
        if (!message.startsWith(`${name} was called without yield*`)) {
          missed.push(`${name}: ${String(error)}`);
        }
      }
    });
  }
  await runClean(loop, errors);
  assert.deepEqual(missed, []);
});
