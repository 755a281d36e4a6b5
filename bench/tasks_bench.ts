/**
 * `deno bench` for the task model's guards: a `Timeout` created, started and
 * cancelled (issue 11.6: at most 1 µs), and spawning a task. Each
 * benchmark runs `OPS` (10 000) operations inside one task on a fresh loop
 * per iteration, so time/iter in µs divided by 10 is the cost of one
 * operation in ns (the loop's creation, ~15 µs, included).
 *
 * @module
 */

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { Timeout } from "../src/sync/timeout.ts";

const OPS = 10_000;

function inOneTask(body: () => void): void {
  const loop = new EventLoop();
  try {
    spawn(body);
    loop.runSync();
  } finally {
    loop.destroy();
  }
}

Deno.bench(`Timeout create + start + cancel ×${OPS}`, () => {
  inOneTask(() => {
    for (let i = 0; i < OPS; i++) new Timeout(50).start().cancel();
  });
});

Deno.bench(`using Timeout.after(50) ×${OPS}`, () => {
  inOneTask(() => {
    for (let i = 0; i < OPS; i++) {
      using _timeout = Timeout.after(50);
    }
  });
});

Deno.bench(`spawn + run + end ×${OPS}`, { group: "spawn" }, () => {
  spawnMany(new EventLoop());
});

Deno.bench(
  `spawn + run + end, traceSpawns ×${OPS}`,
  { group: "spawn" },
  () => {
    spawnMany(new EventLoop({ traceSpawns: true }));
  },
);

function spawnMany(loop: EventLoop): void {
  try {
    const body = () => {};
    for (let i = 0; i < OPS; i++) spawn(body);
    loop.runSync();
  } finally {
    loop.destroy();
  }
}
