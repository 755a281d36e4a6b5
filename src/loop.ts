/**
 * The event loop: a hub fiber (`loop.task`) that runs callbacks in FIFO
 * order, fires timers from a heap, and dispatches fd readiness, signals and
 * native operation completions from the native poll loop (`native/`).
 * Tasks (`tasks.ts`) and every blocking primitive (`sync/`) park by switching
 * to the hub and are resumed by callbacks it runs.
 *
 * @module
 */

import {
  current,
  Fiber,
  FiberError,
  HUB_SWITCH,
  isMainFiber,
  isSwitch,
} from "./fiber.ts";
import {
  FAILED,
  HANGUP,
  NativeLoop,
  READABLE,
  signalArrivals,
  signalNumber,
  WRITABLE,
} from "./native/native_loop.ts";
import { setImmediate } from "node:timers";
import { checkFd, checkTimeMs, describe } from "./_util.ts";

export { describe } from "./_util.ts";
import {
  beforeBlock,
  forgottenPending,
  takeForgotten,
  throwIfForgotten,
} from "./_operation.ts";

// While work keeps arriving, Deno's own event loop gets a full turn at least
// this often (timers, fetch, servers elsewhere in the process); 1 ms keeps
// its cost (~15-35 µs when Deno has nothing to do) near 3% of a busy loop.
// A full turn is setImmediate, a zero-timeout native park, setImmediate
// again, measured against the alternatives (bench/RESULTS.md): with
// setImmediate alone Deno polls its I/O only every ~60 turns (a fetch took
// 150 ms against a busy hub), with the park alone its timers lag, and the
// three together serve one fetch and one 1 ms interval tick per turn.
const TURN_BUDGET_MS = 1;
// Without armed timers the clock (~95 ns per read) is read only every this
// many loop iterations, to check the turn budget.
const CLOCK_EVERY_ITERATIONS = 16;
// After the last batch of work, run() keeps polling without blocking (giving
// Deno a cheap setImmediate turn each time, so promise callbacks and timers
// run) for this long before it parks in a native wait. A park and its
// wake-up cost 20-40 µs of thread hand-offs, so spinning a few times that
// long first keeps ping-pong latency low and idle CPU near zero.
const SPIN_WINDOW_MS = 0.1;
// The spin only pays while work does come back within it. A window spun
// through in vain makes the next this many idle periods park at once
// (doubling per vain window up to the bound, reset by a window that caught
// work), and a process that may use one CPU never spins: there the spin
// would only keep the peer that sends the next request from running.
const SPIN_SKIPS_MAX = 64;

/**
 * @internal When run() spins before parking (zig/loop/loop.zig applies the
 * same rule to its native spin): never with one CPU, and after a spin that
 * caught nothing, not for the next 1, 2, 4 ... SPIN_SKIPS_MAX chances,
 * until a spin catches work again.
 *
 * @example
 * ```ts
 * import { SpinPolicy } from "./loop.ts";
 * const policy = new SpinPolicy(2);
 * console.log(policy.pays()); // true
 * policy.vain();
 * console.log(policy.pays(), policy.pays()); // false true
 * ```
 */
export class SpinPolicy {
  readonly #enabled: boolean;
  #skips = 0;
  #backoff = 0;

  /** A policy for a process that may use `cpus` CPUs. */
  constructor(cpus: number) {
    this.#enabled = cpus > 1;
  }

