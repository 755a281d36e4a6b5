/**
 * The I/O layer's errors: {@linkcode StreamError} and one subclass per kind
 * of object (TCP, pipes, UDP). Each carries the OS error as `code` (the same
 * names on every OS: `"ECONNREFUSED"`, `"EADDRINUSE"`, `"EBADF"` for a closed
 * object, ...) and its portable number as `errno`, with a message that says
 * what failed ("connect to 127.0.0.1:9 failed: ECONNREFUSED").
 *
 * @module
 */

import { ERROR_NAMES, errorName } from "../native/errors.ts";
import { NATIVE_OPS_MAX } from "../native/native_loop.ts";
import { NamedError } from "../named_error.ts";

/**
 * A failed stream operation. `code` names the OS error, `errno` is its
 * portable number (the same on every OS).
 *
 * @example
 * ```ts
 * import { StreamError } from "./errors.ts";
 * const error = new StreamError("EPIPE", 16, "write failed: EPIPE");
 * console.log(error.code, error.errno, error.message);
 * ```
 */
export class StreamError extends NamedError {
  /** The error's name, e.g. `"ECONNRESET"`. */
  readonly code: string;
  /** The portable error number (positive; see `src/native/errors.ts`). */
  readonly errno: number;

  /**
   * Creates the error; I/O objects make these.
   *
   * @param code the error's name
   * @param errno its portable number
   * @param message what failed, for a person
   */
  constructor(code: string, errno: number, message: string) {
    super(message);
    this.code = code;
    this.errno = errno;
  }
}

/**
 * A failed TCP operation (`TCPClient`, `TCPConnection`, `TCPServer`).
 *
 * @example
 * ```ts
 * import { TCPError } from "./errors.ts";
 * const error = new TCPError("ECONNREFUSED", 18, "connect to 127.0.0.1:9 failed: ECONNREFUSED");
 * console.log(error instanceof TCPError, error.name); // true "TCPError"
 * ```
 */
export class TCPError extends StreamError {}

/**
 * A failed pipe operation (`PipeClient`, `PipeConnection`, `PipeServer`,
 * `PipeStream`, `TTYStream`).
 *
 * @example
 * ```ts
 * import { PipeError } from "./errors.ts";
 * const error = new PipeError("ENOENT", 6, "connect to /tmp/x.sock failed: ENOENT");
 * console.log(error.code); // "ENOENT"
 * ```
 */
export class PipeError extends StreamError {}

/**
 * A failed UDP operation (`UDPEndpoint`).
 *
 * @example
 * ```ts
 * import { UDPError } from "./errors.ts";
 * const error = new UDPError("EMSGSIZE", 28, "send failed: EMSGSIZE");
 * console.log(error instanceof UDPError); // true
 * ```
 */
export class UDPError extends StreamError {}

/**
 * A failed TLS operation (`TLSClient`, `TLSConnection`, `TLSServer`): the
 * TCP error under it (`ECONNREFUSED`, `ECONNRESET` for a peer that closed
 * during the handshake), `EPROTO` for a handshake or record that failed
 * (`reason` holds OpenSSL's reason, e.g. `"certificate verify failed"`,
 * and the message adds the verifier's verdict, e.g. `"hostname
 * mismatch"`), `EINVAL` for a certificate or key OpenSSL refuses, or
 * `ENOTSUP` on an OS where TLS is not available yet.
 *
 * @example
 * ```ts
 * import { StreamError, TLSError } from "./errors.ts";
 * const error = new TLSError("EPROTO", 0, "TLS connect failed: EPROTO");
 * console.log(error instanceof StreamError, error.reason); // true null
 * ```
 */
export class TLSError extends StreamError {
  /** OpenSSL's reason for the failure, when OpenSSL gave one. */
  reason: string | null = null;
}

/** A stream error class: the constructor every I/O object throws with. */
export type StreamErrorClass = new (
  code: string,
  errno: number,
  message: string,
) => StreamError;

/**
 * The error of a native result (`-code`) for `what` ("connect to
 * 127.0.0.1:9"): message `"<what> failed: <CODE>"`, plus `detail` in
 * parentheses when given.
 *
 * @example
 * ```ts
 * import { errorFromResult, TCPError } from "./errors.ts";
 * const error = errorFromResult(TCPError, -18, "connect to 127.0.0.1:9");
 * console.log(error.message); // "connect to 127.0.0.1:9 failed: ECONNREFUSED"
 * ```
 */
export function errorFromResult(
  errorClass: StreamErrorClass,
  result: number,
  what: string,
  detail?: string,
): StreamError {
  const code = errorName(result);
  if (code === "EOVERFLOW" && detail === undefined) {
    // The one way an op start overflows now that the op table grows.
    detail =
      `this loop reached its limit of ${NATIVE_OPS_MAX} operations blocked at once`;
  }
  return errorFor(errorClass, code, what, detail);
}

/**
 * The error with code `code` ("EBADF") for `what`, worded like
 * {@linkcode errorFromResult}.
 *
 * @example
 * ```ts
 * import { errorFor, PipeError } from "./errors.ts";
 * const error = errorFor(PipeError, "EBADF", "read", "the stream is closed");
 * console.log(error.message); // "read failed: EBADF (the stream is closed)"
 * ```
 */
export function errorFor(
  errorClass: StreamErrorClass,
  code: string,
  what: string,
  detail?: string,
): StreamError {
  const errno = Math.max(0, ERROR_NAMES.indexOf(code));
  const message = detail === undefined
    ? `${what} failed: ${code}`
    : `${what} failed: ${code} (${detail})`;
  return new errorClass(code, errno, message);
}

/**
 * The error for use of an I/O object (of class `owner`) whose loop was
 * destroyed: code `EBADF`.
 *
 * @example
 * ```ts
 * import { loopDestroyedError, TCPError } from "./errors.ts";
 * const error = loopDestroyedError(TCPError, "TCPClient", "write");
 * console.log(error.message);
 * // "write failed: EBADF (the TCPClient cannot be used: its loop was destroyed)"
 * ```
 */
export function loopDestroyedError(
  errorClass: StreamErrorClass,
  owner: string,
  what: string,
): StreamError {
  return errorFor(
    errorClass,
    "EBADF",
    what,
    `the ${owner} cannot be used: its loop was destroyed`,
  );
}

/**
 * @internal The `EBADF` error for using `owner` (a stream, server or TLS
 * connection, named by its class) after it was closed.
 *
 * @example
 * ```ts
 * import { closedError, TCPError } from "./errors.ts";
 * console.log(closedError(TCPError, "TCPClient", "write").message);
 * // "write failed: EBADF (the TCPClient is closed)"
 * ```
 */
export function closedError(
  errorClass: StreamErrorClass,
  owner: string,
  what: string,
): StreamError {
  return errorFor(errorClass, "EBADF", what, `the ${owner} is closed`);
}
