/**
 * Streams: the base class of every byte stream (TCP, pipes, terminals), with
 * evergreen 0.2.0's API on native buffers. Reads accumulate natively until
 * they can be answered (n bytes, a delimiter, a regular expression's match)
 * and the waiting task is resumed from the op's completion. JS sees the
 * native read buffer through a window (`eg_stream_window`: the buffer as an
 * ArrayBuffer plus shared start/end/scan offsets), so a read whose answer
 * is buffered is plain JS: search from where the last search stopped, copy
 * out, advance the start; native code runs only to wait for more bytes
 * (and may move or replace the buffer only then, bumping a generation that
 * makes JS fetch its view again). `write` never blocks: the
 * writes of one loop turn are staged and leave in one send before the loop
 * polls or parks; what the kernel does not take is copied into a native
 * queue that an op drains; `flush` waits for both. `tcp.ts`,
 * `pipe.ts` and `tty.ts` open streams; `server.ts` accepts them.
 *
 * @module
 */

import { Fiber } from "../fiber.ts";
import { describe, type EventLoop } from "../loop.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import { readableOf, writableOf } from "./web_streams.ts";
import * as native from "../native/stream_native.ts";
import { closeOnCollect, forgetOnCollect } from "../native/finalizer.ts";
import {
  errorFor,
  errorFromResult,
  type StreamError,
  type StreamErrorClass,
} from "./errors.ts";
import { blocking } from "../_operation.ts";
import { regexReach } from "./regex_reach.ts";
import { DelimiterCache, latin1 } from "./_bytes.ts";

/** The read buffer's default bound: 100 MiB, as in evergreen. */
export const DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024;
/** The largest `maxBufferSize` (reads are counted in 31 bits natively). */
export const MAX_BUFFER_SIZE_LIMIT = 0x7fffffff;
/** Coalesced writes leave at once once this many bytes are staged. */
const COALESCE_MAX = 64 * 1024;
/** Writes of this many bytes or more are not staged (after what is). */
const COALESCE_DIRECT_MIN = 16 * 1024;

/** Options every stream constructor takes. */
export interface StreamOptions {
  /**
   * The read buffer's bound in bytes (default 100 MiB). A read that cannot
   * be answered within it throws `ENOBUFS` and closes the stream.
   */
  maxBufferSize?: number;
}

const IDLE = 0;
const CONNECTING = 1;
const OPEN = 2;
const CLOSED = 3;

const fiberSwitch = Fiber.prototype.switch;
const encoder = new TextEncoder();
// Where a finished connection's late input is read and dropped.
const lingerScratch = new Uint8Array(4096);

/**
 * @internal One native op a task waits for: registers the op's token with
 * the loop (keeping `run()` alive), takes its completion, and resumes the
 * waiting fiber unless it gave up (killed, or the op was canceled). An
 * `intermediate` hook consumes records that do not end the op (accepted
 * connections).
 */
export class PendingOp {
  /** The token the op's records carry. */
  readonly token: number;
  /** True once the final record arrived. */
  done = false;
  /** The final record's result. */
  result = 0;
  /** The final record's aux word. */
  aux = 0;
  #loop: EventLoop;
  #fiber: Fiber | null;
  #abandoned = false;
  #intermediate: ((result: number, aux: number) => boolean) | null;

  /**
   * @param loop the loop whose ring carries the op's records
   * @param fiber the fiber to resume on completion (null: nobody)
   * @param intermediate consumes records that do not end the op
   */
  constructor(
    loop: EventLoop,
    fiber: Fiber | null,
    intermediate: ((result: number, aux: number) => boolean) | null = null,
  ) {
    this.#loop = loop;
    this.#fiber = fiber;
    this.#intermediate = intermediate;
    this.token = loop._registerToken(this.#complete, true, this.#settle);
  }

  /** True while the op runs (not done, its loop not destroyed). */
  get busy(): boolean {
    return !this.done;
  }

  // The loop was destroyed: the op ends with EBADF; its task is not resumed.
  #settle = (): void => {
    this.done = true;
    this.result = native.BAD_DESCRIPTOR;
    this.#abandoned = true;
  };

