/**
 * Finds and opens the evergreen native library; the only place that calls
 * `Deno.dlopen`. Order: the path in `EVERGREEN_LIB`; else, for a module
 * loaded from a file URL, the local build under `zig-out/lib/`; else, for a
 * module loaded over http(s), the verified prebuilt binary (`prebuilt.ts`).
 * A library that cannot be opened is an error naming every path tried and
 * how to build one.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type NativeLibrary, SYMBOLS } from "./symbols.ts";
import { createHash } from "node:crypto";
import { BINARIES } from "./checksums.ts";
import { prebuiltLibraryPath, readEnv, targetKey } from "./prebuilt.ts";
import { ABI_VERSION } from "./constants.ts";

export { ABI_VERSION } from "./constants.ts";

const BUILD_HINT =
  "build it with `tools/dev build` (or `zig build` in the repository), or set EVERGREEN_LIB to the library's path";

/**
 * The library could not be found, opened, or is not the one this module
 * needs. `tried` lists each path with the reason it failed.
 *
 * @example
 * ```ts
 * import { LibraryLoadError } from "./library.ts";
 * const error = new LibraryLoadError("no library", ["/x: not found"]);
 * console.log(error.code, error.tried.length); // ENOLIB 1
 * ```
 */
export class LibraryLoadError extends Error {
  /** Always `"ENOLIB"`. */
  readonly code = "ENOLIB";
  /** Each candidate path with why it failed. */
  readonly tried: readonly string[];

  /**
   * Made by {@linkcode openLibrary}.
   *
   * @param message what went wrong and what to do
   * @param tried each path tried, with its failure
   */
  constructor(message: string, tried: readonly string[]) {
    super(message);
    this.name = "LibraryLoadError";
    this.tried = tried;
  }
}

/**
 * The library's file name on an OS: `libevergreen.so`, `libevergreen.dylib`
 * or `evergreen.dll`.
 *
 * @example
 * ```ts
 * import { libraryFileName } from "./library.ts";
 * console.log(libraryFileName("linux")); // libevergreen.so
 * ```
 */
export function libraryFileName(
  os: typeof Deno.build.os = Deno.build.os,
): string {
  switch (os) {
    case "darwin":
      return "libevergreen.dylib";
    case "windows":
      return "evergreen.dll";
    default:
      return "libevergreen.so";
  }
}

/**
 * Where a local build may be, for a module at `moduleUrl`: the host build in
 * `zig-out/lib/`, then a cross build for this machine in
 * `zig-out/lib/<arch>-<os>/` (what `zig build -Dtarget=...` writes). Empty
 * for a module that is not a file.
 *
 * @example
 * ```ts
 * import { localCandidates } from "./library.ts";
 * console.log(localCandidates("https://example.com/src/native/library.ts")); // []
 * ```
 */
export function localCandidates(moduleUrl: string = import.meta.url): string[] {
  if (!moduleUrl.startsWith("file:")) return [];
  const name = libraryFileName();
  const os = Deno.build.os === "darwin" ? "macos" : Deno.build.os;
  return [
    new URL(`../../zig-out/lib/${name}`, moduleUrl),
    new URL(`../../zig-out/lib/${Deno.build.arch}-${os}/${name}`, moduleUrl),
  ].map((url) => fileURLToPath(url));
}

// A module loaded over http(s) has no local build: fetch and verify the
// prebuilt binary while the module loads, and report a failure on first use.
// An explicit EVERGREEN_LIB wins, so nothing is downloaded then.
const prebuilt: string | Error | undefined =
  import.meta.url.startsWith("file:") || readEnv("EVERGREEN_LIB")
    ? undefined
    : await prebuiltLibraryPath(import.meta.url).catch((error: Error) => error);

let opened: NativeLibrary | undefined;

/**
 * Opens the library once and returns it; later calls return the same one.
 *
 * @throws {LibraryLoadError} naming every path tried and how to build.
 * @example
 * ```ts ignore
 * import { openLibrary } from "./library.ts";
 * console.log(openLibrary().symbols.eg_abi_version());
 * ```
 */
export function openLibrary(): NativeLibrary {
  if (opened !== undefined) return opened;
  const tried: string[] = [];
  const explicit = readEnv("EVERGREEN_LIB");
  const candidates = explicit ? [explicit] : localCandidates();
  for (const path of candidates) {
    const library = tryOpen(path, tried);
    if (library !== undefined) return opened = library;
  }
  if (!explicit && typeof prebuilt === "string") {
    // Check again right before opening: the cache file could have been
    // replaced since the download was verified.
    const mismatch = prebuiltMismatch(prebuilt);
    if (mismatch !== undefined) {
      throw new LibraryLoadError(mismatch, [`${prebuilt}: ${mismatch}`]);
    }
    const library = tryOpen(prebuilt, tried);
    if (library !== undefined) return opened = library;
  } else if (!explicit && prebuilt instanceof Error) {
    tried.push(`prebuilt: ${prebuilt.message}`);
  }
  const where = explicit
    ? `EVERGREEN_LIB=${explicit}`
    : candidates.length > 0
    ? `the local build (${candidates.join(", ")})`
    : "EVERGREEN_LIB (not set) or a prebuilt binary";
  throw new LibraryLoadError(
    `cannot load the evergreen native library from ${where}: ${
      tried.join("; ")
    }; ${BUILD_HINT}`,
    tried,
  );
}

/** Why the verified prebuilt file no longer matches its checksum, if it does not. */
function prebuiltMismatch(path: string): string | undefined {
  const expected = BINARIES[targetKey()]?.sha256;
  const actual = createHash("sha256").update(Deno.readFileSync(path)).digest(
    "hex",
  );
  return actual === expected
    ? undefined
    : `checksum mismatch for ${path}: expected SHA-256 ${expected}, got ${actual}; the file changed after it was verified and was not loaded; ${BUILD_HINT}`;
}

function tryOpen(path: string, tried: string[]): NativeLibrary | undefined {
  if (!exists(path)) {
    tried.push(`${path}: not found`);
    return undefined;
  }
  let library: NativeLibrary;
  try {
    library = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    tried.push(`${path}: ${describeOpenError(error as Error)}`);
    return undefined;
  }
  const version = library.symbols.eg_abi_version();
  if (version !== ABI_VERSION) {
    library.close();
    tried.push(
      `${path}: ABI version ${version}, this module needs ${ABI_VERSION} (a stale build: rebuild it)`,
    );
    return undefined;
  }
  return library;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    // Without read permission dlopen still decides.
    return error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotCapable;
  }
}

function describeOpenError(error: Error): string {
  const message = error.message;
  if (
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable
  ) {
    return `${message} (run deno with --allow-ffi)`;
  }
  if (/symbol/i.test(message)) {
    return `${message} (the library lacks a symbol this module needs: it is older or newer than the module; rebuild it)`;
  }
  // The file exists (checked before), so the loader refused its contents;
  // glibc reports a foreign ELF as "No such file or directory".
  return `${message} (the file exists but is not a library this process can load: built for another OS or architecture than ${Deno.build.os}-${Deno.build.arch}, or damaged; rebuild it for this machine)`;
}
