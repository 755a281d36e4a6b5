/**
 * Pipes (evergreen's `io/pipe.py`): Unix domain sockets on Linux and macOS
 * (and on Windows for file-system paths) and Windows named pipes
 * (`\\.\pipe\name`) as `PipeClient`, `PipeServer` and `PipeConnection`,
 * and `PipeStream` over an inherited descriptor (a pipe or a socket; on
 * Windows a handle). They throw {@linkcode PipeError}.
 *
 * @module
 */

import { EventLoop } from "../loop/event_loop.ts";
import * as native from "../native/stream_native.ts";
import {
  errorFor,
  errorFromResult,
  PipeError,
  type StreamErrorClass,
} from "./errors.ts";
import {
  DEFAULT_BACKLOG,
  StreamServer,
  type StreamServerOptions,
} from "./server.ts";
import { Stream, type StreamOptions } from "./stream.ts";
import { checkFd, describe } from "../_util.ts";
import { blocking } from "../_operation.ts";

/**
 * A client of a {@linkcode PipeServer}.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { PipeClient, PipeServer } from "./pipe.ts";
 *
 * using loop = new EventLoop();
 * const path = Deno.makeTempFileSync() + ".sock";
 * const server = new PipeServer({
 *   *handleConnection(connection) {
 *     connection.write(yield* connection.readUntil("\n"));
 *     yield* connection.flush();
 *     connection.close();
 *   },
 * });
 * server.bind(path);
 * spawn(function* () {
 *   try {
 *     yield* server.serve();
 *   } catch {
 *     // closed below
 *   }
 * });
 * spawn(function* () {
 *   using client = new PipeClient();
 *   yield* client.connect(path);
 *   client.write("PING\n");
 *   console.log(new TextDecoder().decode(yield* client.readUntil("\n")));
 *   server.close();
 * });
 * await loop.run(); // prints "PING"
 * ```
 */
export class PipeClient extends Stream {
  /**
   * Creates an unconnected client; `connect()` connects it.
   *
   * @param options `maxBufferSize`, the read buffer's bound (default 100 MiB)
   */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return PipeError;
  }

  /**
   * Connects to the pipe server at `path`. Bytes written before are sent once
   * connected. A Windows named pipe whose instances are all taken is waited
   * for briefly (up to about 100 ms, in this thread: the server makes the
   * next instance as it hands one out) before `EBUSY`.
   *
   * @throws {TypeError} if `path` is not a string.
   * @throws {PipeError} `ENOENT` when nothing is at `path`, `ECONNREFUSED`
   *   when nobody listens there (or it is not a socket), `EINVAL` for an
   *   empty or too long path, `EBADF` when closed, `EBUSY` (Windows) when
   *   every instance of a named pipe stayed taken.
   */
  @blocking("connect()")
  *connect(path: string): Generator<unknown, void, unknown> {
    checkPath(path, "connect()");
    const what = `connect to ${path}`;
    if (this._handle === 0 && !this.closed) {
      const loop = EventLoop.current();
      const handle = native.streamNew(loop._native, this.maxBufferSize);
      if (handle < 0) throw errorFromResult(PipeError, handle, what);
      this._attach(loop, handle, false);
    }
    const handle = this._handle;
    yield* this._connect(
      what,
      (token) => native.pipeConnect(handle, path, token),
      pathDetail,
    );
  }
}

/**
 * A connection accepted by a {@linkcode PipeServer}; closing it removes it
 * from `server.connections`.
 *
 * @example
 * ```ts
 * import { PipeServer } from "./pipe.ts";
 * const server = new PipeServer({
 *   handleConnection(connection) {
 *     connection.write("hello\n");
 *   },
 * });
 * ```
 */
export class PipeConnection extends Stream {
  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return PipeError;
  }

  /** The server that accepted this connection; null once closed. */
  get server(): PipeServer | null {
    return this._server as PipeServer | null;
  }
}

/**
 * A pipe server on a Unix socket path: `bind(path)`, then `serve()` in a
 * task until `close()`, which also removes the socket file while the path
 * still names that socket (never a file or socket put there since). Each
 * connection's `handleConnection` runs in a task of its own.
 *
 * @example
 * ```ts
 * import { PipeServer } from "./pipe.ts";
 * using server = new PipeServer({ handleConnection: (c) => c.close() });
 * server.bind(Deno.makeTempFileSync() + ".sock");
 * console.log(server.pipename.endsWith(".sock")); // true
 * ```
 */
