/**
 * The event loop's public face: {@linkcode EventLoop} schedules callbacks,
 * timers, fd watchers and signal handlers, blocks tasks on the hub, and
 * exposes the internal API that tasks (`tasks.ts`), primitives (`sync/`)
 * and the I/O layer (`io/`) build on. What it drives lives beside it:
 * `driver.ts` (the hub and run/park/turn), `timers.ts`, `fd_watchers.ts`,
 * `signals.ts`, `tokens.ts`, `stall.ts`.
 *
 * @module
 */

import { current, Fiber, FiberError, isMainFiber } from "../fiber/fiber.ts";
import { NativeLoop, READABLE, WRITABLE } from "../native/native_loop.ts";
import { checkFd, checkTimeMs, describe } from "../_util.ts";
import { beforeBlock } from "../_operation.ts";
import { Driver, MODE_SYNC } from "./driver.ts";
import { FdWatchers } from "./fd_watchers.ts";
import { type Callback, Handler, type Runnable } from "./handler.ts";
import { checkedSignal, SignalWatchers } from "./signals.ts";
import { StallDetector, type StallReport } from "./stall.ts";
import type { TokenEntry } from "./tokens.ts";

let currentLoop: EventLoop | null = null;

/**
 * @internal A task of a loop parked on a primitive (`sync/wait_queue.ts`),
 * linked into its loop's list of parked tasks: `destroy()` takes each out
 * of its primitive, which can outlive the loop (a module-level `Event`),
 * since the task can never resume.
 */
export interface ParkedTask {
  /** The loop's list. */
  loopPrevious: ParkedTask | null;
  loopNext: ParkedTask | null;
  /** Leaves the primitive's queue without waking anyone. */
  _unpark(): void;
}
// loop.switch() has checked that the hub is driven: it skips the hub's own
// check of that (see Hub in driver.ts).
const fiberSwitch = Fiber.prototype.switch;

/**
 * Options of {@linkcode EventLoop}'s constructor.
 *
 * @example
 * ```ts
 * import { EventLoop, type EventLoopOptions } from "./event_loop.ts";
 * const options: EventLoopOptions = { stallWarningMs: 50, traceSpawns: true };
 * using _loop = new EventLoop(options);
 * ```
 */
export interface EventLoopOptions {
  /**
   * Warn when a task or callback keeps the JS thread longer than this
   * without coming back to the loop (a stall detector; default: off). The
   * check costs two clock reads per callback while on.
   */
  stallWarningMs?: number;
  /** Receives stall reports (default: `console.warn` of the message). */
  onStall?: (report: StallReport) => void;
  /**
   * Record where each task is spawned (about a microsecond per spawn), so
   * that an error escaping a task shows the spawning stack, like async
   * stack traces (default: off; the task's name is shown either way).
   */
  traceSpawns?: boolean;
}

/**
 * The event loop of this thread, with evergreen 0.2.0's semantics. Its hub
 * fiber ({@linkcode EventLoop.task}) runs callbacks in FIFO order; callbacks
 * scheduled while a batch runs go to the next batch, after timers and I/O
 * have been polled, so nothing starves. Tasks and primitives park by
 * switching to the hub.
 *
 * {@linkcode EventLoop.run} runs inside Deno's own event loop (Deno timers,
 * `fetch` and servers keep working) and parks in a native wait only when
 * idle; {@linkcode EventLoop.runSync} blocks the thread in the native poll.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 *
 * using loop = new EventLoop();
 * const order: string[] = [];
 * loop.callLater(5, () => order.push("later"));
 * loop.callSoon(() => order.push("soon"));
 * await loop.run();
 * console.log(order); // ["soon", "later"]
 * ```
 */
export class EventLoop implements Disposable {
  readonly #driver: Driver;
  readonly #fds: FdWatchers;
  readonly #signals: SignalWatchers;
  /** @internal Tasks record where they were spawned (`traceSpawns`). */
  readonly _traceSpawns: boolean;
  /** @internal The head of the list of this loop's parked tasks. */
  _parked: ParkedTask | null = null;