  /** Whether this chance to spin is taken (a skipped one counts down). */
  pays(): boolean {
    if (!this.#enabled) return false;
    if (this.#skips === 0) return true;
    this.#skips--;
    return false;
  }

  /** A spin caught work: spin at every chance again. */
  caught(): void {
    this.#backoff = 0;
  }

  /** A spin caught nothing: skip the next chances, twice as many as last. */
  vain(): void {
    this.#backoff = Math.min(Math.max(this.#backoff * 2, 1), SPIN_SKIPS_MAX);
    this.#skips = this.#backoff;
  }
}
// While work keeps arriving less than this far apart (and no task waits on a
// JS promise, which only Deno's turns settle), run() waits for the next batch
// in a blocking native poll instead of spinning and parking: a request from
// another process then costs one kernel wake-up, not a thread hand-off
// (cross-process ping-pong 0.43x -> 0.8x Deno, bench/RESULTS.md). Deno still
// gets its turn every TURN_BUDGET_MS; the wait sleeps in the kernel, and after
// a longer gap the loop parks as before, so an idle loop costs no CPU.
const HOLD_WINDOW_MS = 5;
// Cancelled timers stay in the heap until they reach the top; the heap is
// rebuilt when they outnumber live ones by this much.
const HEAP_GARBAGE_SLACK = 64;

// Messages from the hub to the fiber that runs `run()`.
const TURN = { hubMessage: "turn" };
const PARK = { hubMessage: "park" };

const MODE_IDLE = 0;
const MODE_ASYNC = 1;
const MODE_SYNC = 2;

/**
 * A loop callback: called with the arguments given when it was scheduled;
 * it may return a generator (or a fiber switch) that the hub runs with
 * `yield*`.
 */
// deno-lint-ignore no-explicit-any
export type Callback = (...args: any[]) => unknown;

/**
 * @internal An entry of the hub's ready queue: `_fire()` runs it and may
 * return an iterator (such as a fiber switch) that the hub drives with
 * `yield*`.
 */
export interface Runnable {
  /** Runs the entry unless it was cancelled. */
  _fire(): unknown;
}

/**
 * A scheduled callback, returned by {@linkcode EventLoop.callSoon},
 * {@linkcode EventLoop.callLater}, {@linkcode EventLoop.callAt} and
 * {@linkcode EventLoop.addSignalHandler}. Cancelling it before it runs means
 * it never runs.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * using loop = new EventLoop();
 * const handler = loop.callSoon(() => console.log("never printed"));
 * handler.cancel();
 * loop.runSync();
 * console.log(handler.cancelled); // true
 * ```
 */
export class Handler implements Runnable {
  #callback: Callback;
  #args: unknown[];
  #cancelled = false;

  /**
   * Wraps `callback(...args)`; handlers are made by the loop, not by users.
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  constructor(callback: Callback, args: unknown[]) {
    if (typeof callback !== "function") {
      throw new TypeError(
        `callback must be a function, got ${describe(callback)}`,
      );
    }
    this.#callback = callback;
    this.#args = args;
  }

  /** Prevents the callback from running if it has not run yet. */
  cancel(): void {
    this.#cancelled = true;
  }

  /** True once {@linkcode Handler.cancel} was called. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * @internal Runs the callback unless cancelled and returns its result (a
   * generator or iterator is then driven by the hub with `yield*`).
   */
  _fire(): unknown {
    if (this.#cancelled) return undefined;
    const args = this.#args;
    return args.length === 0 ? this.#callback() : this.#callback(...args);
  }
}

const TIMER_ARMED = 0;
const TIMER_FIRED = 1;
const TIMER_CANCELLED = 2;

/** A handler waiting in the timer heap. */
class Timer extends Handler {
  readonly when: number;
  readonly sequence: number;
  state = TIMER_ARMED;
  readonly #loop: EventLoop;

  constructor(
    loop: EventLoop,
    when: number,
    sequence: number,
    callback: Callback,
    args: unknown[],
  ) {
    super(callback, args);
    this.#loop = loop;
    this.when = when;
    this.sequence = sequence;
  }

  override cancel(): void {
    super.cancel();
    if (this.state === TIMER_ARMED) {
      this.state = TIMER_CANCELLED;
      this.#loop._timerCancelled();
    } else {
      this.state = TIMER_CANCELLED;
    }
  }
}

/** One of possibly several handlers of a signal. */
class SignalHandler extends Handler {
  readonly #entry: SignalEntry;
  readonly #loop: EventLoop;

  constructor(
    loop: EventLoop,
    entry: SignalEntry,
    callback: Callback,
    args: unknown[],
  ) {
    super(callback, args);
    this.#loop = loop;
    this.#entry = entry;
  }

  override cancel(): void {
    super.cancel();
    if (this.#entry.handlers.delete(this)) {
      this.#loop._signalHandlerRemoved(this.#entry);
    }
  }
}

interface SignalEntry {
  signal: Deno.Signal;
  signo: number;
  token: number;
  handlers: Set<SignalHandler>;
  /** The listener that keeps Deno's own handler from acting out the default. */
  denoListener: (() => void) | null;
  /**
   * The native arrival count of the signal when Deno last called
   * `denoListener` (see `holdDenoSignal`): arrivals beyond it may still be
   * undecided on Deno's signal thread.
   */
  acknowledgedArrivals: number;
  /** Unwatched: `denoListener` goes once Deno acknowledged every signal. */
  released: boolean;
  /**
   * While released and unacknowledged: a Deno timer that keeps the process
   * from exiting (which drops every listener) before Deno decided.
   */
  releaseTimer: ReturnType<typeof setTimeout> | undefined;
}

interface FdEntry {
  fd: number;
  token: number;
  mask: number;
  reader: Handler | null;
  writer: Handler | null;
}

interface TokenEntry {
  // Internal dispatchers (fd, signal) run inside the drain; others are
  // queued as hub callbacks.
  internal: boolean;
  keepAlive: boolean;
  callback: (result: number, kind: number, aux: number) => unknown;
  // Called by destroy() for an op that will never complete.
  settle?: () => void;
}

let currentLoop: EventLoop | null = null;

/**
 * What a stall detector reports: a task (or a loop callback) kept the JS
 * thread longer than `stallWarningMs` without coming back to the loop.
 *
 * @example
 * ```ts
 * import { EventLoop, type StallReport } from "./loop.ts";
 * const reports: StallReport[] = [];
 * using _loop = new EventLoop({
 *   stallWarningMs: 100,
 *   onStall: (report) => reports.push(report),
 * });
 * ```
 */
export interface StallReport {
  /** The name of the task that ran, or null for a plain loop callback. */
  readonly task: string | null;
  /** How long the JS thread stayed away from the loop, in ms. */
  readonly durationMs: number;
  /** A sentence saying both, as the default warning prints it. */
  readonly message: string;
}

/**
 * Options of {@linkcode EventLoop}'s constructor.
 *
 * @example
 * ```ts
 * import { EventLoop, type EventLoopOptions } from "./loop.ts";
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
 * import { EventLoop } from "./loop.ts";
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
  #hub: Fiber;
  #runner: Fiber | null = null;
  #native: NativeLoop;
  #mode = MODE_IDLE;
  #forever = false;
  #started = false;
  #running = false;
  #ended = false;
  #destroyed = false;
  #stopping = false;
  // True while the hub (or a fiber it switched to) has control.
  #hubActive = false;
  #parked = false;
  #wakePending = false;

  // Callbacks: the batch being run is detached; new ones go to #ready.
  #ready: Runnable[] = [];
  #spare: Runnable[] = [];

  #timers: Timer[] = [];
  #liveTimers = 0;
  #timerSequence = 0;
  // Loop time, read at most once per iteration while timers are armed.
  #now = 0;
  #nowFresh = false;
  #lastTurnMs = 0;
  #lastBusyMs = 0;
  #busySincePark = false;
  // The last idle gap under run() was short enough to wait out in the kernel.
  #holdUseful = true;
  #clockCountdown = CLOCK_EVERY_ITERATIONS;
  #parkTimeoutMs = -1;
  // Adaptive spin of run() (see SPIN_SKIPS_MAX): the idle period being
  // spun or parked (named by its #lastBusyMs), whether it spins, whether it
  // did, and the back-off.
  #idlePeriod = -1;
  #spinThisPeriod = false;
  #spun = false;
  // navigator.hardwareConcurrency follows the CPU affinity (taskset).
  #spin = new SpinPolicy(navigator.hardwareConcurrency);

  #tokens: (TokenEntry | undefined)[] = [undefined];
  #freeTokens: number[] = [];
  #liveTokens = 0;
  #keepAliveTokens = 0;
  #fds = new Map<number, FdEntry>();
  #signals = new Map<number, SignalEntry>();
  #pendingPromises = 0;

  #exceptionHandler: ((error: unknown) => void) | null = null;
  // The stall detector (off at 0) and the fiber that last switched back.
  #stallWarningMs = 0;
  #onStall: ((report: StallReport) => void) | null = null;
  #ranFiber: Fiber | null = null;
  /** @internal Tasks record where they were spawned (`traceSpawns`). */
  readonly _traceSpawns: boolean;
  // Run once each before the loop next polls or parks (coalesced writes).
  #beforePoll: (() => void)[] = [];
  #beforePollSpare: (() => void)[] = [];

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
    const stallWarningMs = options.stallWarningMs ?? 0;
    if (
      typeof stallWarningMs !== "number" || !(stallWarningMs >= 0)
    ) {
      throw new RangeError(
        `stallWarningMs must be a number of ms >= 0, got ${
          describe(stallWarningMs)
        }`,
      );
    }
    if (
      options.onStall !== undefined && typeof options.onStall !== "function"
    ) {
      throw new TypeError(
        `onStall must be a function, got ${describe(options.onStall)}`,
      );
    }
    this.#stallWarningMs = stallWarningMs;
    this.#onStall = options.onStall ?? null;
    this._traceSpawns = options.traceSpawns === true;
    this.#native = new NativeLoop();
    this.#hub = new Fiber(() => this.#hubBody(), { name: "Hub" });
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
    return this.#hub;
  }

  /** True while {@linkcode EventLoop.run} or `runSync()` is running. */
  get running(): boolean {
    return this.#running;
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
    this.#checkUsable("callSoon");
    this.#ready.push(handler);
    if (this.#parked) this.#wakeNative();
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
    return this.#addTimer(this.#loopNow() + delayMs, callback, args);
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
    this.#addWatcher(fd, READABLE, new Handler(callback, args));
  }

  /** Stops watching `fd` for reading; false if it had no reader. */
  removeReader(fd: number): boolean {
    return this.#removeWatcher(fd, READABLE);
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
    this.#addWatcher(fd, WRITABLE, new Handler(callback, args));
  }

  /** Stops watching `fd` for writing; false if it had no writer. */
  removeWriter(fd: number): boolean {
    return this.#removeWatcher(fd, WRITABLE);
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
    let entry = this.#signals.get(signo);
    const created = entry === undefined;
    if (entry === undefined) {
      entry = {
        signal,
        signo,
        token: 0,
        handlers: new Set(),
        denoListener: null,
        acknowledgedArrivals: signalArrivals(signo),
        released: false,
        releaseTimer: undefined,
      };
    }
    const handler = new SignalHandler(this, entry, callback, args);
    if (created) {
      const signalEntry = entry;
      entry.token = this.#allocateToken({
        internal: true,
        keepAlive: false,
        callback: () => this.#queueSignal(signalEntry),
      });
      entry.denoListener = holdDenoSignal(entry);
      try {
        this.#native.watchSignal(signo, entry.token);
      } catch (error) {
        this.#releaseToken(entry.token);
        releaseDenoSignal(entry);
        throw error;
      }
      this.#signals.set(signo, entry);
    }
    entry.handlers.add(handler);
    return handler;
  }

