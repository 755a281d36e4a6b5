/**
 * Private to `io/` (not re-exported by `mod.ts`): the read side a
 * {@linkcode Stream} (`stream.ts`) builds its read API on, one
 * {@linkcode StreamReader} per native stream: the read window (the native
 * read buffer as JS sees it) and the read op that waits for more bytes;
 * and the read buffer's bound (`maxBufferSize`), which servers check too.
 *
 * @module
 */

import type { EventLoop } from "../loop/event_loop.ts";
import * as native from "../native/stream_native.ts";
import { errorFromResult, type StreamErrorClass } from "./errors.ts";
import { PendingOp } from "./_pending_op.ts";
import { describe } from "../_util.ts";
import { indexOf } from "./_bytes.ts";

/** Options every stream constructor takes. */
export interface StreamOptions {
  /**
   * The read buffer's bound in bytes (default 100 MiB). A read that cannot
   * be answered within it throws `ENOBUFS` and closes the stream.
   */
  maxBufferSize?: number;
}

/** The read buffer's default bound: 100 MiB, as in evergreen. */
export const DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024;
/** The largest `maxBufferSize` (reads are counted in 31 bits natively). */
export const MAX_BUFFER_SIZE_LIMIT = 0x7fffffff;

/**
 * @internal Validates a `maxBufferSize` option (undefined: the default).
 *
 * @throws {RangeError} for a value that is not an integer from 1 to
 *   2^31 - 1.
 *
 * @example
 * ```ts
 * import { checkMaxBufferSize } from "./_stream_reader.ts";
 * console.log(checkMaxBufferSize(undefined)); // 104857600
 * console.log(checkMaxBufferSize(4096)); // 4096
 * ```
 */
export function checkMaxBufferSize(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_BUFFER_SIZE;
  if (!Number.isInteger(value) || value < 1 || value > MAX_BUFFER_SIZE_LIMIT) {
    throw new RangeError(
      `maxBufferSize must be an integer from 1 to ${MAX_BUFFER_SIZE_LIMIT}, got ${
        describe(value)
      }`,
    );
  }
  return value;
}

/**
 * @internal The read side of one native stream: its read window, fetched
 * on first use and again when the native side replaced its buffer, and the
 * read op a read waits in when the answer is not buffered yet. The stream
 * checks its own state (closed, not connected, already reading) first.
 *
 * @example
 * ```ts ignore
 * import { StreamReader } from "./_stream_reader.ts";
 * const reader = new StreamReader(loop, handle, TCPError);
 * const window = reader.window("readBytes"); // what is buffered
 * const count = yield* reader.wait(native.READ_EXACT, 4, "readBytes");
 * ```
 */
export class StreamReader {
  #loop: EventLoop;
  #handle: number;
  #errorClass: StreamErrorClass;
  // Dropped on close, when its memory goes away with the native stream.
  #window: native.ReadWindow | null = null;
  #op: PendingOp | null = null;
  #closed = false;
  // The delimiter the read window's scan offset is for.
  #scanned: Uint8Array | null = null;

  /**
   * @param loop the loop the stream's ops run on
   * @param handle the native stream
   * @param errorClass the error class the stream throws
   */
  constructor(loop: EventLoop, handle: number, errorClass: StreamErrorClass) {
    this.#loop = loop;
    this.#handle = handle;
    this.#errorClass = errorClass;
  }

  /** True while a task waits in a read op. */
  get busy(): boolean {
    return this.#op !== null && this.#op.busy;
  }