  #complete = (result: number, _kind: number, aux: number): unknown => {
    if (this.#intermediate !== null && this.#intermediate(result, aux)) {
      return undefined;
    }
    this.done = true;
    this.result = result;
    this.aux = aux;
    this.#loop._releaseToken(this.token);
    if (this.#abandoned || this.#fiber === null) return undefined;
    return fiberSwitch.call(this.#fiber);
  };

  /** Gives the token back for an op that never started. */
  release(): void {
    this.#loop._releaseToken(this.token);
  }

  /** The waiter left early: the completion will only release the token. */
  abandon(): void {
    this.#abandoned = true;
  }

  /** Parks the running task until the final record; returns its result. */
  *wait(): Generator<unknown, number, unknown> {
    while (!this.done) yield* this.#loop.switch();
    return this.result;
  }
}

/**
 * A byte stream with a bounded read buffer. Every blocking method is a
 * generator: call it with `yield*` inside a task. Reads return data
 * including the delimiter; at end of stream they return what is left, then
 * an empty `Uint8Array` on every later read. Any use of a closed stream
 * throws the stream's error class with code `"EBADF"`; a task blocked in a
 * read or `flush()` when another task closes the stream is woken with it.
 *
 * @example
 * ```ts ignore
 * import { TCPClient } from "./tcp.ts";
 * import { spawn } from "../tasks.ts";
 *
 * spawn(function* () {
 *   using client = new TCPClient();
 *   yield* client.connect({ hostname: "127.0.0.1", port: 8000 });
 *   client.write("PING\n");
 *   const line = yield* client.readUntil("\n");
 *   console.log(new TextDecoder().decode(line));
 * });
 * ```
 */
export abstract class Stream implements Disposable {
  #loop: EventLoop | null = null;
  #handle = 0;
  #state = IDLE;
  #maxBufferSize: number;
  #reader: PendingOp | null = null;
  // Latin1 text of the first buffered bytes, decoded by readUntilRegex and
  // kept for its next call; any other read clears it.
  #peeked = "";
  #draining = false;
  // Writes of this turn, sent together before the loop polls or parks.
  #out: Uint8Array | null = null;
  #outUsed = 0;
  #sendScheduled = false;
  // The error of a coalesced send, thrown by the next write or flush.
  #sendFailure = 0;
  #drainToken = 0;
  #waiters = new WaitQueue(() => {});
  #early: Uint8Array[] = [];
  #delimiters = new DelimiterCache();
  // The native read window (fetched on the first read; dropped on close,
  // when its memory goes away) and the delimiter its scan offset is for.
  #window: native.ReadWindow | null = null;
  #scanned: Uint8Array | null = null;

  /**
   * Sets up the stream's options; subclasses open or connect it.
   *
   * @param options `maxBufferSize`, the read buffer's bound (default 100 MiB)
   * @throws {RangeError} for a `maxBufferSize` that is not an integer from 1
   *   to 2^31 - 1.
   */
  constructor(options: StreamOptions = {}) {
    this.#maxBufferSize = checkMaxBufferSize(options?.maxBufferSize);
  }

  /** @internal The error class this stream throws (`TCPError`, `PipeError`, ...). */
  protected abstract get _errorClass(): StreamErrorClass;

  /** True once {@linkcode Stream.close} was called. */
  get closed(): boolean {
    return this.#state === CLOSED;
  }

  /** The stream as a web `ReadableStream` (see `web_streams.ts`). */
  get readable(): ReadableStream<Uint8Array> {
    return readableOf(this);
  }

  /** The stream as a web `WritableStream` (see `web_streams.ts`). */
  get writable(): WritableStream<Uint8Array> {
    return writableOf(this);
  }

  /** The read buffer's bound in bytes. */
  get maxBufferSize(): number {
    return this.#maxBufferSize;
  }

  /**
   * Reads exactly `n` bytes; fewer (what is left) at end of stream, then an
   * empty array.
   *
   * @throws {RangeError} if `n` is not a positive integer.
   * @throws {StreamError} (the stream's class) `EBADF` when closed, `ENOBUFS`
   *   when `n` exceeds `maxBufferSize` (the stream is closed), or the OS
   *   error that broke the connection (the stream is closed).
   */
  @blocking("readBytes()")
  *readBytes(n: number): Generator<unknown, Uint8Array, unknown> {
    if (!Number.isInteger(n) || n <= 0) {
      throw new RangeError(
        `readBytes() needs a positive integer byte count, got ${describe(n)}`,
      );
    }
    const handle = this.#readable("readBytes");
    if (n > this.#maxBufferSize) {
      throw this.#readFailure(native.NO_BUFFER_SPACE, "readBytes");
    }
    this.#peeked = "";
    const window = this.#windowFor(handle, "readBytes");
    const words = window.words;
    const start = words[native.WINDOW_START];
    if (words[native.WINDOW_END] - start >= n) {
      words[native.WINDOW_START] = start + n;
      return native.copyOut(window.bytes, start, n);
    }
    let result = native.streamRead(handle, native.READ_EXACT, n);
    if (result === native.WOULD_BLOCK) {
      result = yield* this.#readOp(handle, native.READ_EXACT, n, "readBytes");
    }
    return this.#took(result, "readBytes");
  }

