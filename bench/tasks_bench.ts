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
import { blocking } from "../src/_operation.ts";

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

// The forgotten-yield* check (issue 12.1): the same generator method with
// and without the @blocking wrapper, run with yield* (no suspension).
class Operations {
  // deno-lint-ignore require-yield
  *plain(): Generator<unknown, number, unknown> {
    return 1;
  }

  // deno-lint-ignore require-yield
  @blocking("covered()")
  *covered(): Generator<unknown, number, unknown> {
    return 1;
  }
}

const OPERATIONS = 1_000_000;
const operations = new Operations();

function drive(body: Generator<unknown, number, unknown>): number {
  return body.next().value as number;
}

Deno.bench(
  `yield* of an unwrapped generator method ×${OPERATIONS}`,
  { group: "operation", baseline: true },
  () => {
    drive(function* () {
      let sum = 0;
      for (let i = 0; i < OPERATIONS; i++) sum += yield* operations.plain();
      return sum;
    }());
  },
);

Deno.bench(
  `yield* of a @blocking generator method ×${OPERATIONS}`,
  { group: "operation" },
  () => {
    drive(function* () {
      let sum = 0;
      for (let i = 0; i < OPERATIONS; i++) sum += yield* operations.covered();
      return sum;
    }());
  },
);