  /**
   * The read window, fetched again when the native side replaced its
   * buffer.
   *
   * @throws {StreamError} when the native stream has no window.
   */
  window(what: string): native.ReadWindow {
    const window = this.#window;
    if (
      window !== null &&
      window.words[native.WINDOW_GENERATION] === window.generation
    ) {
      return window;
    }
    const fetched = native.streamWindow(this.#handle, window);
    if (typeof fetched === "number") {
      throw errorFromResult(this.#errorClass, fetched, what);
    }
    this.#window = fetched;
    return fetched;
  }

  /**
   * Runs a read op (`mode`, `arg`: as `native.streamReadStart` takes them)
   * and waits for its answer: the native result, or `BAD_DESCRIPTOR` when
   * the stream was closed meanwhile. A task killed while waiting stops the
   * op; the bytes it read stay buffered.
   */
  *wait(
    mode: number,
    arg: number,
    what: string,
  ): Generator<unknown, number, unknown> {
    const loop = this.#loop;
    const handle = this.#handle;
    const pending = new PendingOp(loop, loop._blockingFiber(what));
    const result = native.streamReadStart(handle, mode, arg, pending.token);
    if (result !== native.IN_PROGRESS) {
      pending.release();
      return result;
    }
    this.#op = pending;
    try {
      while (!pending.done) yield* loop.switch();
      // Closed by another task after the op answered, in the same turn: the
      // answer's bytes went with the native buffer.
      if (this.#closed) return native.BAD_DESCRIPTOR;
      return pending.result;
    } finally {
      this.#op = null;
      if (!pending.done) {
        pending.abandon();
        if (!this.#closed) native.streamCancel(handle, native.SIDE_READ);
      }
    }
  }

  // The answers of a read without waiting. Each is the fast path of one of
  // Stream's read generators, kept out of them: a generator's frame is
  // allocated on every call, so theirs stay small.

  /**
   * readBytes(n) without waiting: the bytes when `n` are buffered, else
   * what the native read says (a count to take with {@linkcode take},
   * `WOULD_BLOCK`, or `-code`).
   */
  exact(n: number, what: string): Uint8Array | number {
    const window = this.window(what);
    const words = window.words;
    const start = words[native.WINDOW_START];
    if (words[native.WINDOW_END] - start >= n) {
      words[native.WINDOW_START] = start + n;
      return native.copyOut(window.bytes, start, n);
    }
    return native.streamRead(this.#handle, native.READ_EXACT, n);
  }

  /**
   * readUntil(delimiter) without waiting: the bytes up to and including the
   * delimiter when buffered, else what the native read says (as
   * {@linkcode exact}). Bytes searched stay searched for the same
   * delimiter.
   */
  until(delimiter: Uint8Array, what: string): Uint8Array | number {
    const window = this.window(what);
    const words = window.words;
    const start = words[native.WINDOW_START];
    const end = words[native.WINDOW_END];
    if (end - start >= delimiter.length) {
      // The scan offset holds for the delimiter it was searched with.
      let from = this.#scanned === delimiter
        ? words[native.WINDOW_SCAN]
        : start;
      if (from < start) from = start;
      const found = indexOf(window.bytes, delimiter, from, end);
      if (found >= 0) {
        const next = found + delimiter.length;
        words[native.WINDOW_START] = next;
        words[native.WINDOW_SCAN] = next;
        return native.copyOut(window.bytes, start, next - start);
      }
      // A delimiter may straddle the end: its length minus one is searched
      // again with the next bytes.
      words[native.WINDOW_SCAN] = end - delimiter.length + 1;
    }
    // Native code takes the delimiter (and the scan offset with it when it
    // is the one it has) and waits for more.
    this.#scanned = delimiter;
    return native.streamReadTake(this.#handle, native.READ_UNTIL, 0, delimiter);
  }

  /**
   * readInto(buffer) without waiting: the count copied into `buffer` (0 at
   * end of stream), `WOULD_BLOCK`, or `-code`.
   */
  into(buffer: Uint8Array, what: string): number {
    const window = this.window(what);
    const words = window.words;
    const start = words[native.WINDOW_START];
    const buffered = words[native.WINDOW_END] - start;
    if (buffered === 0) return native.streamReadInto(this.#handle, buffer);
    const n = Math.min(buffered, buffer.length);
    const bytes = window.bytes;
    if (n <= 64) {
      for (let i = 0; i < n; i++) buffer[i] = bytes[start + i];
    } else {
      buffer.set(bytes.subarray(start, start + n));
    }
    words[native.WINDOW_START] = start + n;
    return n;
  }

  /** Takes the first `count` buffered bytes (a read op's answer). */
  take(count: number, what: string): Uint8Array<ArrayBuffer> {
    const window = this.window(what);
    const start = window.words[native.WINDOW_START];
    window.words[native.WINDOW_START] = start + count;
    return native.copyOut(window.bytes, start, count);
  }

  /** The stream is closing: the window's memory goes with it. */
  close(): void {
    this.#closed = true;
    this.#window = null;
    this.#scanned = null;
  }
}
