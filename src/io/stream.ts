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
 * makes JS fetch its view again; `_stream_reader.ts` keeps the window and
 * the read op). `write` never blocks: the writes of one loop turn are staged
 * and leave in one send before the loop polls or parks; what the kernel does
 * not take is copied into a native queue that an op drains; `flush` waits
 * for both (`_stream_writer.ts`). `tcp.ts`, `pipe.ts` and `tty.ts` open
 * streams; `server.ts` accepts them.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import type { NativeLoop } from "../native/native_loop.ts";
import { readableOf, writableOf } from "./web_streams.ts";
import * as native from "../native/stream_native.ts";
import { closeOnCollect, forgetOnCollect } from "../native/finalizer.ts";
import {
  closedError,
  errorFor,
  errorFromResult,
  loopDestroyedError,
  type StreamError,
  type StreamErrorClass,
} from "./errors.ts";
import { blocking } from "../_operation.ts";
import {
  READ_BYTES,
  READ_INTO,
  READ_MODES,
  READ_NAMES,
  READ_UNTIL,
  readOperation,
  WAIT,
} from "./_read_op.ts";
import { compileRegex } from "./regex_reach.ts";
import { DelimiterCache, latin1 } from "./_bytes.ts";
import { PendingOp } from "./_pending_op.ts";
import {
  checkMaxBufferSize,
  type StreamOptions,
  StreamReader,
} from "./_stream_reader.ts";
import { StreamWriter, toBytes } from "./_stream_writer.ts";
import type { AcceptingServer } from "./server.ts";

export type { StreamOptions } from "./_stream_reader.ts";

