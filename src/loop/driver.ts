/**
 * The run/park/turn driver of the loop: the hub fiber's body (fire timers,
 * poll the native loop, run a batch of callbacks), and the code that runs
 * the hub from Deno, either inside Deno's event loop (`run()`: turns, spins
 * and parks, `pacing.ts`) or blocking in the native poll (`runSync()`).
 * `event_loop.ts` is its public face.
 *
 * @module
 */

import {
  current,
  Fiber,
  FiberError,
  isMainFiber,
  resumeInPlace,
} from "../fiber/fiber.ts";
import { HUB_SWITCH, isSwitch } from "../fiber/switch.ts";
import type { NativeLoop } from "../native/native_loop.ts";
import {
  forgottenPending,
  takeForgotten,
  throwIfForgotten,
} from "../_operation.ts";
import {
  CLOCK_EVERY_ITERATIONS,
  HOLD_WINDOW_MS,
  HOST_POLL_MAX_MS,
  setImmediateTurn,
  SPIN_WINDOW_MS,
  SpinPolicy,
  TURN_BUDGET_MS,
} from "./pacing.ts";
import { ReadyQueue } from "./ready_queue.ts";
import type { StallDetector } from "./stall.ts";
import { TimerQueue } from "./timers.ts";
import { TokenRecord, TokenTable } from "./tokens.ts";

// Messages from the hub to the fiber that runs `run()`.
const TURN = { hubMessage: "turn" };
const PARK = { hubMessage: "park" };

/** @internal Not running. */
export const MODE_IDLE = 0;
/** @internal Under `run()`/`runForever()`. */
export const MODE_ASYNC = 1;
/** @internal Under `runSync()`. */
export const MODE_SYNC = 2;

/**
 * @internal The state and the driving code of one loop; `EventLoop` owns
 * one and reads its fields directly (they are internal to `src/loop/`).
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 * using loop = new EventLoop();
 * loop.callSoon(() => console.log("driven"));
 * loop.runSync(); // the driver runs the hub until no work is left
 * ```
 */
export class Driver {
  readonly hub: Fiber;
  readonly native: NativeLoop;
  readonly stall: StallDetector;
  /** The stall detector's threshold (0: off), read once per batch. */
  readonly stallWarningMs: number;
  readonly timers = new TimerQueue();
  readonly tokens = new TokenTable();
  runner: Fiber | null = null;
  mode = MODE_IDLE;
  forever = false;
  started = false;
  running = false;
  ended = false;
  destroyed = false;
  stopping = false;
  /** True while the hub (or a fiber it switched to) has control. */
  hubActive = false;
  parked = false;
  wakePending = false;
  /** Callbacks: the batch being run is detached; new ones go here. */
  ready: ReadyQueue = new ReadyQueue();
  #spare: ReadyQueue = new ReadyQueue();
  /** Loop time, read at most once per iteration while timers are armed. */
  now = 0;
  nowFresh = false;
  #lastTurnMs = 0;
  #lastHostPollMs = 0;
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
  pendingPromises = 0;
  exceptionHandler: ((error: unknown) => void) | null = null;
  /** The fiber that last switched back to the hub (for the stall detector). */
  ranFiber: Fiber | null = null;
  /** Run once each before the loop next polls or parks (coalesced writes). */
  beforePoll: (() => void)[] = [];
  #beforePollSpare: (() => void)[] = [];
  /** Run once each when `run()`/`runSync()` ends: the loop cannot run again. */
  atEnd: (() => void)[] = [];

