/**
 * The OS's OpenSSL 3 (`libssl.so.3`, `libcrypto.so.3`) loaded at run time
 * with `Deno.dlopen`, for `src/io/tls.ts`: contexts made from PEM text, and
 * TLS sessions over two memory BIOs, so that OpenSSL never touches a socket.
 * Ciphertext goes in with {@linkcode TlsSession.feed} and comes out with
 * {@linkcode TlsSession.drain}; the TCP stream carries it. Every call here
 * handles whole buffers (a record or more), never single bytes. Nothing is
 * downloaded or bundled: where the library is missing (macOS, Windows, a
 * Linux without OpenSSL 3) {@linkcode openSsl} throws {@linkcode OpenSslUnavailable}.
 *
 * @module
 */

import {
  CLOSED,
  cString,
  failure,
  openSsl,
  OPENSSL_NPN_NEGOTIATED,
  OpenSslFailure,
  type Pointer,
  readCString,
  SSL_CTRL_EXTRA_CHAIN_CERT,
  SSL_CTRL_MODE,
  SSL_CTRL_SET_MIN_PROTO_VERSION,
  SSL_CTRL_SET_TLSEXT_HOSTNAME,
  SSL_ERROR_SSL,
  SSL_ERROR_SYSCALL,
  SSL_ERROR_WANT_READ,
  SSL_ERROR_ZERO_RETURN,
  SSL_MODE_RELEASE_BUFFERS,
  SSL_TLSEXT_ERR_NOACK,
  SSL_TLSEXT_ERR_OK,
  SSL_VERIFY_PEER,
  takeReason,
  TLS1_2_VERSION,
  WANT_READ,
  X509_V_OK,
} from "./openssl_library.ts";

export {
  CLOSED,
  openSsl,
  OpenSslFailure,
  OpenSslUnavailable,
  WANT_READ,
} from "./openssl_library.ts";

const encoder = new TextEncoder();

/** The wire format of ALPN protocol lists: each name prefixed by its length. */
function alpnWire(protocols: readonly string[]): Uint8Array<ArrayBuffer> {
  const parts = protocols.map((name) => encoder.encode(name));
  const wire = new Uint8Array(
    parts.reduce((sum, part) => sum + part.length + 1, 0),
  );
  let offset = 0;
  for (const part of parts) {
    if (part.length === 0 || part.length > 255) {
      throw new RangeError(
        `an ALPN protocol name has 1 to 255 bytes, got ${part.length}`,
      );
    }
    wire[offset++] = part.length;
    wire.set(part, offset);
    offset += part.length;
  }
  return wire;
}

/** Calls `use` with each X509 in `pem`; returns how many there were. */
function eachCertificate(pem: string, use: (x509: Pointer) => void): number {
  const ssl = openSsl();
  const bytes = encoder.encode(pem);
  const bio = ssl.BIO_new_mem_buf(bytes, bytes.length);
  if (bio === null) throw failure("read PEM", "out of memory");
  let count = 0;
  try {
    for (; count < 1000; count++) {
      const x509 = ssl.PEM_read_bio_X509(bio, null, null, null);
      if (x509 === null) break;
      use(x509);
    }
  } finally {
    ssl.BIO_free(bio);
  }
  // The read past the last certificate queues "no start line": not an error.
  ssl.ERR_clear_error();
  return count;
}

/**
 * `made` once `configure()` returned; freed (and the error rethrown) if it
 * threw, so that a half-configured OpenSSL object never leaks.
 */
function freedOnFailure<T extends { free(): void }>(
  made: T,
  configure: () => void,
): T {
  try {
    configure();
  } catch (error) {
    made.free();
    throw error;
  }
  return made;
}

/**
 * Hands all of `bytes` to `write` (`BIO_write` or `SSL_write` on `target`),
 * which may take them a part at a time.
 *
 * @throws {OpenSslFailure} for `what` when `write` takes nothing (OpenSSL's
 *   reason, if it gave one).
 */
function writeAll(
  write: (target: Pointer, chunk: Uint8Array, length: number) => number,
  target: Pointer,
  bytes: Uint8Array<ArrayBuffer>,
  what: string,
): void {
  let offset = 0;
  while (offset < bytes.length) {
    const chunk = offset === 0 ? bytes : bytes.subarray(offset);
    const written = write(target, chunk, chunk.length);
    if (written <= 0) throw failure(what, "OpenSSL took no bytes");
    offset += written;
  }
}

