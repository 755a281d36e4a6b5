/**
 * The native poll loop seen from JS: watches descriptors and signals, polls
 * synchronously, parks an idle loop off the JS thread, and reads completion
 * records straight out of the ring in native memory (one FFI call per loop
 * turn at most, none per record). `src/loop.ts` drives it; the record layout
 * is documented in zig/loop/ring.zig.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import { check, NativeError } from "./errors.ts";
import type { NativeLibrary } from "./symbols.ts";
import { mapSharedRing, type RingLayout } from "./shared_ring.ts";
import {
  HOST_IO_IDLE,
  RING_HEADER_BYTES as HEADER_BYTES,
  RING_MAGIC as MAGIC,
  RING_RECORD_BYTES as RECORD_BYTES,
  RING_WORD_CAPACITY as WORD_CAPACITY,
  RING_WORD_DEFERRED as WORD_DEFERRED,
  RING_WORD_HEAD as WORD_HEAD,
  RING_WORD_MAGIC as WORD_MAGIC,
  RING_WORD_OVERFLOW as WORD_OVERFLOW,
  RING_WORD_RECORD_SIZE as WORD_RECORD_SIZE,
  RING_WORD_TAIL as WORD_TAIL,
} from "./constants.ts";

export { NativeError } from "./errors.ts";
export { signalNumber } from "./signals.ts";

// Readiness bits and loop record kinds (constants.ts has their docs).
export {
  FAILED,
  HANGUP,
  KIND_READ_EXACT,
  KIND_READINESS,
  KIND_SIGNAL,
  NATIVE_OPS_MAX,
  READABLE,
  WRITABLE,
} from "./constants.ts";

// The ring's layout: zig/loop/ring.zig.
const HEADER_WORDS = HEADER_BYTES / 4;

const COMPLETION_RING: RingLayout = {
  name: "the completion ring",
  headerBytes: HEADER_BYTES,
  magicWord: WORD_MAGIC,
  magic: MAGIC,
  recordSizeWord: WORD_RECORD_SIZE,
  recordSize: RECORD_BYTES,
  bytes: (header) => HEADER_BYTES + header[WORD_CAPACITY] * RECORD_BYTES,
};
// The longest wait one native call takes (its FFI parameter is an i32). A
// longer wait, or Infinity, is clamped: it returns after ~24.8 days with
// nothing to harvest and the caller waits again (issue 10, point 5).
const WAIT_MS_MAX = 0x7fff_ffff;

/**
 * A wait in ms as the native layer takes it: -1 (no limit) stays, anything
 * else becomes an integer from 0 to WAIT_MS_MAX (Infinity and huge waits
 * clamped, fractions rounded up so a wait never ends early).
 */
function nativeWaitMs(timeoutMs: number): number {
  if (timeoutMs === -1) return -1;
  if (!(timeoutMs > 0)) return 0;
  return timeoutMs >= WAIT_MS_MAX ? WAIT_MS_MAX : Math.ceil(timeoutMs);
}

// A loop that is dropped without close() is closed when it is collected, on
// the JS thread that owns it (as eg_loop_close requires).
const finalizer = new FinalizationRegistry<number>((handle) => {
  openLibrary().symbols.eg_loop_close(handle);
});

/**
 * How many times the library's signal handler caught `signo` in this
 * process so far (wrapping; compare with `!==`). Each arrival is counted
 * before the handler chains to the one installed before it (Deno's).
 *
 * @example
 * ```ts ignore
 * import { signalArrivals } from "./native_loop.ts";
 * const before = signalArrivals(15);
 * ```
 */
export function signalArrivals(signo: number): number {
  return openLibrary().symbols.eg_signal_arrivals(signo);
}

/** Options of {@linkcode NativeLoop}. */
export interface NativeLoopOptions {
  /** Records in the completion ring, a power of two (default 4096). */
  ringCapacity?: number;
}

/**
 * One native poll loop, owned by the thread that created it.
 *
 * @example
 * ```ts ignore
 * import { NativeLoop, READABLE } from "./native_loop.ts";
 * using loop = new NativeLoop();
 * loop.watch(fd, READABLE, 1);
 * if (loop.poll(0) > 0) {
 *   loop.drain((token, result, kind, aux) => console.log(token, result, kind, aux));
 * }
 * ```
 */
export class NativeLoop implements Disposable {
  #lib: NativeLibrary;
  #handle: number;
  #closed = false;
  #words: Uint32Array;
  #signed: Int32Array;
  #mask: number;

