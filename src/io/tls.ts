/**
 * TLS streams (evergreen's SSL sockets): `TLSClient` connects and verifies
 * the server's certificate and host name, `TLSServer` accepts with a PEM
 * certificate and key and hands each `TLSConnection` to its handler. Each
 * TLS stream is a TCP stream (ciphertext) plus an OpenSSL session over
 * memory BIOs (`src/native/openssl.ts`); the loop never blocks: the
 * handshake and every read wait on the TCP stream like any other task, and
 * OpenSSL is called once per buffer of records. The Stream API is the one
 * every stream has (`readBytes`, `readUntil`, `readInto`, `write`, `flush`,
 * `shutdown`, `close`), plaintext buffered here.
 *
 * @module
 */

import { describe } from "../_util.ts";
import {
  CLOSED,
  OpenSslFailure,
  OpenSslUnavailable,
  TlsContext,
  TlsSession,
  WANT_READ,
} from "../native/openssl.ts";
import {
  errorFor,
  StreamError,
  type StreamErrorClass,
  TLSError,
} from "./errors.ts";
import { checkMaxBufferSize, Stream, type StreamOptions } from "./stream.ts";
import { Timeout } from "../sync/timeout.ts";
import {
  type Address,
  type TCPBindOptions,
  TCPClient,
  type TCPConnection,
  TCPServer,
} from "./tcp.ts";

/** Options every TLS client takes (`TLSServer` takes `alpnProtocols`). */
export interface TLSOptions {
  /** PEM certificates to trust; default: the system's roots. */
  caCerts?: string[];
  /** ALPN protocols to offer (client) or accept (server), preferred first. */
  alpnProtocols?: string[];
}

/** Options of {@linkcode TLSClient.connect}. */
export interface TLSConnectOptions extends TLSOptions {
  /** The name sent as SNI and verified; default: the target's hostname. */
  serverName?: string;
}