  /** Removes every handler of `signal`; false if it had none. */
  removeSignalHandler(signal: Deno.Signal): boolean {
    const entry = this.#signals.get(checkedSignal(signal));
    if (entry === undefined) return false;
    for (const handler of [...entry.handlers]) handler.cancel();
    return true;
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
    this.#exceptionHandler = handler;
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
    if (fiber === this.#hub) {
      throw new Error("the hub cannot switch to itself");
    }
    if (!this.#hubActive) {
      throw new Error(
        `${fiber.name} cannot block on the loop: ${
          this.#running
            ? "only fibers the loop runs can block (not plain code or a fiber switched into from it)"
            : "the loop is not running (start it with loop.run() or loop.runSync())"
        }`,
      );
    }
    beforeBlock(fiber);
    this.#ranFiber = fiber;
    if (fiber.parent !== this.#hub) {
      try {
        fiber.parent = this.#hub;
      } catch (error) {
        // A cycle (the fiber is an ancestor of the hub) keeps its parent.
        if (!(error instanceof FiberError)) throw error;
      }
    }
    return this.#hub.switch();
  }

  /**
   * Runs the loop inside Deno's event loop until no work is left (no
   * callback, timer, watcher, native operation or `waitPromise`) or
   * {@linkcode EventLoop.stop} is called. Deno's own timers and I/O keep
   * running the whole time; an idle loop waits off the JS thread.
   *
   * @throws {Error} if the loop was already started, has ended, or if called
   *   inside a fiber.
   */
  run(): Promise<void> {
    return this.#runAsync(false);
  }

