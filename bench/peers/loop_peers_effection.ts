/**
 * Effection 4 peer of `bench/loop_compare.ts`: spawn + run + finish of 100k
 * tasks inside one scope, timed like the others (best and median of ROUNDS
 * rounds, ns per task; fewer rounds, as each takes seconds), printed as JSON
 * lines.
 *
 * ```sh
 * deno run --no-lock bench/peers/loop_peers_effection.ts [quick]
 * ```
 *
 * @module
 */

// The peer is pinned here, not a dependency of the library.
import { type Operation, run, spawn, type Task } from "effection";

const QUICK = Deno.args[0] === "quick";
// Effection takes ~100 µs per task, so 100k tasks take ~10 s a round.
const ROUNDS = QUICK ? 1 : 3;
const PEER = "effection 4.1.1";
const COUNT = 100_000;

// One body for every task, as in the other shapes.
function* emptyBody(): Operation<void> {}

const samples: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const t0 = performance.now();
  await run(function* () {
    const tasks: Task<void>[] = [];
    for (let i = 0; i < COUNT; i++) {
      tasks.push(yield* spawn(emptyBody));
    }
    for (const task of tasks) yield* task;
  });
  samples.push((performance.now() - t0) * 1e6 / COUNT);
}
samples.sort((a, b) => a - b);
console.log(JSON.stringify({
  peer: PEER,
  key: "spawn_100k",
  ns: samples[Math.floor(samples.length / 2)],
  best_ns: samples[0],
}));
