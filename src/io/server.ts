/**
 * The part TCP and pipe servers share (evergreen's `StreamServer`): a bound,
 * listening native socket whose accept loop runs natively while a task is
 * in `serve()`; each accepted connection becomes a stream, joins
 * `connections`, and gets its handler run in a task of its own.
 *
 * @module
 */

import type { EventLoop } from "../loop/event_loop.ts";
import { spawn } from "../tasks.ts";
import { waitPromise } from "../futures.ts";
import * as native from "../native/stream_native.ts";
import { closeOnCollect, forgetOnCollect } from "../native/finalizer.ts";
import {
  closedError,
  errorFor,
  errorFromResult,
  loopDestroyedError,
  type StreamErrorClass,
} from "./errors.ts";
import type { Stream, StreamOptions } from "./stream.ts";
import { PendingOp } from "./_pending_op.ts";
import { checkMaxBufferSize } from "./_stream_reader.ts";
import { checkInteger, describe } from "../_util.ts";
import { blocking } from "../_operation.ts";

/**
 * The largest listen backlog `serve()` takes (the OS caps it lower anyway,
 * e.g. at `net.core.somaxconn`).
 */
export const BACKLOG_MAX = 0x7fff_ffff;
/** The listen backlog when `serve()` is given none (as libuv and Node). */
export const DEFAULT_BACKLOG = 511;

/**
 * A connection handler: a generator function (it blocks with `yield*`), a
 * plain function, or an async function. An async one's connection stays
 * open until its promise settles; it runs under `loop.run()` only (promises
 * settle only while Deno's event loop turns) and uses the connection from
 * async code: `write()`, and `readable`/`writable`.
 */
export type ConnectionHandler<C> = (
  connection: C,
) => Generator<unknown, void, unknown> | PromiseLike<void> | void;

/** Options of a stream server. */
export interface StreamServerOptions<C> {
  /** Runs for each accepted connection, in a task of its own. */
  handleConnection?: ConnectionHandler<C>;
  /** The read buffer bound of accepted connections (default 100 MiB). */
  maxBufferSize?: number;
  /**
   * How long, in ms, the server lets a connection whose handler ended
   * deliver what it wrote (and read the peer's end of stream) before it
   * closes it anyway: a peer that stopped reading cannot hold it open for
   * ever. Default 30000; 0 closes at once (unsent bytes are dropped);
   * `Infinity` waits as long as it takes.
   */
  lingerMs?: number;
}

/** How long a finished handler's connection may linger by default, in ms. */
export const DEFAULT_LINGER_MS = 30_000;

/** @internal What a stream needs of the server that accepted it. */
export interface AcceptingServer {
  /** Takes a closed connection out of the server's `connections`. */
  _forget(connection: Stream): void;
}

/** @internal How a server makes the connection for an accepted stream. */
export type ConnectionClass<C extends Stream> = new (
  options: StreamOptions,
) => C;

/**
 * @internal Base of `TCPServer` and `PipeServer`.
 */
export abstract class StreamServer<C extends Stream> implements Disposable {
  /** The accepted connections that are still open, oldest first. */
  readonly connections: C[] = [];
  #loop: EventLoop | null = null;
  #handle = 0;
  #closed = false;
  #serving: PendingOp | null = null;
  #handler: ConnectionHandler<C> | undefined;
  #maxBufferSize: number;
  #lingerMs: number;
  #errorClass: StreamErrorClass;
  #Connection: ConnectionClass<C>;

  /**
   * @param options `handleConnection`, `maxBufferSize` of connections and
   *   `lingerMs`
   * @throws {TypeError} if `handleConnection` is given and not a function.
   * @param errorClass the error class the server and its connections throw
   * @param Connection the class of accepted connections
   * @throws {RangeError} if `lingerMs` is negative or not a number.
   */
  constructor(
    options: StreamServerOptions<C> = {},
    errorClass: StreamErrorClass,
    Connection: ConnectionClass<C>,
  ) {
    this.#errorClass = errorClass;
    this.#Connection = Connection;
    const handler = options?.handleConnection;
    if (handler !== undefined && typeof handler !== "function") {
      throw new TypeError(
        `handleConnection must be a function, got ${describe(handler)}`,
      );
    }
    this.#handler = handler;
    this.#maxBufferSize = checkMaxBufferSize(options?.maxBufferSize);
    const linger = options?.lingerMs ?? DEFAULT_LINGER_MS;
    if (typeof linger !== "number" || !(linger >= 0)) {
      throw new RangeError(
        `lingerMs must be a non-negative number of ms (or Infinity), got ${
          describe(linger)
        }`,
      );
    }
    this.#lingerMs = linger;
  }

