/**
 * Timeout: raises an error in the task that armed it once a time has
 * passed, wherever that task is blocked (evergreen's Timeout). A loop timer
 * throws it into the task; once fired it is thrown again by every blocking
 * call of the task until its block is left (`using` disposal or
 * `cancel()`), so a generic `catch` cannot swallow it.
 *
 * @module
 */

import type { Fiber } from "../fiber/fiber.ts";
import { EventLoop } from "../loop/event_loop.ts";
import type { Handler } from "../loop/handler.ts";
import { describe } from "../_util.ts";
import { Task } from "../tasks/task.ts";

// The constructor Timeout's `super()` really calls (see setPrototypeOf at
// the end; its type and docs say Error): it keeps Error.prototype in the
// chain (`instanceof Error`, and Deno prints it as an error) without running
// the native Error constructor,
// which costs about 2 µs in Deno even with Error.stackTraceLimit at 0: most
// Timeouts never fire, and _fire() captures the stack of those that do.
// `name` lives on the prototype and `message` is computed, since own
// properties defined on such an object cost another ~600 ns.
const LazyStackError = function (): void {};
LazyStackError.prototype = Error.prototype;

/**
 * An error that `start()` arms to be thrown into the starting task after
 * `ms` milliseconds (a negative or omitted `ms` never fires). It throws
 * itself unless another `error` is given. Once fired, every blocking call
 * of the task inside the Timeout's block throws it again, until the block
 * is left: `using` disarms it at the end of the block. Inside
 * {@linkcode shield} a Timeout started outside waits until the shield's
 * body ends.
 *
 * Making one is cheap (no stack is captured until it fires), so a server
 * can guard every request with one.
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
  #fiber: Fiber | null = null;
  #fired = false;
  #message: string | undefined = undefined;
  #depth = 0;

  /**
   * Creates a disarmed timeout (no stack is captured until it fires).
   *
   * @throws {TypeError} if `ms` is given and is not a number.
   * @throws {RangeError} if `ms` is `NaN`.
   *
   * @example
   * ```ts
   * import { Timeout } from "./timeout.ts";
   * const timeout = new Timeout(50);
   * console.log(timeout.pending); // false: start() arms it
   * ```
   */
  constructor(ms?: number, error?: unknown) {
    if (ms !== undefined && (typeof ms !== "number" || Number.isNaN(ms))) {
      throw new (typeof ms === "number" ? RangeError : TypeError)(
        `Timeout needs a number of ms or undefined, got ${describe(ms)}`,
      );
    }
    super();
    this.ms = ms;
    this.error = error;
  }

  /**
   * A started Timeout: `new Timeout(ms, error).start()`, for `using`.
   *
   * @throws {TypeError} if `ms` is not a number.
   * @throws {Error} if called outside a task.
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
   *     using _timeout = Timeout.after(5);
   *     yield* sleep(10_000);
   *   } catch (error) {
   *     console.log(error instanceof Timeout); // true
   *   }
   * });
   * await loop.run();
   * ```
   */
  static after(ms: number, error?: unknown): Timeout {
    if (typeof ms !== "number") {
      throw new TypeError(
        `Timeout.after() needs a number of ms, got ${describe(ms)}`,
      );
    }
    return new Timeout(ms, error).start();
  }

  /** "timed out after `ms` ms", unless set. */
  override get message(): string {
    if (this.#message !== undefined) return this.#message;
    return this.ms === undefined
      ? "timeout (never fires)"
      : `timed out after ${this.ms} ms`;
  }

  override set message(message: string) {
    this.#message = message;
  }

  /** @internal The shield depth of the task when it was started. */
  get _depth(): number {
    return this.#depth;
  }

  /** True while armed and not yet fired. */
  get pending(): boolean {
    return this.#timer !== null;
  }

  /** True once it fired (until `cancel()` or the end of its block). */
  get fired(): boolean {
    return this.#fired;
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
    this.cancel();
    this.#fiber = fiber;
    this.#depth = fiber instanceof Task ? fiber._shieldDepth : 0;
    if (this.ms !== undefined && this.ms >= 0 && this.ms !== Infinity) {
      this.#timer = loop.callLater(this.ms, fire, this);
    }
    return this;
  }

  /** Disarms the timeout if armed, and ends its block if it fired. */
  cancel(): void {
    if (this.#timer !== null) {
      this.#timer.cancel();
      this.#timer = null;
    }
    if (this.#fired) {
      this.#fired = false;
      const fiber = this.#fiber;
      if (fiber instanceof Task) fiber._timeoutLeft(this);
    }
    this.#fiber = null;
  }

  /** Disarms the timeout (the end of a `using` block). */
  [Symbol.dispose](): void {
    this.cancel();
  }

  /** @internal What firing throws: `error`, or the Timeout itself. */
  _thrown(): unknown {
    return this.error === undefined ? this : this.error;
  }

  /** @internal Called by the loop timer. */
  _fire(): Generator<unknown, unknown, unknown> | undefined {
    this.#timer = null;
    const fiber = this.#fiber;
    if (fiber === null || !fiber.isAlive()) return undefined;
    if (this.error === undefined) Error.captureStackTrace(this);
    this.#fired = true;
    if (fiber instanceof Task && !fiber._timeoutFired(this)) return undefined;
    return fiber.throw(this._thrown());
  }
}

// `super()` calls whatever the class's own prototype is when it runs.
Object.setPrototypeOf(Timeout, LazyStackError);
Object.defineProperty(Timeout.prototype, "name", {
  value: "Timeout",
  writable: true,
  configurable: true,
});

function fire(
  timeout: Timeout,
): Generator<unknown, unknown, unknown> | undefined {
  return timeout._fire();
}
