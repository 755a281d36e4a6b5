/**
 * Signal watching: the handlers of `addSignalHandler`, one native watch
 * (and one token) per signal, and the no-op Deno listener that keeps Deno's
 * own handler from acting out a signal the loop handles.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { signalArrivals, signalNumber } from "../native/native_loop.ts";
import { type Callback, Handler } from "./handler.ts";
import { TokenWatchers } from "./tokens.ts";

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

/** One of possibly several handlers of a signal. */
class SignalHandler extends Handler {
  readonly #entry: SignalEntry;
  readonly #watchers: SignalWatchers;

  constructor(
    watchers: SignalWatchers,
    entry: SignalEntry,
    callback: Callback,
    args: unknown[],
  ) {
    super(callback, args);
    this.#watchers = watchers;
    this.#entry = entry;
  }

  override cancel(): void {
    super.cancel();
    if (this.#entry.handlers.delete(this)) {
      this.#watchers.handlerRemoved(this.#entry);
    }
  }
}

/**
 * @internal The watched signals of one loop.
 *
 * @example
 * ```ts
 * import { checkedSignal } from "./signals.ts";
 * console.log(checkedSignal("SIGINT") > 0); // true
 * ```
 */
export class SignalWatchers extends TokenWatchers {
  #signals = new Map<number, SignalEntry>();

  /**
   * Adds a handler of signal number `signo` (from {@linkcode checkedSignal}).
   *
   * @throws {TypeError} if `callback` is not a function.
   */
  add(
    signal: Deno.Signal,
    signo: number,
    callback: Callback,
    args: unknown[],
  ): Handler {
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
      entry.token = this.tokens.allocate({
        internal: true,
        keepAlive: false,
        callback: () => {
          for (const handler of signalEntry.handlers) this.enqueue(handler);
        },
      });
      try {
        // Deno refuses some signals (SIGKILL, SIGSEGV, ...) here.
        entry.denoListener = holdDenoSignal(entry);
        this.native.watchSignal(signo, entry.token);
      } catch (error) {
        this.tokens.release(entry.token);
        releaseDenoSignal(entry);
        throw error;
      }
      this.#signals.set(signo, entry);
    }
    entry.handlers.add(handler);
    return handler;
  }

  /** Removes every handler of signal number `signo`; false if it had none. */
  removeAll(signo: number): boolean {
    const entry = this.#signals.get(signo);
    if (entry === undefined) return false;
    for (const handler of [...entry.handlers]) handler.cancel();
    return true;
  }

  /** Removes every handler of every signal. */
  clear(): void {
    for (const entry of [...this.#signals.values()]) {
      for (const handler of [...entry.handlers]) handler.cancel();
    }
  }

  /** Called when a signal loses a handler. */
  handlerRemoved(entry: SignalEntry): void {
    if (entry.handlers.size > 0 || this.#signals.get(entry.signo) !== entry) {
      return;
    }
    this.#signals.delete(entry.signo);
    this.native.unwatchSignal(entry.signo);
    this.tokens.release(entry.token);
    releaseDenoSignal(entry);
  }
}

/**
 * @internal The number of a signal name on this OS.
 *
 * @throws {TypeError} if `signal` is not a signal name this OS supports.
 */
export function checkedSignal(signal: Deno.Signal): number {
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
