/**
 * Timeout: raises an error in the task that armed it once a time has
 * passed, wherever that task is blocked (evergreen's Timeout). A loop timer
 * throws it into the task; leaving a `using` block disarms it.
 *
 * @module
 */

import type { Fiber } from "../fiber.ts";
import { describe, EventLoop, type Handler } from "../loop.ts";

/**
 * An error that `start()` arms to be thrown into the starting task after
 * `ms` milliseconds (a negative or omitted `ms` never fires). It throws
 * itself unless another `error` is given. `using` disarms it at the end of
 * the block.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, spawn } from "../tasks.ts";
 * import { Timeout } from "./timeout.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   try {
 *     using _timeout = new Timeout(10).start();
 *     yield* sleep(10_000);
 *   } catch (error) {
 *     console.log(error instanceof Timeout); // true
 *   }
 * });
 * await loop.run();
 * ```
 */
export class Timeout extends Error implements Disposable {
  /** The delay in ms, as given (undefined: never fires). */
  readonly ms: number | undefined;
  /** What is thrown when it fires (undefined: the Timeout itself). */
  readonly error: unknown;
  #timer: Handler | null = null;

  /**
   * Creates a disarmed timeout.
   *
   * @throws {TypeError} if `ms` is given and is not a number.
   * @throws {RangeError} if `ms` is `NaN`.
   */
  constructor(ms?: number, error?: unknown) {
    if (ms !== undefined && (typeof ms !== "number" || Number.isNaN(ms))) {
      throw new (typeof ms === "number" ? RangeError : TypeError)(
        `Timeout needs a number of ms or undefined, got ${describe(ms)}`,
      );
    }
    super(
      ms === undefined ? "timeout (never fires)" : `timed out after ${ms} ms`,
    );
    this.name = "Timeout";
    this.ms = ms;
    this.error = error;
  }

  /** True while armed and not yet fired. */
  get pending(): boolean {
    return this.#timer !== null;
  }

  /**
   * Arms the timeout for the running task and returns it (for `using`).
   *
   * @throws {Error} if already armed, or if called outside a task.
   */
  start(): this {
    if (this.#timer !== null) {
      throw new Error("Timeout was already started: cancel() it first");
    }
    const loop = EventLoop.current();
    const fiber = loop._blockingFiber("Timeout.start()");
    if (this.ms !== undefined && this.ms >= 0 && this.ms !== Infinity) {
      this.#timer = loop.callLater(this.ms, fire, this, fiber);
    }
    return this;
  }

  /** Disarms the timeout if armed. */
  cancel(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }

  /** Disarms the timeout (the end of a `using` block). */
  [Symbol.dispose](): void {
    this.cancel();
  }

  /** @internal Called by the loop timer. */
  _fire(fiber: Fiber): Generator<unknown, unknown, unknown> | undefined {
    this.#timer = null;
    if (!fiber.isAlive()) return undefined;
    return fiber.throw(this.error === undefined ? this : this.error);
  }
}

function fire(
  timeout: Timeout,
  fiber: Fiber,
): Generator<unknown, unknown, unknown> | undefined {
  return timeout._fire(fiber);
}