  /**
   * Reads what is there, up to `buffer.length` bytes, into `buffer` (Deno's
   * `conn.read` shape, for callers that reuse one buffer): the byte count,
   * waiting for at least one byte; 0 at end of stream.
   *
   * @throws {TypeError} if `buffer` is not a non-empty Uint8Array.
   * @throws {StreamError} as {@linkcode Stream.readBytes} does.
   */
  @blocking("readInto()")
  *readInto(buffer: Uint8Array): Generator<unknown, number, unknown> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
      throw new TypeError(
        `readInto() needs a non-empty Uint8Array, got ${describe(buffer)}`,
      );
    }
    const handle = this.#readable("readInto");
    this.#peeked = "";
    const window = this.#windowFor(handle, "readInto");
    const words = window.words;
    const start = words[native.WINDOW_START];
    const buffered = words[native.WINDOW_END] - start;
    if (buffered > 0) {
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
    let result = native.streamReadInto(handle, buffer);
    if (result >= 0) return result;
    if (result === native.WOULD_BLOCK) {
      result = yield* this.#readOp(handle, native.READ_MORE, 0, "readInto");
    }
    if (result < 0) throw this.#readFailure(result, "readInto");
    if (buffer.length === 0) {
      // Detached (transferred) while waiting: the bytes stay buffered for the
      // next read; a count of 0 would claim end of stream.
      throw new TypeError(
        `readInto(): the buffer was detached while waiting; ${result} byte(s) stay buffered for the next read`,
      );
    }
    const count = Math.min(result, buffer.length);
    const after = this.#windowFor(handle, "readInto");
    const from = after.words[native.WINDOW_START];
    buffer.set(after.bytes.subarray(from, from + count));
    after.words[native.WINDOW_START] = from + count;
    return count;
  }

  /**
   * Reads up to and including `delimiter` (a string is UTF-8 encoded); at
   * end of stream returns what is left without it, then empty arrays.
   *
   * @throws {RangeError} for an empty delimiter or one over 64 KiB.
   * @throws {StreamError} as {@linkcode Stream.readBytes} does; `ENOBUFS`
   *   when `maxBufferSize` bytes arrive without the delimiter.
   */
  @blocking("readUntil()")
  *readUntil(
    delimiter: string | Uint8Array,
  ): Generator<unknown, Uint8Array, unknown> {
    const bytes = this.#delimiters.bytes(delimiter);
    const handle = this.#readable("readUntil");
    this.#peeked = "";
    const window = this.#windowFor(handle, "readUntil");
    const words = window.words;
    const start = words[native.WINDOW_START];
    const end = words[native.WINDOW_END];
    if (end - start >= bytes.length) {
      // The scan offset holds for the delimiter it was searched with.
      let from = this.#scanned === bytes ? words[native.WINDOW_SCAN] : start;
      if (from < start) from = start;
      const found = findBytes(window.bytes, from, end, bytes);
      if (found >= 0) {
        const next = found + bytes.length;
        words[native.WINDOW_START] = next;
        words[native.WINDOW_SCAN] = next;
        return native.copyOut(window.bytes, start, next - start);
      }
      // A delimiter may straddle the end: its length minus one is searched
      // again with the next bytes.
      words[native.WINDOW_SCAN] = end - bytes.length + 1;
    }
    // Native code takes the delimiter (and the scan offset with it when it
    // is the one it has) and waits for more.
    this.#scanned = bytes;
    const answer = native.streamReadTake(handle, native.READ_UNTIL, 0, bytes);
    if (typeof answer !== "number") return answer;
    let result = answer;
    if (result === native.WOULD_BLOCK) {
      result = yield* this.#readOp(handle, native.READ_UNTIL, 0, "readUntil");
    }
    return this.#took(result, "readUntil");
  }

