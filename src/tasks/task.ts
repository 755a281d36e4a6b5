/**
 * Task: a fiber that looks like a thread. A task is a child of the loop's hub
 * (`loop/`); it is started, resumed and killed only through loop callbacks,
 * and blocks by switching back to the hub (`sleep.ts`, the primitives in
 * `sync/`). Its rarely used state (kills, Timeouts, shields, joins,
 * `await task`, observers, spawn sites) is made on first need, so that a
 * plain suspended task stays small.
 *
 * @module
 */

import {
  current,
  Fiber,
  FiberError,
  type FiberTarget,
} from "../fiber/fiber.ts";
import { EventLoop } from "../loop/event_loop.ts";
import type { Runnable } from "../loop/handler.ts";
import { checkTimeout, WaitQueue } from "../sync/wait_queue.ts";
import type { Timeout } from "../sync/timeout.ts";
import { checkTarget } from "../_util.ts";
import { blocking, stickyCancel, takeForgotten } from "../_operation.ts";
import { TaskExit } from "./task_exit.ts";
import { annotateError, type SpawnSite } from "./spawn_site.ts";
import { awaitedBy, awaitedDone } from "./awaited.ts";

// Marks "no kill pending" (any value, even undefined, may be thrown).
const NO_KILL: unique symbol = Symbol("no kill");
const NO_ARGS: unknown[] = [];
// Resumes a task from the hub without Task.switch's check (the loop may).
const fiberSwitch = Fiber.prototype.switch;

// A task's state bits (one small integer instead of a field each).
const STARTED = 1;
const RUNNING = 2;
const ENDED = 4;
const FAILED = 8;
const KILL_DELIVERY = 16;
// The task's start entry is in the ready queue (it is always ahead of any
// sleep(0) entry of the same task).
const START_QUEUED = 32;
// Suspended in sleep(0), waiting for its entry to fire.
const YIELD_ARMED = 64;
// Above the bits: how many sleep(0) entries of the task are in the ready
// queue (stale ones included: the task was resumed by something else).
const YIELD_QUEUED_ONE = 128;

let taskCounter = 0;
/**
 * @internal How `sleep(0)` in a task (`sleep.ts`) reaches the task's state,
 * set by Task's static block. `yieldNext(task)` is the `next()` of that
 * sleep: the first call blocks (it queues the task behind every ready
 * entry and makes the request to switch to the hub) and returns false, the
 * second is the resume and returns true. A constant object's field rather
 * than a module `let`, whose every use pays a check that it is initialised.
 *
 * @example
 * ```ts ignore
 * return taskHooks.yieldNext(task) ? DONE : switchYield();
 * ```
 */
export const taskHooks: { yieldNext: (task: Task) => boolean } = {
  yieldNext: null as unknown as (task: Task) => boolean,
};

/**
 * What few tasks use, made on first need so that a plain suspended task
 * stays small: kills, Timeouts, shields, joins, `await task`, observers and
 * spawn sites.
 */
class TaskExtra {
  // The kill, once asked for: sticky, every later blocking call throws it
  // again (outside shields) until the task ends.
  killError: unknown = NO_KILL;
  // Fired Timeouts whose block is still open (sticky, see _beforeBlock).
  firedTimeouts: Timeout[] | null = null;
  // How many shield() bodies the task is inside.
  shieldDepth = 0;
  // This task's share of _operation.ts's count of sticky tasks.
  stickyShare = 0;
  joiners: WaitQueue | null = null;
  // Made by the first then(); typed without R so that a Task<R> is usable
  // as a Task<unknown>.
  settled: Promise<unknown> | null = null;
  resolve: ((value: unknown) => void) | null = null;
  reject: ((error: unknown) => void) | null = null;
  // Told synchronously when the task ends (TaskGroup); an observed task's
  // error is delivered to its observers, not reported.
  observers: ((task: Task) => void)[] | null = null;
  // Where and by whom the task was spawned (only with traceSpawns): the
  // stack is captured raw and formatted only if an error is reported.
  spawnSite: SpawnSite | null = null;
}

