/**
 * The TLS stream both ends share (`TLSStream`): a TCP stream carrying
 * ciphertext, an OpenSSL session over memory BIOs (`native/openssl.ts`),
 * and the plaintext read so far, behind the Stream API every stream has.
 * `tls.ts` builds the client on it, `tls_server.ts` the server's
 * connections.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { blocking } from "../_operation.ts";
import {
  CLOSED,
  OpenSslFailure,
  OpenSslUnavailable,
  type TlsSession,
  WANT_READ,
} from "../native/openssl.ts";
import {
  closedError,
  errorFor,
  StreamError,
  type StreamErrorClass,
  TLSError,
} from "./errors.ts";
import { Stream } from "./stream.ts";
import { checkReadArgument, READ_BYTES, READ_INTO } from "./_read_op.ts";
import type { TCPClient, TCPConnection } from "./tcp.ts";
import { DelimiterCache, indexOf, latin1 } from "./_bytes.ts";
import { compileRegex } from "./regex_reach.ts";

/** @internal Ciphertext moved per TCP read, and per batch of records sent. */
export const CIPHER_CHUNK = 256 * 1024;
/** The plaintext buffer's first size; it grows up to `maxBufferSize`. */
const PLAIN_INITIAL = 16 * 1024;
const EMPTY = new Uint8Array(0);
/**
 * Ciphertext buffers every TLS stream shares: each use ends before the
 * next suspension (a TCP read fills `cipherIn` as the task resumes, and it
 * is fed to OpenSSL at once; records are drained into `cipherOut` and
 * written, which copies what the kernel does not take), so one pair serves
 * every connection instead of half a MiB each.
 */
const cipherIn = new Uint8Array(CIPHER_CHUNK);
const cipherOut = new Uint8Array(CIPHER_CHUNK);

const encoder = new TextEncoder();

/**
 * The part `TLSClient` and `TLSConnection` share: a TCP stream carrying
 * ciphertext, an OpenSSL session, and the plaintext read so far. Every
 * Stream method works on the plaintext.
 *
 * @example
 * ```ts ignore
 * import { type TLSStream } from "./tls_stream.ts";
 * function* greet(stream: TLSStream) {
 *   stream.write(`hello over ${stream.alpnProtocol ?? "no ALPN"}\n`);
 *   yield* stream.flush();
 * }
 * ```
 */
