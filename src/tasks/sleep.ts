/**
 * `sleep()`: blocks the running task for a time, or with `sleep(0)` lets
 * every other ready task run first. A timer resumes a task that sleeps for
 * a time; a task that sleeps for zero is its own entry in the loop's ready
 * queue (`task.ts`), so that `sleep(0)` allocates nothing.
 *
 * @module
 */

import { current, Fiber } from "../fiber/fiber.ts";
import { switchYield } from "../fiber/switch.ts";
import { EventLoop } from "../loop/event_loop.ts";
import type { Runnable } from "../loop/handler.ts";
import { checkTimeMs } from "../_util.ts";
import { hookGenerator, opMade, opStarted } from "../_operation.ts";
import { Task, taskHooks } from "./task.ts";

// The hub resumes the fiber itself: no need for Task.switch's check.
const fiberSwitch = Fiber.prototype.switch;
// A module-local name: reading an imported binding goes through its cell
// on every use (see `protocol` in `fiber/switch.ts`).
const hooks = taskHooks;

const DONE: IteratorReturnResult<undefined> = Object.freeze({
  done: true,
  value: undefined,
});

/**
 * Blocks the running task for `ms` milliseconds; use with `yield*`.
 * `yield* sleep(0)` (the default) lets every other ready task run first.
 *
 * `Infinity` sleeps for ever; any finite time up to `Number.MAX_SAFE_INTEGER`
 * works.
 *
 * @throws {TypeError} if `ms` is not a number.
 * @throws {RangeError} if `ms` is negative or `NaN`.
 * @throws {Error} if called outside a task (in the main fiber or the hub).
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, spawn } from "../tasks.ts";
 *
 * using loop = new EventLoop();
 * const order: string[] = [];
 * spawn(function* () {
 *   order.push("a1");
 *   yield* sleep(0);
 *   order.push("a2");
 * });
 * spawn(() => order.push("b"));
 * await loop.run();
 * console.log(order); // ["a1", "b", "a2"]
 * ```
 */
export function sleep(ms = 0): Generator<unknown, void, unknown> {
  checkTimeMs(ms, "sleep()", "ms");
  // The hottest operation marks itself by hand (see _operation.ts).
  opMade("sleep()");
  if (ms === 0) {
    // In a task: one shared object, the task being its own ready entry, so
    // a sleep(0) allocates nothing.
    return (current() instanceof Task
      ? YIELD_IN_TASK
      : new YieldOperation(EventLoop.current())) as unknown as Generator<
        unknown,
        void,
        unknown
      >;
  }
  return sleepFor(EventLoop.current(), ms);
}

function* sleepFor(
  loop: EventLoop,
  ms: number,
): Generator<unknown, void, unknown> {
  const fiber = loop._blockingFiber("sleep()");
  const timer = loop.callLater(ms, resumeFiber, fiber);
  try {
    yield* loop.switch();
  } finally {
    timer.cancel();
  }
}
hookGenerator(sleepFor);

function resumeFiber(fiber: Fiber): Generator<unknown, unknown, unknown> {
  return fiber.switch();
}

/**
 * `sleep(0)` in a task: the iterator `yield*` drives, shared by every task
 * (only the running task calls it); the task keeps the state and is its own
 * ready-queue entry (`taskHooks.yieldNext`, `Task._fire`).
 */
class YieldInTask {
  [Symbol.iterator](): this {
    opStarted();
    return this;
  }

  next(): IteratorResult<unknown, undefined> {
    return hooks.yieldNext(current() as Task) ? DONE : switchYield();
  }

  throw(error: unknown): IteratorResult<unknown, undefined> {
    (current() as Task)._yieldLeft();
    throw error;
  }

  return(value?: unknown): IteratorResult<unknown, undefined> {
    (current() as Task)._yieldLeft();
    return { done: true, value: value as undefined };
  }
}

// Iterator helpers and `Symbol.dispose`, as the generators of other
// operations have.
Object.setPrototypeOf(YieldInTask.prototype, Iterator.prototype);

const YIELD_IN_TASK = new YieldInTask();

/**
 * `sleep(0)` in a plain fiber the loop runs: one object that is both the
 * ready-queue entry that resumes the fiber and the iterator `yield*` drives.
 */
class YieldOperation implements Runnable {
  #loop: EventLoop;
  #fiber: Fiber | null = null;
  #cancelled = false;

  constructor(loop: EventLoop) {
    this.#loop = loop;
  }

  _fire(): unknown {
    // The hub resumes the fiber itself: no need for Task.switch's check.
    return this.#cancelled ? undefined : fiberSwitch.call(this.#fiber!);
  }

  [Symbol.iterator](): this {
    opStarted();
    return this;
  }

  next(): IteratorResult<unknown, undefined> {
    if (this.#fiber !== null) {
      // Resumed, by our own entry or by anything else (then ours is stale).
      this.#cancelled = true;
      return DONE;
    }
    const loop = this.#loop;
    // switch() checks that the running fiber may block on the loop.
    const operation = loop.switch() as unknown as Iterator<unknown>;
    this.#fiber = current();
    loop._enqueue(this);
    (operation as unknown as Iterable<unknown>)[Symbol.iterator]();
    return operation.next();
  }

  throw(error: unknown): IteratorResult<unknown, undefined> {
    this.#cancelled = true;
    throw error;
  }

  return(value?: unknown): IteratorResult<unknown, undefined> {
    this.#cancelled = true;
    return { done: true, value: value as undefined };
  }
}

Object.setPrototypeOf(YieldOperation.prototype, Iterator.prototype);