  /**
   * Creates this thread's loop and makes it the current one.
   *
   * @throws {Error} if another loop of this thread has not been destroyed.
   */
  constructor(options: EventLoopOptions = {}) {
    if (currentLoop !== null) {
      throw new Error(
        "cannot create a second EventLoop in this thread: destroy() the current one first (EventLoop.current() returns it)",
      );
    }
    const stall = new StallDetector(
      options.stallWarningMs ?? 0,
      options.onStall,
    );
    this._traceSpawns = options.traceSpawns === true;
    const driver = new Driver(new NativeLoop(), stall);
    const enqueue = (entry: Runnable): void => {
      driver.ready.push(entry);
    };
    this.#driver = driver;
    this.#fds = new FdWatchers(driver.native, driver.tokens, enqueue);
    this.#signals = new SignalWatchers(driver.native, driver.tokens, enqueue);
    currentLoop = this;
  }

  /**
   * This thread's loop; creates it on first use (and again after the
   * previous one was destroyed).
   */
  static current(): EventLoop {
    return currentLoop ?? new EventLoop();
  }

  /** @internal This thread's loop if one exists, without creating one. */
  static _peek(): EventLoop | null {
    return currentLoop;
  }

  /** The hub fiber: tasks run as its children and switch back to it. */
  get task(): Fiber {
    return this.#driver.hub;
  }

  /** True while {@linkcode EventLoop.run} or `runSync()` is running. */
  get running(): boolean {
    return this.#driver.running;
  }

  /** Monotonic time in milliseconds (`performance.now()`). */
  time(): number {
    return performance.now();
  }

  /**
   * Schedules `callback(...args)` to run in the hub after every callback
   * already scheduled. The callback may return a generator (for example
   * `() => fiber.switch(value)`), which the hub runs with `yield*`.
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  callSoon(callback: Callback, ...args: unknown[]): Handler {
    const handler = new Handler(callback, args);
    const driver = this.#driver;
    if (driver.destroyed) throw destroyedError("callSoon");
    driver.ready.push(handler);
    if (driver.parked) driver.wakeNative();
    return handler;
  }

  /**
   * Schedules `callback(...args)` to run once `delayMs` milliseconds have
   * passed; a delay of zero is the same as `callSoon`, `Infinity` never
   * fires (any finite delay up to `Number.MAX_SAFE_INTEGER` works).
   *
   * @throws {TypeError} if `callback` is not a function or the delay is not
   *   a number.
   * @throws {RangeError} if the delay is negative or `NaN`.
   */
  callLater(delayMs: number, callback: Callback, ...args: unknown[]): Handler {
    checkTimeMs(delayMs, "callLater()", "delayMs");
    if (delayMs === 0) return this.callSoon(callback, ...args);
    const driver = this.#driver;
    const now = driver.hubActive && driver.nowFresh
      ? driver.now
      : performance.now();
    return this.#addTimer(now + delayMs, callback, args);
  }

  /**
   * Schedules `callback(...args)` for loop time `when` (see
   * {@linkcode EventLoop.time}); a time already past runs it soon,
   * `Infinity` never.
   *
   * @throws {TypeError} if `callback` is not a function or `when` is not a
   *   number.
   * @throws {RangeError} if `when` is negative or `NaN`.
   */
  callAt(when: number, callback: Callback, ...args: unknown[]): Handler {
    checkTimeMs(when, "callAt()", "when");
    if (when <= this.time()) return this.callSoon(callback, ...args);
    return this.#addTimer(when, callback, args);
  }

  /**
   * Calls `callback(...args)` in the hub every loop iteration while `fd` is
   * readable (level-triggered) until {@linkcode EventLoop.removeReader}.
   *
   * @throws {Error} if `fd` already has a reader.
   * @throws {TypeError} if `callback` is not a function or `fd` is not a
   *   number.
   * @throws {RangeError} if `fd` is not an integer from 0 to 2^31-1.
   */
  addReader(fd: number, callback: Callback, ...args: unknown[]): void {
    this.#watch(fd, READABLE, "addReader", new Handler(callback, args));
  }

  /** Stops watching `fd` for reading; false if it had no reader. */
  removeReader(fd: number): boolean {
    return this.#fds.remove(fd, READABLE);
  }