/**
 * A thread-like fiber scheduled by the event loop. Its body is the `target`
 * given to the constructor, or an overriding `run()` method. `start()`
 * schedules it with `callSoon`; it then runs until it blocks (`yield*` on a
 * sleep, a primitive or I/O), ends, or is killed.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, Task } from "../tasks.ts";
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
export class Task<R = unknown> extends Fiber<R>
  implements Runnable, PromiseLike<R> {
  #loop: EventLoop;
  // The target until the task starts, then nothing, then how the task
  // ended: its result, or its error if FAILED (one field for the two).
  #value: unknown;
  #args: unknown[];
  #flags = 0;
  #extra: TaskExtra | null = null;

  /**
   * Creates a task of the current loop (it does not run until `start()`).
   *
   * @param target the body; a generator function can block with `yield*`.
   * @param options `args` for the target and a `name` (default `Task-N`).
   * @throws {TypeError} if `target` is given and is not a function.
   * @throws {Error} if the current loop has ended (run() returned).
   */
  constructor(
    // deno-lint-ignore no-explicit-any
    target?: FiberTarget<any[], R>,
    options?: { args?: unknown[]; name?: string },
  ) {
    checkTarget("Task", target, options?.args);
    const loop = EventLoop.current();
    if (!loop.task.isAlive()) {
      // Said plainly rather than as the hub's FiberError ("parent Hub has
      // already ended"): spawning after `await loop.run()` is easy to do.
      throw new Error(
        "cannot create a task: this thread's loop has ended (run() returned) and cannot run it; destroy() the loop and create a new EventLoop to run more tasks",
      );
    }
    super(Task.#body as FiberTarget<unknown[], R>, {
      parent: loop.task,
      // A number: named Task-N only if the name is read (_defaultName).
      name: options?.name ?? (++taskCounter as unknown as string),
    });
    this.#loop = loop;
    this.#value = target;
    const args = options?.args;
    this.#args = args === undefined || args.length === 0 ? NO_ARGS : args;
    if (loop._traceSpawns) {
      const fiber = current();
      const spawner = fiber instanceof Task ? fiber : null;
      const site: SpawnSite = {
        spawner,
        spawnerSite: spawner === null
          ? null
          : spawner.#extra?.spawnSite ?? null,
      };
      Error.captureStackTrace(site, Task);
      this.#extra = new TaskExtra();
      this.#extra.spawnSite = site;
    }
  }

  // The fiber's target: runs at the task's first switch, as the task. The
  // generator run() returns is the fiber's body itself (no wrapper frame):
  // the task's end is handled in _ended, whoever resumes it.
  static #body(): unknown {
    const task = current() as Task;
    task.#flags |= RUNNING;
    const extra = task.#extra;
    if (extra !== null && extra.killError !== NO_KILL) throw extra.killError;
    const out = task.run();
    task.#value = undefined;
    task.#args = NO_ARGS;
    return out;
  }

  /**
   * The task's body; by default calls the constructor's `target` with its
   * `args`. Override it in subclasses (a generator method can block).
   */
  run(): Generator<unknown, R, unknown> | R {
    const target = this.#value as FiberTarget<unknown[], R> | undefined;
    if ((this.#flags & ENDED) !== 0 || typeof target !== "function") {
      return undefined as R;
    }
    return target(...this.#args);
  }

  /**
   * Schedules the task to run (with `callSoon`).
   *
   * @throws {Error} if the task was already started, or its loop destroyed.
   */
  start(): void {
    if ((this.#flags & STARTED) !== 0) {
      throw new Error(`${this.name} was already started: tasks start once`);
    }
    if (this.#loop._destroyed) {
      throw new Error(`start(): the loop of ${this.name} was destroyed`);
    }
    // The task is its own ready-queue entry (see _fire).
    this.#loop._enqueue(this);
    this.#flags |= STARTED | START_QUEUED;
  }

  /**
   * @internal Runs the task's entry in the ready queue: its start, or the
   * end of a sleep(0).
   */
  _fire(): unknown {
    let flags = this.#flags;
    if ((flags & START_QUEUED) !== 0) {
      this.#flags = flags & ~START_QUEUED;
      // Unless something else already switched into it.
      return (flags & (RUNNING | ENDED)) !== 0
        ? undefined
        : fiberSwitch.call(this);
    }
    flags -= YIELD_QUEUED_ONE;
    if (flags >= YIELD_QUEUED_ONE || (flags & YIELD_ARMED) === 0) {
      // A stale entry: the task was resumed otherwise, or a later sleep(0)
      // of it is queued behind this one.
      this.#flags = flags;
      return undefined;
    }
    this.#flags = flags;
    return fiberSwitch.call(this);
  }

  static {
    taskHooks.yieldNext = (task) => {
      const flags = task.#flags;
      if ((flags & YIELD_ARMED) !== 0) {
        task.#flags = flags & ~YIELD_ARMED;
        return true;
      }
      const loop = task.#loop;
      // switch() checks that the task may block on the loop now, and makes
      // the request to switch to the hub.
      loop.switch();
      loop._enqueue(task);
      task.#flags = (flags | YIELD_ARMED) + YIELD_QUEUED_ONE;
      return false;
    };
  }

  /** @internal sleep(0) was left by a throw or a return: disarms it. */
  _yieldLeft(): void {
    this.#flags &= ~YIELD_ARMED;
  }

  /**
   * Waits until the task ends; use with `yield*`. Returns true if it ended,
   * false if `timeoutMs` passed first.
   *
   * @throws {Error} if the task was not started, or joins itself.
   */
  @blocking("Task.join()")
  join(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    if ((this.#flags & STARTED) === 0) {
      throw new Error(`cannot join ${this.name} before it is started`);
    }
    if (current() === this) {
      throw new Error(`${this.name} cannot join itself`);
    }
    return this.#join(timeoutMs);
  }

  *#join(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    if ((this.#flags & ENDED) !== 0) {
      checkTimeout(timeoutMs, "Task.join()");
      return true;
    }
    const extra = this.#extra ??= new TaskExtra();
    extra.joiners ??= new WaitQueue(() => {});
    return yield* extra.joiners.wait(timeoutMs, "Task.join()");
  }

  /**
   * Raises `error` (default: a new {@linkcode TaskExit}) in the task wherever
   * it is blocked, from a loop callback. A task that has not run yet never
   * runs its body; a task that has ended is left alone.
   */
  kill(error?: unknown): void {
    const flags = this.#flags;
    if ((flags & ENDED) !== 0 || !this.isAlive()) return;
    const extra = this.#extra ??= new TaskExtra();
    if (extra.killError === NO_KILL) {
      extra.killError = error === undefined ? new TaskExit() : error;
      if ((flags & RUNNING) !== 0) this.#addSticky(extra, 1);
    }
    if ((flags & RUNNING) === 0 || (flags & KILL_DELIVERY) !== 0) return;
    // A destroyed loop never resumes the task: nothing to deliver.
    if (this.#loop._destroyed) return;
    this.#flags = flags | KILL_DELIVERY;
    this.#loop.callSoon(Task.#deliverKill, this);
  }

  /**
   * Makes a task awaitable from async code: `await task` gives its result,
   * or throws its error ({@linkcode TaskExit} when it was killed). The
   * error of a task awaited before it ends is not also sent to the loop's
   * exception handler. A task that can no longer end rejects with an
   * `Error` whose `code` says why: `"ELOOPDESTROYED"` when its loop is
   * destroyed first, `"ELOOPENDED"` when its loop ends first (or has
   * ended).
   *
   * @example
   * ```ts
   * import { EventLoop } from "../loop.ts";
   * import { sleep, spawn } from "../tasks.ts";
   *
   * using loop = new EventLoop();
   * const answer = spawn(function* () {
   *   yield* sleep(1);
   *   return 42;
   * });
   * const running = loop.run();
   * console.log(await answer); // 42
   * await running;
   * ```
   */
  then<T1 = R, T2 = never>(
    onFulfilled?: ((value: R) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    const extra = this.#extra ??= new TaskExtra();
    if (extra.settled === null) {
      const flags = this.#flags;
      if ((flags & ENDED) !== 0) {
        extra.settled = (flags & FAILED) !== 0
          ? Promise.reject(this.#value)
          : Promise.resolve(this.#value);
      } else if (!this.#loop._acceptsCallbacks()) {
        extra.settled = Promise.reject(this.#unreachable(
          this.#loop._destroyed ? "ELOOPDESTROYED" : "ELOOPENDED",
        ));
      } else {
        extra.settled = new Promise((resolve, reject) => {
          extra.resolve = resolve;
          extra.reject = reject;
        });
        awaitedBy(this.#loop).add(this as Task);
      }
    }
    return (extra.settled as Promise<R>).then(onFulfilled, onRejected);
  }

  /** The error an awaited task that can no longer end rejects with. */
  #unreachable(code: "ELOOPDESTROYED" | "ELOOPENDED"): Error {
    const state = (this.#flags & STARTED) === 0
      ? "was never started"
      : (this.#flags & RUNNING) === 0
      ? "had not run yet"
      : "was blocked";
    const error = new Error(
      `${this.name} can never end: its loop ${
        code === "ELOOPDESTROYED" ? "was destroyed" : "has ended"
      } while the task ${state} (run the loop until the task ends, or kill it first)`,
    );
    (error as Error & { code: string }).code = code;
    return error;
  }

  /** @internal Rejects `await task` because the loop can no longer run it. */
  _abandon(code: "ELOOPDESTROYED" | "ELOOPENDED"): void {
    const extra = this.#extra;
    if (extra === null || extra.reject === null) return;
    const reject = extra.reject;
    extra.resolve = extra.reject = null;
    reject(this.#unreachable(code));
  }

  /** True once the task has ended (returned, failed or was killed). */
  get ended(): boolean {
    return (this.#flags & ENDED) !== 0;
  }

  /** @internal The name of a task not given one: `Task-N`. */
  override _defaultName(number: number): string {
    return `Task-${number}`;
  }

  /**
   * @internal Calls `observer(task)` synchronously when the task ends; the
   * task's error then goes to the observer instead of the loop's handler.
   */
  _observe(observer: (task: Task) => void): void {
    const extra = this.#extra ??= new TaskExtra();
    (extra.observers ??= []).push(observer);
  }

  /** @internal Whether the task ended with an error (after it ended). */
  get _failed(): boolean {
    return (this.#flags & FAILED) !== 0;
  }

  /** @internal The task's result, or its error if `_failed`. */
  get _outcome(): unknown {
    return this.#value;
  }

  /** True once {@linkcode Task.kill} was called (until then: false). */
  get killed(): boolean {
    const extra = this.#extra;
    return extra !== null && extra.killError !== NO_KILL;
  }

  /**
   * @internal Called by the loop just before the task blocks: a kill, or a
   * fired Timeout whose block is still open, is thrown again here unless a
   * shield entered after it defers it.
   */
  override _beforeBlock(): void {
    const extra = this.#extra;
    if (extra === null) return;
    if (extra.killError !== NO_KILL && extra.shieldDepth === 0) {
      throw extra.killError;
    }
    const fired = extra.firedTimeouts;
    if (fired === null) return;
    for (let i = 0; i < fired.length; i++) {
      if (fired[i]._depth >= extra.shieldDepth) throw fired[i]._thrown();
    }
  }

  /** @internal How many shield() bodies the task is inside. */
  get _shieldDepth(): number {
    return this.#extra?.shieldDepth ?? 0;
  }

  /**
   * @internal A Timeout of this task fired: it stays sticky until its block
   * is left. Returns whether to throw it into the task now (not when a
   * shield entered after the Timeout started defers it).
   */
  _timeoutFired(timeout: Timeout): boolean {
    const extra = this.#extra ??= new TaskExtra();
    (extra.firedTimeouts ??= []).push(timeout);
    this.#addSticky(extra, 1);
    return timeout._depth >= extra.shieldDepth;
  }

  /** @internal A fired Timeout's block was left (cancelled or disposed). */
  _timeoutLeft(timeout: Timeout): void {
    const extra = this.#extra;
    const fired = extra?.firedTimeouts;
    if (extra == null || fired == null) return;
    const index = fired.indexOf(timeout);
    if (index >= 0) {
      fired.splice(index, 1);
      this.#addSticky(extra, -1);
    }
    if (fired.length === 0) extra.firedTimeouts = null;
  }

  /** @internal Runs `body` with kills and outer Timeouts deferred. */
  *_shielded<T>(
    body: () => Generator<unknown, T, unknown>,
  ): Generator<unknown, T, unknown> {
    const extra = this.#extra ??= new TaskExtra();
    extra.shieldDepth++;
    try {
      return yield* body();
    } finally {
      extra.shieldDepth--;
    }
  }

  // A loop callback: throws the kill into the task where it is blocked.
  static #deliverKill(
    task: Task,
  ): Generator<unknown, unknown, unknown> | undefined {
    task.#flags &= ~KILL_DELIVERY;
    const extra = task.#extra!;
    if (
      (task.#flags & ENDED) !== 0 || !task.isAlive() || extra.shieldDepth > 0
    ) {
      // Ended, or shielded: the sticky kill takes effect at its next
      // blocking call outside the shield.
      return undefined;
    }
    return task.throw(extra.killError);
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

  /**
   * @internal The body ended (returned `value`, or threw it): records the
   * outcome for `await task`, joiners and observers, reports an unobserved
   * error, and keeps the outcome from the hub.
   */
  override _ended(value: unknown, isThrow: boolean): boolean {
    if (!isThrow) {
      // Returned, but forgot an operation on the way.
      const forgotten = takeForgotten();
      if (forgotten !== null) {
        value = forgotten;
        isThrow = true;
      }
    }
    let flags = (this.#flags & ~(RUNNING | YIELD_ARMED)) | ENDED;
    this.#args = NO_ARGS;
    this.#value = value;
    const extra = this.#extra;
    if (isThrow) {
      flags |= FAILED;
      if (!(value instanceof TaskExit)) {
        annotateError(value, this.name, extra?.spawnSite ?? null);
        const observed = extra !== null &&
          (extra.observers !== null || extra.settled !== null);
        if (!observed) this.#loop._reportError(value);
      }
      // Failed with another error, and forgot an operation too.
      const forgotten = takeForgotten();
      if (forgotten !== null) this.#loop._reportError(forgotten);
    }
    this.#flags = flags;
    this.#loop._taskEnded(this);
    if (extra !== null) this.#endExtra(extra);
    return true;
  }

  #addSticky(extra: TaskExtra, delta: number): void {
    extra.stickyShare += delta;
    stickyCancel(delta);
  }

  #endExtra(extra: TaskExtra): void {
    if (extra.stickyShare !== 0) this.#addSticky(extra, -extra.stickyShare);
    extra.firedTimeouts = null;
    extra.joiners?.notifyAll();
    if (extra.resolve !== null) {
      if ((this.#flags & FAILED) !== 0) extra.reject!(this.#value);
      else extra.resolve(this.#value);
      extra.resolve = extra.reject = null;
      awaitedDone(this as Task);
    }
    const observers = extra.observers;
    if (observers === null) return;
    extra.observers = null;
    for (const observer of observers) {
      try {
        observer(this as Task);
      } catch (error) {
        this.#loop._reportError(error);
      }
    }
  }
}