  /** A driver of `native`, reporting stalls to `stall`. */
  constructor(native: NativeLoop, stall: StallDetector) {
    this.native = native;
    this.stall = stall;
    this.stallWarningMs = stall.warningMs;
    this.hub = new Hub(this, () => this.#hubBody());
  }

  /**
   * Sends an error to the exception handler (`console.error` by default);
   * an error the handler throws goes to `console.error`.
   */
  reportError(error: unknown): void {
    try {
      (this.exceptionHandler ?? logError)(error);
    } catch (handlerError) {
      console.error(handlerError);
    }
  }

  /** Wakes a parked loop (once per park). */
  wakeNative(): void {
    if (this.wakePending) return;
    this.wakePending = true;
    this.native.wake();
  }

  /** Forgets every queued callback and timer (the loop was destroyed). */
  clear(): void {
    this.atEnd = [];
    this.ready = new ReadyQueue();
    this.#spare = new ReadyQueue();
    this.timers.clear();
    this.beforePoll = [];
  }

  // ---- the hub ----

  *#hubBody(): Generator<unknown, void, unknown> {
    // Set after a blocking poll already harvested the native loop, so that
    // a level-triggered fd is not reported (and its reader queued) twice.
    let harvested = false;
    const timers = this.timers;
    const tokens = this.tokens;
    for (;;) {
      if (this.beforePoll.length > 0) this.#runBeforePoll();
      if (this.stopping) return;
      if (timers.live > 0) {
        this.now = performance.now();
        this.nowFresh = true;
        timers.fireDue(this.now, this.ready);
      } else {
        this.nowFresh = false;
      }
      if (tokens.live > 0 && !harvested) this.#pollNative(0);
      harvested = false;
      if (this.ready.length === 0) {
        if (!this.forever && !this.#keepsAlive()) return;
        const timeoutMs = timers.waitTimeoutMs();
        if (this.mode === MODE_SYNC) {
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
              yield* this.runner!.switch(TURN);
            } else {
              // Wait for the next request in the kernel on this thread (one
              // wake-up, as runSync pays, instead of a thread hand-off), a
              // millisecond at a time so that Deno's turns stay on budget.
              this.#pollNative(timeoutMs < 0 ? 1 : Math.min(timeoutMs, 1));
              harvested = true;
            }
          } else {
            this.#parkTimeoutMs = timeoutMs;
            yield* this.runner!.switch(PARK);
          }
        }
        continue;
      }
      const batch = this.ready;
      this.ready = this.#spare;
      const entries = batch.entries;
      const stallWarningMs = this.stallWarningMs;
      for (let i = 0; i < batch.length; i++) {
        let startMs = 0;
        if (stallWarningMs > 0) {
          startMs = performance.now();
          this.ranFiber = null;
        }
        try {
          // A callback that returns nothing still gets the checks below.
          const result = entries[i]!._fire();
          if (result !== undefined) {
            if (isSwitch(result)) {
              // The fiber runs right here until it blocks again: no hub
              // generator step, no allocated yield result, no trampoline
              // round (sleep(0) among 10 tasks 82 -> 58 ns). Only another
              // kind of request goes through the trampoline.
              if (!resumeInPlace(this.hub)) yield HUB_SWITCH;
            } else if (isIterator(result)) {
              yield* result;
            }
          }
        } catch (error) {
          this.reportError(error);
        }
        // A plain callback that made an operation without running it.
        if (forgottenPending()) this.reportError(takeForgotten());
        if (stallWarningMs > 0) {
          this.stall.check(startMs, this.ranFiber, this.#reportError);
        }
      }
      batch.empty();
      this.#spare = batch;
      this.#busySincePark = true;
      if (this.mode === MODE_ASYNC && this.#turnDue()) {
        if (this.beforePoll.length > 0) this.#runBeforePoll();
        yield* this.runner!.switch(TURN);
      }
    }
  }

  #reportError = (error: unknown): void => this.reportError(error);

  /**
   * Whether run() should wait for the next work in a blocking native poll
   * rather than spin and park: only while work keeps arriving (the last idle
   * gap was short, and this one is still short), and while no task waits on a
   * JS promise, which only Deno's own turns settle.
   */
  #holding(now: number): boolean {
    if (!this.#holdUseful || this.pendingPromises > 0) return false;
    if (now - this.#lastBusyMs < HOLD_WINDOW_MS) return true;
    // A real idle period: park from now on until work comes back quickly.
    this.#holdUseful = false;
    return false;
  }

  #turnDue(): boolean {
    let now: number;
    if (this.nowFresh) {
      now = this.now;
    } else if (--this.#clockCountdown <= 0) {
      this.#clockCountdown = CLOCK_EVERY_ITERATIONS;
      now = performance.now();
    } else {
      return false;
    }
    return now - this.#lastTurnMs >= TURN_BUDGET_MS;
  }

