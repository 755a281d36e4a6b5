/**
 * Tasks: fibers that look like threads. A task is a child of the loop's hub
 * (`loop.ts`); it is started, resumed and killed only through loop
 * callbacks, and blocks by switching back to the hub (`sleep`, the
 * primitives in `sync/`).
 *
 * @module
 */

import { current, Fiber, FiberError, type FiberTarget } from "./fiber.ts";
import { describe, EventLoop, type Runnable } from "./loop.ts";
import { WaitQueue } from "./sync/wait_queue.ts";
import { checkTimeMs } from "./_util.ts";

/**
 * Ends a task quietly: `kill()` throws it into the task by default, and a
 * task that ends with it is not reported to the loop's exception handler.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn, TaskExit } from "./tasks.ts";
 *
 * using loop = new EventLoop();
 * const log: string[] = [];
 * const sleeper = spawn(function* () {
 *   try {
 *     yield* sleep(10_000);
 *   } catch (error) {
 *     log.push(error instanceof TaskExit ? "exit" : "other");
 *     throw error;
 *   }
 * });
 * spawn(() => sleeper.kill());
 * await loop.run();
 * console.log(log); // ["exit"]
 * ```
 */
export class TaskExit extends Error {
  /** Creates the error; the message is optional. */
  constructor(message = "task killed") {
    super(message);
    this.name = "TaskExit";
  }
}

// Marks "no kill pending" (any value, even undefined, may be thrown).
const NO_KILL: unique symbol = Symbol("no kill");
const NO_ARGS: unknown[] = [];
// Resumes a task from the hub without Task.switch's check (the loop may).
const fiberSwitch = Fiber.prototype.switch;
// %GeneratorPrototype%: a prototype check recognises real generators cheaply
// even when each comes from a fresh generator function (whose objects have
// different shapes, so duck-typing them is a slow megamorphic lookup).
const GeneratorPrototype = Object.getPrototypeOf(function* () {}.prototype);
const isPrototypeOf = Object.prototype.isPrototypeOf;

let taskCounter = 0;

/**
 * A thread-like fiber scheduled by the event loop. Its body is the `target`
 * given to the constructor, or an overriding `run()` method. `start()`
 * schedules it with `callSoon`; it then runs until it blocks (`yield*` on a
 * sleep, a primitive or I/O), ends, or is killed.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, Task } from "./tasks.ts";
 *
 * class Ticker extends Task<number> {
 *   ticks = 0;
 *   override *run() {
 *     for (let i = 0; i < 3; i++) {
 *       yield* sleep(1);
 *       this.ticks++;
 *     }
 *     return this.ticks;
 *   }
 * }
 *
 * using loop = new EventLoop();
 * const ticker = new Ticker();
 * ticker.start();
 * await loop.run();
 * console.log(ticker.ticks, ticker.name); // 3 "Task-1" (numbers grow)
 * ```
 */
export class Task<R = unknown> extends Fiber<R> implements Runnable {
  #loop: EventLoop;
  #target: FiberTarget<unknown[], R> | undefined;
  #args: unknown[];
  #started = false;
  #running = false;
  #ended = false;
  #pendingKill: unknown = NO_KILL;
  // Made by the first join() that has to wait: most tasks are never joined.
  #joiners: WaitQueue | null = null;

