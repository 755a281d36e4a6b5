/**
 * Error codes of the native library (zig/loop/errors.zig) and the error
 * class that carries them. Native functions return `-code` on failure and
 * completion records carry `-code` in their result; this module turns such a
 * number into a {@linkcode NativeError} whose `code` a program can branch on.
 *
 * @module
 */

/**
 * Code names by number, in the native order (index = code). Never
 * renumbered; the native test checks this table against `eg_error_name`.
 */
export const ERROR_NAMES: readonly string[] = [
  "OK",
  "EBADF",
  "EINVAL",
  "ENOMEM",
  "EAGAIN",
  "EEXIST",
  "ENOENT",
  "EWRONGTHREAD",
  "EOVERFLOW",
  "EMFILE",
  "ECANCELED",
  "EBUSY",
  "ENOSYS",
  "EPERM",
  "EIO",
  "EINTR",
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ENOTCONN",
  "EISCONN",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EMSGSIZE",
  "EAFNOSUPPORT",
  "EACCES",
  "EINPROGRESS",
  "EALREADY",
  "ENOTSOCK",
  "ENOBUFS",
  "ENFILE",
  "EUNKNOWN",
  "ENOSPC",
  "EISDIR",
];

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  EBADF: "bad handle or descriptor (closed, stale or never valid)",
  EINVAL: "invalid argument",
  ENOMEM: "out of memory",
  EAGAIN: "resource temporarily unavailable",
  EEXIST: "already exists",
  ENOENT: "not found (nothing registered for it)",
  EWRONGTHREAD: "called from a thread that does not own the object",
  EOVERFLOW: "completion queue or operation limit full (drain the ring)",
  EMFILE: "too many descriptors or loops",
  ECANCELED: "operation canceled",
  EBUSY: "busy",
  ENOSYS: "not supported on this platform",
  EPERM: "operation not permitted",
  EIO: "input/output error",
  EINTR: "interrupted",
  EPIPE: "broken pipe (end of stream)",
  ECONNRESET: "connection reset by peer",
  ECONNREFUSED: "connection refused",
  ECONNABORTED: "connection aborted",
  ENOTCONN: "not connected",
  EISCONN: "already connected",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENETDOWN: "network is down",
  EMSGSIZE: "message too long",
  EAFNOSUPPORT: "address family not supported",
  EACCES: "permission denied",
  EINPROGRESS: "operation in progress",
  EALREADY: "operation already in progress",
  ENOTSOCK: "not a socket",
  ENOBUFS: "no buffer space available",
  ENFILE: "too many open files in the system",
  EUNKNOWN: "unexpected native error",
  ENOSPC: "no space left on device",
  EISDIR: "is a directory",
};

/**
 * The name of a native error code (`1` or `-1` → `"EBADF"`); unknown numbers
 * give `"EUNKNOWN"`.
 *
 * @example
 * ```ts
 * import { errorName } from "./errors.ts";
 * console.log(errorName(-2)); // "EINVAL"
 * ```
 */
export function errorName(code: number): string {
  const index = Math.abs(code);
  return index > 0 && index < ERROR_NAMES.length
    ? ERROR_NAMES[index]
    : "EUNKNOWN";
}

/**
 * A failure reported by the native library. `code` is the error's name
 * (`"EBADF"`), `errno` its portable number (the same on every OS).
 *
 * @example
 * ```ts
 * import { NativeError } from "./errors.ts";
 * const error = NativeError.from(-1, "poll the loop");
 * console.log(error.code, error.errno, error.message);
 * // EBADF 1 poll the loop failed: EBADF (bad handle or descriptor ...)
 * ```
 */
export class NativeError extends Error {
  /** The error's name, e.g. `"EBADF"`. */
  readonly code: string;
  /** The portable error number (positive). */
  readonly errno: number;

  /**
   * Usually made by {@linkcode NativeError.from} from a native result.
   *
   * @param code the error's name
   * @param errno its portable number
   * @param message what failed, for a person
   */
  constructor(code: string, errno: number, message: string) {
    super(message);
    this.name = "NativeError";
    this.code = code;
    this.errno = errno;
  }

  /**
   * The error for a negative result of a native call.
   *
   * @param result the negative value a native function returned
   * @param what what was attempted ("watch fd 7"), for the message
   */
  static from(result: number, what: string): NativeError {
    const code = errorName(result);
    const errno = Math.abs(result);
    return new NativeError(
      code,
      errno,
      `${what} failed: ${code} (${DESCRIPTIONS[code] ?? "native error"})`,
    );
  }
}

/**
 * Returns `result` when it is not negative, else throws the matching
 * {@linkcode NativeError}.
 *
 * @example
 * ```ts
 * import { check } from "./errors.ts";
 * console.log(check(3, "poll")); // 3
 * ```
 */
export function check(result: number, what: string): number {
  if (result < 0) throw NativeError.from(result, what);
  return result;
}