  /** Like {@linkcode EventLoop.run}, but keeps going until `stop()`. */
  runForever(): Promise<void> {
    return this.#runAsync(true);
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
    this.#begin(MODE_SYNC, false, "runSync");
    try {
      while (this.#hub.isAlive()) this.#enterHub();
    } finally {
      this.#finish();
    }
  }

  /**
   * Makes a running loop return after the current batch of callbacks; works
   * from callbacks, tasks and plain JS (it wakes a waiting loop).
   *
   * @throws {Error} if the loop was never started.
   */
  stop(): void {
    if (!this.#started) {
      throw new Error("stop(): the loop has not been started");
    }
    this.#stopping = true;
    if (this.#parked) this.#wakeNative();
  }

  /**
   * Releases the loop and its native resources; a new loop can then be
   * created in this thread.
   *
   * @throws {Error} while the loop runs, or if it was already destroyed.
   */
  destroy(): void {
    if (this.#running) {
      throw new Error("destroy() cannot be called while the loop is running");
    }
    if (this.#destroyed) throw new Error("the loop was already destroyed");
    for (const fd of [...this.#fds.keys()]) {
      this.removeReader(fd);
      this.removeWriter(fd);
    }
    for (const entry of [...this.#signals.values()]) {
      for (const handler of [...entry.handlers]) handler.cancel();
    }
    this.#destroyed = true;
    if (currentLoop === this) currentLoop = null;
    // Native ops end with the native loop: their owners settle them now so
    // that nothing stays marked busy (I/O objects then throw EBADF).
    for (const entry of this.#tokens) {
      if (entry?.settle === undefined) continue;
      try {
        entry.settle();
      } catch (error) {
        console.error(error);
      }
    }
    this.#tokens = [undefined];
    this.#freeTokens = [];
    this.#liveTokens = 0;
    this.#keepAliveTokens = 0;
    this.#ready = [];
    this.#spare = [];
    this.#timers = [];
    this.#liveTimers = 0;
    this.#beforePoll = [];
    this.#native.close();
  }

  /** Destroys the loop unless it already was. */
  [Symbol.dispose](): void {
    if (!this.#destroyed) this.destroy();
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
    this.#checkUsable("_registerToken");
    return this.#allocateToken({
      internal: false,
      keepAlive,
      callback,
      settle,
    });
  }

  /** @internal Forgets a token; later completions for it are dropped. */
  _releaseToken(token: number): void {
    if (this.#tokens[token] === undefined) {
      throw new Error(`token ${token} is not registered`);
    }
    this.#releaseToken(token);
  }

  /**
   * @internal Runs `flusher` once, before the loop next polls for I/O or
   * parks (after the batch of callbacks that is running): how a stream's
   * writes of one turn leave in one send.
   */
  _beforePoll(flusher: () => void): void {
    this.#checkUsable("_beforePoll");
    this.#beforePoll.push(flusher);
    if (this.#parked) this.#wakeNative();
  }

  /** @internal True while the hub or a task it runs has control. */
  get _inTurn(): boolean {
    return this.#hubActive;
  }

  /** @internal True once destroy() was called. */
  get _destroyed(): boolean {
    return this.#destroyed;
  }

  /** @internal The native loop, for the I/O layer's operations. */
  get _native(): NativeLoop {
    return this.#native;
  }

  /** @internal Puts an entry at the end of the ready queue. */
  _enqueue(entry: Runnable): void {
    this.#checkUsable("_enqueue");
    this.#ready.push(entry);
    if (this.#parked) this.#wakeNative();
  }

  /** @internal Sends an error to the exception handler. */
  _reportError(error: unknown): void {
    const handler = this.#exceptionHandler;
    if (handler === null) {
      console.error(error);
      return;
    }
    try {
      handler(error);
    } catch (handlerError) {
      console.error(handlerError);
    }
  }

  /**
   * @internal The running fiber, checked to be one that may block on this
   * loop (not the main fiber, not the hub).
   */
  _blockingFiber(what: string): Fiber {
    const fiber = current();
    if (fiber === this.#hub || isMainFiber(fiber)) {
      throw new Error(
        `${what} would block ${
          fiber === this.#hub
            ? "the hub (inside a loop callback)"
            : "the main fiber"
        }: call it inside a task`,
      );
    }
    return fiber;
  }

  /** @internal True under `runSync()`, where JS promises cannot settle. */
  _isSync(): boolean {
    return this.#mode === MODE_SYNC;
  }

  /** @internal True until the loop has ended or was destroyed. */
  _acceptsCallbacks(): boolean {
    return !this.#destroyed && !this.#ended;
  }

  /** @internal Counts a pending `waitPromise` (keeps `run()` alive). */
  _promisePending(delta: 1 | -1): void {
    this.#pendingPromises += delta;
  }

  /** @internal Called by a timer when it is cancelled while armed. */
  _timerCancelled(): void {
    this.#liveTimers--;
    if (this.#liveTimers === 0) {
      this.#timers.length = 0;
    } else if (
      this.#timers.length > 2 * this.#liveTimers + HEAP_GARBAGE_SLACK
    ) {
      this.#compactTimers();
    }
  }

  /** @internal Called when a signal loses a handler. */
  _signalHandlerRemoved(entry: SignalEntry): void {
    if (entry.handlers.size > 0 || this.#signals.get(entry.signo) !== entry) {
      return;
    }
    this.#signals.delete(entry.signo);
    this.#native.unwatchSignal(entry.signo);
    this.#releaseToken(entry.token);
    releaseDenoSignal(entry);
  }

  // ---- the hub ----

  *#hubBody(): Generator<unknown, void, unknown> {
    // Set after a blocking poll already harvested the native loop, so that
    // a level-triggered fd is not reported (and its reader queued) twice.
    let harvested = false;
    for (;;) {
      if (this.#beforePoll.length > 0) this.#runBeforePoll();
      if (this.#stopping) return;
      if (this.#liveTimers > 0) {
        this.#now = performance.now();
        this.#nowFresh = true;
        this.#fireTimers(this.#now);
      } else {
        this.#nowFresh = false;
      }
      if (this.#liveTokens > 0 && !harvested) this.#pollNative(0);
      harvested = false;
      if (this.#ready.length === 0) {
        if (!this.#forever && !this.#keepsAlive()) return;
        const timeoutMs = this.#waitTimeoutMs();
        if (this.#mode === MODE_SYNC) {
          this.#pollNative(timeoutMs);
          harvested = true;
        } else {
          const now = performance.now();
          if (this.#busySincePark) {
            this.#busySincePark = false;
            this.#lastBusyMs = now;
          }
          if (this.#holding(now)) {
            if (now - this.#lastTurnMs >= TURN_BUDGET_MS) {
              yield* this.#runner!.switch(TURN);
            } else {
              // Wait for the next request in the kernel on this thread (one
              // wake-up, as runSync pays, instead of a thread hand-off), a
              // millisecond at a time so that Deno's turns stay on budget.
              this.#pollNative(timeoutMs < 0 ? 1 : Math.min(timeoutMs, 1));
              harvested = true;
            }
          } else {
            this.#parkTimeoutMs = timeoutMs;
            yield* this.#runner!.switch(PARK);
          }
        }
        continue;
      }
      const batch = this.#ready;
      this.#ready = this.#spare;
      const stallWarningMs = this.#stallWarningMs;
      for (let i = 0; i < batch.length; i++) {
        let startMs = 0;
        if (stallWarningMs > 0) {
          startMs = performance.now();
          this.#ranFiber = null;
        }
        try {
          const result = batch[i]._fire();
          if (result !== undefined) {
            if (isSwitch(result)) {
              yield HUB_SWITCH;
            } else if (isIterator(result)) {
              yield* result;
            }
          }
        } catch (error) {
          this._reportError(error);
        }
        // A plain callback that made an operation without running it.
        if (forgottenPending()) this._reportError(takeForgotten());
        if (stallWarningMs > 0) this.#checkStall(startMs);
      }
      batch.length = 0;
      this.#spare = batch;
      this.#busySincePark = true;
      if (this.#mode === MODE_ASYNC && this.#turnDue()) {
        if (this.#beforePoll.length > 0) this.#runBeforePoll();
        yield* this.#runner!.switch(TURN);
      }
    }
  }

  #checkStall(startMs: number): void {
    const durationMs = performance.now() - startMs;
    if (durationMs <= this.#stallWarningMs) return;
    const task = this.#ranFiber?.name ?? null;
    const message = `${
      task === null ? "a loop callback" : `task ${task}`
    } kept the JS thread for ${
      durationMs.toFixed(1)
    } ms without coming back to the loop (stallWarningMs: ${this.#stallWarningMs})`;
    const report: StallReport = { task, durationMs, message };
    const onStall = this.#onStall;
    if (onStall === null) {
      console.warn(message);
      return;
    }
    try {
      onStall(report);
    } catch (error) {
      this._reportError(error);
    }
  }

  /** @internal A task ended (it ran last, for the stall detector). */
  _taskEnded(fiber: Fiber): void {
    this.#ranFiber = fiber;
  }

  /**
   * Whether run() should wait for the next work in a blocking native poll
   * rather than spin and park: only while work keeps arriving (the last idle
   * gap was short, and this one is still short), and while no task waits on a
   * JS promise, which only Deno's own turns settle.
   */
  #holding(now: number): boolean {
    if (!this.#holdUseful || this.#pendingPromises > 0) return false;
    if (now - this.#lastBusyMs < HOLD_WINDOW_MS) return true;
    // A real idle period: park from now on until work comes back quickly.
    this.#holdUseful = false;
    return false;
  }

  #turnDue(): boolean {
    let now: number;
    if (this.#nowFresh) {
      now = this.#now;
    } else if (--this.#clockCountdown <= 0) {
      this.#clockCountdown = CLOCK_EVERY_ITERATIONS;
      now = performance.now();
    } else {
      return false;
    }
    return now - this.#lastTurnMs >= TURN_BUDGET_MS;
  }

  #keepsAlive(): boolean {
    return this.#liveTimers > 0 || this.#keepAliveTokens > 0 ||
      this.#pendingPromises > 0;
  }

  #waitTimeoutMs(): number {
    if (this.#liveTimers === 0) return -1;
    this.#dropCancelledTop();
    const delayMs = this.#timers[0].when - performance.now();
    return delayMs <= 0 ? 0 : Math.ceil(delayMs);
  }

  #runBeforePoll(): void {
    const flushers = this.#beforePoll;
    this.#beforePoll = this.#beforePollSpare;
    for (let i = 0; i < flushers.length; i++) {
      try {
        flushers[i]();
      } catch (error) {
        this._reportError(error);
      }
    }
    flushers.length = 0;
    this.#beforePollSpare = flushers;
  }

  #pollNative(timeoutMs: number): void {
    if (this.#native.poll(timeoutMs) > 0) {
      this.#native.drain(this.#onCompletion);
    }
  }

  #onCompletion = (
    token: number,
    result: number,
    kind: number,
    aux: number,
  ): void => {
    const entry = this.#tokens[token];
    if (entry === undefined) return;
    if (entry.internal) {
      entry.callback(result, kind, aux);
    } else {
      this.#ready.push(new Handler(entry.callback, [result, kind, aux]));
    }
  };

  // ---- running from Deno ----

  #begin(mode: number, forever: boolean, what: string): void {
    const fiber = current();
    if (!isMainFiber(fiber)) {
      throw new Error(
        `${what}() must be called from plain code, not inside fiber ${fiber.name}`,
      );
    }
    if (this.#destroyed) throw new Error(`${what}(): the loop was destroyed`);
    if (this.#ended || !this.#hub.isAlive()) {
      throw new Error(`${what}(): the loop has already ended`);
    }
    if (this.#started) {
      throw new Error(`${what}(): the loop was already started`);
    }
    // Plain code that made an operation without running it.
    throwIfForgotten();
    this.#hub.parent = fiber;
    this.#runner = fiber;
    this.#mode = mode;
    this.#forever = forever;
    this.#started = true;
    this.#running = true;
    this.#lastTurnMs = performance.now();
  }

  #finish(): void {
    this.#running = false;
    this.#ended = true;
    this.#mode = MODE_IDLE;
    this.#runner = null;
  }

  async #runAsync(forever: boolean): Promise<void> {
    this.#begin(MODE_ASYNC, forever, forever ? "runForever" : "run");
    try {
      while (this.#hub.isAlive()) {
        const message = this.#enterHub();
        if (message === TURN) {
          await setImmediateTurn();
          await this.#native.park(0);
          await setImmediateTurn();
          this.#lastTurnMs = performance.now();
        } else if (message === PARK) {
          await this.#idle();
        }
      }
    } finally {
      this.#finish();
    }
  }

  /**
   * Spins (giving Deno turns) shortly after work while spinning pays, then
   * parks natively.
   */
  async #idle(): Promise<void> {
    const now = performance.now();
    if (this.#idlePeriod !== this.#lastBusyMs) {
      // Work ran since the last call: a new idle period. Work that came back
      // while the last one spun means the spin paid.
      if (this.#spun) this.#spin.caught();
      this.#spun = false;
      this.#idlePeriod = this.#lastBusyMs;
      this.#spinThisPeriod = this.#spin.pays();
    }
    if (this.#spinThisPeriod && now - this.#lastBusyMs < SPIN_WINDOW_MS) {
      this.#spun = true;
      await setImmediateTurn();
      return;
    }
    if (this.#spun) {
      // Spun through the whole window in vain: back off.
      this.#spun = false;
      this.#spin.vain();
    }
    this.#parked = true;
    this.#wakePending = false;
    try {
      await this.#native.park(this.#parkTimeoutMs);
    } finally {
      this.#parked = false;
    }
    this.#lastTurnMs = performance.now();
    this.#holdUseful = this.#lastTurnMs - this.#lastBusyMs < HOLD_WINDOW_MS;
  }

  /** Gives control to the hub until it needs Deno, ends, or a stray fiber
   * ends into this one (then the hub is simply resumed). */
  #enterHub(): unknown {
    this.#hubActive = true;
    try {
      return this.#hub.switchSync();
    } catch (error) {
      // A fiber parented to main ended with an error while the hub waited
      // for it; the hub itself never throws.
      if (!this.#hub.isAlive()) throw error;
      this._reportError(error);
      return undefined;
    } finally {
      this.#hubActive = false;
    }
  }

  #wakeNative(): void {
    if (this.#wakePending) return;
    this.#wakePending = true;
    this.#native.wake();
  }

  #checkUsable(what: string): void {
    if (this.#destroyed) {
      throw new Error(`${what}(): the loop was destroyed`);
    }
  }

  // ---- timers ----

  #loopNow(): number {
    if (this.#hubActive && this.#nowFresh) return this.#now;
    return performance.now();
  }

  #addTimer(when: number, callback: Callback, args: unknown[]): Timer {
    const timer = new Timer(this, when, this.#timerSequence++, callback, args);
    this.#checkUsable("callLater");
    heapPush(this.#timers, timer);
    this.#liveTimers++;
    if (this.#parked) this.#wakeNative();
    return timer;
  }

  #fireTimers(now: number): void {
    const timers = this.#timers;
    while (timers.length > 0) {
      const top = timers[0];
      if (top.state === TIMER_ARMED && top.when > now) return;
      heapPop(timers);
      if (top.state === TIMER_ARMED) {
        top.state = TIMER_FIRED;
        this.#liveTimers--;
        this.#ready.push(top);
      }
    }
  }

  #dropCancelledTop(): void {
    const timers = this.#timers;
    while (timers.length > 0 && timers[0].state !== TIMER_ARMED) {
      heapPop(timers);
    }
  }

  #compactTimers(): void {
    const live = this.#timers.filter((timer) => timer.state === TIMER_ARMED);
    live.sort(compareTimers);
    this.#timers = live;
  }

  // ---- fd watchers, signals and tokens ----

  #addWatcher(fd: number, side: number, handler: Handler): void {
    checkFd(fd, side === READABLE ? "addReader()" : "addWriter()");
    this.#checkUsable(side === READABLE ? "addReader" : "addWriter");
    let entry = this.#fds.get(fd);
    if (entry !== undefined) {
      if ((side === READABLE ? entry.reader : entry.writer) !== null) {
        throw new Error(
          `another ${
            side === READABLE ? "reader" : "writer"
          } is already registered for fd ${fd}`,
        );
      }
    } else {
      entry = { fd, token: 0, mask: 0, reader: null, writer: null };
      const fdEntry = entry;
      entry.token = this.#allocateToken({
        internal: true,
        keepAlive: true,
        callback: (result) => this.#queueReadiness(fdEntry, result),
      });
    }
    try {
      this.#native.watch(fd, entry.mask | side, entry.token);
    } catch (error) {
      if (entry.mask === 0) this.#releaseToken(entry.token);
      throw error;
    }
    this.#fds.set(fd, entry);
    entry.mask |= side;
    if (side === READABLE) entry.reader = handler;
    else entry.writer = handler;
    if (this.#parked) this.#wakeNative();
  }