  /**
   * Creates a task of the current loop (it does not run until `start()`).
   *
   * @param target the body; a generator function can block with `yield*`.
   * @param options `args` for the target and a `name` (default `Task-N`).
   * @throws {TypeError} if `target` is given and is not a function.
   */
  constructor(
    // deno-lint-ignore no-explicit-any
    target?: FiberTarget<any[], R>,
    options?: { args?: unknown[]; name?: string },
  ) {
    if (target !== undefined && typeof target !== "function") {
      throw new TypeError(
        `Task target must be a function, got ${describe(target)}`,
      );
    }
    if (options?.args !== undefined && !Array.isArray(options.args)) {
      throw new TypeError(
        `Task args must be an array, got ${describe(options.args)}`,
      );
    }
    const loop = EventLoop.current();
    super(Task.#body as FiberTarget<unknown[], R>, {
      parent: loop.task,
      name: options?.name ?? `Task-${++taskCounter}`,
    });
    this.#loop = loop;
    this.#target = target;
    this.#args = options?.args ?? NO_ARGS;
  }

  // The fiber's target. It runs at the task's first switch, when the running
  // fiber is the task itself.
  static #body(): Generator<unknown, unknown, unknown> {
    return (current() as Task).#main();
  }

  /**
   * The task's body; by default calls the constructor's `target` with its
   * `args`. Override it in subclasses (a generator method can block).
   */
  run(): Generator<unknown, R, unknown> | R {
    const target = this.#target;
    if (target === undefined) return undefined as R;
    return target(...this.#args);
  }

  /**
   * Schedules the task to run (with `callSoon`).
   *
   * @throws {Error} if the task was already started.
   */
  start(): void {
    if (this.#started) {
      throw new Error(`${this.name} was already started: tasks start once`);
    }
    this.#started = true;
    // The task is its own ready-queue entry (see _fire).
    this.#loop._enqueue(this);
  }

  /** @internal Starts the task when the loop runs its ready queue. */
  _fire(): unknown {
    // Unless something else already switched into it.
    return this.#running || this.#ended ? undefined : fiberSwitch.call(this);
  }

  /**
   * Waits until the task ends; use with `yield*`. Returns true if it ended,
   * false if `timeoutMs` passed first.
   *
   * @throws {Error} if the task was not started, or joins itself.
   */
  join(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    if (!this.#started) {
      throw new Error(`cannot join ${this.name} before it is started`);
    }
    if (current() === this) {
      throw new Error(`${this.name} cannot join itself`);
    }
    return this.#join(timeoutMs);
  }

  *#join(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    if (this.#ended) return true;
    this.#joiners ??= new WaitQueue(() => {});
    return yield* this.#joiners.wait(timeoutMs, "Task.join()");
  }

  /**
   * Raises `error` (default: a new {@linkcode TaskExit}) in the task wherever
   * it is blocked, from a loop callback. A task that has not run yet never
   * runs its body; a task that has ended is left alone.
   */
  kill(error?: unknown): void {
    if (this.#ended || !this.isAlive()) return;
    const raised = error === undefined ? new TaskExit() : error;
    if (!this.#running) {
      this.#pendingKill = raised;
      return;
    }
    this.#loop.callSoon(throwInto, this, raised);
  }

  /**
   * Like {@linkcode Fiber.switch}, but only the loop (or plain fibers) may
   * resume a task.
   *
   * @throws {FiberError} if called from another task.
   */
  override switch(value?: unknown): Generator<unknown, unknown, unknown> {
    this.#checkResumer("switch to");
    return super.switch(value);
  }

  /**
   * Like {@linkcode Fiber.throw}, but only the loop (or plain fibers) may
   * resume a task.
   *
   * @throws {FiberError} if called from another task.
   */
  override throw(error: unknown): Generator<unknown, unknown, unknown> {
    this.#checkResumer("throw into");
    return super.throw(error);
  }

  #checkResumer(verb: string): void {
    const fiber = current();
    if (fiber !== this && fiber instanceof Task) {
      throw new FiberError(
        `${fiber.name} cannot ${verb} task ${this.name}: tasks are resumed by the loop only`,
      );
    }
  }

  // The whole body runs inside this frame, so the task's end is handled
  // here whoever resumes it and whatever its parent is.
  *#main(): Generator<unknown, R, unknown> {
    this.#running = true;
    try {
      if (this.#pendingKill !== NO_KILL) throw this.#pendingKill;
      const out = this.run();
      return isGenerator<R>(out) ? yield* out : out;
    } catch (error) {
      if (!(error instanceof TaskExit)) this.#loop._reportError(error);
      return undefined as R;
    } finally {
      this.#running = false;
      this.#ended = true;
      this.#target = undefined;
      this.#args = NO_ARGS;
      this.#joiners?.notifyAll();
    }
  }
}

const ENDED: IteratorReturnResult<undefined> = Object.freeze({
  done: true,
  value: undefined,
});

function throwInto(
  task: Task,
  error: unknown,
): Generator<unknown, unknown, unknown> | undefined {
  return task.isAlive() ? task.throw(error) : undefined;
}

function resumeFiber(fiber: Fiber): Generator<unknown, unknown, unknown> {
  return fiber.switch();
}

/**
 * Creates a task running `fn(...args)` and starts it.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { spawn } from "./tasks.ts";
 *
 * using loop = new EventLoop();
 * const seen: number[] = [];
 * for (let i = 0; i < 3; i++) spawn((x: number) => seen.push(x), i);
 * await loop.run();
 * console.log(seen); // [0, 1, 2]
 * ```
 */
export function spawn<A extends unknown[], R>(
  fn: FiberTarget<A, R>,
  ...args: A
): Task<R> {
  const task = new Task<R>(fn as FiberTarget<unknown[], R>, { args });
  task.start();
  return task;
}

/**
 * Turns `fn` into a function that spawns a task running it (evergreen's
 * `@task` decorator).
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { task } from "./tasks.ts";
 *
 * using loop = new EventLoop();
 * const greet = task((name: string) => console.log(`hello ${name}`));
 * greet("world");
 * await loop.run(); // prints "hello world"
 * ```
 */
export function task<A extends unknown[], R>(
  fn: FiberTarget<A, R>,
): (...args: A) => Task<R> {
  if (typeof fn !== "function") {
    throw new TypeError(`task() needs a function, got ${describe(fn)}`);
  }
  return (...args: A) => spawn(fn, ...args);
}

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
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn } from "./tasks.ts";
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
  const loop = EventLoop.current();
  if (ms === 0) {
    return new YieldOperation(loop) as unknown as Generator<
      unknown,
      void,
      unknown
    >;
  }
  return sleepFor(loop, ms);
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

/**
 * `sleep(0)`: one object that is both the ready-queue entry that resumes the
 * task and the iterator `yield*` drives, so the hottest operation allocates
 * nothing else and adds no generator frame.
 */
class YieldOperation implements Runnable {
  #loop: EventLoop;
  #fiber: Fiber | null = null;
  #cancelled = false;

  constructor(loop: EventLoop) {
    this.#loop = loop;
  }

  _fire(): unknown {
    // The hub resumes the task itself: no need for Task.switch's check.
    return this.#cancelled ? undefined : fiberSwitch.call(this.#fiber!);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<unknown, undefined> {
    if (this.#fiber !== null) {
      // Resumed, by our own entry or by anything else (then ours is stale).
      this.#cancelled = true;
      return ENDED;
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

function isGenerator<R>(value: unknown): value is Generator<unknown, R> {
  if (typeof value !== "object" || value === null) return false;
  if (isPrototypeOf.call(GeneratorPrototype, value)) return true;
  return typeof (value as Generator).next === "function" &&
    typeof (value as Generator).throw === "function" &&
    typeof (value as Generator)[Symbol.iterator] === "function";
}
