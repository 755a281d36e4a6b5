/**
 * SHA-256 of each prebuilt native library of this release, keyed by
 * `Deno.build.os`-`Deno.build.arch`. `deno task release` rewrites this file
 * in the release tree it produces; a development checkout lists none and
 * loads its own `zig-out/` build.
 *
 * @module
 */

/** The release these binaries belong to (part of the cache key). */
export const VERSION = "0.1.0-dev";

/** One prebuilt binary: its file name under `dist/` and its SHA-256. */
export interface PrebuiltBinary {
  /** File name under the release's `dist/` folder. */
  file: string;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
}

/** Prebuilt binaries by `os-arch`. */
export const BINARIES: Record<string, PrebuiltBinary> = {};
