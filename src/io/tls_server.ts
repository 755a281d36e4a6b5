/**
 * The TLS server (`TLSServer`) and the connections it accepts
 * (`TLSConnection`): a TCP server whose connections each run their
 * handshake in their own task, bounded by `handshakeTimeoutMs`, before the
 * handler. The stream part is `tls_stream.ts`; `tls.ts` re-exports both.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { blocking } from "../_operation.ts";
import { closeOnCollect, forgetOnCollect } from "../native/finalizer.ts";
import { TlsContext, TlsSession } from "../native/openssl.ts";
import { TLSError } from "./errors.ts";
import type { StreamOptions } from "./stream.ts";
import { checkMaxBufferSize } from "./_stream_reader.ts";
import { Timeout } from "../sync/timeout.ts";
import {
  type Address,
  type TCPBindOptions,
  type TCPConnection,
  TCPServer,
} from "./tcp.ts";
import { tlsFailure, TLSStream } from "./tls_stream.ts";
import { awaitHandler, withinLinger } from "./server.ts";

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
  ) => Generator<unknown, void, unknown> | PromiseLike<void> | void;
  /** The plaintext read buffer bound of connections (default 100 MiB). */
  maxBufferSize?: number;
  /**
   * How long a client may take to complete its handshake before it is
   * dropped, in ms (default 30000; `Infinity`: no bound), so that clients
   * that connect and stay silent cannot pile up.
   */
  handshakeTimeoutMs?: number;
  /**
   * How long, in ms, the server lets a connection whose handler ended
   * deliver what it wrote (and its close_notify) before it closes it
   * anyway: a peer that stopped reading cannot hold it open for ever.
   * Default 30000; 0 closes at once (unsent bytes are dropped); `Infinity`
   * waits as long as it takes.
   */
  lingerMs?: number;
}

/**
 * A TLS server: `bind()`, then `serve()` accepts connections, runs each
 * handshake in the connection's own task and then `handleConnection`.
 * When the handler returns or throws, the connection sends close_notify,
 * delivers what was written (within `lingerMs`, default 30 s) and closes.
 * A client whose handshake fails, or does not end within
 * `handshakeTimeoutMs`, is dropped (its `TLSError` goes nowhere: a bad
 * client is not a server failure).
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
  // Freed by close(), once every connection (and so its session) is; or
  // when the server is collected without close(): connections hold the
  // server until they close (and free their session), so none is left then.
  #context: TlsContext | null;
  #tcp: TCPServer;
  #handler: TLSServerOptions["handleConnection"];
  #maxBufferSize: number;
  #handshakeTimeoutMs: number;

  /**
   * Loads the certificate and key; `bind()` and `serve()` start it.
   *
   * @throws {TypeError} if `cert` or `key` is not a string, or
   *   `handleConnection` is given and not a function.
   * @throws {RangeError} for a `handshakeTimeoutMs` that is not positive,
   *   or a `lingerMs` that is negative or not a number.
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
    closeOnCollect(this, this.#context, freeContext);
    this.#tcp = new TCPServer({
      handleConnection: (connection) => this.#serveConnection(connection),
      lingerMs: options.lingerMs,
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
  @blocking("serve()")
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
  ): Generator<unknown, void, unknown> | PromiseLike<void> | void {
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
    forgetOnCollect(this);
    this.#context?.free();
    this.#context = null;
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
      // Accepted just before close(): its context is gone.
      const context = this.#context;
      if (context === null) return;
      try {
        timeout?.start();
        yield* connection._accept(context);
      } catch (error) {
        // A client that fails or stalls its handshake is dropped.
        if (error instanceof TLSError || error === timeout) return;
        throw error;
      } finally {
        timeout?.cancel();
      }
      try {
        yield* awaitHandler(this.handleConnection(connection));
      } finally {
        // Returned or threw: the handler owned the connection.
        yield* this.#linger(connection, tcp);
      }
    } finally {
      connection.close();
    }
  }

  /**
   * Lets a connection whose handler ended deliver what it wrote and its
   * close_notify, within `lingerMs` (past it the connection is closed as
   * is). Never throws.
   */
  *#linger(
    connection: TLSConnection,
    tcp: TCPConnection,
  ): Generator<unknown, void, unknown> {
    const lingerMs = this.#tcp._lingerMs;
    const loop = tcp._loop;
    if (lingerMs === 0 || loop === null || loop._destroyed) return;
    yield* withinLinger(
      loop,
      lingerMs,
      connection,
      connection._closeGracefully(),
    );
  }
}

/** Frees a server's context when the server is collected without close(). */
function freeContext(context: TlsContext): void {
  context.free();
}
