/**
 * The loop's timers: a binary min-heap of {@linkcode Timer} handlers ordered
 * by due time (then by scheduling order). Cancelled timers stay in the heap
 * until they reach the top, or until they outnumber live ones and the heap
 * is rebuilt. `event_loop.ts` schedules them; `driver.ts` fires them.
 *
 * @module
 */

import { type Callback, Handler } from "./handler.ts";
import type { ReadyQueue } from "./ready_queue.ts";

// Cancelled timers stay in the heap until they reach the top; the heap is
// rebuilt when they outnumber live ones by this much.
const HEAP_GARBAGE_SLACK = 64;

const TIMER_ARMED = 0;
const TIMER_FIRED = 1;
const TIMER_CANCELLED = 2;
// A timer for Infinity: it never fires, so it neither waits in the heap nor
// keeps run() alive (as a task blocked on what nobody can signal does not).
const TIMER_NEVER = 3;

/** A handler waiting in the timer heap. */
class Timer extends Handler {
  readonly when: number;
  readonly sequence: number;
  state = TIMER_ARMED;
  readonly #queue: TimerQueue;

  constructor(
    queue: TimerQueue,
    when: number,
    sequence: number,
    callback: Callback,
    args: unknown[],
  ) {
    super(callback, args);
    this.#queue = queue;
    this.when = when;
    this.sequence = sequence;
  }

  override cancel(): void {
    super.cancel();
    if (this.state === TIMER_ARMED) {
      this.state = TIMER_CANCELLED;
      this.#queue.cancelled();
    } else {
      this.state = TIMER_CANCELLED;
    }
  }
}

/**
 * @internal The timers of one loop.
 *
 * @example
 * ```ts
 * import { ReadyQueue } from "./ready_queue.ts";
 * import { TimerQueue } from "./timers.ts";
 * const timers = new TimerQueue();
 * const ready = new ReadyQueue();
 * timers.arm(timers.create(10, () => {}, []));
 * const early = timers.create(5, () => {}, []);
 * timers.arm(early);
 * early.cancel();
 * timers.fireDue(20, ready);
 * console.log(ready.length, timers.live); // 1 0
 * ```
 */
export class TimerQueue {
  #heap: Timer[] = [];
  #sequence = 0;
  /** Armed timers (cancelled ones still in the heap do not count). */
  live = 0;

  /**
   * A timer for loop time `when`, not armed yet.
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  create(when: number, callback: Callback, args: unknown[]): Handler {
    return new Timer(this, when, this.#sequence++, callback, args);
  }

  /** Arms a timer made by {@linkcode TimerQueue.create}. */
  arm(timer: Handler): void {
    if ((timer as Timer).when === Infinity) {
      (timer as Timer).state = TIMER_NEVER;
      return;
    }
    heapPush(this.#heap, timer as Timer);
    this.live++;
  }

  /** Moves every timer due at `now` to `ready`, in due order. */
  fireDue(now: number, ready: ReadyQueue): void {
    const timers = this.#heap;
    while (timers.length > 0) {
      const top = timers[0];
      if (top.state === TIMER_ARMED && top.when > now) return;
      heapPop(timers);
      if (top.state === TIMER_ARMED) {
        top.state = TIMER_FIRED;
        this.live--;
        ready.push(top);
      }
    }
  }

  /** Ms until the next timer is due (0 if one is), -1 without timers. */
  waitTimeoutMs(): number {
    if (this.live === 0) return -1;
    const timers = this.#heap;
    while (timers.length > 0 && timers[0].state !== TIMER_ARMED) {
      heapPop(timers);
    }
    const delayMs = timers[0].when - performance.now();
    return delayMs <= 0 ? 0 : Math.ceil(delayMs);
  }

  /** Called by a timer when it is cancelled while armed. */
  cancelled(): void {
    this.live--;
    if (this.live === 0) {
      this.#heap.length = 0;
    } else if (this.#heap.length > 2 * this.live + HEAP_GARBAGE_SLACK) {
      const live = this.#heap.filter((timer) => timer.state === TIMER_ARMED);
      live.sort(compareTimers);
      this.#heap = live;
    }
  }

  /** Forgets every timer (the loop was destroyed). */
  clear(): void {
    this.#heap = [];
    this.live = 0;
  }
}

function compareTimers(a: Timer, b: Timer): number {
  return a.when - b.when || a.sequence - b.sequence;
}

function heapPush(heap: Timer[], timer: Timer): void {
  let index = heap.length;
  heap.push(timer);
  while (index > 0) {
    const parent = (index - 1) >> 1;
    if (compareTimers(heap[parent], timer) <= 0) break;
    heap[index] = heap[parent];
    index = parent;
  }
  heap[index] = timer;
}

function heapPop(heap: Timer[]): void {
  const last = heap.pop()!;
  const size = heap.length;
  if (size === 0) return;
  let index = 0;
  for (;;) {
    const left = 2 * index + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && compareTimers(heap[right], heap[left]) < 0
      ? right
      : left;
    if (compareTimers(heap[child], last) >= 0) break;
    heap[index] = heap[child];
    index = child;
  }
  heap[index] = last;
}
