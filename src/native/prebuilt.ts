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

// The largest library a release ships is about 1 MiB; anything far larger is
// not ours, and reading it whole would only waste memory.
const DOWNLOAD_SIZE_MAX = 64 * 1024 * 1024;
// A stalled server must not hang the importing program forever.
const DOWNLOAD_TIMEOUT_MS = 120_000;

/**
 * The `os-arch` key of this machine in the checksum table.
 *
 * @example
 * ```ts
 * import { targetKey } from "./prebuilt.ts";
 * console.log(targetKey()); // "linux-x86_64" on x86_64 Linux
 * ```
 */
export function targetKey(): string {
  return `${Deno.build.os}-${Deno.build.arch}`;
}

/**
 * Reads an environment variable only where permission was granted, so that
 * looking for an optional override never prompts.
 *
 * @example
 * ```ts
 * import { readEnv } from "./prebuilt.ts";
 * console.log(readEnv("EVERGREEN_BINARY_BASE") ?? "(not set or not allowed)");
 * ```
 */
export function readEnv(name: string): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable: name });
  return status.state === "granted" ? Deno.env.get(name) : undefined;
}

/**
 * Hex SHA-256 of `bytes`, lowercase.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./prebuilt.ts";
 * console.log(await sha256Hex(new Uint8Array())); // e3b0c442…7852b855
 * ```
 */
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

/**
 * Deno's cache directory: `DENO_DIR`, else the per-OS default that Deno
 * itself uses.
 *
 * @throws {Error} when neither `DENO_DIR` nor a home directory can be read
 *   (run deno with `--allow-env`).
 * @example
 * ```ts
 * import { denoCacheDir } from "./prebuilt.ts";
 * console.log(denoCacheDir()); // e.g. /home/me/.cache/deno
 * ```
 */
export function denoCacheDir(): string {
  const explicit = readEnv("DENO_DIR");
  if (explicit) return explicit;
  const home = Deno.build.os === "windows"
    ? readEnv("LOCALAPPDATA") ?? readEnv("USERPROFILE")
    : readEnv("HOME");
  if (home === undefined) {
    throw new Error(
      "cannot find Deno's cache directory to keep the downloaded native library: run deno with --allow-env (for DENO_DIR, HOME or LOCALAPPDATA)",
    );
  }
  switch (Deno.build.os) {
    case "darwin":
      return `${home}/Library/Caches/deno`;
    case "windows":
      return `${home}\\deno`;
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

/** An error's message with its cause ("fetch failed: Connection refused"). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause === undefined
    ? error.message
    : `${error.message}: ${describe(error.cause)}`;
}

/**
 * Downloads `url` whole. A transfer that breaks off is reported with what
 * did arrive, so the message can still show the checksum of the bytes.
 */
async function download(
  url: URL,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; failure?: string }> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
  });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} ${response.statusText}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  let failure: string | undefined;
  const reader = response.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > DOWNLOAD_SIZE_MAX) {
        failure = `more than ${DOWNLOAD_SIZE_MAX} bytes, not a library`;
        await reader.cancel();
        break;
      }
      chunks.push(value);
    }
  } catch (error) {
    failure = `the transfer broke off after ${size} bytes: ${describe(error)}`;
  }
  const declared = response.headers.get("content-length");
  if (failure === undefined && declared !== null && Number(declared) !== size) {
    failure = `got ${size} of the ${declared} bytes announced`;
  }
  const bytes = new Uint8Array(Math.min(size, DOWNLOAD_SIZE_MAX));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, failure };
}

/**
 * Returns the path of a verified copy of the prebuilt library for this
 * machine, downloading it on first use. The file at the returned path has
 * just been checked against the SHA-256 in `checksums.ts`; a cached copy
 * that no longer matches is removed and downloaded again, and a download
 * that does not match is never written to the cache.
 *
 * @param moduleUrl the URL this module was loaded from (`import.meta.url`);
 *   the binary is fetched from `dist/` beside the release's `mod.ts`, or
 *   from `EVERGREEN_BINARY_BASE` when that is set.
 * @throws {Error} naming the file, the expected and actual checksum, and how
 *   to build locally, when no binary fits, the download fails or is tampered.
 *
 * @example
 * ```ts ignore
 * import { prebuiltLibraryPath } from "./prebuilt.ts";
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

  let cacheState = `no cached copy at ${path}`;
  const cached = await readIfExists(path);
  if (cached !== null) {
    const actual = await sha256Hex(cached);
    if (actual === entry.sha256) return path;
    // The entry was changed after it was written (its name is its checksum):
    // never open it, fetch a fresh copy instead.
    await Deno.remove(path);
    cacheState =
      `the cached copy at ${path} had SHA-256 ${actual} instead of ${entry.sha256} and was removed`;
  }

  let received: { bytes: Uint8Array<ArrayBuffer>; failure?: string };
  try {
    received = await download(url);
  } catch (error) {
    throw new Error(
      `cannot download the evergreen native library ${url.href} (${cacheState}): ${
        describe(error)
      }; expected SHA-256 ${entry.sha256}; ${BUILD_HINT}`,
    );
  }
  const { bytes, failure } = received;
  const actual = await sha256Hex(bytes);
  if (failure !== undefined) {
    throw new Error(
      `incomplete download of the evergreen native library ${url.href}: ${failure}; expected SHA-256 ${entry.sha256}, got ${actual} for the ${bytes.length} bytes received; the file was not loaded; ${BUILD_HINT}`,
    );
  }
  if (actual !== entry.sha256) {
    throw new Error(
      `checksum mismatch for the evergreen native library ${url.href}: expected SHA-256 ${entry.sha256}, got ${actual} (${bytes.length} bytes); the file was not loaded; ${BUILD_HINT}`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  // Write beside the target and rename, so that a crash never leaves a
  // partial file under the final name and concurrent first runs do not clash.
  const partial = `${path}.${Deno.pid}.partial`;
  await Deno.writeFile(partial, bytes, { mode: 0o755 });
  await Deno.rename(partial, path);
  return path;
}
