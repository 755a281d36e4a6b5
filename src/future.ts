/**
 * The Future (evergreen's `futures.Future`): the result of work that ends
 * later, which tasks block on with `yield* future.get()`, and the errors
 * `get()` throws. `futures.ts` builds `wait`, `asCompleted` and the
 * executor on it and re-exports it.
 *
 * @module
 */

import { EventLoop } from "./loop/event_loop.ts";
import { describe } from "./_util.ts";
import { checkTimeout, WaitQueue } from "./sync/wait_queue.ts";
import { blocking } from "./_operation.ts";
import { NamedError } from "./named_error.ts";

/**
 * Thrown by {@linkcode Future.get} on a cancelled future.
 *
 * @example
 * ```ts
 * import { CancelledError } from "./future.ts";
 * console.log(new CancelledError().name); // "CancelledError"
 * ```
 */
export class CancelledError extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "the future was cancelled";
}

/**
 * Thrown when a wait on futures passes its timeout.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "./future.ts";
 * console.log(new TimeoutError().name); // "TimeoutError"
 * ```
 */
export class TimeoutError extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "the operation timed out";
}

const PENDING = 0;
const RUNNING = 1;
const CANCELLED = 2;
const FINISHED = 3;

/**
 * @internal What `futures.ts` (`wait`, `asCompleted`, `TaskPoolExecutor`)
 * does to a Future beyond its public API, set by the class itself.
 */
export interface FutureInternals {
  /** Marks a pending future running; false if it was cancelled. */
  runningOrCancelled: (future: Future<unknown>) => boolean;
  /** Tells `watcher` synchronously when `future` completes. */
  watch: (
    future: Future<unknown>,
    watcher: (future: Future<unknown>) => void,
  ) => void;
  /** Undoes {@linkcode FutureInternals.watch}. */
  unwatch: (
    future: Future<unknown>,
    watcher: (future: Future<unknown>) => void,
  ) => void;
  /** True if the future completed with an error. */
  failed: (future: Future<unknown>) => boolean;
}

/** @internal Set by {@linkcode Future}'s static block. */
export const futureInternals = {} as FutureInternals;

/**
 * The result of work that ends later: a value, an error, or cancellation.
 * Tasks block on it with `yield* future.get()`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { spawn } from "./tasks.ts";
 * import { Future } from "./future.ts";
 *
 * using loop = new EventLoop();
 * const answer = new Future<number>();
 * spawn(function* () {
 *   console.log(yield* answer.get()); // 42
 * });
 * loop.callLater(5, () => answer.setResult(42));
 * await loop.run();
 * ```
 */
export class Future<T> {
  #state = PENDING;
  // Stored without T so that a Future<never> is usable as any Future<T>.
  #result: unknown = undefined;
  #error: unknown = undefined;
  #failed = false;
  #callbacks: ((future: never) => void)[] = [];
  // wait()/asCompleted() watchers, told synchronously on completion.
  #watchers = new Set<(future: never) => void>();
  #done = new WaitQueue(() => {});

  static {
    futureInternals.runningOrCancelled = (future) => {
      if (future.#state === CANCELLED) return false;
      if (future.#state !== PENDING) {
        throw new Error("future is already running or done");
      }
      future.#state = RUNNING;
      return true;
    };
    futureInternals.watch = (future, watcher) => future.#watchers.add(watcher);
    futureInternals.unwatch = (future, watcher) =>
      future.#watchers.delete(watcher);
    futureInternals.failed = (future) => future.#failed;
  }

  /**
   * Cancels a future that has not started running; returns false if it is
   * running or finished, true if it is (now) cancelled.
   */
  cancel(): boolean {
    if (this.#state === RUNNING || this.#state === FINISHED) return false;
    if (this.#state === CANCELLED) return true;
    this.#state = CANCELLED;
    this.#complete();
    return true;
  }

  /** True if the future was cancelled. */
  cancelled(): boolean {
    return this.#state === CANCELLED;
  }

  /** True if the future was cancelled or has a result or an error. */
  done(): boolean {
    return this.#state === CANCELLED || this.#state === FINISHED;
  }

  /**
   * Blocks until the future is done and returns its result; use with
   * `yield*`.
   *
   * @throws the future's error if it failed.
   * @throws {CancelledError} if it was cancelled.
   * @throws {TimeoutError} if `timeoutMs` passed first.
   */
  @blocking("Future.get()")
  *get(timeoutMs?: number): Generator<unknown, T, unknown> {
    if (!this.done()) yield* this.#done.wait(timeoutMs, "Future.get()");
    else checkTimeout(timeoutMs, "Future.get()");
    if (this.#state === CANCELLED) throw new CancelledError();
    if (this.#state !== FINISHED) {
      throw new TimeoutError(`future not done after ${timeoutMs} ms`);
    }
    if (this.#failed) throw this.#error;
    return this.#result as T;
  }

  /**
   * Calls `callback(future)` once the future is done (at once if it is).
   * Errors it throws go to the loop's exception handler.
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  addDoneCallback(callback: (future: Future<T>) => void): void {
    if (typeof callback !== "function") {
      throw new TypeError(
        `addDoneCallback() needs a function, got ${describe(callback)}`,
      );
    }
    if (this.done()) {
      runCallback(callback, this as Future<unknown>);
    } else {
      this.#callbacks.push(callback);
    }
  }

  /**
   * Completes the future with `value`.
   *
   * @throws {Error} if it is already done.
   */
  setResult(value: T): void {
    this.#checkSettable("setResult");
    this.#result = value;
    this.#state = FINISHED;
    this.#complete();
  }

  /**
   * Completes the future with `error`, which `get()` then throws.
   *
   * @throws {Error} if it is already done.
   */
  setException(error: unknown): void {
    this.#checkSettable("setException");
    this.#error = error;
    this.#failed = true;
    this.#state = FINISHED;
    this.#complete();
  }

  #checkSettable(what: string): void {
    if (this.done()) {
      throw new Error(
        `${what}() on a future that is already ${
          this.#state === CANCELLED ? "cancelled" : "done"
        }`,
      );
    }
  }

  #complete(): void {
    this.#done.notifyAll();
    for (const watcher of [...this.#watchers]) watcher(this as never);
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const callback of callbacks) runCallback(callback, this);
  }
}

function runCallback(
  callback: (future: never) => void,
  future: Future<unknown>,
): void {
  try {
    callback(future as never);
  } catch (error) {
    const loop = EventLoop._peek();
    if (loop === null) console.error(error);
    else loop._reportError(error);
  }
}
