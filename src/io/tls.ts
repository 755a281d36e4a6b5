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
 * The stream part is `tls_stream.ts`, the server `tls_server.ts`; this
 * module is the client and gathers all three.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { isIpLiteral } from "../native/address.ts";
import { blocking } from "../_operation.ts";
import { TlsContext, TlsSession } from "../native/openssl.ts";
import { errorFor, StreamError, TLSError } from "./errors.ts";
import type { StreamOptions } from "./stream.ts";
import { type Address, TCPClient } from "./tcp.ts";
import { CIPHER_CHUNK, tlsFailure, TLSStream } from "./tls_stream.ts";

export { TLSStream } from "./tls_stream.ts";
export {
  TLSConnection,
  TLSServer,
  type TLSServerOptions,
} from "./tls_server.ts";

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
   * @throws {TypeError} if `target` is not `{ hostname, port }` or
   *   `serverName` is not a string.
   * @throws {TLSError} `EINVAL` for an empty `serverName` (or hostname,
   *   when it is the one verified); `ENOTSUP` where TLS is not available;
   *   `EPROTO` with OpenSSL's reason when the handshake fails
   *   (`"certificate verify failed: ..."` for an untrusted certificate or a
   *   wrong host name);
   *   `ECONNRESET` when the peer closes during the handshake; the TCP
   *   error (`ECONNREFUSED`, `ENOENT` for a name that does not resolve);
   *   `EISCONN` when connected already; `EBADF` when closed.
   */
  @blocking("connect()")
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
    const serverName = options.serverName ?? target.hostname;
    if (typeof serverName !== "string") {
      throw new TypeError(
        `connect() serverName must be a string, got ${describe(serverName)}`,
      );
    }
    if (serverName === "" || serverName.includes("\0")) {
      // OpenSSL takes an empty name as "check no name" (and stops at a NUL):
      // the certificate would go unchecked against the host.
      throw errorFor(
        TLSError,
        "EINVAL",
        what,
        `serverName ${
          JSON.stringify(serverName)
        } is not a host name or IP address to verify the certificate against`,
      );
    }
    const context = clientContext(options, what);
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
