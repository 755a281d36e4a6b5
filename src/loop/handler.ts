/**
 * What the loop runs: a {@linkcode Handler} wraps one scheduled callback
 * (`callSoon`, timers, fd watchers, signals), a {@linkcode Runnable} is any
 * entry of the hub's ready queue. Timers (`timers.ts`) and signal handlers
 * (`signals.ts`) extend `Handler`.
 *
 * @module
 */

import { describe } from "../_util.ts";

/**
 * A loop callback: called with the arguments given when it was scheduled;
 * it may return a generator (or a fiber switch) that the hub runs with
 * `yield*`.
 */
// deno-lint-ignore no-explicit-any
export type Callback = (...args: any[]) => unknown;

/**
 * @internal An entry of the hub's ready queue: `_fire()` runs it and may
 * return an iterator (such as a fiber switch) that the hub drives with
 * `yield*`.
 */
export interface Runnable {
  /** Runs the entry unless it was cancelled. */
  _fire(): unknown;
}

/**
 * A scheduled callback, returned by {@linkcode EventLoop.callSoon},
 * {@linkcode EventLoop.callLater}, {@linkcode EventLoop.callAt} and
 * {@linkcode EventLoop.addSignalHandler}. Cancelling it before it runs means
 * it never runs.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 * using loop = new EventLoop();
 * const handler = loop.callSoon(() => console.log("never printed"));
 * handler.cancel();
 * loop.runSync();
 * console.log(handler.cancelled); // true
 * ```
 */
export class Handler implements Runnable {
  #callback: Callback;
  #args: unknown[];
  #cancelled = false;

  /**
   * Wraps `callback(...args)`; handlers are made by the loop, not by users.
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  constructor(callback: Callback, args: unknown[]) {
    if (typeof callback !== "function") {
      throw new TypeError(
        `callback must be a function, got ${describe(callback)}`,
      );
    }
    this.#callback = callback;
    this.#args = args;
  }

  /** Prevents the callback from running if it has not run yet. */
  cancel(): void {
    this.#cancelled = true;
  }

  /** True once {@linkcode Handler.cancel} was called. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * @internal Runs the callback unless cancelled and returns its result (a
   * generator or iterator is then driven by the hub with `yield*`).
   */
  _fire(): unknown {
    if (this.#cancelled) return undefined;
    const args = this.#args;
    return args.length === 0 ? this.#callback() : this.#callback(...args);
  }
}
