/**
 * Locks for tasks: Semaphore, BoundedSemaphore and Lock, and the Guard
 * that `guard()` returns (`rlock.ts` has RLock, `condition.ts` Condition).
 * A release hands its unit straight to the first waiter (FIFO, no
 * barging); a waiter that is killed or times out before using it gives it
 * back, so no release is ever lost. Parking goes through `wait_queue.ts`.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { TimeoutError } from "../future.ts";
import { checkTimeout, WaitQueue } from "./wait_queue.ts";
import { blocking as operation } from "../_operation.ts";

/**
 * A held lock (or semaphore unit) that `using` releases at the end of the
 * block, also when the block throws: what `guard()` returns on
 * {@linkcode Lock}, {@linkcode RLock}, {@linkcode Semaphore},
 * {@linkcode BoundedSemaphore} and {@linkcode Condition}. Releasing it
 * twice does nothing.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { Lock } from "./locks.ts";
 *
 * using loop = new EventLoop();
 * const lock = new Lock();
 * spawn(function* () {
 *   {
 *     using _held = yield* lock.guard();
 *     console.log(lock.locked()); // true
 *   }
 *   console.log(lock.locked()); // false
 * });
 * await loop.run();
 * ```
 */
export class Guard implements Disposable {
  #owner: { release(): void } | null;

  /** @internal Made by `guard()` once `owner` is acquired. */
  constructor(owner: { release(): void }) {
    this.#owner = owner;
  }

  /** True once released. */
  get released(): boolean {
    return this.#owner === null;
  }

  /** Releases what was acquired (once). */
  [Symbol.dispose](): void {
    const owner = this.#owner;
    if (owner === null) return;
    this.#owner = null;
    owner.release();
  }
}

/**
 * @internal The `guard()` of every lock: checks `timeoutMs` at once, then
 * acquires `owner` within it and returns its Guard.
 *
 * @throws {TypeError} if `timeoutMs` is neither undefined nor a number.
 * @throws {RangeError} if it is negative or `NaN`.
 * @throws {TimeoutError} if not acquired in time.
 */
export function guardOf(
  owner: Acquirable,
  timeoutMs: number | undefined,
): Generator<unknown, Guard, unknown> {
  const what = `${owner.constructor.name}.guard()`;
  checkTimeout(timeoutMs, what);
  return acquireGuard(owner, timeoutMs, what);
}

/** What a Guard can be made for. */
interface Acquirable {
  acquire(
    blocking?: boolean,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown>;
  release(): void;
}

function* acquireGuard(
  owner: Acquirable,
  timeoutMs: number | undefined,
  what: string,
): Generator<unknown, Guard, unknown> {
  if (!(yield* owner.acquire(true, timeoutMs))) {
    throw new TimeoutError(`${what} not acquired within ${timeoutMs} ms`);
  }
  return new Guard(owner);
}

let setBound: (semaphore: Semaphore, bound: number, kind: string) => void;
let freeUnits: (semaphore: Semaphore) => number;

/**
 * A counter of available units. `acquire()` takes one, blocking while there
 * is none; `release()` gives one back (to the longest waiting task first).
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, spawn } from "../tasks.ts";
 * import { Semaphore } from "./locks.ts";
 *
 * using loop = new EventLoop();
 * const slots = new Semaphore(2);
 * let inside = 0;
 * let most = 0;
 * for (let i = 0; i < 5; i++) {
 *   spawn(function* () {
 *     yield* slots.acquire();
 *     try {
 *       most = Math.max(most, ++inside);
 *       yield* sleep(1);
 *     } finally {
 *       inside--;
 *       slots.release();
 *     }
 *   });
 * }
 * await loop.run();
 * console.log(most); // 2
 * ```
 */
export class Semaphore {
  #value: number;
  // Units handed to woken waiters that have not resumed yet.
  #inFlight = 0;
  #bound = Infinity;
  #kind = "Semaphore";
  #waiters: WaitQueue;

  static {
    setBound = (semaphore, bound, kind) => {
      semaphore.#bound = bound;
      semaphore.#kind = kind;
    };
    freeUnits = (semaphore) => semaphore.#value;
  }

