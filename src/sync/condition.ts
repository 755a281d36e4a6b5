/**
 * The condition variable (`Condition`) over a {@linkcode Lock} (`locks.ts`)
 * or an {@linkcode RLock} (`rlock.ts`): waiting releases the lock and takes
 * it back before returning, whatever interrupts the wait.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { shield } from "../tasks/shield.ts";
import { checkTimeout, WaitQueue } from "./wait_queue.ts";
import { blocking as operation } from "../_operation.ts";
import { type Guard, guardOf, Lock } from "./locks.ts";
import { RLock, rlockInternals, type RLockState } from "./rlock.ts";

const {
  owned: rlockOwned,
  releaseAll: rlockReleaseAll,
  restore: rlockRestore,
} = rlockInternals;

/**
 * A condition variable over a {@linkcode Lock} or {@linkcode RLock}
 * (default: a new RLock). `wait()` releases the lock, blocks until
 * notified, and re-acquires it before returning, even when the task is
 * killed meanwhile. A notified waiter that is killed before it resumes
 * passes the notification on.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { Condition } from "./condition.ts";
 *
 * using loop = new EventLoop();
 * const cond = new Condition();
 * const items: number[] = [];
 * spawn(function* () {
 *   yield* cond.acquire();
 *   try {
 *     yield* cond.waitFor(() => items.length > 0);
 *     console.log(items.shift()); // 42
 *   } finally {
 *     cond.release();
 *   }
 * });
 * spawn(function* () {
 *   yield* cond.acquire();
 *   items.push(42);
 *   cond.notify();
 *   cond.release();
 * });
 * await loop.run();
 * ```
 */
export class Condition {
  #lock: Lock | RLock;
  #waiters = new WaitQueue();

  /**
   * Creates a condition over `lock` (default: a new RLock).
   *
   * @throws {TypeError} if `lock` is neither a Lock nor an RLock.
   */
  constructor(lock?: Lock | RLock) {
    if (
      lock !== undefined && !(lock instanceof Lock) &&
      !(lock instanceof RLock)
    ) {
      throw new TypeError(
        `Condition needs a Lock or an RLock, got ${describe(lock)}`,
      );
    }
    this.#lock = lock ?? new RLock();
  }

  /** Acquires the underlying lock; use with `yield*`. */
  acquire(
    blocking = true,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown> {
    return this.#lock.acquire(blocking, timeoutMs);
  }

  /**
   * Acquires, and returns a {@linkcode Guard} that releases at the end of a
   * `using` block; use with `yield*`. Waits up to `timeoutMs` if given
   * (undefined or `Infinity`: no limit).
   *
   * @throws {TimeoutError} if not acquired within `timeoutMs`.
   *
   * @example
   * ```ts
   * import { EventLoop } from "../loop.ts";
   * import { spawn } from "../tasks.ts";
   * import { Condition } from "./condition.ts";
   *
   * using loop = new EventLoop();
   * const shared = new Condition();
   * spawn(function* () {
   *   using _held = yield* shared.guard(100);
   *   shared.notifyAll(); // the lock is held here
   * });
   * await loop.run();
   * ```
   */
  @operation("guard()")
  guard(timeoutMs?: number): Generator<unknown, Guard, unknown> {
    return guardOf(this, timeoutMs);
  }

  /** Releases the underlying lock. */
  release(): void {
    this.#lock.release();
  }

  /**
   * Releases the lock, blocks until notified or `timeoutMs` passes, then
   * re-acquires the lock; use with `yield*`. Returns false on timeout.
   *
   * @throws {Error} if the lock is not held.
   */
  @operation("Condition.wait()")
  wait(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    this.#checkOwned("wait");
    checkTimeout(timeoutMs, "Condition.wait()");
    return this.#wait(timeoutMs);
  }

  /**
   * Waits until `predicate()` is true, re-checking after each notification,
   * for at most `timeoutMs` overall; returns the last value of the
   * predicate. Use with `yield*`.
   *
   * @throws {Error} if the lock is not held.
   */
  @operation("Condition.waitFor()")
  waitFor(
    predicate: () => boolean,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown> {
    this.#checkOwned("waitFor");
    checkTimeout(timeoutMs, "Condition.waitFor()");
    if (typeof predicate !== "function") {
      throw new TypeError(
        `waitFor() needs a predicate function, got ${describe(predicate)}`,
      );
    }
    return this.#waitFor(predicate, timeoutMs);
  }

  /**
   * Wakes up to `n` waiting tasks (default 1).
   *
   * @throws {Error} if the lock is not held.
   */
  notify(n = 1): void {
    this.#checkOwned("notify");
    this.#waiters.notify(n);
  }

  /**
   * Wakes every waiting task.
   *
   * @throws {Error} if the lock is not held.
   */
  notifyAll(): void {
    this.#checkOwned("notifyAll");
    this.#waiters.notifyAll();
  }

  *#wait(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    const lock = this.#lock;
    const saved = lock instanceof RLock ? rlockReleaseAll(lock) : null;
    if (saved === null) lock.release();
    try {
      return yield* this.#waiters.wait(timeoutMs, "Condition.wait()");
    } finally {
      // Shielded: a kill or a fired Timeout, sticky, would otherwise make
      // every acquire throw again; it takes effect once the lock is held.
      yield* shield(() => this.#reacquire(saved));
    }
  }

  /**
   * Takes the lock back whatever is thrown into the task meanwhile, then
   * rethrows the last such error: after wait() the lock is always held. The
   * loop repeats only once per error thrown into the task.
   */
  *#reacquire(saved: RLockState | null): Generator<unknown, void, unknown> {
    let interrupted = false;
    let interruption: unknown;
    for (;;) {
      try {
        if (saved === null) {
          yield* (this.#lock as Lock).acquire();
        } else {
          yield* rlockRestore(this.#lock as RLock, saved);
        }
        break;
      } catch (error) {
        interrupted = true;
        interruption = error;
      }
    }
    if (interrupted) throw interruption;
  }

  *#waitFor(
    predicate: () => boolean,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown> {
    const loop = EventLoop.current();
    const deadline = timeoutMs === undefined
      ? Infinity
      : loop.time() + timeoutMs;
    let result = predicate();
    while (!result) {
      let remaining: number | undefined = undefined;
      if (deadline !== Infinity) {
        remaining = deadline - loop.time();
        if (remaining <= 0) break;
      }
      yield* this.#wait(remaining);
      result = predicate();
    }
    return result;
  }

  #checkOwned(what: string): void {
    const lock = this.#lock;
    const owned = lock instanceof RLock ? rlockOwned(lock) : lock.locked();
    if (!owned) {
      throw new Error(`cannot ${what}() on an un-acquired Condition`);
    }
  }
}
