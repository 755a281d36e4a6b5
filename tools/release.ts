/**
 * `deno task release`: cross-compiles the native library for every supported
 * target and lays out a release tree that can be served as is:
 *
 *   <out>/mod.ts, <out>/src/…            the module, as in this checkout
 *   <out>/examples/…                     runnable from the URL (demo.ts)
 *   <out>/dist/<library per target>      one binary per os-arch
 *   <out>/src/native/checksums.ts        their SHA-256, read before any load
 *
 * Usage: deno run -A tools/release.ts [--targets=<key>,…|host] [out-dir]
 * (default: every target, into release/). `--targets=host` builds only the
 * binary for this machine, which is what tests/url_import_test.ts serves.
 */

import { fileURLToPath } from "node:url";
import { sha256Hex } from "../src/native/prebuilt.ts";

/** Zig target triple → Deno's os-arch key and the library file name. */
const TARGETS = [
  { zig: "x86_64-linux-gnu", key: "linux-x86_64", lib: "libevergreen.so" },
  { zig: "aarch64-linux-gnu", key: "linux-aarch64", lib: "libevergreen.so" },
  { zig: "x86_64-macos", key: "darwin-x86_64", lib: "libevergreen.dylib" },
  { zig: "aarch64-macos", key: "darwin-aarch64", lib: "libevergreen.dylib" },
  { zig: "x86_64-windows-gnu", key: "windows-x86_64", lib: "evergreen.dll" },
] as const;

type Target = typeof TARGETS[number];

const root = fileURLToPath(new URL("..", import.meta.url));

function usage(message: string): never {
  console.error(
    `release: ${message}\nusage: deno run -A tools/release.ts [--targets=<key>,…|host] [out-dir]\nkeys: ${
      TARGETS.map((t) => t.key).join(", ")
    }`,
  );
  Deno.exit(2);
}

function parseArgs(args: string[]): { out: string; targets: Target[] } {
  let out: string | undefined;
  let wanted: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith("--targets=")) wanted = arg.slice("--targets=".length);
    else if (arg === "--targets") {
      wanted = args[++i] ?? usage("--targets needs a value");
    } else if (arg.startsWith("-")) usage(`unknown option ${arg}`);
    else if (out === undefined) out = arg;
    else usage(`unexpected argument ${arg}`);
  }
  const host = `${Deno.build.os}-${Deno.build.arch}`;
  const keys = wanted === undefined
    ? TARGETS.map((t) => t.key as string)
    : wanted.split(",").map((k) => k.trim() === "host" ? host : k.trim());
  const targets = keys.map((key) =>
    TARGETS.find((t) => t.key === key) ?? usage(`unknown target ${key}`)
  );
  return { out: out ?? `${root}release`, targets };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd: root }).spawn()
    .status;
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${code}`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = `${from}/${entry.name}`;
    const target = `${to}/${entry.name}`;
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) await Deno.copyFile(source, target);
  }
}

/** The one file called `name` under `dir` (build.zig picks the sub-folder). */
async function findFile(dir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await findFile(path, name));
    else if (entry.isFile && entry.name === name) found.push(path);
  }
  return found;
}

/** Builds one target into a private prefix and returns the library's bytes. */
async function buildTarget(target: Target): Promise<Uint8Array<ArrayBuffer>> {
  const prefix = await Deno.makeTempDir({ prefix: `evergreen-${target.key}-` });
  try {
    await run("zig", [
      "build",
      "-Doptimize=ReleaseFast",
      // A released library carries no test-only eg_test_* exports.
      "-Dtest-exports=false",
      `-Dtarget=${target.zig}`,
      "--prefix",
      prefix,
    ]);
    const found = await findFile(prefix, target.lib);
    if (found.length !== 1) {
      throw new Error(
        `expected one ${target.lib} under ${prefix} after zig build, found ${found.length}`,
      );
    }
    return await Deno.readFile(found[0]);
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
}

function checksumsModule(
  version: string,
  entries: [string, { file: string; sha256: string }][],
): string {
  const table = entries.map(([key, e]) =>
    `  "${key}": {\n    file: "${e.file}",\n    sha256: "${e.sha256}",\n  },\n`
  ).join("");
  return `/**
 * SHA-256 of each prebuilt native library of this release, keyed by
 * \`Deno.build.os\`-\`Deno.build.arch\`. Written by \`deno task release\`.
 *
 * @module
 */

/** The release these binaries belong to (part of the cache key). */
export const VERSION = "${version}";

/** One prebuilt binary: its file name under \`dist/\` and its SHA-256. */
export interface PrebuiltBinary {
  /** File name under the release's \`dist/\` folder. */
  file: string;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
}

/** Prebuilt binaries by \`os-arch\`. */
export const BINARIES: Record<string, PrebuiltBinary> = {
${table}};
`;
}

const { out, targets } = parseArgs(Deno.args);

await Deno.remove(out, { recursive: true }).catch((error) => {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
});
await Deno.mkdir(`${out}/dist`, { recursive: true });
await copyTree(`${root}src`, `${out}/src`);
// The examples run straight from the release URL, the demo among them.
await copyTree(`${root}examples`, `${out}/examples`);
for (const file of ["mod.ts", "deno.json", "README.md", "LICENSE"]) {
  await Deno.copyFile(`${root}${file}`, `${out}/${file}`).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

const entries: [string, { file: string; sha256: string }][] = [];
for (const target of targets) {
  const bytes = await buildTarget(target);
  const dot = target.lib.lastIndexOf(".");
  const file = `${target.lib.slice(0, dot)}-${target.key}${
    target.lib.slice(dot)
  }`;
  await Deno.writeFile(`${out}/dist/${file}`, bytes);
  const sha256 = await sha256Hex(bytes);
  entries.push([target.key, { file, sha256 }]);
  console.log(`${file}  ${sha256}`);
}

const version = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).version;
await Deno.writeTextFile(
  `${out}/src/native/checksums.ts`,
  checksumsModule(version, entries),
);
console.log(`release tree written to ${out}`);