export class PipeServer extends StreamServer<PipeConnection> {
  #pipename: string | null = null;

  /**
   * Creates an unbound server; `bind()` and `serve()` start it.
   *
   * @param options `handleConnection` (else override the method),
   *   `maxBufferSize` for accepted connections, and `lingerMs` (how long a
   *   connection whose handler ended may take to deliver its bytes)
   */
  constructor(options: StreamServerOptions<PipeConnection> = {}) {
    super(options, PipeError, PipeConnection);
  }

  /**
   * Creates the socket at `path` and starts listening.
   *
   * @throws {TypeError} if `path` is not a string.
   * @throws {PipeError} `EADDRINUSE` when `path` exists, `ENOENT` when its
   *   directory does not, `EINVAL` for an empty or too long path or a second
   *   bind, `EBADF` when closed.
   */
  bind(path: string): void {
    checkPath(path, "bind()");
    const what = `bind to ${path}`;
    this._checkBindable(what);
    const loop = EventLoop.current();
    const handle = native.pipeListen(
      loop._native,
      path,
      DEFAULT_BACKLOG,
      this._maxBufferSize,
    );
    if (handle < 0) {
      throw errorFromResult(PipeError, handle, what, pathDetail(handle));
    }
    this._bound(loop, handle);
    this.#pipename = path;
  }

  /**
   * The path the server is bound to.
   *
   * @throws {PipeError} `EINVAL` before `bind()`.
   */
  get pipename(): string {
    if (this.#pipename === null) {
      throw errorFor(
        PipeError,
        "EINVAL",
        "pipename",
        "the server is not bound",
      );
    }
    return this.#pipename;
  }
}

/**
 * A stream over an inherited descriptor: one end of a pipe, a socket, a
 * descriptor handed over by a parent process. It owns the descriptor once
 * opened and closes it with the stream.
 *
 * On Windows the number is a Win32 `HANDLE` value instead: 0, 1 and 2 stand
 * for the standard input, output and error handles (`GetStdHandle`), any
 * other number is a handle itself (one inherited from the parent, say). A
 * socket handle is used as it is; any other handle (a pipe end, a file) is
 * bridged to a loopback socket by two native threads, and closed once they
 * end, just after the stream closes. A handle has no half-close there:
 * `shutdown()` ends reading too. A write to the read end of a pipe ends the
 * bridge (reads end, later writes fail), and the write end of a pipe reads
 * end of stream at once.
 *
 * @example
 * ```ts ignore
 * import { PipeStream } from "./pipe.ts";
 * const stream = new PipeStream();
 * stream.open(3); // a descriptor this process inherited
 * ```
 */
export class PipeStream extends Stream {
  /**
   * Creates a stream with nothing open yet; `open(fd)` opens it.
   *
   * @param options `maxBufferSize`, the read buffer's bound (default 100 MiB)
   */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return PipeError;
  }

  /**
   * Takes over descriptor `fd` (made nonblocking); on Windows `fd` is a
   * `HANDLE` value, 0 to 2 being the standard handles. On failure it stays
   * the caller's.
   *
   * @throws {TypeError} if `fd` is not a number.
   * @throws {RangeError} if `fd` is not an integer from 0 to 2^31-1.
   * @throws {PipeError} `EBADF` for a descriptor or handle that is not open,
   *   or a closed stream; `EISCONN` when already open.
   */
  open(fd: number): void {
    checkFd(fd, "PipeStream.open()");
    const what = `open fd ${fd}`;
    if (this.closed) throw this._closedError(what);
    if (this._handle !== 0) {
      throw errorFor(PipeError, "EISCONN", what, "already open");
    }
    this._attachOpened(
      what,
      (loop, maxBufferSize) => native.streamOpen(loop, fd, maxBufferSize),
    );
  }
}

function checkPath(path: string, what: string): void {
  if (typeof path !== "string") {
    throw new TypeError(`${what} needs a path string, got ${describe(path)}`);
  }
}

function pathDetail(result: number): string | undefined {
  return result === native.INVALID
    ? "a Unix socket path has 1 to 107 bytes (103 on macOS) and no zero byte"
    : undefined;
}
