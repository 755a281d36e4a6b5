/**
 * Real OS descriptors for tests, made by the native library (Deno hands JS
 * no raw descriptors): nonblocking pipes and socket pairs, raw reads and
 * writes, and the hub's reference op. Not part of the public API. They call
 * the library's test-only exports (zig/test_exports.zig), which a library
 * built with `-Dtest-exports=false` (a release build) leaves out:
 * {@linkcode testSymbols} then says how to build one that has them.
 *
 * @module
 */

import { LibraryLoadError, openLibrary } from "./library.ts";
import { check } from "./errors.ts";
import type { NativeLoop } from "./native_loop.ts";
import type { NativeLibrary } from "./symbols.ts";
import { TEST_SYMBOLS } from "./test_symbols.ts";

/** The `eg_test_*` functions of a library that has them. */
export type TestSymbols = {
  [Name in keyof typeof TEST_SYMBOLS]: NonNullable<
    NativeLibrary["symbols"][Name]
  >;
};

let testExports: TestSymbols | undefined;

/**
 * The library's test-only functions.
 *
 * @throws {LibraryLoadError} naming the missing symbols and how to build a
 *   library that has them, when the library was built without them.
 *
 * @example
 * ```ts ignore
 * import { testSymbols } from "./test_support.ts";
 * const fds = new Int32Array(2);
 * testSymbols().eg_test_socketpair(fds);
 * ```
 */
export function testSymbols(): TestSymbols {
  if (testExports !== undefined) return testExports;
  const symbols = openLibrary().symbols;
  const missing = Object.keys(TEST_SYMBOLS).filter((name) =>
    symbols[name as keyof typeof TEST_SYMBOLS] === null
  );
  if (missing.length > 0) {
    throw new LibraryLoadError(
      `the evergreen native library has no test exports (${
        missing.join(", ")
      } missing): it was built with -Dtest-exports=false, as release builds are; rebuild it with \`tools/dev build\` (or \`zig build -Dtest-exports=true\`) to run the tests`,
      [],
    );
  }
  return testExports = symbols as TestSymbols;
}

/**
 * A nonblocking pipe: `[readFd, writeFd]` (POSIX only; ENOSYS on Windows).
 *
 * @example
 * ```ts ignore
 * import { testPipe, testClose } from "./test_support.ts";
 * const [r, w] = testPipe();
 * testClose(r);
 * testClose(w);
 * ```
 */
export function testPipe(): [number, number] {
  const fds = new Int32Array(2);
  check(testSymbols().eg_test_pipe(fds), "create a pipe");
  return [fds[0], fds[1]];
}

/**
 * Two connected nonblocking stream sockets (AF_UNIX; TCP on Windows).
 *
 * @example
 * ```ts ignore
 * import { testSocketPair } from "./test_support.ts";
 * const [a, b] = testSocketPair();
 * ```
 */
export function testSocketPair(): [number, number] {
  const fds = new Int32Array(2);
  check(testSymbols().eg_test_socketpair(fds), "create a socket pair");
  return [fds[0], fds[1]];
}

/**
 * Writes what `fd` takes now; returns the byte count.
 *
 * @example
 * ```ts ignore
 * import { testWrite } from "./test_support.ts";
 * testWrite(fd, new TextEncoder().encode("hi"));
 * ```
 */
export function testWrite(fd: number, bytes: Uint8Array<ArrayBuffer>): number {
  return check(
    testSymbols().eg_test_write(fd, bytes, bytes.length),
    `write to fd ${fd}`,
  );
}

/**
 * Reads up to `length` bytes that are there now (EAGAIN if none).
 *
 * @example
 * ```ts ignore
 * import { testRead } from "./test_support.ts";
 * const bytes = testRead(fd, 64);
 * ```
 */
export function testRead(fd: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  const n = check(
    testSymbols().eg_test_read(fd, buffer, length),
    `read from fd ${fd}`,
  );
  return buffer.subarray(0, n);
}

/**
 * Closes a descriptor made by this module.
 *
 * @example
 * ```ts ignore
 * import { testClose } from "./test_support.ts";
 * testClose(fd);
 * ```
 */
export function testClose(fd: number): void {
  check(testSymbols().eg_test_close(fd), `close fd ${fd}`);
}

/**
 * Starts the hub's reference op on `loop`: read exactly `length` bytes
 * (1..4096) from `fd` on a native stacklet, then post a record of kind
 * `KIND_READ_EXACT` with result = length and aux = FNV-1a of the bytes.
 *
 * @example
 * ```ts ignore
 * import { startReadExact } from "./test_support.ts";
 * startReadExact(loop, fd, 10, 7);
 * ```
 */
export function startReadExact(
  loop: NativeLoop,
  fd: number,
  length: number,
  token: number,
): void {
  check(
    testSymbols().eg_test_read_exact(loop.handle, fd, length, token),
    `start read_exact on fd ${fd}`,
  );
}

/**
 * FNV-1a (32-bit) of `bytes`, as the reference op reports it.
 *
 * @example
 * ```ts
 * import { fnv1a } from "./test_support.ts";
 * console.log(fnv1a(new Uint8Array())); // 2166136261
 * ```
 */
export function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Native loops alive in the process, every thread's (each takes one of a
 * fixed number of slots).
 *
 * @example
 * ```ts ignore
 * import { testLoopsLive } from "./test_support.ts";
 * console.log(testLoopsLive()); // 0 before any EventLoop
 * ```
 */
export function testLoopsLive(): number {
  return check(openLibrary().symbols.eg_loops_live(), "count the loops");
}
