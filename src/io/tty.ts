/**
 * Terminals as streams (evergreen's `io/tty.py`): `TTYStream` over a
 * terminal descriptor, with its window size and raw mode. On Linux and
 * macOS the terminal is reopened natively so that making it nonblocking
 * leaves the descriptor Deno and the parent shell share alone. On Windows
 * the console is bridged to a loopback socket by two native threads, with
 * the size from `GetConsoleScreenBufferInfo` and raw mode from
 * `SetConsoleMode`. Either way the original mode comes back on close.
 *
 * @module
 */

import * as native from "../native/stream_native.ts";
import {
  errorFor,
  errorFromResult,
  StreamError,
  type StreamErrorClass,
} from "./errors.ts";
import { Stream, type StreamOptions } from "./stream.ts";
import { checkFd } from "../_util.ts";
import { blocking } from "../_operation.ts";

/** A terminal's size in character cells. */
export interface WindowSize {
  /** Characters per line. */
  columns: number;
  /** Lines. */
  rows: number;
}

/**
 * A terminal stream. Reads need `readable` (an input terminal such as fd 0);
 * writes work on any terminal.
 *
 * On Windows `fd` is a console `HANDLE` value: 0, 1 and 2 stand for the
 * standard input, output and error handles (`GetStdHandle`). A stream on
 * console input (fd 0) reads the console's keys and writes to its active
 * screen buffer (`CONOUT$`); a stream on an output handle (fd 1, 2) writes
 * to that handle and reads end of stream at once, since reading the
 * console there would take keys from every other reader of fd 0. Raw mode
 * also turns on virtual-terminal input, so that keys such as arrows arrive
 * as the escape sequences a POSIX terminal sends.
 *
 * @example
 * ```ts ignore
 * import { TTYStream } from "./tty.ts";
 * using tty = new TTYStream(1, false);
 * console.log(tty.winsize); // { columns: 80, rows: 24 }
 * tty.write("hello\n");
 * ```
 */
export class TTYStream extends Stream {
  #readable: boolean;

  /**
   * Opens the terminal on descriptor `fd` (which stays the caller's).
   *
   * @param fd a terminal descriptor (0, 1, 2, or a pseudo-terminal; on
   *   Windows 0, 1, 2 or a console handle value)
   * @param readable whether the stream is read from
   * @param options `maxBufferSize`, the read buffer's bound
   * @throws {TypeError} if `fd` is not a number.
   * @throws {RangeError} if `fd` is not an integer from 0 to 2^31-1.
   * @throws {StreamError} `EINVAL` if `fd` is not a terminal (a console on
   *   Windows), `EBADF` if it is not open.
   */
  constructor(fd: number, readable: boolean, options: StreamOptions = {}) {
    super(options);
    checkFd(fd, "TTYStream");
    this.#readable = Boolean(readable);
    this._attachOpened(
      `open the terminal on fd ${fd}`,
      (loop, maxBufferSize) => native.ttyOpen(loop, fd, maxBufferSize),
      (result) => result === native.INVALID ? "not a terminal" : undefined,
    );
  }

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return StreamError;
  }

  /**
   * The terminal's size, read now.
   *
   * @throws {StreamError} `EBADF` when closed.
   */
  get winsize(): WindowSize {
    if (this.closed) throw this._closedError("winsize");
    const size = native.ttyWindowSize(this._handle);
    if (typeof size === "number") {
      throw errorFromResult(StreamError, size, "winsize");
    }
    return size;
  }

  /**
   * Raw mode (true): input arrives byte by byte, unechoed, with no signals
   * from keys; false restores the mode from before.
   *
   * @throws {StreamError} `EBADF` when closed.
   */
  setRawMode(raw: boolean): void {
    if (this.closed) throw this._closedError("setRawMode");
    const result = native.ttySetRaw(this._handle, Boolean(raw));
    if (result < 0) throw errorFromResult(StreamError, result, "setRawMode");
  }

  /**
   * As {@linkcode Stream.readBytes}.
   *
   * @throws {StreamError} `EINVAL` on a stream opened as not readable.
   */
  @blocking("readBytes()")
  override *readBytes(
    n: number,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    this.#checkReadable("readBytes");
    return yield* super.readBytes(n);
  }

  /**
   * As {@linkcode Stream.readInto}.
   *
   * @throws {StreamError} `EINVAL` on a stream opened as not readable.
   */
  @blocking("readInto()")
  override *readInto(buffer: Uint8Array): Generator<unknown, number, unknown> {
    this.#checkReadable("readInto");
    return yield* super.readInto(buffer);
  }

  /**
   * As {@linkcode Stream.readUntil}.
   *
   * @throws {StreamError} `EINVAL` on a stream opened as not readable.
   */
  @blocking("readUntil()")
  override *readUntil(
    delimiter: string | Uint8Array,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    this.#checkReadable("readUntil");
    return yield* super.readUntil(delimiter);
  }

  /**
   * As {@linkcode Stream.readUntilRegex}.
   *
   * @throws {StreamError} `EINVAL` on a stream opened as not readable.
   */
  @blocking("readUntilRegex()")
  override *readUntilRegex(
    regex: RegExp,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    this.#checkReadable("readUntilRegex");
    return yield* super.readUntilRegex(regex);
  }

  #checkReadable(what: string): void {
    if (!this.#readable && !this.closed) {
      throw errorFor(
        StreamError,
        "EINVAL",
        what,
        "the TTYStream was opened as not readable",
      );
    }
  }
}
