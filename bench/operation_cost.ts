/**
 * The cost of the forgotten-`yield*` check (issue 12.1, target: at most
 * 2 ns per operation): the same generator method with and without the
 * `@blocking` wrapper, each run with `yield*` in a loop, interleaved over
 * many rounds and compared at their best rounds (the minimum is what a
 * shared, noisy machine distorts least). Run:
 * `deno run --allow-all bench/operation_cost.ts`.
 *
 * @module
 */

import { blocking } from "../src/_operation.ts";

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

const OPERATIONS = 200_000;
const ROUNDS = 300;
const operations = new Operations();

function* runPlain(): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < OPERATIONS; i++) sum += yield* operations.plain();
  return sum;
}

function* runCovered(): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < OPERATIONS; i++) sum += yield* operations.covered();
  return sum;
}

function timeMs(body: Generator<unknown, number, unknown>): number {
  const start = performance.now();
  body.next();
  return performance.now() - start;
}

let plainMs = Infinity;
let coveredMs = Infinity;
for (let round = 0; round < ROUNDS; round++) {
  plainMs = Math.min(plainMs, timeMs(runPlain()));
  coveredMs = Math.min(coveredMs, timeMs(runCovered()));
}
const perOperation = (ms: number) => (ms * 1e6 / OPERATIONS).toFixed(2);
console.log(
  `yield* of a generator method: ${perOperation(plainMs)} ns plain, ${
    perOperation(coveredMs)
  } ns with @blocking: ${
    perOperation(coveredMs - plainMs)
  } ns per operation for the check`,
);
