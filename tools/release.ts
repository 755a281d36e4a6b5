/**
 * `deno task release`: cross-compiles the native library for every supported
 * target and lays out a release tree that can be served as is:
 *
 *   <out>/mod.ts, <out>/src/…            the module, as in this checkout
 *   <out>/dist/<library per target>      one binary per os-arch
 *   <out>/src/native/checksums.ts        their SHA-256, read before any load
 *
 * Usage: deno run -A tools/release.ts [out-dir]   (default: release/)
 */

import { sha256Hex } from "../src/native/prebuilt.ts";

/** Zig target triple → Deno's os-arch key and the library file name. */
const TARGETS = [
  { zig: "x86_64-linux-gnu", key: "linux-x86_64", lib: "libevergreen.so" },
  { zig: "aarch64-linux-gnu", key: "linux-aarch64", lib: "libevergreen.so" },
  { zig: "x86_64-macos", key: "darwin-x86_64", lib: "libevergreen.dylib" },
  { zig: "aarch64-macos", key: "darwin-aarch64", lib: "libevergreen.dylib" },
  { zig: "x86_64-windows-gnu", key: "windows-x86_64", lib: "evergreen.dll" },
] as const;

const root = new URL("..", import.meta.url).pathname;
const out = Deno.args[0] ?? `${root}release`;

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

await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(`${out}/dist`, { recursive: true });
await copyTree(`${root}src`, `${out}/src`);
for (const file of ["mod.ts", "deno.json", "README.md", "LICENSE"]) {
  await Deno.copyFile(`${root}${file}`, `${out}/${file}`).catch(() => {});
}

const entries: Record<string, { file: string; sha256: string }> = {};
for (const target of TARGETS) {
  const prefix = `${root}.zig-cache/release/${target.key}`;
  await run("zig", [
    "build",
    "-Doptimize=ReleaseFast",
    `-Dtarget=${target.zig}`,
    "--prefix",
    prefix,
  ]);
  const dir = target.key.startsWith("windows") ? "bin" : "lib";
  const bytes = await Deno.readFile(`${prefix}/${dir}/${target.lib}`);
  const [base, ext] = target.lib.split(".");
  const file = `${base}-${target.key}.${ext}`;
  await Deno.writeFile(`${out}/dist/${file}`, bytes);
  entries[target.key] = { file, sha256: await sha256Hex(bytes) };
  console.log(`${file}  ${entries[target.key].sha256}`);
}

const version = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).version;
const table = Object.entries(entries)
  .map(([key, e]) =>
    `  "${key}": { file: "${e.file}", sha256: "${e.sha256}" },`
  )
  .join("\n");
await Deno.writeTextFile(
  `${out}/src/native/checksums.ts`,
  `/**
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
${table}
};
`,
);
console.log(`release tree written to ${out}`);