  /**
   * Reads up to the end of the first match of `regex`, matched against the
   * buffered bytes as latin1 text (one character per byte); flags `g` and
   * `y` are ignored. At end of stream returns what is left, then empty
   * arrays.
   *
   * The search is incremental when it can be: for a pattern without
   * lookbehind, `^`, `$`, backreferences and unbounded quantifiers (`*`,
   * `+`, `{n,}`), whose attempts inspect at most `reach` characters (for
   * `/\r?\n/`, 2), a search that found nothing is resumed with the next
   * bytes at `reach - 1` characters before them, so a long line arriving
   * in small pieces costs time linear in its length. Other patterns are
   * searched again from the first buffered byte whenever bytes arrive.
   *
   * @throws {TypeError} if `regex` is not a RegExp.
   * @throws {StreamError} as {@linkcode Stream.readUntil} does.
   */
  @blocking("readUntilRegex()")
  *readUntilRegex(regex: RegExp): Generator<unknown, Uint8Array, unknown> {
    if (!(regex instanceof RegExp)) {
      throw new TypeError(
        `readUntilRegex() needs a RegExp, got ${describe(regex)}`,
      );
    }
    const compiled = compileRegex(regex);
    const pattern = compiled.pattern;
    const handle = this.#readable("readUntilRegex");
    // `text` is the latin1 text of the buffered bytes from offset `base`
    // (relative to the first buffered byte); no match starts before `from`.
    // The bytes decoded by an earlier call stay decoded.
    let text = this.#peeked;
    let base = 0;
    let from = 0;
    this.#peeked = "";
    for (;;) {
      const window = this.#windowFor(handle, "readUntilRegex");
      const words = window.words;
      const start = words[native.WINDOW_START];
      const buffered = words[native.WINDOW_END] - start;
      if (buffered < base + text.length) {
        text = "";
        base = from = 0;
      }
      if (buffered > base + text.length) {
        const decoded = start + base + text.length;
        text += latin1(window.bytes.subarray(decoded, start + buffered));
      }
      pattern.lastIndex = from - base;
      const match = pattern.exec(text);
      if (match !== null) {
        const end = base + match.index + match[0].length;
        this.#peeked = text.slice(end - base);
        words[native.WINDOW_START] = start + end;
        return native.copyOut(window.bytes, start, end);
      }
      if (compiled.reach !== Infinity) {
        // Attempts that start before `buffered - reach + 1` saw every
        // character they can inspect: more bytes cannot change them.
        from = Math.max(from, buffered - compiled.reach + 1);
        // Keep one character before `from` (\b looks at it).
        const keep = from - 1;
        if (keep > base) {
          text = text.slice(keep - base);
          base = keep;
        }
      }
      let result = native.streamRead(handle, native.READ_MORE, buffered);
      if (result === native.WOULD_BLOCK) {
        result = yield* this.#readOp(
          handle,
          native.READ_MORE,
          buffered,
          "readUntilRegex",
        );
      }
      if (result < 0) throw this.#readFailure(result, "readUntilRegex");
      // No more than before: the stream ended; hand over what is left.
      if (result <= buffered) return this.#took(result, "readUntilRegex");
    }
  }

  /**
   * Writes `data` (a string is UTF-8 encoded) without blocking; the bytes
   * are copied, so `data` may be reused at once. Inside a task or loop
   * callback, the writes of one loop turn are coalesced: they leave in one
   * send before the loop next polls or parks (at once past 64 KiB), so a
   * batch of replies costs one system call and a lone write is not
   * delayed. Outside the loop a write goes to the kernel at once. What the
   * kernel does not take is kept in a native queue sent in the background.
   *
   * Returns false when bytes wait in that native queue (the kernel's buffer
   * is full: the peer reads slower than this side writes; `flush()` waits
   * for them), true otherwise. Before a client is connected, data is kept
   * and sent once it is (false).
   *
   * @throws {TypeError} if `data` is neither a Uint8Array nor a string.
   * @throws {StreamError} `EBADF` when closed; the error of an earlier write
   *   that failed (a peer that went away: `EPIPE`, `ECONNRESET`).
   */
  write(data: Uint8Array | string): boolean {
    this.#checkLoop("write");
    if (this.#state !== OPEN) {
      if (this.#state === CLOSED) throw this.#closedError("write");
      this.#early.push(toBytes(data, "write()").slice());
      return false;
    }
    if (this.#sendFailure !== 0) {
      throw errorFromResult(this._errorClass, this.#sendFailure, "write");
    }
    const loop = this.#loop!;
    if (loop._inTurn) {
      if (typeof data === "string") {
        // Three bytes per UTF-16 unit at most.
        const most = data.length * 3;
        if (
          most < COALESCE_DIRECT_MIN && most <= COALESCE_MAX - this.#outUsed
        ) {
          const out = this.#outBuffer(data.length * 3);
          this.#outUsed += encoder.encodeInto(data, out.subarray(this.#outUsed))
            .written;
          return this.#staged(loop);
        }
      } else if (data instanceof Uint8Array) {
        // Large writes go out as they are (a copy would cost more than the
        // system call it saves).
        if (
          data.length < COALESCE_DIRECT_MIN &&
          data.length <= COALESCE_MAX - this.#outUsed
        ) {
          const out = this.#outBuffer(data.length);
          const used = this.#outUsed;
          const length = data.length;
          // A loop beats set() for the short replies most writes are.
          if (length <= 64) {
            for (let i = 0; i < length; i++) out[used + i] = data[i];
          } else {
            out.set(data, used);
          }
          this.#outUsed = used + length;
          return this.#staged(loop);
        }
      }
    }
    // Outside the loop, or large: what was staged goes first, then this.
    if (this.#outUsed > 0) this.#sendStaged();
    return this.#writeNow(data);
  }

  /**
   * Blocks until every byte written so far went to the kernel: this turn's
   * staged writes are sent now, then it waits for the native queue.
   *
   * @throws {StreamError} `EBADF` when closed (also when closed while
   *   waiting), `ENOTCONN` on a client never connected, or the error that
   *   stopped sending (`EPIPE`, `ECONNRESET`).
   */
  @blocking("flush()")
  *flush(): Generator<unknown, void, unknown> {
    for (let round = 0;; round++) {
      this.#checkLoop("flush");
      const state = this.#state;
      if (state === CLOSED) throw this.#closedError("flush");
      if (state !== OPEN) {
        if (state === IDLE) {
          throw errorFor(
            this._errorClass,
            "ENOTCONN",
            "flush",
            `the ${this.constructor.name} is not connected`,
          );
        }
        yield* this.#waiters.wait(undefined, "flush()");
        continue;
      }
      if (this.#outUsed > 0) this.#sendStaged();
      if (this.#sendFailure !== 0) {
        throw errorFromResult(this._errorClass, this.#sendFailure, "flush");
      }
      const queued = native.streamQueued(this.#handle);
      if (queued < 0) {
        this.#sendFailure = queued;
        throw errorFromResult(this._errorClass, queued, "flush");
      }
      if (queued === 0) return;
      if (!this.#draining) {
        const started = this.#startDrain();
        if (started < 0) {
          throw errorFromResult(this._errorClass, started, "flush");
        }
      }
      yield* this.#waiters.wait(undefined, "flush()");
    }
  }

  /**
   * Half-closes the write side once every written byte is out: the peer
   * reads end of stream; this side can still read.
   *
   * @throws {StreamError} as {@linkcode Stream.flush} does.
   */
  @blocking("shutdown()")
  *shutdown(): Generator<unknown, void, unknown> {
    yield* this.flush();
    const result = native.streamShutdown(this.#handle);
    if (result < 0) throw errorFromResult(this._errorClass, result, "shutdown");
  }

  /**
   * Closes the stream; a second call does nothing. Written bytes get one
   * nonblocking send; what the kernel does not take then is dropped
   * (`flush()` first to be sure). Tasks blocked in a read or `flush()` are
   * woken with `EBADF`.
   */
  close(): void {
    if (this.#state === CLOSED) return;
    this._beforeClose();
    // What this turn wrote gets the one try a direct write had.
    if (this.#outUsed > 0 && !this.#loop?._destroyed) this.#sendStaged();
    this.#state = CLOSED;
    this.#early = [];
    // The window's memory goes with the native stream.
    this.#window = null;
    this.#scanned = null;
    if (this.#handle !== 0) {
      forgetOnCollect(this);
      native.streamClose(this.#handle);
    }
    // Tasks of a destroyed loop can never be resumed: forget them.
    if (this.#loop?._destroyed) this.#waiters = new WaitQueue(() => {});
    else this.#waiters.notifyAll();
    this._afterClose();
  }

  /** Same as {@linkcode Stream.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- for subclasses ----

  /** @internal The native handle (0 before one exists). */
  get _handle(): number {
    return this.#handle;
  }

  /** @internal The loop the stream's native ops run on, once it has one. */
  get _loop(): EventLoop | null {
    return this.#loop;
  }

  /** @internal True once connected (or opened), until closed. */
  get _open(): boolean {
    return this.#state === OPEN;
  }

  /**
   * @internal Takes ownership of a native stream on `loop`; `open` says
   * whether it is connected already (accepted, inherited) or not yet.
   */
  _attach(loop: EventLoop, handle: number, open: boolean): void {
    this.#loop = loop;
    this.#handle = handle;
    this.#state = open ? OPEN : IDLE;
    closeOnCollect(this, handle, native.streamClose);
  }

  /**
   * @internal Connects with `start(token)` (which returns the native
   * result); resolves once connected, then sends what was written before.
   */
  *_connect(
    what: string,
    start: (token: number) => number,
    detail: (result: number) => string | undefined = () => undefined,
  ): Generator<unknown, void, unknown> {
    const errorClass = this._errorClass;
    if (this.#state === CLOSED) throw this.#closedError(what);
    this.#checkLoop(what);
    if (this.#state === OPEN) {
      throw errorFor(errorClass, "EISCONN", what, "already connected");
    }
    if (this.#state === CONNECTING) {
      throw errorFor(errorClass, "EALREADY", what, "already connecting");
    }
    const loop = this.#loop!;
    const pending = new PendingOp(loop, loop._blockingFiber(`${what}()`));
    const started = start(pending.token);
    if (started !== native.IN_PROGRESS) {
      pending.release();
      throw errorFromResult(errorClass, started, what, detail(started));
    }
    this.#state = CONNECTING;
    let result: number;
    try {
      result = yield* pending.wait();
    } finally {
      if (!pending.done) {
        pending.abandon();
        if (this.#state === CONNECTING) {
          native.streamCancel(this.#handle, native.SIDE_WRITE);
          this.#state = IDLE;
        }
      }
    }
    if (this.#state === CLOSED) throw this.#closedError(what);
    if (result < 0) {
      this.#state = IDLE;
      this.#waiters.notifyAll();
      throw errorFromResult(errorClass, result, what, detail(result));
    }
    this.#state = OPEN;
    const early = this.#early;
    this.#early = [];
    for (const bytes of early) this.write(bytes);
    this.#waiters.notifyAll();
  }

  /**
   * @internal Ends a server connection whose handler returned: sends what
   * was written, half-closes, reads (and drops) until the peer's end of
   * stream so that closing cannot reset a reply still in flight, then
   * closes; all within `lingerMs` (past it the connection is closed as is).
   * Never throws: a reset or a closed connection just ends it.
   */
  *_finish(lingerMs: number): Generator<unknown, void, unknown> {
    if (this.#state !== OPEN || this.#loop === null || this.#loop._destroyed) {
      this.close();
      return;
    }
    if (lingerMs === 0) {
      this.close();
      return;
    }
    const timer = Number.isFinite(lingerMs)
      ? this.#loop.callLater(lingerMs, () => this.close())
      : null;
    try {
      yield* this.shutdown();
      while ((yield* this.readInto(lingerScratch)) > 0) {
        // the peer's late bytes are dropped
      }
    } catch {
      // reset, closed by the linger timer or by another task: done
    } finally {
      timer?.cancel();
      this.close();
    }
  }

  /** @internal Called first by close(): cache what must stay readable. */
  _beforeClose(): void {}

  /** @internal Called last by close(). */
  _afterClose(): void {}

  /** @internal The error for use of a closed stream. */
  _closedError(what: string): StreamError {
    return this.#closedError(what);
  }

  // ---- internals ----

  #readable(what: string): number {
    this.#checkLoop(what);
    if (this.#state !== OPEN) {
      if (this.#state === CLOSED) throw this.#closedError(what);
      throw errorFor(
        this._errorClass,
        "ENOTCONN",
        what,
        `the ${this.constructor.name} is not connected`,
      );
    }
    if (this.#reader !== null && this.#reader.busy) {
      throw new Error(
        `${what}(): another task is already reading from this ${this.constructor.name}`,
      );
    }
    return this.#handle;
  }

  *#readOp(
    handle: number,
    mode: number,
    arg: number,
    what: string,
  ): Generator<unknown, number, unknown> {
    const loop = this.#loop!;
    const pending = new PendingOp(loop, loop._blockingFiber(what));
    const result = native.streamReadStart(handle, mode, arg, pending.token);
    if (result !== native.IN_PROGRESS) {
      pending.release();
      return result;
    }
    this.#reader = pending;
    try {
      while (!pending.done) yield* loop.switch();
      // Closed by another task after the op answered, in the same turn: the
      // answer's bytes went with the native buffer.
      if (this.#state === CLOSED) throw this.#closedError(what);
      return pending.result;
    } finally {
      this.#reader = null;
      if (!pending.done) {
        // Killed while waiting: stop the op; bytes it read stay buffered.
        pending.abandon();
        if (this.#state !== CLOSED) {
          native.streamCancel(handle, native.SIDE_READ);
        }
      }
    }
  }

  /** The read window, fetched again when the native side replaced its buffer. */
  #windowFor(handle: number, what: string): native.ReadWindow {
    const window = this.#window;
    if (
      window !== null &&
      window.words[native.WINDOW_GENERATION] === window.generation
    ) {
      return window;
    }
    const fetched = native.streamWindow(handle, window);
    if (typeof fetched === "number") {
      throw errorFromResult(this._errorClass, fetched, what);
    }
    this.#window = fetched;
    return fetched;
  }

  /** Takes the answer of a read op: `result` bytes from the window. */
  #took(result: number, what: string): Uint8Array {
    if (result < 0) throw this.#readFailure(result, what);
    if (result === 0) return new Uint8Array(0);
    const window = this.#windowFor(this.#handle, what);
    const start = window.words[native.WINDOW_START];
    window.words[native.WINDOW_START] = start + result;
    return native.copyOut(window.bytes, start, result);
  }

  #readFailure(result: number, what: string): StreamError {
    if (this.#state === CLOSED) return this.#closedError(what);
    const errorClass = this._errorClass;
    // The stream cannot go on after an overflow or a broken connection.
    this.close();
    if (result === native.NO_BUFFER_SPACE) {
      return errorFor(
        errorClass,
        "ENOBUFS",
        what,
        `no answer within maxBufferSize (${this.#maxBufferSize} bytes); the stream was closed`,
      );
    }
    return errorFromResult(errorClass, result, what);
  }

  /** Sends `data` now: the native write (what the kernel refuses is queued). */
  #writeNow(data: Uint8Array | string): boolean {
    const result = typeof data === "string"
      ? native.streamWriteText(this.#handle, data)
      : native.streamWrite(this.#handle, toBytes(data, "write()"));
    if (result === native.WRITE_SENT) return true;
    if (result === native.WRITE_QUEUED_START) {
      this.#startDrain();
    } else if (result < 0) {
      if (result !== native.BAD_DESCRIPTOR) this.#sendFailure = result;
      throw errorFromResult(this._errorClass, result, "write");
    }
    return false;
  }

  /** The staging buffer, with room for `more` bytes after what it holds. */
  #outBuffer(more: number): Uint8Array {
    const needed = this.#outUsed + more;
    let out = this.#out;
    if (out === null || out.length < needed) {
      let size = out === null ? 4096 : out.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, COALESCE_MAX));
      if (out !== null) grown.set(out.subarray(0, this.#outUsed));
      this.#out = out = grown;
    }
    return out;
  }

  /** After staging: arranges the turn's send (or sends past the bound). */
  #staged(loop: EventLoop): boolean {
    if (this.#outUsed >= COALESCE_MAX) {
      this.#sendStaged();
    } else if (!this.#sendScheduled) {
      this.#sendScheduled = true;
      loop._beforePoll(this.#sendStagedHook);
    }
    return !this.#draining;
  }

  #sendStagedHook = (): void => {
    this.#sendScheduled = false;
    this.#sendStaged();
  };

  /**
   * Hands the staged bytes to the native write (one send); a failure is
   * kept for the next write or flush.
   */
  #sendStaged(): void {
    const used = this.#outUsed;
    if (used === 0 || this.#state !== OPEN) return;
    this.#outUsed = 0;
    const result = native.streamWrite(
      this.#handle,
      this.#out!.subarray(0, used),
    );
    if (result === native.WRITE_SENT || result === native.WRITE_QUEUED) return;
    if (result === native.WRITE_QUEUED_START) {
      const started = this.#startDrain();
      if (started >= 0 || started === native.IN_PROGRESS) return;
      this.#sendFailure = started;
      return;
    }
    // Failed now: the native side keeps the error; fetch it.
    const kept = result < 0 ? result : native.streamQueued(this.#handle);
    if (kept < 0) this.#sendFailure = kept;
    this.#waiters.notifyAll();
  }

  // Each drain releases its own token: a drain's completion may still be
  // waiting in the ring when a write has already started the next one.
  #startDrain(): number {
    const loop = this.#loop!;
    // Each drain's completion is told apart by its token: a drain that ended
    // natively may be followed by the next one before its record is taken,
    // and its late completion must not end the next drain's wait.
    const token = loop._registerToken(
      (result: number) => this.#drained(token, result),
      true,
      () => this.#drainSettled(token),
    );
    const result = native.streamDrain(this.#handle, token);
    if (result === native.IN_PROGRESS) {
      this.#draining = true;
      this.#drainToken = token;
    } else {
      loop._releaseToken(token);
    }
    return result;
  }

  #drainSettled(token: number): void {
    if (token !== this.#drainToken) return;
    this.#drainToken = 0;
    this.#draining = false;
  }

  #drained(token: number, result: number): void {
    this.#loop!._releaseToken(token);
    // The queue could not be sent: later writes report why.
    if (result < 0 && result !== native.CANCELED && this.#sendFailure === 0) {
      this.#sendFailure = result;
    }
    if (token !== this.#drainToken) return;
    this.#drainToken = 0;
    this.#draining = false;
    this.#waiters.notifyAll();
  }

  /** Throws EBADF if the stream's loop was destroyed (its ops are gone). */
  #checkLoop(what: string): void {
    if (this.#state === CLOSED || !this.#loop?._destroyed) return;
    throw loopDestroyedError(this._errorClass, this.constructor.name, what);
  }

  #closedError(what: string): StreamError {
    return errorFor(
      this._errorClass,
      "EBADF",
      what,
      `the ${this.constructor.name} is closed`,
    );
  }
}

/**
 * @internal The error for use of an I/O object (of class `owner`) whose
 * loop was destroyed.
 */
export function loopDestroyedError(
  errorClass: StreamErrorClass,
  owner: string,
  what: string,
): StreamError {
  return errorFor(
    errorClass,
    "EBADF",
    what,
    `the ${owner} cannot be used: its loop was destroyed`,
  );
}

/** @internal Validates a `maxBufferSize` option (undefined: the default). */
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

interface CompiledRegex {
  source: string;
  flags: string;
  /** The pattern without `y`, with `g` (searches from `lastIndex`). */
  pattern: RegExp;
  /** regex_reach.ts's reach; Infinity: every search starts over. */
  reach: number;
}

const compiledRegexes = new WeakMap<RegExp, CompiledRegex>();

/** `regex` ready for readUntilRegex's incremental search (cached). */
function compileRegex(regex: RegExp): CompiledRegex {
  const { source, flags } = regex;
  const cached = compiledRegexes.get(regex);
  if (
    cached !== undefined && cached.source === source && cached.flags === flags
  ) {
    return cached;
  }
  const analysis = regexReach(source, flags);
  const compiled = {
    source,
    flags,
    pattern: new RegExp(source, flags.replace(/[gy]/g, "") + "g"),
    reach: analysis.incremental ? analysis.reach : Infinity,
  };
  compiledRegexes.set(regex, compiled);
  return compiled;
}

/** @internal `data` as bytes: strings are UTF-8 encoded. */
export function toBytes(data: Uint8Array | string, what: string): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(
      `${what} needs a Uint8Array or a string, got ${describe(data)}`,
    );
  }
  return data;
}

/**
 * Where `delimiter` first occurs in `bytes[from..end)`, or -1. `bytes` may
 * go on past `end` (the native buffer's stale tail): matches there do not
 * count.
 */
function findBytes(
  bytes: Uint8Array,
  from: number,
  end: number,
  delimiter: Uint8Array,
): number {
  const first = delimiter[0];
  const length = delimiter.length;
  const last = end - length;
  // A loop finds a near byte faster than indexOf (a builtin call); far
  // ones are left to indexOf.
  const near = Math.min(last, from + 64);
  for (let at = from; at <= last; at++) {
    if (at <= near) {
      if (bytes[at] !== first) continue;
    } else {
      at = bytes.indexOf(first, at);
      if (at < 0 || at > last) return -1;
    }
    let k = 1;
    while (k < length && bytes[at + k] === delimiter[k]) k++;
    if (k === length) return at;
  }
  return -1;
}