  /**
   * Creates a semaphore with `value` units (default 1).
   *
   * @throws {RangeError} if `value` is negative.
   * @throws {TypeError} if `value` is not an integer.
   */
  constructor(value = 1) {
    if (!Number.isInteger(value)) {
      throw new TypeError(
        `Semaphore value must be an integer, got ${describe(value)}`,
      );
    }
    if (value < 0) {
      throw new RangeError(
        `Semaphore value must be zero or more, got ${value}`,
      );
    }
    this.#value = value;
    this.#waiters = new WaitQueue(() => {
      this.#inFlight--;
      this.#giveUnit();
    });
  }

  /**
   * Takes a unit; use with `yield*`. Without `blocking` it returns false at
   * once when none is free; otherwise it waits, up to `timeoutMs` if given
   * (`Infinity`: no limit), and returns false on timeout.
   *
   * @throws {Error} if it would block outside a task.
   */
  @operation("acquire()")
  *acquire(
    blocking = true,
    timeoutMs?: number,
  ): Generator<unknown, boolean, unknown> {
    checkTimeout(timeoutMs, `${this.#kind}.acquire()`);
    if (this.#value > 0) {
      this.#value--;
      return true;
    }
    if (!blocking) return false;
    const handedOver = yield* this.#waiters.wait(
      timeoutMs,
      `${this.#kind}.acquire()`,
    );
    if (handedOver) this.#inFlight--;
    return handedOver;
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
   * import { Semaphore } from "./locks.ts";
   *
   * using loop = new EventLoop();
   * const shared = new Semaphore();
   * spawn(function* () {
   *   using _held = yield* shared.guard(100);
   *   // one unit is held until the block ends
   * });
   * await loop.run();
   * ```
   */
  @operation("guard()")
  guard(timeoutMs?: number): Generator<unknown, Guard, unknown> {
    return guardOf(this, timeoutMs);
  }

  /**
   * Gives a unit back, to the longest waiting task if there is one.
   *
   * @throws {Error} for a BoundedSemaphore released more often than
   *   acquired, or an unlocked Lock.
   */
  release(): void {
    if (this.#value + this.#inFlight >= this.#bound) {
      throw new Error(
        this.#kind === "Lock"
          ? "release() of a Lock that is not locked"
          : `${this.#kind} released too many times (bound ${this.#bound})`,
      );
    }
    this.#giveUnit();
  }

  #giveUnit(): void {
    if (this.#waiters.notify(1) === 1) {
      this.#inFlight++;
    } else {
      this.#value++;
    }
  }
}

/**
 * A semaphore that refuses to be released above its initial value.
 *
 * @example
 * ```ts
 * import { BoundedSemaphore } from "./locks.ts";
 * const pool = new BoundedSemaphore(1);
 * try {
 *   pool.release();
 * } catch (error) {
 *   console.log((error as Error).message); // released too many times
 * }
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  /**
   * Creates a semaphore bounded by its initial `value` (default 1).
   *
   * @throws {RangeError} if `value` is negative.
   */
  constructor(value = 1) {
    super(value);
    setBound(this, value, "BoundedSemaphore");
  }
}

/**
 * A mutual-exclusion lock: a semaphore of one unit. Releasing an unlocked
 * lock throws.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, spawn } from "../tasks.ts";
 * import { Lock } from "./locks.ts";
 *
 * using loop = new EventLoop();
 * const lock = new Lock();
 * const log: string[] = [];
 * for (const name of ["a", "b"]) {
 *   spawn(function* () {
 *     yield* lock.acquire();
 *     try {
 *       log.push(`${name} in`);
 *       yield* sleep(1);
 *       log.push(`${name} out`);
 *     } finally {
 *       lock.release();
 *     }
 *   });
 * }
 * await loop.run();
 * console.log(log); // ["a in", "a out", "b in", "b out"]
 * ```
 */
export class Lock extends Semaphore {
  /** Creates an unlocked lock. */
  constructor() {
    super(1);
    setBound(this, 1, "Lock");
  }

  /** True while some task holds the lock. */
  locked(): boolean {
    return freeUnits(this) === 0;
  }
}
