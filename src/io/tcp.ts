/**
 * TCP streams (evergreen's `io/tcp.py`): `TCPClient` connects (resolving
 * host names off the JS thread and trying every address in order, IPv4 and
 * IPv6), `TCPServer` binds, serves and hands each `TCPConnection` to its
 * handler in a task of its own. `TCP_NODELAY` is on; `sockname` and
 * `peername` are read once and stay readable after close.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import * as native from "../native/stream_native.ts";
import { ERROR_NAMES } from "../native/errors.ts";
import {
  errorFor,
  errorFromResult,
  type StreamErrorClass,
  TCPError,
} from "./errors.ts";
import {
  DEFAULT_BACKLOG,
  StreamServer,
  type StreamServerOptions,
} from "./server.ts";
import { Stream, type StreamOptions } from "./stream.ts";
import {
  type Address,
  describeAddress,
  isIpLiteral,
} from "../native/address.ts";
import { blocking } from "../_operation.ts";
import {
  _awaitLookupSlot,
  _lookupEnded,
  _lookupStarted,
  _slotsDetail,
} from "./lookup.ts";

/** Options of `TCPServer.bind` (and `TLSServer.bind`). */
export interface TCPBindOptions {
  /**
   * Let servers in other Workers or processes bind the same port, the
   * kernel spreading connections over them (SO_REUSEPORT; Linux, macOS and
   * the BSDs; `ENOSYS` on Windows).
   */
  reusePort?: boolean;
}

const NOT_SUPPORTED = -ERROR_NAMES.indexOf("ENOSYS");

export type { Address };

/**
 * What {@linkcode TCPClient} and {@linkcode TCPConnection} share: the TCP
 * error class and the two addresses, each read once and still readable
 * after close.
 *
 * @example
 * ```ts
 * import { TCPClient, TCPStream } from "./tcp.ts";
 * console.log(new TCPClient() instanceof TCPStream); // true
 * ```
 */
export abstract class TCPStream extends Stream {
  #names = new Names();

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return TCPError;
  }

  /**
   * The local address, read once.
   *
   * @throws {TCPError} `ENOTCONN` before connecting, `EBADF` if closed first.
   */
  get sockname(): Address {
    return this.#names.local(this, TCPError);
  }

  /**
   * The peer's address, read once.
   *
   * @throws {TCPError} `ENOTCONN` before connecting, `EBADF` if closed first.
   */
  get peername(): Address {
    return this.#names.peer(this, TCPError);
  }

  /** @internal */
  override _beforeClose(): void {
    this.#names.keep(this);
  }
}

/**
 * A TCP client stream. `connect()` resolves the host name off the JS thread
 * (also under `runSync()`) and tries each address in order until one
 * answers.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { TCPClient, TCPServer } from "./tcp.ts";
 *
 * using loop = new EventLoop();
 * const server = new TCPServer({
 *   *handleConnection(connection) {
 *     connection.write(yield* connection.readUntil("\n"));
 *     yield* connection.flush();
 *     connection.close();
 *   },
 * });
 * server.bind({ hostname: "127.0.0.1", port: 0 });
 * spawn(function* () {
 *   yield* server.serve(); // returns once closed below
 * });
 * spawn(function* () {
 *   using client = new TCPClient();
 *   yield* client.connect(server.sockname);
 *   client.write("PING\n");
 *   console.log(new TextDecoder().decode(yield* client.readUntil("\n")));
 *   server.close();
 * });
 * await loop.run(); // prints "PING"
 * ```
 */
