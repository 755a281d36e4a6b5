/**
 * Locks for tasks: Semaphore, BoundedSemaphore, Lock, RLock and Condition.
 * A release hands its unit straight to the first waiter (FIFO, no
 * barging); a waiter that is killed or times out before using it gives it
 * back, so no release is ever lost. Parking goes through `wait_queue.ts`.
 *
 * @module
 */

import { current, type Fiber } from "../fiber.ts";
import { describe } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { shield } from "../tasks.ts";
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

function* guardOf(
  owner: {
    acquire(
      blocking?: boolean,
      timeoutMs?: number,
    ): Generator<unknown, boolean, unknown>;
    release(): void;
  },
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
   * (undefined or negative: no limit).
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
    checkTimeout(timeoutMs);
    return guardOf(this, timeoutMs, `${this.constructor.name}.guard()`);
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

let rlockOwned: (lock: RLock) => boolean;
let rlockReleaseAll: (lock: RLock) => RLockState;
let rlockRestore: (
  lock: RLock,
  state: RLockState,
) => Generator<unknown, boolean, unknown>;

interface RLockState {
  owner: Fiber;
  count: number;
}

/**
 * A re-entrant lock: the fiber that holds it may acquire it again, and must
 * release it as many times. Releasing it from another fiber throws.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { RLock } from "./locks.ts";
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
    rlockOwned = (lock) => lock.#owner === current();
    rlockReleaseAll = (lock) => {
      const state = { owner: lock.#owner!, count: lock.#count };
      lock.#owner = null;
      lock.#count = 0;
      lock.#block.release();
      return state;
    };
    rlockRestore = function* (lock, state) {
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
   * (undefined or negative: no limit).
   *
   * @throws {TimeoutError} if not acquired within `timeoutMs`.
   *
   * @example
   * ```ts
   * import { EventLoop } from "../loop.ts";
   * import { spawn } from "../tasks.ts";
   * import { RLock } from "./locks.ts";
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
    checkTimeout(timeoutMs);
    return guardOf(this, timeoutMs, `${this.constructor.name}.guard()`);
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
 * import { Condition } from "./locks.ts";
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
   * (undefined or negative: no limit).
   *
   * @throws {TimeoutError} if not acquired within `timeoutMs`.
   *
   * @example
   * ```ts
   * import { EventLoop } from "../loop.ts";
   * import { spawn } from "../tasks.ts";
   * import { Condition } from "./locks.ts";
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
    checkTimeout(timeoutMs);
    return guardOf(this, timeoutMs, `${this.constructor.name}.guard()`);
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
