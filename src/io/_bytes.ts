/**
 * Private byte helpers of the stream modules (not re-exported by `mod.ts`):
 * finding a delimiter in a buffer, checking one, and reading bytes as
 * latin1 text for `readUntilRegex`; `io/stream.ts` and `io/tls_stream.ts`
 * both use them.
 *
 * @example
 * ```ts
 * import { indexOf, latin1 } from "./_bytes.ts";
 * const bytes = new TextEncoder().encode("ab\r\ncd");
 * console.log(indexOf(bytes, new Uint8Array([13, 10]), 0, bytes.length)); // 2
 * console.log(latin1(bytes.subarray(0, 2))); // ab
 * ```
 *
 * @module
 */

import { STREAM_DELIMITER_MAX } from "../native/constants.ts";
import { describe } from "../_util.ts";

/**
 * The index of `needle` in `haystack[from, end)`, or -1. `haystack` may go
 * on past `end` (a stream's stale buffer tail): matches there do not count.
 *
 * @example
 * ```ts
 * import { indexOf } from "./_bytes.ts";
 * console.log(indexOf(new Uint8Array([1, 2, 3]), new Uint8Array([3]), 0, 3)); // 2
 * ```
 */
export function indexOf(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  end: number,
): number {
  const first = needle[0];
  const length = needle.length;
  const last = end - length;
  // A loop finds a near byte faster than indexOf (a builtin call); far
  // ones are left to indexOf.
  const near = Math.min(last, from + 64);
  for (let at = from; at <= last; at++) {
    if (at <= near) {
      if (haystack[at] !== first) continue;
    } else {
      at = haystack.indexOf(first, at);
      if (at < 0 || at > last) return -1;
    }
    let k = 1;
    while (k < length && haystack[at + k] === needle[k]) k++;
    if (k === length) return at;
  }
  return -1;
}

/**
 * Checks a `readUntil()` delimiter's size.
 *
 * @throws {RangeError} for an empty delimiter or one over 64 KiB.
 *
 * @example
 * ```ts
 * import { checkDelimiter } from "./_bytes.ts";
 * checkDelimiter(new Uint8Array([10])); // passes
 * ```
 */
export function checkDelimiter(bytes: Uint8Array): void {
  if (bytes.length === 0 || bytes.length > STREAM_DELIMITER_MAX) {
    throw new RangeError(
      `readUntil() needs a delimiter of 1 to ${STREAM_DELIMITER_MAX} bytes, got ${bytes.length}`,
    );
  }
}

/**
 * `bytes` as latin1 text, one character a byte.
 *
 * @example
 * ```ts
 * import { latin1 } from "./_bytes.ts";
 * console.log(latin1(new Uint8Array([104, 105]))); // hi
 * ```
 */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let start = 0; start < bytes.length; start += 8192) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(start, start + 8192) as unknown as number[],
    );
  }
  return text;
}

const delimiterEncoder = new TextEncoder();

/**
 * `readUntil()`'s delimiter as checked bytes, remembering the last string
 * given (a stream is usually read up to one delimiter again and again).
 *
 * @example
 * ```ts
 * import { DelimiterCache } from "./_bytes.ts";
 * const delimiters = new DelimiterCache();
 * console.log(delimiters.bytes("\r\n")); // Uint8Array(2) [ 13, 10 ]
 * ```
 */
export class DelimiterCache {
  #text = "";
  #bytes: Uint8Array = new Uint8Array(0);

  /**
   * The bytes of `delimiter` (a string is encoded as UTF-8).
   *
   * @throws {TypeError} if it is neither a string nor a Uint8Array.
   * @throws {RangeError} if it is empty or over 64 KiB.
   */
  bytes(delimiter: string | Uint8Array): Uint8Array {
    if (typeof delimiter === "string") {
      if (delimiter === this.#text && delimiter !== "") return this.#bytes;
      const bytes = delimiterEncoder.encode(delimiter);
      checkDelimiter(bytes);
      this.#text = delimiter;
      this.#bytes = bytes;
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
}