export class TCPClient extends TCPStream {
  /**
   * Creates an unconnected client; `connect()` connects it.
   *
   * @param options `maxBufferSize`, the read buffer's bound (default 100 MiB)
   */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /**
   * Connects to `target`, optionally from `source` (an IP literal; port 0
   * for any). Bytes written before are sent once connected.
   *
   * @throws {TypeError} if an address is not `{ hostname, port }`.
   * @throws {TCPError} `EINVAL` for a port outside 0-65535 or a source that
   *   is not an IP literal; `ENOENT` for a name that does not resolve; the
   *   last address's error (`ECONNREFUSED`, `ETIMEDOUT`, ...); `EISCONN`
   *   when connected already; `EBADF` when closed; `EAGAIN`/`EMFILE` when
   *   the process runs 64 lookups and none of them is this loop's (a host
   *   name's lookup is one of them: past 64, a connect by name waits for
   *   one of its loop's lookups or connects by name to end, as
   *   `lookup()` does).
   */
  @blocking("connect()")
  *connect(
    target: Address,
    source?: Address,
  ): Generator<unknown, void, unknown> {
    const what = `connect to ${
      describeAddress(checkAddress(target, "connect()"))
    }`;
    if (target.hostname === "") {
      throw errorFor(TCPError, "EINVAL", what, "the hostname is empty");
    }
    checkPort(target.port, what);
    if (source !== undefined) {
      checkAddress(source, "connect() source");
      checkPort(source.port, what);
    }
    if (this._handle === 0 && !this.closed) {
      const loop = EventLoop.current();
      const handle = native.streamNew(loop._native, this.maxBufferSize);
      if (handle < 0) throw errorFromResult(TCPError, handle, what);
      this._attach(loop, handle, false);
    }
    const handle = this._handle;
    const detail = (result: number) =>
      result === native.NOT_FOUND
        ? "the host name does not resolve"
        : result === native.INVALID && source !== undefined
        ? "the source must be an IP address"
        : undefined;
    // A host name is resolved by a lookup of its own, one of the process's
    // 64: past them, wait for one of this loop's as lookup() does.
    const byName = !isIpLiteral(target.hostname);
    const loop = EventLoop.current();
    for (;;) {
      // The start's failure while looking up (and whether a lookup runs).
      let failed = 0;
      let started = false;
      try {
        yield* this._connect(what, (token) => {
          const result = native.tcpConnect(
            handle,
            target.hostname,
            target.port,
            source,
            token,
          );
          if (!byName) return result;
          if (result === native.IN_PROGRESS) {
            started = true;
            _lookupStarted(loop);
          } else {
            failed = result;
          }
          return result;
        }, (result) =>
          detail(result) ??
            (failed !== 0 ? _slotsDetail(result) : undefined));
        return;
      } catch (error) {
        if (failed === 0 || !(yield* _awaitLookupSlot(loop, failed))) {
          throw error;
        }
      } finally {
        if (started) _lookupEnded(loop);
      }
    }
  }
}

/**
 * A connection accepted by a {@linkcode TCPServer}; closing it removes it
 * from `server.connections`.
 *
 * @example
 * ```ts
 * import { TCPServer } from "./tcp.ts";
 * const server = new TCPServer({
 *   *handleConnection(connection) {
 *     console.log("from", connection.peername);
 *     connection.close();
 *   },
 * });
 * ```
 */
export class TCPConnection extends TCPStream {
  /** The server that accepted this connection; null once closed. */
  get server(): TCPServer | null {
    return this._server as TCPServer | null;
  }
}

/**
 * A TCP server: `bind()` to an address (an IP literal, `"localhost"`, or
 * `""`/`"0.0.0.0"` for every IPv4 address; port 0 picks a free port), then
 * `serve()` in a task until `close()`. Each connection's
 * `handleConnection` runs in a task of its own.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { TCPServer } from "./tcp.ts";
 *
 * using loop = new EventLoop();
 * using server = new TCPServer({
 *   *handleConnection(connection) {
 *     for (;;) {
 *       const line = yield* connection.readUntil("\n");
 *       if (line.length === 0) break;
 *       connection.write(line);
 *     }
 *     connection.close();
 *   },
 * });
 * server.bind({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.sockname.port > 0); // true
 * ```
 */
export class TCPServer extends StreamServer<TCPConnection> {
  #sockname: Address | null = null;

  /**
   * Creates an unbound server; `bind()` and `serve()` start it.
   *
   * @param options `handleConnection` (else override the method),
   *   `maxBufferSize` for accepted connections, and `lingerMs` (how long a
   *   connection whose handler ended may take to deliver its bytes)
   */
  constructor(options: StreamServerOptions<TCPConnection> = {}) {
    super(options, TCPError, TCPConnection);
  }

