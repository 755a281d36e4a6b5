/**
 * Heap per suspended task: spawns `count` tasks that all block (in
 * `Event.wait()`, in `sleep(ms)`, in `sleep(0)` behind a long ready queue)
 * and divides the growth of `Deno.memoryUsage().heapUsed` (after a full GC)
 * by their number, then checks that ending them gives the memory back.
 * Each figure includes the user's own body generator, the primitive's
 * generator frames and the ready-queue or waiter entry.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/task_memory.ts [count]
 * ```
 *
 * @module
 */

import { EventLoop } from "../src/loop.ts";
import { sleep, spawn, type Task } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with --v8-flags=--expose-gc for a meaningful figure");
  Deno.exit(2);
}

const count = Number(Deno.args[0] ?? 100_000);

function heapUsed(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

type Shape = {
  label: string;
  body: (event: Event) => Generator<unknown, void, unknown>;
  release: (event: Event, tasks: Task[]) => void;
};

const shapes: Shape[] = [
  {
    label: "blocked in Event.wait()",
    body: function* (event) {
      yield* event.wait();
    },
    release: (event) => event.set(),
  },
  {
    label: "blocked in sleep(1e9)",
    body: function* () {
      yield* sleep(1e9);
    },
    release: (_, tasks) => tasks.forEach((task) => task.kill()),
  },
  {
    label: "suspended in sleep(0)",
    body: function* () {
      yield* sleep(0);
    },
    release: () => {},
  },
];

const results: Record<string, number> = {};
for (const shape of shapes) {
  const loop = new EventLoop();
  try {
    const event = new Event();
    const before = heapUsed();
    let alive = 0;
    const tasks: Task[] = [];
    for (let i = 0; i < count; i++) tasks.push(spawn(shape.body, event));
    // Queued behind every task's first step, so all are suspended here.
    loop.callSoon(() => {
      alive = heapUsed();
      shape.release(event, tasks);
    });
    loop.runSync();
    tasks.length = 0;
    const after = heapUsed();
    const perTask = (alive - before) / count;
    results[shape.label] = Math.round(perTask);
    console.log(
      `${shape.label}: ${count} tasks, ${perTask.toFixed(0)} B of heap each; ${
        ((after - before) / 2 ** 20).toFixed(1)
      } MiB left after they ended`,
    );
  } finally {
    loop.destroy();
  }
}
console.log(JSON.stringify({ count, bytes_per_task: results }));
