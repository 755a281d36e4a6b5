/**
 * Prebuilt native library for a module imported over http(s): derives the
 * binary's URL from the module's own URL, downloads the one for this OS and
 * architecture, checks its SHA-256 before it is ever opened, and caches it
 * under Deno's cache directory keyed by version and checksum.
 *
 * `library.ts` calls this only when neither `EVERGREEN_LIB` nor a local
 * `zig-out/` build applies. The table of checksums comes from `checksums.ts`,
 * which `deno task release` writes.
 *
 * @module
 */

import { BINARIES, VERSION } from "./checksums.ts";

const BUILD_HINT =
  "build it locally instead: clone the repository, run `tools/dev build`, and set EVERGREEN_LIB to zig-out/lib/<library file>";

/** The `os-arch` key of this machine in the checksum table. */
export function targetKey(): string {
  return `${Deno.build.os}-${Deno.build.arch}`;
}

/** Reads an environment variable only where permission was granted. */
export function readEnv(name: string): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable: name });
  return status.state === "granted" ? Deno.env.get(name) : undefined;
}

/** Hex SHA-256 of `bytes`. */
export async function sha256Hex(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Deno's cache directory (DENO_DIR, else the per-OS default). */
export function denoCacheDir(): string {
  const explicit = readEnv("DENO_DIR");
  if (explicit) return explicit;
  const home = readEnv("HOME") ?? readEnv("USERPROFILE") ?? ".";
  switch (Deno.build.os) {
    case "darwin":
      return `${home}/Library/Caches/deno`;
    case "windows":
      return `${readEnv("LOCALAPPDATA") ?? home}\\deno`;
    default:
      return `${readEnv("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`;
  }
}

async function readIfExists(
  path: string,
): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Returns the path of a verified copy of the prebuilt library for this
 * machine, downloading it on first use. The file at the returned path has
 * just been checked against the SHA-256 in `checksums.ts`.
 *
 * @param moduleUrl the URL this module was loaded from (`import.meta.url`).
 * @throws {Error} naming the file, the expected and actual checksum, and how
 *   to build locally, when no binary fits, the download fails or is tampered.
 *
 * @example
 * ```ts ignore
 * const path = await prebuiltLibraryPath(import.meta.url);
 * Deno.dlopen(path, {});
 * ```
 */
export async function prebuiltLibraryPath(moduleUrl: string): Promise<string> {
  const key = targetKey();
  const entry = BINARIES[key];
  if (entry === undefined) {
    const known = Object.keys(BINARIES).join(", ") || "none";
    throw new Error(
      `evergreen ${VERSION} has no prebuilt native library for ${key} (release has: ${known}); ${BUILD_HINT}`,
    );
  }
  const base = readEnv("EVERGREEN_BINARY_BASE") ??
    new URL("../../dist/", moduleUrl).href;
  const url = new URL(entry.file, base.endsWith("/") ? base : `${base}/`);
  const dir = `${denoCacheDir()}/evergreen/${VERSION}/${entry.sha256}`;
  const path = `${dir}/${entry.file}`;

  const cached = await readIfExists(path);
  if (cached !== null) {
    if (await sha256Hex(cached) === entry.sha256) return path;
    // A cache entry that no longer matches was changed after we wrote it:
    // never open it, fetch a fresh copy instead.
    await Deno.remove(path);
  }

  let bytes: Uint8Array<ArrayBuffer>;
  try {
    const response = await fetch(url);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} ${response.statusText}`);
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(
      `cannot download the evergreen native library ${url.href} (no cached copy at ${path}): ${
        (error as Error).message
      }; ${BUILD_HINT}`,
    );
  }
  const actual = await sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new Error(
      `checksum mismatch for ${url.href}: expected SHA-256 ${entry.sha256}, got ${actual} (${bytes.length} bytes); the file was not loaded; ${BUILD_HINT}`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  // Write beside the target and rename, so a crash never leaves a partial
  // file under the final name.
  const partial = `${path}.${Deno.pid}.partial`;
  await Deno.writeFile(partial, bytes, { mode: 0o755 });
  await Deno.rename(partial, path);
  return path;
}