/** Ciphertext moved per TCP read, and per batch of records sent. */
const CIPHER_CHUNK = 256 * 1024;
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
 * import { type TLSStream } from "./tls.ts";
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
  #delimiterText = "";
  #delimiterBytes = new Uint8Array(0);

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
  override *readBytes(
    n: number,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    if (!Number.isInteger(n) || n <= 0) {
      throw new RangeError(
        `readBytes() needs a positive integer byte count, got ${describe(n)}`,
      );
    }
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
  override *readInto(buffer: Uint8Array): Generator<unknown, number, unknown> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
      throw new TypeError(
        `readInto() needs a non-empty Uint8Array, got ${describe(buffer)}`,
      );
    }
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
  override *readUntil(
    delimiter: string | Uint8Array,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    const bytes = this.#delimiter(delimiter);
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
  override *readUntilRegex(
    regex: RegExp,
  ): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
    if (!(regex instanceof RegExp)) {
      throw new TypeError(
        `readUntilRegex() needs a RegExp, got ${describe(regex)}`,
      );
    }
    const pattern = new RegExp(regex.source, regex.flags.replace(/[gy]/g, ""));
    this.#readable("readUntilRegex");
    this.#reading = true;
    try {
      for (;;) {
        const text = latin1(this.#plain.subarray(this.#start, this.#end));
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

  #delimiter(delimiter: string | Uint8Array): Uint8Array {
    if (typeof delimiter === "string") {
      if (delimiter === this.#delimiterText && delimiter !== "") {
        return this.#delimiterBytes;
      }
      const bytes = encoder.encode(delimiter);
      checkDelimiter(bytes);
      this.#delimiterText = delimiter;
      this.#delimiterBytes = bytes;
      return bytes;
    }
    if (!(delimiter instanceof Uint8Array)) {
      throw new TypeError(
        `readUntil() needs a string or Uint8Array delimiter, got ${
          describe(delimiter)
        }`,
      );
    }
    checkDelimiter(delimiter);
    return delimiter;
  }

  #wrap(error: unknown, what: string): unknown {
    if (this.#closed) return this.#closedError(what);
    if (error instanceof TLSError || !(error instanceof StreamError)) {
      return error;
    }
    return new TLSError(error.code, error.errno, error.message);
  }

  #closedError(what: string): TLSError {
    return errorFor(
      TLSError,
      "EBADF",
      what,
      `the ${this.constructor.name} is closed`,
    ) as TLSError;
  }
}

/**
 * A TLS client stream: `connect()` connects over TCP, then runs the
 * handshake, verifying the server's certificate against the system's roots
 * (or `caCerts`) and its name against `serverName` (default: the target's
 * hostname; an IP literal is checked as an IP address and sends no SNI).
 *
 * Needs `--allow-ffi` (the sockets are native, and OpenSSL 3 is loaded at
 * run time; `--allow-net` is not checked). Linux only so far: elsewhere
 * `connect()` throws `TLSError` `ENOTSUP`.
 *
 * @example
 * ```ts ignore
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { TLSClient } from "./tls.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   using client = new TLSClient();
 *   yield* client.connect({ hostname: "example.com", port: 443 }, {
 *     alpnProtocols: ["http/1.1"],
 *   });
 *   client.write("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
 *   console.log(new TextDecoder().decode(yield* client.readUntil("\r\n")));
 * });
 * await loop.run();
 * ```
 */
export class TLSClient extends TLSStream {
  /**
   * Creates an unconnected client; `connect()` connects it.
   *
   * @param options `maxBufferSize`, the plaintext read buffer's bound
   */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /**
   * Connects to `target` and completes the TLS handshake.
   *
   * @throws {TypeError} if `target` is not `{ hostname, port }`.
   * @throws {TLSError} `ENOTSUP` where TLS is not available; `EPROTO` with
   *   OpenSSL's reason when the handshake fails (`"certificate verify
   *   failed: ..."` for an untrusted certificate or a wrong host name);
   *   `ECONNRESET` when the peer closes during the handshake; the TCP
   *   error (`ECONNREFUSED`, `ENOENT` for a name that does not resolve);
   *   `EISCONN` when connected already; `EBADF` when closed.
   */
  *connect(
    target: Address,
    options: TLSConnectOptions = {},
  ): Generator<unknown, void, unknown> {
    if (typeof target !== "object" || target === null) {
      throw new TypeError(
        `connect() needs { hostname, port }, got ${describe(target)}`,
      );
    }
    const what = `TLS connect to ${target.hostname}:${target.port}`;
    if (this.closed) {
      throw errorFor(TLSError, "EBADF", what, "the TLSClient is closed");
    }
    if (this._tcp !== null) {
      throw errorFor(TLSError, "EISCONN", what, "already connected");
    }
    const context = clientContext(options, what);
    const serverName = options.serverName ?? target.hostname;
    let session: TlsSession;
    try {
      session = TlsSession.client(
        context,
        isIpLiteral(serverName) ? { ipAddress: serverName } : { serverName },
      );
    } catch (error) {
      throw tlsFailure(error, what);
    }
    const tcp = new TCPClient({ maxBufferSize: CIPHER_CHUNK * 4 });
    try {
      yield* tcp.connect(target);
    } catch (error) {
      session.free();
      tcp.close();
      if (error instanceof StreamError) {
        throw new TLSError(error.code, error.errno, error.message);
      }
      throw error;
    }
    try {
      yield* this._handshake(tcp, session, what);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * The local address.
   *
   * @throws {TCPError} `ENOTCONN` before connecting.
   */
  get sockname(): Address {
    return this.#tcp("sockname").sockname;
  }

  /**
   * The server's address.
   *
   * @throws {TCPError} `ENOTCONN` before connecting.
   */
  get peername(): Address {
    return this.#tcp("peername").peername;
  }

  #tcp(what: string): TCPClient {
    const tcp = this._tcp;
    if (tcp === null) {
      throw errorFor(
        TLSError,
        "ENOTCONN",
        what,
        "the TLSClient is not connected",
      );
    }
    return tcp as TCPClient;
  }
}

/**
 * A connection a {@linkcode TLSServer} accepted, its handshake done before
 * the handler runs; closing it removes it from `server.connections`.
 *
 * @example
 * ```ts ignore
 * import { TLSServer } from "./tls.ts";
 * const server = new TLSServer({
 *   cert: Deno.readTextFileSync("cert.pem"),
 *   key: Deno.readTextFileSync("key.pem"),
 *   *handleConnection(connection) {
 *     console.log(connection.peername, connection.alpnProtocol);
 *     connection.write(yield* connection.readUntil("\n"));
 *   },
 * });
 * ```
 */
export class TLSConnection extends TLSStream {
  #tcp: TCPConnection;
  #server: TLSServer | null;

  /** @internal Made by TLSServer for each accepted TCP connection. */
  constructor(tcp: TCPConnection, server: TLSServer, options: StreamOptions) {
    super(options);
    this.#tcp = tcp;
    this.#server = server;
  }

  /** The server that accepted it (null once it is closed). */
  get server(): TLSServer | null {
    return this.#server;
  }

  /** The server's address this connection reached. */
  get sockname(): Address {
    return this.#tcp.sockname;
  }

  /** The client's address. */
  get peername(): Address {
    return this.#tcp.peername;
  }

  /** @internal */
  override _afterClose(): void {
    const server = this.#server;
    this.#server = null;
    server?._forget(this);
  }

  /** @internal The server side of the handshake. */
  *_accept(context: TlsContext): Generator<unknown, void, unknown> {
    const session = TlsSession.server(context);
    yield* this._handshake(this.#tcp, session, "TLS accept");
  }
}

/** Options of a {@linkcode TLSServer}. */
export interface TLSServerOptions {
  /** The certificate chain in PEM, the server's own first. */
  cert: string;
  /** The private key in PEM. */
  key: string;
  /** ALPN protocols accepted, preferred first. */
  alpnProtocols?: string[];
  /** Runs for each connection once its handshake is done, in a task of its own. */
  handleConnection?: (
    connection: TLSConnection,
  ) => Generator<unknown, void, unknown> | void;
  /** The plaintext read buffer bound of connections (default 100 MiB). */
  maxBufferSize?: number;
  /**
   * How long a client may take to complete its handshake before it is
   * dropped, in ms (default 30000; `Infinity`: no bound), so that clients
   * that connect and stay silent cannot pile up.
   */
  handshakeTimeoutMs?: number;
}

/**
 * A TLS server: `bind()`, then `serve()` accepts connections, runs each
 * handshake in the connection's own task and then `handleConnection`.
 * When the handler returns or throws, the connection sends close_notify,
 * delivers what was written and closes. A client whose handshake fails,
 * or does not end within `handshakeTimeoutMs`, is dropped (its `TLSError`
 * goes nowhere: a bad client is not a server failure).
 *
 * Needs `--allow-ffi` and, to read the PEM files, `--allow-read`
 * (`--allow-net` is not checked: the sockets are native).
 *
 * @example
 * ```ts ignore
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { TLSServer } from "./tls.ts";
 *
 * using loop = new EventLoop();
 * const server = new TLSServer({
 *   cert: Deno.readTextFileSync("cert.pem"),
 *   key: Deno.readTextFileSync("key.pem"),
 *   *handleConnection(connection) {
 *     connection.write(yield* connection.readUntil("\n"));
 *   },
 * });
 * server.bind({ hostname: "127.0.0.1", port: 8443 });
 * spawn(function* () {
 *   yield* server.serve();
 * });
 * await loop.run();
 * ```
 */
export class TLSServer implements Disposable {
  /** The connections whose handler still runs, oldest first. */
  readonly connections: TLSConnection[] = [];
  #context: TlsContext;
  #tcp: TCPServer;
  #handler: TLSServerOptions["handleConnection"];
  #maxBufferSize: number;
  #handshakeTimeoutMs: number;

  /**
   * Loads the certificate and key; `bind()` and `serve()` start it.
   *
   * @throws {TypeError} if `cert` or `key` is not a string, or
   *   `handleConnection` is given and not a function.
   * @throws {RangeError} for a `handshakeTimeoutMs` that is not positive.
   * @throws {TLSError} `ENOTSUP` where TLS is not available; `EINVAL` with
   *   OpenSSL's reason for a certificate or key it refuses (or a key that
   *   does not match).
   */
  constructor(options: TLSServerOptions) {
    if (typeof options?.cert !== "string" || typeof options?.key !== "string") {
      throw new TypeError("TLSServer needs PEM text in { cert, key }");
    }
    const handler = options.handleConnection;
    if (handler !== undefined && typeof handler !== "function") {
      throw new TypeError(
        `handleConnection must be a function, got ${describe(handler)}`,
      );
    }
    this.#handler = handler;
    this.#maxBufferSize = checkMaxBufferSize(options.maxBufferSize);
    const timeoutMs = options.handshakeTimeoutMs ?? 30_000;
    if (
      typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs <= 0
    ) {
      throw new RangeError(
        `handshakeTimeoutMs must be a positive number of ms, got ${
          describe(timeoutMs)
        }`,
      );
    }
    this.#handshakeTimeoutMs = timeoutMs;
    try {
      this.#context = TlsContext.server(options);
    } catch (error) {
      throw tlsFailure(error, "load the TLS certificate and key", "EINVAL");
    }
    this.#tcp = new TCPServer({
      handleConnection: (connection) => this.#serveConnection(connection),
    });
  }

  /** True once {@linkcode TLSServer.close} was called. */
  get closed(): boolean {
    return this.#tcp.closed;
  }

  /**
   * The bound address.
   *
   * @throws {TCPError} `EINVAL` before `bind()`.
   */
  get sockname(): Address {
    return this.#tcp.sockname;
  }

  /**
   * Binds to `address` and listens; `{ reusePort: true }` lets servers in
   * other threads or processes bind the same port (SO_REUSEPORT).
   *
   * @throws {TCPError} as `TCPServer.bind` does.
   */
  bind(address: Address, options: TCPBindOptions = {}): void {
    this.#tcp.bind(address, options);
  }

  /**
   * Accepts connections until the server is closed (then it returns).
   *
   * @param backlog the listen queue's length (default 511)
   * @throws {TCPError} `EINVAL` before `bind()`, or the error that stopped
   *   accepting.
   */
  *serve(backlog?: number): Generator<unknown, void, unknown> {
    try {
      yield* this.#tcp.serve(backlog);
    } catch (error) {
      if (this.closed) return;
      throw error;
    }
  }

  /**
   * Handles one connection after its handshake; calls the
   * `handleConnection` option (override it in a subclass instead if you
   * like).
   *
   * @throws {Error} when neither was provided.
   */
  handleConnection(
    connection: TLSConnection,
  ): Generator<unknown, void, unknown> | void {
    if (this.#handler !== undefined) return this.#handler(connection);
    throw new Error(
      "TLSServer has no connection handler: pass { handleConnection } or override handleConnection()",
    );
  }

  /** Stops listening and closes every connection; a second call does nothing. */
  close(): void {
    if (this.#tcp.closed) return;
    this.#tcp.close();
    for (const connection of [...this.connections]) connection.close();
  }

  /** Same as {@linkcode TLSServer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal A connection closed: it leaves `connections`. */
  _forget(connection: TLSConnection): void {
    const index = this.connections.indexOf(connection);
    if (index >= 0) this.connections.splice(index, 1);
  }

  *#serveConnection(tcp: TCPConnection): Generator<unknown, void, unknown> {
    const connection = new TLSConnection(tcp, this, {
      maxBufferSize: this.#maxBufferSize,
    });
    this.connections.push(connection);
    try {
      const timeout = Number.isFinite(this.#handshakeTimeoutMs)
        ? new Timeout(this.#handshakeTimeoutMs)
        : null;
      try {
        timeout?.start();
        yield* connection._accept(this.#context);
      } catch (error) {
        // A client that fails or stalls its handshake is dropped.
        if (error instanceof TLSError || error === timeout) return;
        throw error;
      } finally {
        timeout?.cancel();
      }
      const result = this.handleConnection(connection);
      if (isGenerator(result)) yield* result;
      yield* connection._closeGracefully();
    } finally {
      connection.close();
    }
  }
}

// ---- helpers ----

const clientContexts = new Map<string, TlsContext>();
/** Contexts kept for reuse (loading the system's roots takes milliseconds). */
const CLIENT_CONTEXTS_MAX = 32;

function clientContext(options: TLSConnectOptions, what: string): TlsContext {
  const key = JSON.stringify([
    options.caCerts ?? null,
    options.alpnProtocols ?? null,
  ]);
  let context = clientContexts.get(key);
  if (context !== undefined) return context;
  try {
    context = TlsContext.client(options);
  } catch (error) {
    throw tlsFailure(error, what, "EINVAL");
  }
  if (clientContexts.size >= CLIENT_CONTEXTS_MAX) {
    // Sessions keep their own reference: freeing here is safe.
    for (const old of clientContexts.values()) old.free();
    clientContexts.clear();
  }
  clientContexts.set(key, context);
  return context;
}

/** The TLSError for an OpenSSL failure (or the error as it is). */
function tlsFailure(error: unknown, what: string, code = "EPROTO"): unknown {
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

function isIpLiteral(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text) || text.includes(":");
}

function isGenerator(
  value: unknown,
): value is Generator<unknown, void, unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Generator).next === "function" &&
    typeof (value as Generator).throw === "function";
}

function indexOf(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  end: number,
): number {
  const first = needle[0];
  const last = end - needle.length;
  for (
    let index = haystack.indexOf(first, from);
    index >= 0 && index <= last;
  ) {
    let matched = 1;
    while (
      matched < needle.length && haystack[index + matched] === needle[matched]
    ) {
      matched++;
    }
    if (matched === needle.length) return index;
    index = haystack.indexOf(first, index + 1);
  }
  return -1;
}

function checkDelimiter(bytes: Uint8Array): void {
  if (bytes.length === 0 || bytes.length > 64 * 1024) {
    throw new RangeError(
      `readUntil() needs a delimiter of 1 to 65536 bytes, got ${bytes.length}`,
    );
  }
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let start = 0; start < bytes.length; start += 8192) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(start, start + 8192) as unknown as number[],
    );
  }
  return text;
}