  /**
   * Calls `callback(...args)` in the hub every loop iteration while `fd` is
   * writable (level-triggered) until {@linkcode EventLoop.removeWriter}.
   *
   * @throws {Error} if `fd` already has a writer.
   * @throws {TypeError} if `callback` is not a function or `fd` is not a
   *   number.
   * @throws {RangeError} if `fd` is not an integer from 0 to 2^31-1.
   */
  addWriter(fd: number, callback: Callback, ...args: unknown[]): void {
    this.#watch(fd, WRITABLE, "addWriter", new Handler(callback, args));
  }

  /** Stops watching `fd` for writing; false if it had no writer. */
  removeWriter(fd: number): boolean {
    return this.#fds.remove(fd, WRITABLE);
  }

  /**
   * Runs `callback(...args)` in the hub each time the process receives
   * `signal`; several handlers per signal may coexist. Signal handlers do not
   * keep `run()` alive. `Deno.addSignalListener` listeners for the same
   * signal keep working alongside; while a loop watches a signal, it holds a
   * no-op Deno listener of its own (outside Windows) so that the signal never
   * falls through to its default action, whatever listeners come and go.
   * That listener outlives the last handler until Deno has acted on every
   * signal the loop caught (at most 1 s, during which the process stays up),
   * so a handled signal never ends the process, even when its handler
   * removes itself or ends `run()`.
   *
   * @throws {TypeError} if `signal` is not a signal name this OS supports or
   *   `callback` is not a function.
   */
  addSignalHandler(
    signal: Deno.Signal,
    callback: Callback,
    ...args: unknown[]
  ): Handler {
    const signo = checkedSignal(signal);
    this.#checkUsable("addSignalHandler");
    return this.#signals.add(signal, signo, callback, args);
  }

  /** Removes every handler of `signal`; false if it had none. */
  removeSignalHandler(signal: Deno.Signal): boolean {
    return this.#signals.removeAll(checkedSignal(signal));
  }

  /**
   * Sets what receives errors thrown by callbacks and tasks; `null`
   * restores the default, `console.error`.
   *
   * @throws {TypeError} if `handler` is neither a function nor `null`.
   */
  setExceptionHandler(handler: ((error: unknown) => void) | null): void {
    if (handler !== null && typeof handler !== "function") {
      throw new TypeError(
        `exception handler must be a function or null, got ${
          describe(handler)
        }`,
      );
    }
    this.#driver.exceptionHandler = handler;
  }

  /**
   * Suspends the running task and returns control to the hub; use with
   * `yield*`. The task continues when some callback switches back to it.
   *
   * @throws {Error} if the loop is not running this fiber (called from the
   *   hub itself, from the main fiber, or while the loop is not running).
   */
  switch(): Generator<unknown, unknown, unknown> {
    const fiber = current();
    const driver = this.#driver;
    const hub = driver.hub;
    if (fiber === hub) {
      throw new Error("the hub cannot switch to itself");
    }
    if (!driver.hubActive) {
      throw new Error(
        `${fiber.name} cannot block on the loop: ${
          driver.running
            ? "only fibers the loop runs can block (not plain code or a fiber switched into from it)"
            : "the loop is not running (start it with loop.run() or loop.runSync())"
        }`,
      );
    }
    beforeBlock(fiber);
    driver.ranFiber = fiber;
    if (fiber.parent !== hub) {
      try {
        fiber.parent = hub;
      } catch (error) {
        // A cycle (the fiber is an ancestor of the hub) keeps its parent.
        if (!(error instanceof FiberError)) throw error;
      }
    }
    return fiberSwitch.call(hub);
  }

  /**
   * Runs the loop inside Deno's event loop until no work is left (no
   * callback, timer, watcher, native operation or `waitPromise`) or
   * {@linkcode EventLoop.stop} is called. Deno's own timers and I/O keep
   * running the whole time; an idle loop waits off the JS thread. While tasks
   * keep the loop busy, Deno gets a turn at least every millisecond (timers,
   * promise callbacks), in which it also polls its own I/O when it has some
   * waiting (on Linux the library sees Deno's epoll set) or 10 ms have passed.
   *
   * @throws {Error} if the loop was already started, has ended, or if called
   *   inside a fiber.
   */
  run(): Promise<void> {
    return this.#driver.runAsync(false);
  }