  /** @internal The error class this server throws. */
  protected get _errorClass(): StreamErrorClass {
    return this.#errorClass;
  }

  /**
   * Handles one accepted connection; runs in a task of its own. Calls the
   * `handleConnection` option; override it in a subclass instead if you
   * like.
   *
   * @throws {Error} when neither was provided (the connection is closed).
   */
  handleConnection(
    connection: C,
  ): Generator<unknown, void, unknown> | PromiseLike<void> | void {
    if (this.#handler !== undefined) return this.#handler(connection);
    connection.close();
    throw new Error(
      `${this.constructor.name} has no connection handler: pass { handleConnection } or override handleConnection()`,
    );
  }

  /** True once {@linkcode StreamServer.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Accepts connections until the server is closed: each is added to
   * `connections` and handled in a task of its own; when its handler
   * returns or throws, the server closes it once what it wrote is
   * delivered (bounded by `lingerMs`) and it leaves `connections`. Use with
   * `yield*`. Returns normally once `close()` is called, from any task,
   * before or while it waits.
   *
   * @param backlog the listen queue's length (default 511)
   * @throws {RangeError} if `backlog` is not an integer from 0 to 2^31-1.
   * @throws {StreamError} (the server's class) `EINVAL` before `bind()`;
   *   `EBADF` if its loop was destroyed; the OS error that stopped accepting
   *   (`EMFILE`).
   */
  @blocking("serve()")
  *serve(backlog?: number): Generator<unknown, void, unknown> {
    const errorClass = this._errorClass;
    if (this.#closed) return;
    if (this.#loop?._destroyed) {
      throw loopDestroyedError(errorClass, this.constructor.name, "serve");
    }
    if (this.#handle === 0) {
      throw errorFor(errorClass, "EINVAL", "serve", "bind() the server first");
    }
    if (this.#serving !== null && this.#serving.busy) {
      throw new Error("serve(): the server is already serving in another task");
    }
    if (backlog !== undefined) {
      checkInteger(backlog, "serve()", "backlog", 0, BACKLOG_MAX);
      const listened = native.streamListen(this.#handle, backlog);
      if (listened < 0) throw errorFromResult(errorClass, listened, "serve");
    }
    const loop = this.#loop!;
    const pending = new PendingOp(
      loop,
      loop._blockingFiber("serve()"),
      this.#accepted,
    );
    const started = native.streamAccept(this.#handle, pending.token);
    if (started !== native.IN_PROGRESS) {
      pending.release();
      throw errorFromResult(errorClass, started, "serve");
    }
    this.#serving = pending;
    try {
      yield* pending.wait();
    } finally {
      this.#serving = null;
      if (!pending.done) {
        pending.abandon();
        if (!this.#closed) native.streamCancel(this.#handle, native.SIDE_READ);
      }
    }
    if (this.#closed) return;
    throw errorFromResult(errorClass, pending.result, "serve");
  }

  /**
   * Stops listening and closes every connection at once; a second call
   * does nothing. A task in `serve()` returns from it.
   */
  close(): void {
    if (this.#closed) return;
    this._beforeClose();
    this.#closed = true;
    if (this.#handle !== 0) {
      forgetOnCollect(this);
      native.streamClose(this.#handle);
      // serve() waits in the accept op: wake a parked run() to deliver it.
      this.#loop?._wakeParked();
    }
    for (const connection of [...this.connections]) connection.close();
  }

  /** Same as {@linkcode StreamServer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The listener's handle (0 before bind). */
  get _handle(): number {
    return this.#handle;
  }

  /** @internal Takes ownership of a bound, listening native socket. */
  _bound(loop: EventLoop, handle: number): void {
    this.#loop = loop;
    this.#handle = handle;
    closeOnCollect(this, handle, native.streamClose);
  }

  /** @internal How long a finished handler's connection may linger. */
  get _lingerMs(): number {
    return this.#lingerMs;
  }

  /** @internal The read buffer bound of accepted connections. */
  get _maxBufferSize(): number {
    return this.#maxBufferSize;
  }

  /** @internal A connection closed: it leaves `connections`. */
  _forget(connection: C): void {
    const index = this.connections.indexOf(connection);
    if (index >= 0) this.connections.splice(index, 1);
  }

  /** @internal Called first by close(). */
  _beforeClose(): void {}

  /** @internal The error for use of a closed server. */
  _closedError(what: string): Error {
    return this.#closedError(what);
  }

  #accepted = (result: number, handle: number): boolean => {
    if (result !== native.ACCEPTED) return false;
    if (this.#closed) {
      native.streamClose(handle);
      return true;
    }
    const connection = new this.#Connection({
      maxBufferSize: this.#maxBufferSize,
    });
    connection._attachAccepted(this.#loop!, handle, this);
    this.connections.push(connection);
    spawn(runHandler, this, connection);
    return true;
  };

  #closedError(what: string): Error {
    return closedError(this._errorClass, this.constructor.name, what);
  }

  /** @internal Checks that the server can still bind. */
  _checkBindable(what: string): void {
    if (this.#closed) throw this.#closedError(what);
    if (this.#handle !== 0) {
      throw errorFor(this._errorClass, "EINVAL", what, "already bound");
    }
  }
}

function* runHandler<C extends Stream>(
  server: StreamServer<C>,
  connection: C,
): Generator<unknown, void, unknown> {
  try {
    yield* awaitHandler(server.handleConnection(connection));
  } finally {
    // The handler owned the connection: close it once its bytes are out.
    yield* finish(connection, server._lingerMs);
  }
}

/**
 * @internal Runs what a connection handler returned to its end: a
 * generator with `yield*`, a promise (an async handler) with
 * `waitPromise`, which throws a clear error under `runSync()`.
 *
 * @example
 * ```ts ignore
 * yield* awaitHandler(server.handleConnection(connection));
 * ```
 */
export function* awaitHandler(
  result: Generator<unknown, void, unknown> | PromiseLike<void> | void,
): Generator<unknown, void, unknown> {
  if (result === undefined || result === null) return;
  if (typeof (result as Generator).next === "function") {
    yield* result as Generator<unknown, void, unknown>;
  } else if (typeof (result as PromiseLike<void>).then === "function") {
    const promise = Promise.resolve(result);
    // Its rejection fails this task (reported once, by the loop), also when
    // it comes after the task gave up waiting (killed, or under runSync()
    // where waiting throws): never an unhandled rejection as well.
    promise.catch(() => {});
    yield* waitPromise(promise);
  }
}

// Where a finished connection's late input is read and dropped.
const lingerScratch = new Uint8Array(4096);

/**
 * Ends a connection whose handler returned: sends what was written,
 * half-closes, reads (and drops) until the peer's end of stream so that
 * closing cannot reset a reply still in flight, then closes; all within
 * `lingerMs` (past it the connection is closed as is). Never throws: a reset
 * or a closed connection just ends it.
 */
function* finish(
  connection: Stream,
  lingerMs: number,
): Generator<unknown, void, unknown> {
  const loop = connection._loop;
  if (!connection._open || loop === null || loop._destroyed || lingerMs === 0) {
    connection.close();
    return;
  }
  try {
    yield* withinLinger(loop, lingerMs, connection, goodbye(connection));
  } catch {
    // reset, closed by the linger timer or by another task: done
  } finally {
    connection.close();
  }
}

function* goodbye(connection: Stream): Generator<unknown, void, unknown> {
  yield* connection.shutdown();
  while ((yield* connection.readInto(lingerScratch)) > 0) {
    // the peer's late bytes are dropped
  }
}

/**
 * @internal Runs `ending` (the goodbye of a connection whose handler ended)
 * for at most `lingerMs`: past it `connection` is closed, which ends it.
 *
 * @example
 * ```ts ignore
 * yield* withinLinger(loop, 300, connection, connection._closeGracefully());
 * ```
 */
export function* withinLinger(
  loop: EventLoop,
  lingerMs: number,
  connection: { close(): void },
  ending: Generator<unknown, void, unknown>,
): Generator<unknown, void, unknown> {
  const timer = Number.isFinite(lingerMs)
    ? loop.callLater(lingerMs, () => connection.close())
    : null;
  try {
    yield* ending;
  } finally {
    timer?.cancel();
  }
}