const IDLE = 0;
const CONNECTING = 1;
const OPEN = 2;
const CLOSED = 3;

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
  // Latin1 text of the first buffered bytes, decoded by readUntilRegex and
  // kept for its next call; any other read clears it.
  #peeked = "";
  // The write side, made with the native stream.
  #writer: StreamWriter | null = null;
  // The read side (window, read op), made with the native stream.
  #reader: StreamReader | null = null;
  #early: Uint8Array[] = [];
  #delimiters = new DelimiterCache();
  // The server that accepted this stream, until it closes.
  #server: AcceptingServer | null = null;

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
   * The bytes are the caller's, a view of a shared 64 KiB buffer when 1 KiB
   * or less (as Node's small `Buffer`s are): `slice()` one kept for long, and
   * transfer a `slice()` to a worker rather than the shared `.buffer`.
   *
   * @throws {RangeError} if `n` is not a positive integer.
   * @throws {StreamError} (the stream's class) `EBADF` when closed, `ENOBUFS`
   *   when `n` exceeds `maxBufferSize` (the stream is closed), or the OS
   *   error that broke the connection (the stream is closed).
   */
  readBytes(n: number): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    return readOperation(this, READ_BYTES, n);
  }

  /**
   * Reads what is there, up to `buffer.length` bytes, into `buffer` (Deno's
   * `conn.read` shape, for callers that reuse one buffer): the byte count,
   * waiting for at least one byte; 0 at end of stream.
   *
   * @throws {TypeError} if `buffer` is not a non-empty Uint8Array.
   * @throws {StreamError} as {@linkcode Stream.readBytes} does.
   */
  readInto(buffer: Uint8Array): Generator<unknown, number, unknown> {
    return readOperation(this, READ_INTO, buffer);
  }

  /**
   * Reads up to and including `delimiter` (a string is UTF-8 encoded); at
   * end of stream returns what is left without it, then empty arrays. A
   * short result shares its buffer as {@linkcode Stream.readBytes}' does.
   *
   * @throws {RangeError} for an empty delimiter or one over 64 KiB.
   * @throws {StreamError} as {@linkcode Stream.readBytes} does; `ENOBUFS`
   *   when `maxBufferSize` bytes arrive without the delimiter.
   */
  readUntil(
    delimiter: string | Uint8Array,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    return readOperation(this, READ_UNTIL, delimiter);
  }

  /**
   * @internal The first step of readBytes/readUntil/readInto, its argument
   * checked (see `_read_op.ts`): the answer when the bytes are buffered (or
   * the error), else `WAIT`. The reader's plain methods do the work.
   */
  _readNow(kind: number, arg: unknown): unknown {
    let result: Uint8Array | number;
    if (kind === READ_UNTIL) {
      const bytes = this.#delimiters.bytes(arg as string | Uint8Array);
      result = this.#readerFor("readUntil").until(bytes, "readUntil");
    } else if (kind === READ_BYTES) {
      const reader = this.#readerFor("readBytes");
      if ((arg as number) > this.#maxBufferSize) {
        throw this.#readFailure(native.NO_BUFFER_SPACE, "readBytes");
      }
      result = reader.exact(arg as number, "readBytes");
    } else {
      const reader = this.#readerFor("readInto");
      const count = reader.into(arg as Uint8Array, "readInto");
      if (count >= 0) return count;
      if (count === native.WOULD_BLOCK) return WAIT;
      throw this.#readFailure(count, "readInto");
    }
    if (typeof result !== "number") return result;
    if (result === native.WOULD_BLOCK) return WAIT;
    return this.#took(result, READ_NAMES[kind]);
  }

  /** @internal The rest of a read that waits for bytes (see `_readNow`). */
  *_readLater(kind: number, arg: unknown): Generator<unknown, unknown> {
    const what = READ_NAMES[kind];
    const n = kind === READ_BYTES ? arg as number : 0;
    const result = yield* this.#reader!.wait(READ_MODES[kind], n, what);
    if (kind !== READ_INTO || result < 0) return this.#took(result, what);
    // readInto: the buffer may have been detached (transferred) while it
    // waited; then the bytes stay buffered (0 would claim end of stream).
    if ((arg as Uint8Array).length === 0) {
      throw new TypeError(
        `readInto(): the buffer was detached while waiting; ${result} byte(s) stay buffered for the next read`,
      );
    }
    return this.#reader!.into(arg as Uint8Array, what);
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
  *readUntilRegex(
    regex: RegExp,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
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
      const window = this.#reader!.window("readUntilRegex");
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
        result = yield* this.#reader!.wait(
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
    return this.#writer!.write(data);
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
    for (;;) {
      this.#checkLoop("flush");
      const state = this.#state;
      if (state === CLOSED) throw this.#closedError("flush");
      if (state === OPEN) {
        if (this.#writer!.flushed()) return;
      } else if (state === IDLE) {
        throw errorFor(
          this._errorClass,
          "ENOTCONN",
          "flush",
          `the ${this.constructor.name} is not connected`,
        );
      }
      // Connecting, or a drain runs: woken when it ends.
      yield* this.#writer!.waiters.wait(undefined, "flush()");
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
    const loopDestroyed = this.#loop?._destroyed === true;
    // What this turn wrote gets the one try a direct write had.
    this.#writer?.close(loopDestroyed);
    this.#state = CLOSED;
    this.#early = [];
    this.#reader?.close();
    if (this.#handle !== 0) {
      forgetOnCollect(this);
      native.streamClose(this.#handle);
      // Closed from plain JS while run() parks: its canceled ops' records
      // must be delivered.
      this.#loop?._wakeParked();
    }
    this.#writer?.wakeAll(loopDestroyed);
    this.#server?._forget(this);
    this.#server = null;
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
   * @internal Opens a native stream over a descriptor this stream takes
   * over (`open` makes it on the current loop's native loop, with this
   * stream's `maxBufferSize`) and attaches it, connected.
   *
   * @throws {StreamError} (the stream's class) for `what` when `open`
   *   fails; `detail` may word the failure.
   */
  protected _attachOpened(
    what: string,
    open: (loop: NativeLoop, maxBufferSize: number) => number,
    detail?: (result: number) => string | undefined,
  ): void {
    const loop = EventLoop.current();
    const handle = open(loop._native, this.#maxBufferSize);
    if (handle < 0) {
      throw errorFromResult(this._errorClass, handle, what, detail?.(handle));
    }
    this._attach(loop, handle, true);
  }

  /**
   * @internal Takes a connection `server` accepted (open at once); closing
   * it takes it out of `server.connections`.
   */
  _attachAccepted(
    loop: EventLoop,
    handle: number,
    server: AcceptingServer,
  ): void {
    this.#server = server;
    this._attach(loop, handle, true);
  }

  /** @internal The server that accepted this stream; null once closed. */
  protected get _server(): AcceptingServer | null {
    return this.#server;
  }

  /**
   * @internal Takes ownership of a native stream on `loop`; `open` says
   * whether it is connected already (accepted, inherited) or not yet.
   */
  _attach(loop: EventLoop, handle: number, open: boolean): void {
    this.#loop = loop;
    this.#handle = handle;
    this.#state = open ? OPEN : IDLE;
    this.#reader = new StreamReader(loop, handle, this._errorClass);
    this.#writer = new StreamWriter(this, loop, handle, this._errorClass);
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
          // Tasks in flush() waited for this connect: it will not come.
          this.#writer!.waiters.notifyAll();
        }
      }
    }
    if (this.#state === CLOSED) throw this.#closedError(what);
    if (result < 0) {
      this.#state = IDLE;
      this.#writer!.waiters.notifyAll();
      throw errorFromResult(errorClass, result, what, detail(result));
    }
    this.#state = OPEN;
    const early = this.#early;
    this.#early = [];
    for (const bytes of early) this.write(bytes);
    this.#writer!.waiters.notifyAll();
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
    if (this.#reader!.busy) {
      throw new Error(
        `${what}(): another task is already reading from this ${this.constructor.name}`,
      );
    }
    return this.#handle;
  }

  /** The reader, once the stream can be read (see #readable). */
  #readerFor(what: string): StreamReader {
    const reader = this.#reader;
    // One test for the common case (open, nobody reading, its loop alive);
    // #readable throws the error of any other.
    if (this.#state !== OPEN || reader!.busy || this.#loop!._destroyed) {
      this.#readable(what);
    }
    this.#peeked = "";
    return reader!;
  }

  /** Takes the answer of a read op: `result` bytes from the window. */
  #took(result: number, what: string): Uint8Array<ArrayBuffer> {
    if (result < 0) throw this.#readFailure(result, what);
    if (result === 0) return new Uint8Array(0);
    return this.#reader!.take(result, what);
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

  /** Throws EBADF if the stream's loop was destroyed (its ops are gone). */
  #checkLoop(what: string): void {
    if (this.#state === CLOSED || !this.#loop?._destroyed) return;
    throw loopDestroyedError(this._errorClass, this.constructor.name, what);
  }

  #closedError(what: string): StreamError {
    return closedError(this._errorClass, this.constructor.name, what);
  }
}
