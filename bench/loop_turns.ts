/**
 * How `run()` should give Deno's event loop a turn between batches: for each
 * way of yielding, its cost when Deno has nothing to do, and what Deno gets
 * done while the JS thread is busy 1 ms between turns (fetches answered by a
 * local `Deno.serve`, ticks of a 1 ms `setInterval`). `loop.ts` picks its
 * full turn (setImmediate, zero-timeout native park, setImmediate) from this.
 *
 * ```sh
 * deno run -A bench/loop_turns.ts
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { NativeLoop } from "../src/native/native_loop.ts";

const BUSY_MS = 1;
const WINDOW_MS = 500;
const ROUNDS = 3;

const native = new NativeLoop();
const channel = new MessageChannel();
let onMessage: (() => void) | null = null;
channel.port1.onmessage = () => onMessage?.();

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const strategies: Record<string, () => Promise<void>> = {
  "resolved promise (microtask only)": () => Promise.resolve(),
  "MessageChannel": () =>
    new Promise<void>((resolve) => {
      onMessage = resolve;
      channel.port2.postMessage(null);
    }),
  "setTimeout(0)": () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
  "setImmediate": immediate,
  "native park(0)": () => native.park(0),
  "setImmediate + park(0) + setImmediate": async () => {
    await immediate();
    await native.park(0);
    await immediate();
  },
};

const controller = new AbortController();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
  () => new Response("ok"),
);

/** Cost of one turn when Deno has nothing else to do, µs. */
async function idleCost(turn: () => Promise<void>): Promise<number> {
  const count = 2000;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await turn();
  return (performance.now() - t0) * 1000 / count;
}

/** What Deno gets done in WINDOW_MS with BUSY_MS of JS work per turn. */
async function busyProgress(
  turn: () => Promise<void>,
): Promise<{ turns: number; fetches: number; ticks: number }> {
  let stop = false;
  let fetches = 0;
  let ticks = 0;
  const interval = setInterval(() => ticks++, 1);
  const client = (async () => {
    while (!stop) {
      const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
      await response.text();
      fetches++;
    }
  })();
  let turns = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < WINDOW_MS) {
    const busy = performance.now();
    while (performance.now() - busy < BUSY_MS) { /* a batch of work */ }
    await turn();
    turns++;
  }
  stop = true;
  await client;
  clearInterval(interval);
  return { turns, fetches, ticks };
}

const median = (values: number[]) =>
  values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

console.log(
  `turn strategy; idle cost; in ${WINDOW_MS} ms with ${BUSY_MS} ms busy per turn: turns, fetches, 1 ms interval ticks (medians of ${ROUNDS})`,
);
for (const [name, turn] of Object.entries(strategies)) {
  const costs: number[] = [];
  const runs: { turns: number; fetches: number; ticks: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    costs.push(await idleCost(turn));
    runs.push(await busyProgress(turn));
  }
  console.log(
    [
      name.padEnd(40),
      `${median(costs).toFixed(1)} µs`.padStart(10),
      `${median(runs.map((r) => r.turns))}`.padStart(6),
      `${median(runs.map((r) => r.fetches))}`.padStart(6),
      `${median(runs.map((r) => r.ticks))}`.padStart(6),
    ].join("  "),
  );
}
controller.abort();
await server.finished;
channel.port1.close();
native.close();