  /**
   * Creates the loop (`eg_loop_new`) and maps its completion ring.
   *
   * @throws {LibraryLoadError} when the native library cannot be loaded.
   * @throws {NativeError} when the loop cannot be created.
   */
  constructor(options: NativeLoopOptions = {}) {
    this.#lib = openLibrary();
    const symbols = this.#lib.symbols;
    this.#handle = check(
      symbols.eg_loop_new(options.ringCapacity ?? 0),
      "create the native loop",
    );
    const address = new BigUint64Array(1);
    try {
      check(symbols.eg_loop_ring(this.#handle, address), "map the ring");
      const buffer = mapSharedRing(address[0], COMPLETION_RING);
      this.#words = new Uint32Array(buffer);
      this.#signed = new Int32Array(buffer);
      this.#mask = this.#words[WORD_CAPACITY] - 1;
      finalizer.register(this, this.#handle, this);
    } catch (error) {
      symbols.eg_loop_close(this.#handle);
      this.#closed = true;
      throw error;
    }
  }

  /** The native handle, for other modules of `src/native/`. */
  get handle(): number {
    return this.#handle;
  }

  /** Whether {@linkcode NativeLoop.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Records in the ring (its capacity). */
  get ringCapacity(): number {
    return this.#mask + 1;
  }

  /**
   * Readiness reports held back so far because the ring was full (they are
   * delivered by a later poll: readiness is level-triggered).
   */
  get deferredReports(): number {
    return this.#closed ? 0 : this.#words[WORD_DEFERRED];
  }

  /** Op completions waiting natively for room in the ring right now. */
  get overflowRecords(): number {
    return this.#closed ? 0 : this.#words[WORD_OVERFLOW];
  }

  /**
   * One loop turn: waits up to `timeoutMs` (0: not at all, -1: until
   * something happens or {@linkcode NativeLoop.wake}; waits past 2^31-1 ms,
   * `Infinity` included, are clamped to that), then returns how many
   * records {@linkcode NativeLoop.drain} can read now. Blocks the JS thread
   * while it waits.
   */
  poll(timeoutMs: number): number {
    return check(
      this.#lib.symbols.eg_loop_poll(this.#handle, nativeWaitMs(timeoutMs)),
      "poll the native loop",
    );
  }

  /**
   * Waits off the JS thread until the loop has something to harvest, is
   * woken, or `timeoutMs` passes (-1: no limit; clamped as in
   * {@linkcode NativeLoop.poll}); harvest with {@linkcode NativeLoop.poll}
   * afterwards. Closing the loop ends a park.
   */
  async park(timeoutMs: number): Promise<void> {
    const result = await this.#lib.symbols.eg_loop_park(
      this.#handle,
      nativeWaitMs(timeoutMs),
    );
    if (result < 0 && !this.#closed) {
      throw NativeError.from(result, "park the native loop");
    }
  }

  /**
   * Whether Deno's runtime may have I/O events it has not collected: false
   * only when the library can see Deno's epoll sets and none holds any
   * (zig/loop/host_io.zig); true where it cannot tell.
   */
  hostIoPending(): boolean {
    return this.#lib.symbols.eg_loop_host_io_pending(this.#handle) !==
      HOST_IO_IDLE;
  }

  /** Interrupts a poll or park in progress (or the next one). */
  wake(): void {
    check(this.#lib.symbols.eg_loop_wake(this.#handle), "wake the native loop");
  }

  /**
   * Reports `fd` every turn while it is ready for `events`
   * (READABLE|WRITABLE), as records with `token`; replaces the previous mask.
   */
  watch(fd: number, events: number, token: number): void {
    check(
      this.#lib.symbols.eg_loop_watch(this.#handle, fd, events, token),
      `watch fd ${fd}`,
    );
  }

  /** Stops watching `fd` (ENOENT if it was not watched). */
  unwatch(fd: number): void {
    check(
      this.#lib.symbols.eg_loop_unwatch(this.#handle, fd),
      `unwatch fd ${fd}`,
    );
  }

  /** Reports signal `signo` (see `signalNumber`) as records with `token`. */
  watchSignal(signo: number, token: number): void {
    check(
      this.#lib.symbols.eg_loop_watch_signal(this.#handle, signo, token),
      `watch signal ${signo}`,
    );
  }

  /** Stops reporting signal `signo` (ENOENT if it was not watched). */
  unwatchSignal(signo: number): void {
    check(
      this.#lib.symbols.eg_loop_unwatch_signal(this.#handle, signo),
      `unwatch signal ${signo}`,
    );
  }

  /** Completes the native ops waiting on `fd` with ECANCELED. */
  cancelFd(fd: number): void {
    check(
      this.#lib.symbols.eg_loop_cancel_fd(this.#handle, fd),
      `cancel the operations on fd ${fd}`,
    );
  }

  /** Native ops started and not completed yet. */
  opsLive(): number {
    return check(
      this.#lib.symbols.eg_loop_ops_live(this.#handle),
      "count the native operations",
    );
  }

  /**
   * Calls `onCompletion` for every record in the ring, oldest first, reading
   * native memory directly; returns how many were delivered. A callback may
   * poll or drain again: each record is delivered exactly once.
   */
  drain(
    onCompletion: (
      token: number,
      result: number,
      kind: number,
      aux: number,
    ) => void,
  ): number {
    if (this.#closed) {
      throw NativeError.from(-1, "drain a closed native loop");
    }
    const words = this.#words;
    const signed = this.#signed;
    const mask = this.#mask;
    let delivered = 0;
    let head = words[WORD_HEAD];
    // The head is stored before each callback, so a nested drain continues
    // from the next record instead of delivering this one again. A callback
    // that closes the loop ends the drain: the ring's memory is gone.
    while (head !== words[WORD_TAIL]) {
      const base = HEADER_WORDS + ((head & mask) << 2);
      words[WORD_HEAD] = (head + 1) >>> 0;
      delivered++;
      onCompletion(
        words[base],
        signed[base + 1],
        words[base + 2],
        words[base + 3],
      );
      if (this.#closed) break;
      head = words[WORD_HEAD];
    }
    return delivered;
  }

  /**
   * Frees the loop: stops its watches and signal handlers and cancels its
   * native ops. A second call does nothing; other calls then throw EBADF.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    finalizer.unregister(this);
    check(
      this.#lib.symbols.eg_loop_close(this.#handle),
      "close the native loop",
    );
  }

  /** Same as {@linkcode NativeLoop.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