/** Options of a client context. */
export interface ClientContextOptions {
  /** PEM certificates to trust instead of the system's roots. */
  caCerts?: readonly string[];
  /** ALPN protocols to offer, in order of preference. */
  alpnProtocols?: readonly string[];
}

/** Options of a server context. */
export interface ServerContextOptions {
  /** PEM certificate chain, the server's own first. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** ALPN protocols to accept, in order of preference. */
  alpnProtocols?: readonly string[];
}

/**
 * An `SSL_CTX`: the settings sessions share (trusted roots or the server's
 * certificate and key, ALPN). Free it with {@linkcode TlsContext.free} once
 * no session uses it.
 *
 * @example
 * ```ts ignore
 * import { TlsContext } from "./openssl.ts";
 * const context = TlsContext.client({ alpnProtocols: ["http/1.1"] });
 * context.free();
 * ```
 */
export class TlsContext {
  /** @internal The `SSL_CTX *`. */
  readonly pointer: Pointer;
  #alpnSelect: { pointer: Deno.PointerObject; close(): void } | null = null;
  #alpnServer: Uint8Array<ArrayBuffer> | null = null;
  #freed = false;

  private constructor(pointer: Pointer) {
    this.pointer = pointer;
  }

  /**
   * A client context verifying peers against the system's roots or
   * `caCerts`.
   *
   * @throws {OpenSslUnavailable} where OpenSSL cannot be used.
   * @throws {OpenSslFailure} for a CA PEM without a certificate.
   */
  static client(options: ClientContextOptions = {}): TlsContext {
    const ssl = openSsl();
    const context = TlsContext.#create(ssl.TLS_client_method());
    return freedOnFailure(context, () => {
      const store = ssl.SSL_CTX_get_cert_store(context.pointer);
      if (options.caCerts === undefined) {
        if (ssl.SSL_CTX_set_default_verify_paths(context.pointer) !== 1) {
          throw failure("load the system's CA certificates", "failed");
        }
      } else {
        for (const pem of options.caCerts) {
          const count = eachCertificate(pem, (x509) => {
            ssl.X509_STORE_add_cert(store, x509);
            ssl.X509_free(x509);
          });
          if (count === 0) {
            throw new OpenSslFailure(
              "load caCerts",
              "a caCerts entry holds no PEM certificate",
            );
          }
        }
        ssl.ERR_clear_error();
      }
      ssl.SSL_CTX_set_verify(context.pointer, SSL_VERIFY_PEER, null);
      if (options.alpnProtocols !== undefined) {
        const wire = alpnWire(options.alpnProtocols);
        // Unlike most of OpenSSL, 0 is success here.
        if (
          ssl.SSL_CTX_set_alpn_protos(context.pointer, wire, wire.length) !== 0
        ) {
          throw failure("set ALPN protocols", "failed");
        }
      }
    });
  }

  /**
   * A server context presenting `cert` with `key`.
   *
   * @throws {OpenSslUnavailable} where OpenSSL cannot be used.
   * @throws {OpenSslFailure} for a certificate or key OpenSSL refuses, or a
   *   key that does not match the certificate.
   */
  static server(options: ServerContextOptions): TlsContext {
    const ssl = openSsl();
    const context = TlsContext.#create(ssl.TLS_server_method());
    return freedOnFailure(context, () => {
      let first = true;
      const count = eachCertificate(options.cert, (x509) => {
        if (first) {
          first = false;
          const used = ssl.SSL_CTX_use_certificate(context.pointer, x509);
          ssl.X509_free(x509);
          if (used !== 1) throw failure("use the certificate", "refused");
        } else {
          // The context owns chain certificates from here on.
          ssl.SSL_CTX_ctrl(
            context.pointer,
            SSL_CTRL_EXTRA_CHAIN_CERT,
            0n,
            x509,
          );
        }
      });
      if (count === 0) {
        throw new OpenSslFailure("read cert", "no PEM certificate in cert");
      }
      const keyBytes = encoder.encode(options.key);
      const bio = ssl.BIO_new_mem_buf(keyBytes, keyBytes.length);
      const key = ssl.PEM_read_bio_PrivateKey(bio, null, null, null);
      ssl.BIO_free(bio);
      if (key === null) throw failure("read key", "no PEM private key in key");
      const used = ssl.SSL_CTX_use_PrivateKey(context.pointer, key);
      ssl.EVP_PKEY_free(key);
      if (used !== 1) throw failure("use the key", "refused");
      if (ssl.SSL_CTX_check_private_key(context.pointer) !== 1) {
        throw failure("check the key", "it does not match the certificate");
      }
      if (options.alpnProtocols !== undefined) {
        context.#selectAlpn(alpnWire(options.alpnProtocols));
      }
      // Clients here do not resume sessions: no TLS 1.3 tickets to make,
      // encrypt and send after each handshake.
      ssl.SSL_CTX_set_num_tickets(context.pointer, 0n);
    });
  }