  #removeWatcher(fd: number, side: number): boolean {
    const entry = this.#fds.get(fd);
    if (entry === undefined || (entry.mask & side) === 0) return false;
    const handler = side === READABLE ? entry.reader : entry.writer;
    handler!.cancel();
    if (side === READABLE) entry.reader = null;
    else entry.writer = null;
    entry.mask &= ~side;
    if (entry.mask === 0) {
      this.#fds.delete(fd);
      this.#native.unwatch(fd);
      this.#releaseToken(entry.token);
    } else {
      this.#native.watch(fd, entry.mask, entry.token);
    }
    return true;
  }

  #queueReadiness(entry: FdEntry, mask: number): void {
    const broken = (mask & (FAILED | HANGUP)) !== 0;
    if (entry.reader !== null && (broken || (mask & READABLE) !== 0)) {
      this.#ready.push(entry.reader);
    }
    if (entry.writer !== null && (broken || (mask & WRITABLE) !== 0)) {
      this.#ready.push(entry.writer);
    }
  }

  #queueSignal(entry: SignalEntry): void {
    for (const handler of entry.handlers) this.#ready.push(handler);
  }

  #allocateToken(entry: TokenEntry): number {
    const token = this.#freeTokens.pop() ?? this.#tokens.length;
    this.#tokens[token] = entry;
    this.#liveTokens++;
    if (entry.keepAlive) this.#keepAliveTokens++;
    return token;
  }

  #releaseToken(token: number): void {
    const entry = this.#tokens[token]!;
    this.#tokens[token] = undefined;
    this.#freeTokens.push(token);
    this.#liveTokens--;
    if (entry.keepAlive) this.#keepAliveTokens--;
  }
}

