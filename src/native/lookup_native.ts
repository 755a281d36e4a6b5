/**
 * Name lookups seen from JS (`zig/io/resolve.zig` through the
 * `eg_lookup_*` calls): start one, wait for its descriptor on the loop, read
 * the addresses, close it. `src/io/lookup.ts` builds `lookup()` on these.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import type { NativeLibrary } from "./symbols.ts";

let symbols: NativeLibrary["symbols"] | undefined;
const lib = (): NativeLibrary["symbols"] => symbols ??= openLibrary().symbols;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** 16 addresses of at most 45 characters and a newline each fit. */
const resultBuffer = new Uint8Array(1024);

/**
 * Starts resolving `host` on a thread of its own: the lookup's handle, or
 * `-code`.
 *
 * @example
 * ```ts ignore
 * import { lookupStart, lookupClose } from "./lookup_native.ts";
 * const handle = lookupStart("localhost");
 * if (handle > 0) lookupClose(handle);
 * ```
 */
export function lookupStart(host: string): number {
  const bytes = encoder.encode(host);
  return lib().eg_lookup_start(bytes, bytes.length);
}

/**
 * The descriptor that becomes readable once the lookup is done, or `-code`.
 *
 * @example
 * ```ts ignore
 * import { lookupFd, lookupStart } from "./lookup_native.ts";
 * console.log(lookupFd(lookupStart("localhost")));
 * ```
 */
export function lookupFd(handle: number): number {
  return lib().eg_lookup_fd(handle);
}

/**
 * The addresses of a finished lookup as IP texts, or `-code` (`-ENOENT`: the
 * name does not resolve).
 *
 * @example
 * ```ts ignore
 * import { lookupResult } from "./lookup_native.ts";
 * const found = lookupResult(handle);
 * ```
 */
export function lookupResult(handle: number): string[] | number {
  const length = lib().eg_lookup_result(
    handle,
    resultBuffer,
    resultBuffer.length,
  );
  if (length < 0) return length;
  const text = decoder.decode(resultBuffer.subarray(0, length));
  return text.split("\n").filter((line) => line !== "");
}

/**
 * Ends a lookup, done or not: 0 or `-code`.
 *
 * @example
 * ```ts ignore
 * import { lookupClose, lookupStart } from "./lookup_native.ts";
 * lookupClose(lookupStart("localhost"));
 * ```
 */
export function lookupClose(handle: number): number {
  return lib().eg_lookup_close(handle);
}

/**
 * Blocks the thread until the lookup is done or `timeoutMs` passed (-1: no
 * bound): 1 done, 0 not yet, or `-code`.
 *
 * @example
 * ```ts ignore
 * import { lookupStart, lookupWait } from "./lookup_native.ts";
 * console.log(lookupWait(lookupStart("localhost"), 5000)); // 1
 * ```
 */
export function lookupWait(handle: number, timeoutMs: number): number {
  return lib().eg_lookup_wait(handle, timeoutMs);
}