export abstract class TLSStream extends Stream {
  #tcp: TCPClient | TCPConnection | null = null;
  #session: TlsSession | null = null;
  #open = false;
  #closed = false;
  #ended = false;
  #reading = false;
  #early: Uint8Array[] = [];
  #plain = EMPTY;
  #start = 0;
  #end = 0;
  #alpn: string | null = null;
  #delimiters = new DelimiterCache();

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return TLSError;
  }

  /** True once {@linkcode TLSStream.close} was called. */
  override get closed(): boolean {
    return this.#closed;
  }

  /** The protocol ALPN agreed on, or null (none offered or agreed). */
  get alpnProtocol(): string | null {
    return this.#alpn;
  }

  /** @internal The TCP stream under the session (null before connect). */
  get _tcp(): TCPClient | TCPConnection | null {
    return this.#tcp;
  }

  /**
   * @internal Runs the handshake over `tcp` with `session`, then sends what
   * was written before.
   */
  *_handshake(
    tcp: TCPClient | TCPConnection,
    session: TlsSession,
    what: string,
  ): Generator<unknown, void, unknown> {
    this.#tcp = tcp;
    this.#session = session;
    for (let round = 0;; round++) {
      let step: number;
      try {
        step = session.handshake();
      } catch (error) {
        this.#send(what);
        throw tlsFailure(error, what);
      }
      this.#send(what);
      if (step === 1) break;
      const count = yield* this.#readCipher(what);
      if (count === 0) {
        throw errorFor(
          TLSError,
          "ECONNRESET",
          what,
          "the peer closed the connection during the TLS handshake",
        );
      }
      if (round > 1000) {
        throw errorFor(TLSError, "EPROTO", what, "the handshake never ends");
      }
    }
    this.#alpn = session.alpnProtocol();
    this.#open = true;
    const early = this.#early;
    this.#early = [];
    for (const bytes of early) this.write(bytes);
  }

  // ---- the Stream API ----

  /**
   * Reads exactly `n` bytes; fewer (what is left) at end of stream, then an
   * empty array.
   *
   * @throws {RangeError} if `n` is not a positive integer.
   * @throws {TLSError} `EBADF` when closed, `ENOBUFS` over `maxBufferSize`,
   *   a record that fails to decrypt, or the TCP stream's error.
   */
  @blocking("readBytes()")
  override *readBytes(
    n: number,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    checkReadArgument(READ_BYTES, n);
    this.#readable("readBytes");
    if (n > this.maxBufferSize) throw this.#overflow("readBytes");
    this.#reading = true;
    try {
      while (this.#end - this.#start < n) {
        if (!(yield* this.#fill("readBytes", n))) break;
      }
      return this.#take(Math.min(n, this.#end - this.#start));
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Reads what is there, up to `buffer.length` bytes, into `buffer`: the
   * count, waiting for at least one byte; 0 at end of stream.
   *
   * @throws {TypeError} if `buffer` is not a non-empty Uint8Array.
   * @throws {TLSError} as {@linkcode TLSStream.readBytes} does.
   */
  @blocking("readInto()")
  override *readInto(buffer: Uint8Array): Generator<unknown, number, unknown> {
    checkReadArgument(READ_INTO, buffer);
    this.#readable("readInto");
    const buffered = this.#end - this.#start;
    if (buffered > 0) {
      const count = Math.min(buffered, buffer.length);
      buffer.set(this.#plain.subarray(this.#start, this.#start + count));
      this.#start += count;
      return count;
    }
    if (this.#ended) return 0;
    this.#reading = true;
    try {
      // Nothing buffered: decrypt straight into the caller's buffer.
      for (;;) {
        const count = this.#decrypt(
          buffer as Uint8Array<ArrayBuffer>,
          "readInto",
        );
        if (count > 0) return count;
        if (count === CLOSED) return 0;
        if ((yield* this.#readCipher("readInto")) === 0) {
          this.#ended = true;
          return 0;
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Reads up to and including `delimiter` (a string is UTF-8 encoded); at
   * end of stream returns what is left without it, then empty arrays.
   *
   * @throws {RangeError} for an empty delimiter or one over 64 KiB.
   * @throws {TLSError} as {@linkcode TLSStream.readBytes} does; `ENOBUFS`
   *   when `maxBufferSize` bytes arrive without the delimiter.
   */
  @blocking("readUntil()")
  override *readUntil(
    delimiter: string | Uint8Array,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    const bytes = this.#delimiters.bytes(delimiter);
    this.#readable("readUntil");
    this.#reading = true;
    try {
      let from = this.#start;
      for (;;) {
        const found = indexOf(this.#plain, bytes, from, this.#end);
        if (found >= 0) return this.#take(found + bytes.length - this.#start);
        from = Math.max(this.#start, this.#end - bytes.length + 1);
        const before = this.#start;
        if (!(yield* this.#fill("readUntil", this.maxBufferSize))) {
          return this.#take(this.#end - this.#start);
        }
        from += this.#start - before;
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Reads up to the end of the first match of `regex`, matched against the
   * buffered bytes as latin1 text; at end of stream returns what is left.
   *
   * @throws {TypeError} if `regex` is not a RegExp.
   * @throws {TLSError} as {@linkcode TLSStream.readUntil} does.
   */
  @blocking("readUntilRegex()")
  override *readUntilRegex(
    regex: RegExp,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    if (!(regex instanceof RegExp)) {
      throw new TypeError(
        `readUntilRegex() needs a RegExp, got ${describe(regex)}`,
      );
    }
    const pattern = compileRegex(regex).pattern;
    this.#readable("readUntilRegex");
    this.#reading = true;
    try {
      for (;;) {
        const text = latin1(this.#plain.subarray(this.#start, this.#end));
        pattern.lastIndex = 0;
        const match = pattern.exec(text);
        if (match !== null) return this.#take(match.index + match[0].length);
        if (!(yield* this.#fill("readUntilRegex", this.maxBufferSize))) {
          return this.#take(this.#end - this.#start);
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Encrypts and writes `data` (a string is UTF-8 encoded) without
   * blocking; before the handshake ends it is kept and sent after. Returns
   * true if every byte went to the kernel at once.
   *
   * @throws {TypeError} if `data` is neither a Uint8Array nor a string.
   * @throws {TLSError} `EBADF` when closed; the TCP stream's write error.
   */
  override write(data: Uint8Array | string): boolean {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `write() needs a Uint8Array or a string, got ${describe(data)}`,
      );
    }
    if (this.#closed) throw this.#closedError("write");
    if (!this.#open) {
      this.#early.push(bytes.slice());
      return false;
    }
    if (bytes.length === 0) return true;
    try {
      this.#session!.write(bytes as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw tlsFailure(error, "write");
    }
    return this.#send("write");
  }

  /**
   * Blocks until every byte written so far went to the kernel.
   *
   * @throws {TLSError} `EBADF` when closed, `ENOTCONN` before connecting,
   *   the TCP stream's error.
   */
  @blocking("flush()")
  override *flush(): Generator<unknown, void, unknown> {
    const tcp = this.#usable("flush");
    try {
      yield* tcp.flush();
    } catch (error) {
      throw this.#wrap(error, "flush");
    }
  }

  /**
   * Sends close_notify once every written byte is out and half-closes the
   * TCP stream; this side can still read.
   *
   * @throws {TLSError} as {@linkcode TLSStream.flush} does.
   */
  @blocking("shutdown()")
  override *shutdown(): Generator<unknown, void, unknown> {
    const tcp = this.#usable("shutdown");
    this.#session!.shutdown();
    this.#send("shutdown");
    try {
      yield* tcp.shutdown();
    } catch (error) {
      throw this.#wrap(error, "shutdown");
    }
  }

  /**
   * Closes the stream: sends close_notify if it can without waiting, then
   * closes the TCP stream (unsent data is dropped, as for every stream:
   * `flush()` first). A second call does nothing.
   */
  override close(): void {
    if (this.#closed) return;
    this._beforeClose();
    this.#closed = true;
    const session = this.#session;
    if (session !== null && this.#open) {
      session.shutdown();
      try {
        this.#send("close");
      } catch {
        // The peer is gone: nothing to tell it.
      }
    }
    this.#tcp?.close();
    session?.free();
    this.#session = null;
    this.#early = [];
    this._afterClose();
  }

  /**
   * @internal Sends close_notify and waits until it and every byte before
   * it went out (a handler's end), then closes.
   */
  *_closeGracefully(): Generator<unknown, void, unknown> {
    if (this.#closed) return;
    const tcp = this.#tcp;
    if (this.#open && this.#session !== null && tcp !== null) {
      this.#session.shutdown();
      try {
        this.#send("close");
        yield* tcp.flush();
      } catch {
        // A peer that went away needs no goodbye.
      }
    }
    this.close();
  }

  // ---- internals ----

  #readable(what: string): void {
    if (this.#closed) throw this.#closedError(what);
    if (!this.#open) {
      throw errorFor(
        TLSError,
        "ENOTCONN",
        what,
        `the ${this.constructor.name} is not connected`,
      );
    }
    if (this.#reading) {
      throw new Error(
        `${what}(): another task is already reading from this ${this.constructor.name}`,
      );
    }
  }

  #usable(what: string): TCPClient | TCPConnection {
    if (this.#closed) throw this.#closedError(what);
    if (!this.#open || this.#tcp === null) {
      throw errorFor(
        TLSError,
        "ENOTCONN",
        what,
        `the ${this.constructor.name} is not connected`,
      );
    }
    return this.#tcp;
  }

  /** Sends the records OpenSSL has ready; true if the kernel took all. */
  #send(what: string): boolean {
    const session = this.#session!;
    const tcp = this.#tcp!;
    const out = cipherOut;
    let all = true;
    for (let round = 0; round < 1 << 20; round++) {
      const count = session.drain(out);
      if (count === 0) break;
      try {
        // write() copies what the kernel does not take now: `out` is reusable.
        if (!tcp.write(out.subarray(0, count))) all = false;
      } catch (error) {
        throw this.#wrap(error, what);
      }
    }
    return all;
  }

  /** Reads ciphertext from TCP into the session: the count, 0 at its end. */
  *#readCipher(what: string): Generator<unknown, number, unknown> {
    const tcp = this.#tcp!;
    let count: number;
    try {
      count = yield* tcp.readInto(cipherIn);
    } catch (error) {
      throw this.#wrap(error, what);
    }
    if (this.#closed) throw this.#closedError(what);
    if (count > 0) this.#session!.feed(cipherIn.subarray(0, count));
    return count;
  }

  /** Decrypts into `target`: a count, WANT_READ or CLOSED. */
  #decrypt(target: Uint8Array<ArrayBuffer>, what: string): number {
    let count: number;
    try {
      count = this.#session!.read(target);
    } catch (error) {
      throw tlsFailure(error, what);
    }
    // Reading may answer the peer (a key update): send what it made.
    if (count !== WANT_READ) this.#send(what);
    if (count === CLOSED) this.#ended = true;
    return count;
  }

  /**
   * Adds plaintext to the buffer (room for `want` more bytes kept within
   * maxBufferSize); false at end of stream.
   */
  *#fill(what: string, want: number): Generator<unknown, boolean, unknown> {
    if (this.#ended) return false;
    this.#makeRoom(what, want);
    for (;;) {
      const count = this.#decrypt(this.#plain.subarray(this.#end), what);
      if (count > 0) {
        this.#end += count;
        return true;
      }
      if (count === CLOSED) return false;
      if ((yield* this.#readCipher(what)) === 0) {
        this.#ended = true;
        return false;
      }
    }
  }

  #makeRoom(what: string, want: number): void {
    const buffered = this.#end - this.#start;
    if (buffered >= this.maxBufferSize) throw this.#overflow(what);
    if (this.#end < this.#plain.length) return;
    if (this.#start > 0) {
      this.#plain.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = buffered;
      if (this.#end < this.#plain.length) return;
    }
    const size = Math.min(
      this.maxBufferSize,
      Math.max(
        PLAIN_INITIAL,
        this.#plain.length * 2,
        Math.min(want, this.maxBufferSize),
      ),
    );
    const grown = new Uint8Array(size);
    grown.set(this.#plain.subarray(0, this.#end));
    this.#plain = grown;
  }

  #take(count: number): Uint8Array<ArrayBuffer> {
    const bytes = this.#plain.slice(this.#start, this.#start + count);
    this.#start += count;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return bytes;
  }

  #overflow(what: string): TLSError {
    this.close();
    return errorFor(
      TLSError,
      "ENOBUFS",
      what,
      `no answer within maxBufferSize (${this.maxBufferSize} bytes); the stream was closed`,
    ) as TLSError;
  }

  #wrap(error: unknown, what: string): unknown {
    if (this.#closed) return this.#closedError(what);
    if (error instanceof TLSError || !(error instanceof StreamError)) {
      return error;
    }
    return new TLSError(error.code, error.errno, error.message);
  }

  #closedError(what: string): TLSError {
    return closedError(TLSError, this.constructor.name, what) as TLSError;
  }
}

/** @internal The TLSError for an OpenSSL failure (or the error as it is). */
export function tlsFailure(
  error: unknown,
  what: string,
  code = "EPROTO",
): unknown {
  if (error instanceof OpenSslUnavailable) {
    return errorFor(TLSError, "ENOTSUP", what, error.message);
  }
  if (error instanceof OpenSslFailure) {
    const tls = errorFor(TLSError, code, what, error.message) as TLSError;
    tls.reason = error.reason;
    return tls;
  }
  return error;
}