  /** Like {@linkcode EventLoop.run}, but keeps going until `stop()`. */
  runForever(): Promise<void> {
    return this.#driver.runAsync(true);
  }

  /**
   * Runs the loop until no work is left or `stop()`, blocking the thread in
   * the native poll while it waits. Everything but JS promises works: a task
   * in `waitPromise()` gets an error.
   *
   * In a Worker, `worker.terminate()` cannot end `runSync()`: Deno ends a
   * Worker only when its JS returns to Deno's event loop (it never interrupts
   * synchronous JS), and the process waits for it. End it from inside (a
   * task calling `loop.stop()` or `self.close()`), or use
   * {@linkcode EventLoop.run}, which a `terminate()` ends at once.
   *
   * @throws {Error} if the loop was already started, has ended, or if called
   *   inside a fiber.
   */
  runSync(): void {
    this.#driver.runSync();
  }

  /**
   * Makes a running loop return after the current batch of callbacks; works
   * from callbacks, tasks and plain JS (it wakes a waiting loop).
   *
   * @throws {Error} if the loop was never started.
   */
  stop(): void {
    const driver = this.#driver;
    if (!driver.started) {
      throw new Error("stop(): the loop has not been started");
    }
    driver.stopping = true;
    if (driver.parked) driver.wakeNative();
  }

  /**
   * Releases the loop and its native resources; a new loop can then be
   * created in this thread.
   *
   * @throws {Error} while the loop runs, or if it was already destroyed.
   */
  destroy(): void {
    const driver = this.#driver;
    if (driver.running) {
      throw new Error("destroy() cannot be called while the loop is running");
    }
    if (driver.destroyed) throw new Error("the loop was already destroyed");
    this.#fds.removeAll();
    this.#signals.clear();
    driver.destroyed = true;
    if (currentLoop === this) currentLoop = null;
    // Native ops end with the native loop: their owners settle them now so
    // that nothing stays marked busy (I/O objects then throw EBADF).
    driver.tokens.settleAll();
    this.#unparkAll();
    driver.clear();
    driver.native.close();
  }

