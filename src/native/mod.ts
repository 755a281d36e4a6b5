/**
 * The FFI seam in one import: the native loop, its errors, signal numbers and
 * the library loader. Everything else in evergreen reaches native code only
 * through these exports.
 *
 * @example
 * ```ts ignore
 * import { NativeLoop } from "./mod.ts";
 * using loop = new NativeLoop();
 * loop.poll(0);
 * ```
 *
 * @module
 */

export {
  FAILED,
  HANGUP,
  KIND_READ_EXACT,
  KIND_READINESS,
  KIND_SIGNAL,
  NativeLoop,
  type NativeLoopOptions,
  READABLE,
  WRITABLE,
} from "./native_loop.ts";
export { check, errorName, NativeError } from "./errors.ts";
export { signalNumber } from "./signals.ts";
export {
  ABI_VERSION,
  libraryFileName,
  LibraryLoadError,
  openLibrary,
} from "./library.ts";
