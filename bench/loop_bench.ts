/**
 * `deno bench` for the event loop. Every benchmark runs `OPS` (10 000)
 * operations on a fresh loop per iteration (its creation, ~15 µs, included),
 * so time/iter in µs divided by 10 is the cost of one operation in ns.
 * `loop_compare.ts` runs the same shapes side by side with gevent, Effection
 * and plain Deno async.
 *
 * @module
 */

import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { Queue } from "../src/sync/queue.ts";
import { awaitResolved, sleepZero, spawnFinish } from "./loop_shapes.ts";

const OPS = 10_000;

Deno.bench(`sleep(0) among 10 tasks, runSync ×${OPS}`, async () => {
  await sleepZero(10, OPS / 10, "runSync");
});

Deno.bench(`sleep(0) among 10 tasks, run ×${OPS}`, async () => {
  await sleepZero(10, OPS / 10, "run");
});

Deno.bench(
  `await of a resolved promise among 10 async fns ×${OPS}`,
  async () => {
    await awaitResolved(10, OPS / 10);
  },
);

Deno.bench(`spawn + run + finish, runSync ×${OPS}`, async () => {
  await spawnFinish(OPS, "runSync");
});

Deno.bench(`callSoon + run ×${OPS}`, () => {
  const loop = new EventLoop();
  const callback = () => {};
  for (let i = 0; i < OPS; i++) loop.callSoon(callback);
  loop.runSync();
  loop.destroy();
});

Deno.bench(`callLater(0..9 ms) + cancel ×${OPS}`, () => {
  const loop = new EventLoop();
  const callback = () => {};
  for (let i = 0; i < OPS; i++) loop.callLater(1 + (i % 10), callback).cancel();
  loop.runSync();
  loop.destroy();
});

Deno.bench(`Queue put/get hand-off between two tasks ×${OPS}`, () => {
  const loop = new EventLoop();
  const queue = new Queue<number>(1);
  spawn(function* () {
    for (let i = 0; i < OPS; i++) yield* queue.put(i);
  });
  spawn(function* () {
    for (let i = 0; i < OPS; i++) yield* queue.get();
  });
  loop.runSync();
  loop.destroy();
});

Deno.bench(`sleep(1 ms) timers among 1000 tasks ×${OPS}`, () => {
  const loop = new EventLoop();
  for (let t = 0; t < 1000; t++) {
    spawn(function* () {
      for (let i = 0; i < OPS / 1000; i++) yield* sleep(1);
    });
  }
  loop.runSync();
  loop.destroy();
});