  // A primitive that outlives the loop would otherwise keep its tasks (and
  // all they hold: streams, so descriptors) for ever, and wake them into a
  // destroyed loop (its set() or release() threw).
  #unparkAll(): void {
    let parked = this._parked;
    this._parked = null;
    while (parked !== null) {
      const next = parked.loopNext;
      parked.loopPrevious = null;
      parked.loopNext = null;
      parked._unpark();
      parked = next;
    }
  }

  /** Destroys the loop unless it already was. */
  [Symbol.dispose](): void {
    if (!this.#driver.destroyed) this.destroy();
  }

  // ---- internal API for tasks, primitives and the I/O layer ----

  /**
   * @internal Registers a native operation: its completions are queued as
   * hub callbacks `callback(result, kind, aux)` (which may return a
   * generator). While registered with `keepAlive` it keeps `run()` alive.
   * `settle` runs if the loop is destroyed first (the op never completes):
   * it clears what its owner marked busy, and must not resume a task.
   */
  _registerToken(
    callback: (result: number, kind: number, aux: number) => unknown,
    keepAlive = true,
    settle?: () => void,
  ): number {
    if (typeof callback !== "function") {
      throw new TypeError(
        `token callback must be a function, got ${describe(callback)}`,
      );
    }
    return this._registerOp({ internal: false, keepAlive, callback, settle });
  }

  /**
   * @internal {@linkcode EventLoop._registerToken} for an op that is its
   * own entry (`internal` false): the loop calls `entry.callback(...)` and
   * `entry.settle()` as its methods, so the op needs no closures.
   */
  _registerOp(entry: TokenEntry): number {
    this.#checkUsable("_registerToken");
    return this.#driver.tokens.allocate(entry);
  }

  /** @internal Forgets a token; later completions for it are dropped. */
  _releaseToken(token: number): void {
    const tokens = this.#driver.tokens;
    if (tokens.entries[token] === undefined) {
      throw new Error(`token ${token} is not registered`);
    }
    tokens.release(token);
  }

  /**
   * @internal Runs `flusher` once, before the loop next polls for I/O or
   * parks (after the batch of callbacks that is running): how a stream's
   * writes of one turn leave in one send.
   */
  _beforePoll(flusher: () => void): void {
    const driver = this.#driver;
    if (driver.destroyed) throw destroyedError("_beforePoll");
    driver.beforePoll.push(flusher);
    if (driver.parked) driver.wakeNative();
  }

  /** @internal True while the hub or a task it runs has control. */
  get _inTurn(): boolean {
    return this.#driver.hubActive;
  }

  /** @internal True once destroy() was called. */
  get _destroyed(): boolean {
    return this.#driver.destroyed;
  }

  /** @internal The native loop, for the I/O layer's operations. */
  get _native(): NativeLoop {
    return this.#driver.native;
  }

  /** @internal Puts an entry at the end of the ready queue. */
  _enqueue(entry: Runnable): void {
    const driver = this.#driver;
    if (driver.destroyed) throw destroyedError("_enqueue");
    driver.ready.push(entry);
    if (driver.parked) driver.wakeNative();
  }

  /**
   * @internal Wakes the loop if it is parked: after a native call from plain
   * JS (a Deno timer, a signal listener) that posted records a park in
   * progress does not notice, such as closing a stream.
   */
  _wakeParked(): void {
    if (this.#driver.parked) this.#driver.wakeNative();
  }

  /** @internal Sends an error to the exception handler. */
  _reportError(error: unknown): void {
    this.#driver.reportError(error);
  }

  /**
   * @internal The running fiber, checked to be one that may block on this
   * loop (not the main fiber, not the hub).
   */
  _blockingFiber(what: string): Fiber {
    const fiber = current();
    const hub = this.#driver.hub;
    if (fiber === hub || isMainFiber(fiber)) {
      throw new Error(
        `${what} would block ${
          fiber === hub ? "the hub (inside a loop callback)" : "the main fiber"
        }: call it inside a task`,
      );
    }
    return fiber;
  }

  /** @internal True under `runSync()`, where JS promises cannot settle. */
  _isSync(): boolean {
    return this.#driver.mode === MODE_SYNC;
  }

  /** @internal True until the loop has ended or was destroyed. */
  _acceptsCallbacks(): boolean {
    return !this.#driver.destroyed && !this.#driver.ended;
  }

  /**
   * @internal Runs `hook` once when `run()`/`runSync()` ends (at once if the
   * loop has already ended): from then on no task of the loop can resume.
   */
  _atEnd(hook: () => void): void {
    const driver = this.#driver;
    if (driver.destroyed) throw destroyedError("_atEnd");
    if (driver.ended) hook();
    else driver.atEnd.push(hook);
  }

  /** @internal Counts a pending `waitPromise` (keeps `run()` alive). */
  _promisePending(delta: 1 | -1): void {
    this.#driver.pendingPromises += delta;
  }

  /** @internal A task ended (it ran last, for the stall detector). */
  _taskEnded(fiber: Fiber): void {
    this.#driver.ranFiber = fiber;
  }

  #addTimer(when: number, callback: Callback, args: unknown[]): Handler {
    const driver = this.#driver;
    const timers = driver.timers;
    const timer = timers.create(when, callback, args);
    if (driver.destroyed) throw destroyedError("callLater");
    timers.arm(timer);
    if (driver.parked) driver.wakeNative();
    return timer;
  }

  #watch(fd: number, side: number, what: string, handler: Handler): void {
    checkFd(fd, `${what}()`);
    this.#checkUsable(what);
    this.#fds.add(fd, side, handler);
    if (this.#driver.parked) this.#driver.wakeNative();
  }

  #checkUsable(what: string): void {
    if (this.#driver.destroyed) throw destroyedError(what);
  }
}

function destroyedError(what: string): Error {
  return new Error(`${what}(): the loop was destroyed`);
}