  #keepsAlive(): boolean {
    return this.timers.live > 0 || this.tokens.keepAlive > 0 ||
      this.pendingPromises > 0;
  }

  #runBeforePoll(): void {
    const flushers = this.beforePoll;
    this.beforePoll = this.#beforePollSpare;
    for (let i = 0; i < flushers.length; i++) {
      try {
        flushers[i]();
      } catch (error) {
        this.reportError(error);
      }
    }
    flushers.length = 0;
    this.#beforePollSpare = flushers;
  }

  #pollNative(timeoutMs: number): void {
    if (this.native.poll(timeoutMs) > 0) {
      this.native.drain(this.#onCompletion);
    }
  }

  #onCompletion = (
    token: number,
    result: number,
    kind: number,
    aux: number,
  ): void => {
    const entry = this.tokens.entries[token];
    if (entry === undefined) return;
    if (entry.internal) {
      entry.callback(result, kind, aux);
    } else {
      this.ready.push(new TokenRecord(entry, result, kind, aux));
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
    if (this.destroyed) throw new Error(`${what}(): the loop was destroyed`);
    if (this.ended || !this.hub.isAlive()) {
      throw new Error(`${what}(): the loop has already ended`);
    }
    if (this.started) {
      throw new Error(`${what}(): the loop was already started`);
    }
    // Plain code that made an operation without running it.
    throwIfForgotten();
    this.hub.parent = fiber;
    this.runner = fiber;
    this.mode = mode;
    this.forever = forever;
    this.started = true;
    this.running = true;
    this.#lastTurnMs = performance.now();
  }

  #finish(): void {
    this.running = false;
    this.ended = true;
    this.mode = MODE_IDLE;
    this.runner = null;
    const hooks = this.atEnd;
    this.atEnd = [];
    for (const hook of hooks) {
      try {
        hook();
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  /** `run()` (`forever`: `runForever()`). */
  async runAsync(forever: boolean): Promise<void> {
    this.#begin(MODE_ASYNC, forever, forever ? "runForever" : "run");
    // The first ask finds Deno's epoll sets (one look at each descriptor of
    // the process): now, while few are open, not in a busy turn later.
    this.native.hostIoPending();
    try {
      while (this.hub.isAlive()) {
        const message = this.#enterHub();
        if (message === TURN) {
          await setImmediateTurn();
          // Deno polls its own I/O only when its runtime waits; a zero
          // park on its blocking pool makes it wait, at the price of a
          // thread hand-off, paid only when Deno has I/O to collect.
          if (
            performance.now() - this.#lastHostPollMs >= HOST_POLL_MAX_MS ||
            this.native.hostIoPending()
          ) {
            await this.native.park(0);
            await setImmediateTurn();
            this.#lastHostPollMs = performance.now();
          }
          this.#lastTurnMs = performance.now();
        } else if (message === PARK) {
          await this.#idle();
        }
      }
    } finally {
      this.#finish();
    }
  }

  /** `runSync()`. */
  runSync(): void {
    this.#begin(MODE_SYNC, false, "runSync");
    try {
      while (this.hub.isAlive()) this.#enterHub();
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
    this.parked = true;
    this.wakePending = false;
    try {
      await this.native.park(this.#parkTimeoutMs);
    } finally {
      this.parked = false;
    }
    this.#lastTurnMs = performance.now();
    this.#holdUseful = this.#lastTurnMs - this.#lastBusyMs < HOLD_WINDOW_MS;
  }

  /** Gives control to the hub until it needs Deno, ends, or a stray fiber
   * ends into this one (then the hub is simply resumed). */
  #enterHub(): unknown {
    this.hubActive = true;
    try {
      return this.hub.switchSync();
    } catch (error) {
      // A fiber parented to main ended with an error while the hub waited
      // for it; the hub itself never throws.
      if (!this.hub.isAlive()) throw error;
      this.reportError(error);
      return undefined;
    } finally {
      this.hubActive = false;
    }
  }
}

/**
 * The hub fiber: only the loop resumes it, while it drives it (`run()`,
 * `runSync()`, and tasks blocking in a turn). Switched into from anywhere
 * else, it would run the loop's callbacks outside `run()` and end the loop
 * for good, so that throws instead.
 */
class Hub extends Fiber<void> {
  readonly #driver: Driver;

  constructor(driver: Driver, body: () => Generator<unknown, void, unknown>) {
    super(body, { name: "Hub" });
    this.#driver = driver;
  }

  override switch(value?: unknown): Generator<unknown, unknown, unknown> {
    this.#checkDriven("switch to");
    return super.switch(value);
  }

  override throw(error: unknown): Generator<unknown, unknown, unknown> {
    this.#checkDriven("throw into");
    return super.throw(error);
  }

  override switchSync(value?: unknown): unknown {
    this.#checkDriven("switch to");
    return super.switchSync(value);
  }

  override throwSync(error: unknown): unknown {
    this.#checkDriven("throw into");
    return super.throwSync(error);
  }

  #checkDriven(verb: string): void {
    if (this.#driver.hubActive) return;
    throw new FiberError(
      `cannot ${verb} the hub (loop.task) from outside the loop: it runs only under loop.run() or loop.runSync(), and tasks return to it with \`yield* loop.switch()\``,
    );
  }
}

function isIterator(value: unknown): value is Iterable<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Iterator<unknown>).next === "function" &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

// The default exception handler (looked up when called, so that a
// replaced `console.error` is the one used).
function logError(error: unknown): void {
  console.error(error);
}