  /**
   * Binds to `address` and starts listening (so a port in use fails here).
   * `{ reusePort: true }` lets a server in each of several Workers (or
   * processes) bind the same port: the kernel spreads the connections.
   *
   * @throws {TypeError} if `address` is not `{ hostname, port }`.
   * @throws {TCPError} `EADDRINUSE` when the port is taken (also by a
   *   server without `reusePort`); `EINVAL` for a hostname that is not an IP
   *   address (or "localhost"), a port outside 0-65535, or a second bind;
   *   `ENOSYS` for `reusePort` where the OS has no SO_REUSEPORT (Windows);
   *   `EBADF` when closed.
   */
  bind(address: Address, options: TCPBindOptions = {}): void {
    const what = `bind to ${describeAddress(checkAddress(address, "bind()"))}`;
    checkPort(address.port, what);
    this._checkBindable(what);
    const loop = EventLoop.current();
    const handle = native.tcpListen(
      loop._native,
      address.hostname,
      address.port,
      DEFAULT_BACKLOG,
      this._maxBufferSize,
      options?.reusePort ? native.LISTEN_REUSE_PORT : 0,
    );
    if (handle < 0) {
      throw errorFromResult(
        TCPError,
        handle,
        what,
        handle === native.INVALID
          ? "the hostname must be an IP address or localhost"
          : handle === NOT_SUPPORTED && options?.reusePort
          ? `reusePort needs SO_REUSEPORT, which ${Deno.build.os} does not have`
          : undefined,
      );
    }
    this._bound(loop, handle);
    const name = native.streamAddress(handle, false);
    if (typeof name !== "number") this.#sockname = name;
  }

  /**
   * The address the server is bound to (with the port picked for port 0).
   *
   * @throws {TCPError} `EINVAL` before `bind()`.
   */
  get sockname(): Address {
    if (this.#sockname === null) {
      throw errorFor(TCPError, "EINVAL", "sockname", "the server is not bound");
    }
    return { ...this.#sockname };
  }
}

/** @internal Local and peer addresses, read once and kept after close. */
export class Names {
  #local: Address | null = null;
  #peer: Address | null = null;

  /** The local address of `stream`. */
  local(stream: Stream, errorClass: StreamErrorClass): Address {
    this.#local ??= readName(stream, false, errorClass);
    return { ...this.#local };
  }

  /** The peer address of `stream`. */
  peer(stream: Stream, errorClass: StreamErrorClass): Address {
    this.#peer ??= readName(stream, true, errorClass);
    return { ...this.#peer };
  }

  /** Reads both while the stream is still open (called before close). */
  keep(stream: Stream): void {
    if (!stream._open) return;
    if (this.#local === null) {
      const local = native.streamAddress(stream._handle, false);
      if (typeof local !== "number") this.#local = local;
    }
    if (this.#peer === null) {
      const peer = native.streamAddress(stream._handle, true);
      if (typeof peer !== "number") this.#peer = peer;
    }
  }
}

function readName(
  stream: Stream,
  peer: boolean,
  errorClass: StreamErrorClass,
): Address {
  const what = peer ? "peername" : "sockname";
  if (stream.closed) throw stream._closedError(what);
  if (!stream._open) {
    throw errorFor(errorClass, "ENOTCONN", what, "the stream is not connected");
  }
  const name = native.streamAddress(stream._handle, peer);
  if (typeof name === "number") throw errorFromResult(errorClass, name, what);
  return name;
}

/** @internal Checks an address's shape; returns it. */
export function checkAddress(address: Address, what: string): Address {
  if (
    typeof address !== "object" || address === null ||
    typeof address.hostname !== "string"
  ) {
    throw new TypeError(
      `${what} needs an address { hostname, port }, got ${describe(address)}`,
    );
  }
  return address;
}

function checkPort(port: unknown, what: string): void {
  if (
    !Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535
  ) {
    throw errorFor(
      TCPError,
      "EINVAL",
      what,
      `the port must be an integer from 0 to 65535, got ${describe(port)}`,
    );
  }
}
