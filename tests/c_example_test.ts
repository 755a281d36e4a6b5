/**
 * The C embedder's view: compiles examples/c/stacklets.c against
 * include/evergreen.h and the native library with `zig cc`, runs it, and
 * checks what it printed. On this machine's target always; for aarch64 Linux
 * under qemu-user and x86_64 Windows under wine when those are installed.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SOURCE = `${ROOT}examples/c/stacklets.c`;
// Running the example is quick; compiling is not bounded the same way: on a
// cold cache `zig cc` first builds the target's C runtime (MinGW's for
// Windows), which took over two minutes on a busy fresh machine. A compile is
// bounded only against a hang.
const RUN_TIMEOUT_MS = 120_000;
const COMPILE_TIMEOUT_MS = 30 * 60_000;

const EXPECTED = [
  "fibonacci: 0 1 1 2 3 5 8 13 21 34",
  "ping 0",
  "pong 0",
  "ping 1",
  "pong 1",
  "ping 2",
  "pong 2",
  "rally: 6 hits",
  "woken: poll(-1) returned with 0 records",
  "readable: token 7, events 1",
  "read_exact: 5 bytes, fnv1a 4f9f2cab",
  "ok",
];

interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

async function run(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? RUN_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function succeed(
  what: string,
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await run(command, args, options);
  assert.equal(
    result.code,
    0,
    `${what} failed (${command} ${
      args.join(" ")
    }):\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

function onPath(tool: string): boolean {
  const separator = Deno.build.os === "windows" ? ";" : ":";
  const names = Deno.build.os === "windows" ? [`${tool}.exe`, tool] : [tool];
  for (const dir of (Deno.env.get("PATH") ?? "").split(separator)) {
    for (const name of names) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return true;
      } catch {
        // Not in this PATH entry.
      }
    }
  }
  return false;
}

function assertOutput(stdout: string, what: string) {
  // Windows programs end lines with \r\n.
  const lines = stdout.replaceAll("\r\n", "\n").trimEnd().split("\n");
  assert.deepEqual(lines, EXPECTED, `${what}: the example's output`);
}

/** Compiles the example with `zig cc` for `target` (omitted: this machine). */
async function compile(
  exe: string,
  libraryDir: string,
  options: { target?: string; rpath: boolean },
): Promise<void> {
  await succeed("zig cc", "zig", [
    "cc",
    ...(options.target ? ["-target", options.target] : []),
    "-Wall",
    "-Wextra",
    "-Werror",
    "-I",
    `${ROOT}include`,
    SOURCE,
    "-L",
    libraryDir,
    "-levergreen",
    ...(options.rpath ? [`-Wl,-rpath,${libraryDir}`] : []),
    "-o",
    exe,
  ], { timeoutMs: COMPILE_TIMEOUT_MS });
}

/** Builds the library for `target` into a private prefix; returns its dir. */
async function buildLibrary(target: string, prefix: string): Promise<string> {
  await succeed("zig build", "zig", [
    "build",
    `-Dtarget=${target}`,
    "--prefix",
    prefix,
  ], { timeoutMs: COMPILE_TIMEOUT_MS });
  for await (const entry of Deno.readDir(`${prefix}/lib`)) {
    if (entry.isDirectory) return `${prefix}/lib/${entry.name}`;
  }
  return `${prefix}/lib`;
}

Deno.test("the C example runs on the native library of this machine", async () => {
  const libraryDir = `${ROOT}zig-out/lib`;
  const work = await Deno.makeTempDir({ prefix: "evergreen-c-example-" });
  try {
    const exe = `${work}/stacklets${Deno.build.os === "windows" ? ".exe" : ""}`;
    // Windows has no rpath: it finds the DLL through PATH.
    await compile(exe, libraryDir, { rpath: Deno.build.os !== "windows" });
    const env: Record<string, string> = Deno.build.os === "windows"
      ? { PATH: `${libraryDir};${Deno.env.get("PATH") ?? ""}` }
      : {};
    assertOutput(await succeed("the example", exe, [], { env }), "host");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

const FOREIGN = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

Deno.test({
  name: "the C example runs on aarch64 Linux under qemu-user",
  ignore: !FOREIGN || !onPath("qemu-aarch64"),
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "evergreen-c-aarch64-" });
    try {
      const libraryDir = await buildLibrary("aarch64-linux-gnu", work);
      const exe = `${work}/stacklets`;
      await compile(exe, libraryDir, {
        target: "aarch64-linux-gnu",
        rpath: true,
      });
      const stdout = await succeed("the example under qemu", "qemu-aarch64", [
        "-L",
        "/usr/aarch64-linux-gnu",
        exe,
      ]);
      assertOutput(stdout, "aarch64-linux");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "the C example runs on x86_64 Windows under wine",
  ignore: !FOREIGN || !onPath("wine"),
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "evergreen-c-windows-" });
    try {
      const libraryDir = await buildLibrary("x86_64-windows-gnu", work);
      // The DLL beside the program: the first place Windows looks.
      const exe = `${libraryDir}/stacklets.exe`;
      await compile(exe, libraryDir, {
        target: "x86_64-windows-gnu",
        rpath: false,
      });
      const stdout = await succeed("the example under wine", "wine", [exe], {
        cwd: libraryDir,
        env: { WINEDEBUG: "-all" },
      });
      assertOutput(stdout, "x86_64-windows");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
