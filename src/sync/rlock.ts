/**
 * The re-entrant lock (`RLock`): the fiber that holds it may acquire it
 * again. Built on a {@linkcode Lock} (`locks.ts`); `condition.ts` waits on
 * it through {@linkcode rlockInternals}.
 *
 * @module
 */

import { current, type Fiber } from "../fiber/fiber.ts";
import { blocking as operation } from "../_operation.ts";
import { type Guard, guardOf, Lock } from "./locks.ts";

/** @internal An RLock's owner and depth, saved while a Condition waits. */
export interface RLockState {
  /** The fiber that held the lock. */
  owner: Fiber;
  /** How many times it held it. */
  count: number;
}

/** @internal What `condition.ts` does to an RLock, set by the class. */
export interface RLockInternals {
  /** True if the running fiber holds `lock`. */
  owned: (lock: RLock) => boolean;
  /** Releases every level of `lock` and returns them. */
  releaseAll: (lock: RLock) => RLockState;
  /** Acquires `lock` again with the levels `releaseAll` returned. */
  restore: (
    lock: RLock,
    state: RLockState,
  ) => Generator<unknown, boolean, unknown>;
}

/** @internal Set by {@linkcode RLock}'s static block. */
export const rlockInternals = {} as RLockInternals;

/**
 * A re-entrant lock: the fiber that holds it may acquire it again, and must
 * release it as many times. Releasing it from another fiber throws.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { RLock } from "./rlock.ts";
 *
 * using loop = new EventLoop();
 * const lock = new RLock();
 * spawn(function* () {
 *   yield* lock.acquire();
 *   console.log(yield* lock.acquire()); // true: same task
 *   lock.release();
 *   lock.release();
 * });
 * await loop.run();
 * ```
 */
export class RLock {
  #block = new Lock();
  #owner: Fiber | null = null;
  #count = 0;

  static {
    rlockInternals.owned = (lock) => lock.#owner === current();
    rlockInternals.releaseAll = (lock) => {
      const state = { owner: lock.#owner!, count: lock.#count };
      lock.#owner = null;
      lock.#count = 0;
      lock.#block.release();
      return state;
    };
    rlockInternals.restore = function* (lock, state) {
      const acquired = yield* lock.#block.acquire();
      lock.#owner = state.owner;
      lock.#count = state.count;
      return acquired;
    };
  }

  /**
   * Acquires the lock, or adds one level if this fiber holds it; use with
   * `yield*`. Arguments as {@linkcode Semaphore.acquire}.
   *
   * @throws {Error} if it would block outside a task.
   */
  @operation("RLock.acquire()")
  *acquire(
    blocking = true,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown> {
    const me = current();
    if (this.#owner === me) {
      this.#count++;
      return true;
    }
    const acquired = yield* this.#block.acquire(blocking, timeoutMs);
    if (acquired) {
      this.#owner = me;
      this.#count = 1;
    }
    return acquired;
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
   * import { RLock } from "./rlock.ts";
   *
   * using loop = new EventLoop();
   * const shared = new RLock();
   * spawn(function* () {
   *   using _held = yield* shared.guard(100);
   *   using _again = yield* shared.guard(); // re-entrant
   * });
   * await loop.run();
   * ```
   */
  @operation("guard()")
  guard(timeoutMs?: number): Generator<unknown, Guard, unknown> {
    return guardOf(this, timeoutMs);
  }

  /**
   * Removes one level; the last one frees the lock.
   *
   * @throws {Error} if the running fiber does not hold the lock.
   */
  release(): void {
    if (this.#owner !== current()) {
      throw new Error(
        `cannot release an RLock not held by ${current().name}${
          this.#owner === null ? " (it is not held at all)" : ""
        }`,
      );
    }
    if (--this.#count === 0) {
      this.#owner = null;
      this.#block.release();
    }
  }
}