  static #create(method: Pointer): TlsContext {
    const ssl = openSsl();
    const pointer = ssl.SSL_CTX_new(method);
    if (pointer === null) throw failure("create a TLS context", "failed");
    ssl.SSL_CTX_ctrl(
      pointer,
      SSL_CTRL_SET_MIN_PROTO_VERSION,
      BigInt(TLS1_2_VERSION),
      null,
    );
    // Idle sessions give their record buffers back.
    ssl.SSL_CTX_ctrl(
      pointer,
      SSL_CTRL_MODE,
      BigInt(SSL_MODE_RELEASE_BUFFERS),
      null,
    );
    return new TlsContext(pointer);
  }

  /** The server picks its first protocol the client offers too. */
  #selectAlpn(wire: Uint8Array<ArrayBuffer>): void {
    const ssl = openSsl();
    this.#alpnServer = wire;
    const serverPointer = Deno.UnsafePointer.of(wire);
    const callback = new Deno.UnsafeCallback(
      {
        parameters: [
          "pointer",
          "pointer",
          "pointer",
          "pointer",
          "u32",
          "pointer",
        ],
        result: "i32",
      } as const,
      (_ssl, out, outLength, offered, offeredLength) => {
        const status = ssl.SSL_select_next_proto(
          out,
          outLength,
          serverPointer,
          wire.length,
          offered,
          offeredLength,
        );
        return status === OPENSSL_NPN_NEGOTIATED
          ? SSL_TLSEXT_ERR_OK
          : SSL_TLSEXT_ERR_NOACK;
      },
    );
    this.#alpnSelect = callback;
    ssl.SSL_CTX_set_alpn_select_cb(this.pointer, callback.pointer, null);
  }

  /**
   * Frees the context (sessions hold their own reference). A server
   * context's ALPN callback is freed too: free it once no session made from
   * it can handshake any more (they are freed). A second call does nothing.
   */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    openSsl().SSL_CTX_free(this.pointer);
    this.#alpnSelect?.close();
    this.#alpnSelect = null;
    this.#alpnServer = null;
  }
}

/** Options of a client session. */
export interface ClientSessionOptions {
  /** The name sent as SNI and checked against the certificate. */
  serverName?: string;
  /** An IP address the certificate must name, when no name is used. */
  ipAddress?: string;
}

/**
 * One TLS connection's `SSL` over memory BIOs: ciphertext in through
 * {@linkcode TlsSession.feed}, out through {@linkcode TlsSession.drain}.
 *
 * @example
 * ```ts ignore
 * import { TlsContext, TlsSession } from "./openssl.ts";
 * const session = TlsSession.client(TlsContext.client(), { serverName: "example.com" });
 * session.handshake(); // WANT_READ: send session.drain(buffer) bytes, feed the answer
 * ```
 */
export class TlsSession {
  #ssl: Pointer;
  #input: Pointer;
  #output: Pointer;
  #freed = false;

  private constructor(context: TlsContext) {
    const ssl = openSsl();
    const pointer = ssl.SSL_new(context.pointer);
    if (pointer === null) throw failure("create a TLS session", "failed");
    const input = ssl.BIO_new(ssl.BIO_s_mem());
    const output = ssl.BIO_new(ssl.BIO_s_mem());
    if (input === null || output === null) {
      if (input !== null) ssl.BIO_free(input);
      if (output !== null) ssl.BIO_free(output);
      ssl.SSL_free(pointer);
      throw failure("create memory BIOs", "out of memory");
    }
    // The session owns both BIOs from here on.
    ssl.SSL_set_bio(pointer, input, output);
    this.#ssl = pointer;
    this.#input = input;
    this.#output = output;
  }

