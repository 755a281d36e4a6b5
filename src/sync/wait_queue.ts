/**
 * Internal: how a task parks on a primitive. A parked task is woken by an
 * entry in the loop's ready queue, and every wake-up or timeout is cancelled
 * (or becomes a no-op) once the task leaves, so no stale wake-up can reach it
 * later. A waiter that was woken but leaves with an error (killed, or an
 * outer timeout) passes its wake-up on, so a kill never swallows a release,
 * a notify or a queue item.
 *
 * @module
 */

import { Fiber } from "../fiber/fiber.ts";
import { EventLoop, type ParkedTask } from "../loop/event_loop.ts";
import type { Runnable } from "../loop/handler.ts";
import { checkOptionalTimeMs } from "../_util.ts";

// The hub resumes parked tasks itself, without Task.switch's check.
const fiberSwitch = Fiber.prototype.switch;

/**
 * One parked task, linked into its queue; it is also the ready-queue entry
 * that resumes the task, so a wake-up allocates nothing.
 */
class Waiter implements Runnable, ParkedTask {
  readonly loop: EventLoop;
  readonly fiber: Fiber;
  woken = false;
  expired = false;
  // True while the task is inside wait(): a wake-up that arrives later is
  // a no-op.
  parked = false;
  queue: WaitQueue | null = null;
  previous: Waiter | null = null;
  next: Waiter | null = null;
  // The loop's list of parked tasks (see ParkedTask).
  loopPrevious: ParkedTask | null = null;
  loopNext: ParkedTask | null = null;

  constructor(what: string) {
    this.loop = EventLoop.current();
    this.fiber = this.loop._blockingFiber(what);
  }

  wake(): void {
    if (this.woken) return;
    this.woken = true;
    this.loop._enqueue(this);
  }

  _fire(): unknown {
    return this.parked ? fiberSwitch.call(this.fiber) : undefined;
  }

  _unpark(): void {
    this.queue?._drop(this);
  }

  linkIntoLoop(): void {
    const loop = this.loop;
    const head = loop._parked;
    this.loopNext = head;
    if (head !== null) head.loopPrevious = this;
    loop._parked = this;
  }

  unlinkFromLoop(): void {
    const previous = this.loopPrevious;
    const next = this.loopNext;
    if (previous !== null) previous.loopNext = next;
    else if (this.loop._parked === this) this.loop._parked = next;
    if (next !== null) next.loopPrevious = previous;
    this.loopPrevious = null;
    this.loopNext = null;
  }
}

function expire(waiter: Waiter): unknown {
  waiter.expired = true;
  return waiter.parked ? fiberSwitch.call(waiter.fiber) : undefined;
}

/**
 * Validates an optional timeout argument: undefined (no limit) or a number
 * of ms from 0 to `Infinity` (no limit).
 *
 * @param what the call, for the message.
 * @throws {TypeError} unless `timeoutMs` is undefined or a number.
 * @throws {RangeError} if it is negative or `NaN`.
 *
 * @example
 * ```ts
 * import { checkTimeout } from "./wait_queue.ts";
 * checkTimeout(undefined);
 * checkTimeout(10);
 * ```
 */
export function checkTimeout(
  timeoutMs: number | undefined,
  what = "wait()",
): void {
  checkOptionalTimeMs(timeoutMs, what);
}

/**
 * A FIFO of parked tasks. `notify(n)` wakes the first `n` and removes them;
 * a woken task that leaves with an error calls `onLostWake` (by default:
 * wake the next one). The waiters form an intrusive doubly-linked list, so
 * adding, removing and waking allocate nothing.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { WaitQueue } from "./wait_queue.ts";
 *
 * using loop = new EventLoop();
 * const queue = new WaitQueue();
 * spawn(function* () {
 *   console.log(yield* queue.wait()); // true
 * });
 * spawn(() => queue.notify(1));
 * await loop.run();
 * ```
 */
export class WaitQueue {
  #head: Waiter | null = null;
  #tail: Waiter | null = null;
  #size = 0;
  #onLostWake: () => void;

  /** `onLostWake` hands on a wake-up that a failing waiter did not use. */
  constructor(onLostWake?: () => void) {
    this.#onLostWake = onLostWake ?? (() => this.notify(1));
  }

  /** Number of parked tasks not yet woken. */
  get size(): number {
    return this.#size;
  }

  /**
   * Parks the running task until notified (true) or `timeoutMs` passes
   * (false; undefined or `Infinity`: no limit); use with `yield*`.
   *
   * @throws {Error} if the running fiber may not block.
   */
  *wait(
    timeoutMs?: number,
    what = "wait()",
  ): Generator<unknown, boolean, unknown> {
    checkTimeout(timeoutMs, what);
    const waiter = new Waiter(what);
    const loop = waiter.loop;
    this.#append(waiter);
    waiter.linkIntoLoop();
    const timer = timeoutMs === undefined || timeoutMs === Infinity
      ? null
      : loop.callLater(timeoutMs, expire, waiter);
    waiter.parked = true;
    try {
      // Resumed by something else (a user callback), it parks again.
      while (!waiter.woken && !waiter.expired) yield* loop.switch();
      return waiter.woken;
    } catch (error) {
      if (waiter.woken) this.#onLostWake();
      throw error;
    } finally {
      waiter.parked = false;
      timer?.cancel();
      waiter.unlinkFromLoop();
      if (waiter.queue === this) this.#remove(waiter);
    }
  }

  /** Wakes up to `n` parked tasks in FIFO order; returns how many. */
  notify(n = 1): number {
    let woken = 0;
    while (woken < n && this.#head !== null) {
      const waiter = this.#head;
      this.#remove(waiter);
      waiter.wake();
      woken++;
    }
    return woken;
  }

  /** Wakes every parked task; returns how many. */
  notifyAll(): number {
    return this.notify(this.#size);
  }

  /** @internal Takes out a waiter whose loop was destroyed. */
  _drop(waiter: Waiter): void {
    if (waiter.queue === this) this.#remove(waiter);
  }

  #append(waiter: Waiter): void {
    waiter.queue = this;
    waiter.previous = this.#tail;
    waiter.next = null;
    if (this.#tail === null) this.#head = waiter;
    else this.#tail.next = waiter;
    this.#tail = waiter;
    this.#size++;
  }

  #remove(waiter: Waiter): void {
    if (waiter.previous === null) this.#head = waiter.next;
    else waiter.previous.next = waiter.next;
    if (waiter.next === null) this.#tail = waiter.previous;
    else waiter.next.previous = waiter.previous;
    waiter.queue = null;
    waiter.previous = null;
    waiter.next = null;
    this.#size--;
  }
}