const setImmediateTurn = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

function isIterator(value: unknown): value is Iterable<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Iterator<unknown>).next === "function" &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

function checkedSignal(signal: Deno.Signal): number {
  if (typeof signal !== "string") {
    throw new TypeError(
      `signal must be a signal name such as "SIGINT", got ${describe(signal)}`,
    );
  }
  return signalNumber(signal);
}

// Deno installs one process-wide handler per signal the first time a script
// listens for it and keeps it; with no listener left, that handler acts out
// the signal's default (for most signals: end the process). Our native
// handler chains to whatever was installed before it, so while a loop
// watches a signal a listener of our own keeps Deno's handler from ending
// the process under it. Windows calls console handlers newest first and
// stops at the first that claims the event, so there Deno's must not come in
// ahead of ours.
//
// Deno decides on a signal later, on a thread of its own, and calls its
// listeners once it has (so a call of ours proves it decided). A loop sees
// the signal first and often unwatches it at once (a handler that closes a
// server ends run(), whose loop is then destroyed; a handler may remove
// itself): dropping our listener then would let Deno's thread find none and
// end the process under a handled signal (issue 10, point 10). So the
// listener stays until Deno has called it after the last signal our native
// handler caught (it counts arrivals before chaining to Deno's, so a count
// read when Deno calls covers every signal Deno has decided on), and a
// timer keeps the process alive until then: a process ending first drops
// every listener before Deno's thread decides, with the same result. The
// timer also bounds the wait, should Deno never call.
const SIGNAL_ACKNOWLEDGE_MS_MAX = 1000;

function holdDenoSignal(entry: SignalEntry): (() => void) | null {
  if (Deno.build.os === "windows") return null;
  const listener = (): void => {
    entry.acknowledgedArrivals = signalArrivals(entry.signo);
    if (entry.released) dropDenoListener(entry);
  };
  Deno.addSignalListener(entry.signal, listener);
  return listener;
}

function releaseDenoSignal(entry: SignalEntry): void {
  entry.released = true;
  if (entry.denoListener === null) return;
  if (signalArrivals(entry.signo) === entry.acknowledgedArrivals) {
    dropDenoListener(entry);
  } else if (entry.releaseTimer === undefined) {
    entry.releaseTimer = setTimeout(
      () => dropDenoListener(entry),
      SIGNAL_ACKNOWLEDGE_MS_MAX,
    );
  }
}

function dropDenoListener(entry: SignalEntry): void {
  clearTimeout(entry.releaseTimer);
  entry.releaseTimer = undefined;
  const listener = entry.denoListener;
  entry.denoListener = null;
  if (listener !== null) Deno.removeSignalListener(entry.signal, listener);
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