  /**
   * A client session: SNI and host-name (or IP) verification set up.
   *
   * @throws {OpenSslFailure} if OpenSSL refuses the name.
   */
  static client(
    context: TlsContext,
    options: ClientSessionOptions,
  ): TlsSession {
    const ssl = openSsl();
    const session = new TlsSession(context);
    return freedOnFailure(session, () => {
      ssl.SSL_set_connect_state(session.#ssl);
      if (options.serverName !== undefined) {
        const name = cString(options.serverName);
        ssl.SSL_ctrl(session.#ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, 0n, name);
        if (ssl.SSL_set1_host(session.#ssl, name) !== 1) {
          throw failure("set the host name to verify", "refused");
        }
      } else if (options.ipAddress !== undefined) {
        const param = ssl.SSL_get0_param(session.#ssl);
        const ip = cString(options.ipAddress);
        if (ssl.X509_VERIFY_PARAM_set1_ip_asc(param, ip) !== 1) {
          throw failure("set the IP address to verify", "refused");
        }
      }
    });
  }

  /** A server session. */
  static server(context: TlsContext): TlsSession {
    const session = new TlsSession(context);
    openSsl().SSL_set_accept_state(session.#ssl);
    return session;
  }

  /**
   * One handshake step: 1 once done, {@linkcode WANT_READ} when it needs
   * the peer's next bytes (send {@linkcode TlsSession.drain} first).
   *
   * @throws {OpenSslFailure} when the handshake failed (a certificate that
   *   does not verify, a protocol error, an alert from the peer).
   */
  handshake(): number {
    const ssl = openSsl();
    const result = ssl.SSL_do_handshake(this.#ssl);
    if (result === 1) return 1;
    const error = ssl.SSL_get_error(this.#ssl, result);
    if (error === SSL_ERROR_WANT_READ) return WANT_READ;
    const verdict = Number(ssl.SSL_get_verify_result(this.#ssl));
    const reason = takeReason(
      error === SSL_ERROR_SYSCALL ? "the connection broke" : `error ${error}`,
    );
    if (verdict !== X509_V_OK) {
      throw new OpenSslFailure(
        "handshake",
        reason,
        readCString(ssl.X509_verify_cert_error_string(BigInt(verdict))),
      );
    }
    throw new OpenSslFailure("handshake", reason);
  }

  /** Puts ciphertext from the peer in. */
  feed(bytes: Uint8Array<ArrayBuffer>): void {
    writeAll(openSsl().BIO_write, this.#input, bytes, "feed ciphertext");
  }

  /**
   * Moves ciphertext for the peer into `buffer`: the byte count (0: none
   * pending).
   */
  drain(buffer: Uint8Array<ArrayBuffer>): number {
    const count = openSsl().BIO_read(this.#output, buffer, buffer.length);
    return count > 0 ? count : 0;
  }

  /**
   * Decrypts into `buffer`: the byte count, {@linkcode WANT_READ} (feed
   * more), or {@linkcode CLOSED} (close_notify).
   *
   * @throws {OpenSslFailure} for a record that fails (tampered, bad MAC).
   */
  read(buffer: Uint8Array<ArrayBuffer>): number {
    const ssl = openSsl();
    const result = ssl.SSL_read(this.#ssl, buffer, buffer.length);
    if (result > 0) return result;
    const error = ssl.SSL_get_error(this.#ssl, result);
    if (error === SSL_ERROR_WANT_READ) return WANT_READ;
    if (error === SSL_ERROR_ZERO_RETURN) return CLOSED;
    throw failure(
      "read",
      error === SSL_ERROR_SSL ? "protocol error" : `error ${error}`,
    );
  }

  /**
   * Encrypts all of `bytes` (then {@linkcode TlsSession.drain} the
   * records).
   *
   * @throws {OpenSslFailure} if the session cannot write (shut down).
   */
  write(bytes: Uint8Array<ArrayBuffer>): void {
    writeAll(openSsl().SSL_write, this.#ssl, bytes, "write");
  }

  /** Queues close_notify (drain it to the peer); false if it could not. */
  shutdown(): boolean {
    const ssl = openSsl();
    const result = ssl.SSL_shutdown(this.#ssl);
    ssl.ERR_clear_error();
    return result >= 0;
  }

  /** The protocol ALPN agreed on, or null. */
  alpnProtocol(): string | null {
    const pointerOut = new BigUint64Array(1);
    const lengthOut = new Uint32Array(1);
    openSsl().SSL_get0_alpn_selected(this.#ssl, pointerOut, lengthOut);
    if (lengthOut[0] === 0 || pointerOut[0] === 0n) return null;
    const pointer = Deno.UnsafePointer.create(pointerOut[0]);
    const view = new Deno.UnsafePointerView(pointer!);
    const bytes = new Uint8Array(lengthOut[0]);
    view.copyInto(bytes);
    return new TextDecoder().decode(bytes);
  }

  /** Frees the session and its BIOs; a second call does nothing. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    openSsl().SSL_free(this.#ssl);
  }
}
