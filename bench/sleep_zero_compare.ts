/**
 * `yield* sleep(0)` (the loop's task switch: task → hub → next task) side by
 * side with plain async/await in one process, rounds interleaved so that a
 * noisy machine hits every shape alike; prints the minimum over the rounds
 * (ns per switch) and ours/async ratios (> 1: ours is faster). Issue 11.4:
 * `sleep(0)` no slower than async/await.
 *
 * ```sh
 * deno run -A bench/sleep_zero_compare.ts [rounds] [tasks] [switches per round]
 * ```
 *
 * @module
 */

import {
  awaitMicrotask,
  awaitResolved,
  type Mode,
  sleepZero,
} from "./loop_shapes.ts";

const ROUNDS = Number(Deno.args[0] ?? 15);
const TASKS = Number(Deno.args[1] ?? 10);
const OPS = Number(Deno.args[2] ?? 500_000);
const perTask = OPS / TASKS;

const shapes: [string, () => Promise<number>][] = [
  ["sleep(0) runSync", () => sleepZero(TASKS, perTask, "runSync" as Mode)],
  ["sleep(0) run", () => sleepZero(TASKS, perTask, "run" as Mode)],
  ["await resolved", () => awaitResolved(TASKS, perTask)],
  ["await queueMicrotask", () => awaitMicrotask(TASKS, perTask)],
];
const best = new Map<string, number>();
for (let r = -1; r < ROUNDS; r++) {
  for (const [name, measure] of shapes) {
    const ns = await measure();
    // Round -1 warms every shape up.
    if (r >= 0) best.set(name, Math.min(best.get(name) ?? Infinity, ns));
  }
}
const ns = (name: string) => best.get(name)!;
for (const [name] of shapes) {
  console.log(`${name.padEnd(22)} ${ns(name).toFixed(1)} ns`);
}
for (const ours of ["sleep(0) runSync", "sleep(0) run"]) {
  for (const peer of ["await resolved", "await queueMicrotask"]) {
    console.log(
      `${ours} vs ${peer}: ${(ns(peer) / ns(ours)).toFixed(2)}x`,
    );
  }
}
console.log(JSON.stringify({
  tasks: TASKS,
  rounds: ROUNDS,
  ns: Object.fromEntries(best),
}));
