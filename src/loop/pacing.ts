/**
 * How the loop paces itself against Deno's own event loop: how often Deno
 * gets a turn while work keeps arriving, and when an idle `run()` spins,
 * waits in the kernel, or parks off the JS thread. `driver.ts` applies
 * these rules.
 *
 * @module
 */

import { setImmediate } from "node:timers";

// While work keeps arriving, Deno's own event loop gets a full turn at least
// this often (timers, fetch, servers elsewhere in the process); 1 ms keeps
// its cost (~15-35 µs when Deno has nothing to do) near 3% of a busy loop.
// A full turn is setImmediate, a zero-timeout native park, setImmediate
// again, measured against the alternatives (bench/RESULTS.md): with
// setImmediate alone Deno polls its I/O only every ~60 turns (a fetch took
// 150 ms against a busy hub), with the park alone its timers lag, and the
// three together serve one fetch and one 1 ms interval tick per turn.
export const TURN_BUDGET_MS = 1;
// A turn lets Deno poll its I/O (the zero-timeout native park, which costs a
// thread hand-off: ~100 µs on a VM whose other CPU sleeps) only when Deno's
// runtime has I/O events waiting (zig/loop/host_io.zig: one poll(2) of its
// epoll set) or at least this often, for what no descriptor announces
// (timers inside Deno's runtime). A busy in-process ping-pong of 32 B under
// run(): 1.28x -> 1.42x Deno, while Deno.serve beside it answers as many
// fetches (bench/RESULTS.md).
export const HOST_POLL_MAX_MS = 10;
// Without armed timers the clock (~95 ns per read) is read only every this
// many loop iterations, to check the turn budget.
export const CLOCK_EVERY_ITERATIONS = 16;
// After the last batch of work, run() keeps polling without blocking (giving
// Deno a cheap setImmediate turn each time, so promise callbacks and timers
// run) for this long before it parks in a native wait. A park and its
// wake-up cost 20-40 µs of thread hand-offs, so spinning a few times that
// long first keeps ping-pong latency low and idle CPU near zero.
export const SPIN_WINDOW_MS = 0.1;
// The spin only pays while work does come back within it. A window spun
// through in vain makes the next this many idle periods park at once
// (doubling per vain window up to the bound, reset by a window that caught
// work), and a process that may use one CPU never spins: there the spin
// would only keep the peer that sends the next request from running.
export const SPIN_SKIPS_MAX = 64;

/**
 * @internal When run() spins before parking (zig/loop/loop.zig applies the
 * same rule to its native spin): never with one CPU, and after a spin that
 * caught nothing, not for the next 1, 2, 4 ... SPIN_SKIPS_MAX chances,
 * until a spin catches work again.
 *
 * @example
 * ```ts
 * import { SpinPolicy } from "./pacing.ts";
 * const policy = new SpinPolicy(2);
 * console.log(policy.pays()); // true
 * policy.vain();
 * console.log(policy.pays(), policy.pays()); // false true
 * ```
 */
export class SpinPolicy {
  readonly #enabled: boolean;
  #skips = 0;
  #backoff = 0;

  /** A policy for a process that may use `cpus` CPUs. */
  constructor(cpus: number) {
    this.#enabled = cpus > 1;
  }

  /** Whether this chance to spin is taken (a skipped one counts down). */
  pays(): boolean {
    if (!this.#enabled) return false;
    if (this.#skips === 0) return true;
    this.#skips--;
    return false;
  }

  /** A spin caught work: spin at every chance again. */
  caught(): void {
    this.#backoff = 0;
  }

  /** A spin caught nothing: skip the next chances, twice as many as last. */
  vain(): void {
    this.#backoff = Math.min(Math.max(this.#backoff * 2, 1), SPIN_SKIPS_MAX);
    this.#skips = this.#backoff;
  }
}
// While work keeps arriving less than this far apart (and no task waits on a
// JS promise, which only Deno's turns settle), run() waits for the next batch
// in a blocking native poll instead of spinning and parking: a request from
// another process then costs one kernel wake-up, not a thread hand-off
// (cross-process ping-pong 0.43x -> 0.8x Deno, bench/RESULTS.md). Deno still
// gets its turn every TURN_BUDGET_MS; the wait sleeps in the kernel, and after
// a longer gap the loop parks as before, so an idle loop costs no CPU.
export const HOLD_WINDOW_MS = 5;

/** @internal A full turn of Deno's event loop's macrotask queue. */
export const setImmediateTurn = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));
