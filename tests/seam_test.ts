// The FFI seam has one definition of each number and each signature: the
// library (zig/abi.zig, zig/exports.zig, zig/test_exports.zig). These tests
// hold the mirrors to it: the TS constants (src/native/constants.ts), the C
// header (include/evergreen.h) and the Deno symbol table (src/native/
// symbols.ts). A failure lists every name to add or fix.
// Run: deno test -A tests/seam_test.ts (after `tools/dev build`).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as constants from "../src/native/constants.ts";
import { ERROR_NAMES } from "../src/native/errors.ts";
import { libraryFileName, openLibrary } from "../src/native/library.ts";
import { SYMBOLS } from "../src/native/symbols.ts";
import { TEST_SYMBOLS } from "../src/native/test_symbols.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HEADER = `${ROOT}include/evergreen.h`;
const encoder = new TextEncoder();

/** The library's value of constant `name`, or undefined if it has none. */
function libraryConstant(name: string): number | undefined {
  const text = encoder.encode(name);
  const out = new BigInt64Array(1);
  const result = openLibrary().symbols.eg_constant(text, text.length, out);
  return result === 0 ? Number(out[0]) : undefined;
}

/** Every constant the library defines, by name. */
function libraryConstants(): Map<string, number> {
  const symbols = openLibrary().symbols;
  const all = new Map<string, number>();
  for (let index = 0; index < 10_000; index++) {
    const pointer = symbols.eg_constant_name(index);
    if (pointer === null) return all;
    const name = Deno.UnsafePointerView.getCString(pointer);
    all.set(name, libraryConstant(name)!);
  }
  throw new Error("eg_constant_name never answered null");
}

/** `EG_NAME = 12` in enums and `#define EG_NAME 12` in the header. */
function headerConstants(text: string): Map<string, number> {
  const found = new Map<string, number>();
  const pattern =
    /(?:#define\s+|\b)(EG_[A-Z0-9_]+)\s*(?:=\s*|\s+)(0x[0-9a-fA-F]+|\d+)u?\b/g;
  for (const [, name, value] of text.matchAll(pattern)) {
    found.set(name, Number(value));
  }
  return found;
}

/** Function name → parameter count, from C declarations. */
function headerFunctions(text: string): Map<string, number> {
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*#.*$/gm, "")
    .replace(/extern "C" \{|^\s*\}\s*$/gm, "")
    .replace(/\{[^{}]*\}/g, "");
  const found = new Map<string, number>();
  for (const statement of code.split(";")) {
    const text = statement.trim();
    if (text.startsWith("typedef")) continue;
    const match = text.match(/\b(eg_[a-z0-9_]+)\s*\(([\s\S]*)\)$/);
    if (match === null) continue;
    found.set(match[1], parameterCount(match[2], "void"));
  }
  return found;
}

/** Export name → parameter count, from every `export fn eg_` in zig/. */
async function zigExports(): Promise<Map<string, [number, string]>> {
  const found = new Map<string, [number, string]>();
  for (const file of await zigFiles(`${ROOT}zig`)) {
    const text = await Deno.readTextFile(file);
    for (const match of text.matchAll(/export fn (eg_\w+)\(([^)]*)\)/g)) {
      const where = file.slice(ROOT.length);
      found.set(match[1], [parameterCount(match[2], ""), where]);
    }
  }
  return found;
}

async function zigFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await zigFiles(path));
    else if (entry.name.endsWith(".zig")) files.push(path);
  }
  return files.sort();
}

function parameterCount(list: string, none: string): number {
  const trimmed = list.trim();
  return trimmed === "" || trimmed === none ? 0 : trimmed.split(",").length;
}

function listed(problems: string[]): string {
  return `${problems.length} to fix:\n  ${problems.join("\n  ")}`;
}

Deno.test("every number in src/native/constants.ts is the library's EG_ constant", () => {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(constants)) {
    const native = libraryConstant(`EG_${name}`);
    if (native === undefined) {
      problems.push(`${name}: the library has no EG_${name} (zig/abi.zig)`);
    } else if (native !== value) {
      problems.push(`${name} is ${value} in TS, EG_${name} is ${native}`);
    }
  }
  assert.ok(problems.length === 0, listed(problems));
});

Deno.test("no module of src/native/ that calls the library exports a number literal", async () => {
  const problems: string[] = [];
  const literal =
    /^export const ([A-Z][A-Z0-9_]*)(?::\s*number)?\s*=\s*(-?(?:0x[0-9a-fA-F_]+|[0-9_]+)(?:\s*<<\s*\d+)?);/gm;
  for await (const entry of Deno.readDir(`${ROOT}src/native`)) {
    if (!entry.name.endsWith(".ts") || entry.name === "constants.ts") continue;
    const text = await Deno.readTextFile(`${ROOT}src/native/${entry.name}`);
    // Bindings of other libraries (openssl.ts) keep their own numbers.
    if (!text.includes(`from "./library.ts"`)) continue;
    for (const [, name, value] of text.matchAll(literal)) {
      problems.push(
        `src/native/${entry.name}: ${name} = ${value} (move it to constants.ts, with its EG_${name} row in zig/abi.zig, and re-export it)`,
      );
    }
  }
  assert.ok(problems.length === 0, listed(problems.sort()));
});

Deno.test("every error name in src/native/errors.ts has the library's number", () => {
  const problems: string[] = [];
  ERROR_NAMES.forEach((name, code) => {
    if (code === 0) return;
    const native = libraryConstant(`EG_${name}`);
    if (native !== code) {
      problems.push(`${name} is ${code} in TS, EG_${name} is ${native}`);
    }
  });
  assert.ok(problems.length === 0, listed(problems));
});

Deno.test("the header defines every library constant with the library's value", async () => {
  const header = headerConstants(await Deno.readTextFile(HEADER));
  const native = libraryConstants();
  assert.ok(native.size > 50, `only ${native.size} library constants`);
  const problems: string[] = [];
  for (const [name, value] of native) {
    const declared = header.get(name);
    if (declared === undefined) {
      problems.push(`missing from include/evergreen.h: ${name} = ${value}`);
    } else if (declared !== value) {
      problems.push(`${name} is ${declared} in the header, ${value} natively`);
    }
  }
  for (const name of header.keys()) {
    if (!native.has(name)) {
      problems.push(`${name} is in the header, not in zig/abi.zig`);
    }
  }
  assert.ok(problems.length === 0, listed(problems));
});

Deno.test("every eg_ export in zig/ is declared in the header with its arity", async () => {
  const header = headerFunctions(await Deno.readTextFile(HEADER));
  const exported = await zigExports();
  assert.ok(exported.size > 50, `only ${exported.size} exports found`);
  const problems: string[] = [];
  for (const [name, [arity, where]] of exported) {
    const declared = header.get(name);
    if (declared === undefined) {
      problems.push(
        `missing from include/evergreen.h: ${name} (${arity} parameters, ${where})`,
      );
    } else if (declared !== arity) {
      problems.push(
        `${name}: ${arity} parameters in ${where}, ${declared} in the header`,
      );
    }
  }
  for (const name of header.keys()) {
    if (!exported.has(name)) {
      problems.push(`${name} is declared in the header, exported nowhere`);
    }
  }
  assert.ok(problems.length === 0, listed(problems));
});

Deno.test("every symbol Deno opens is an export with the same arity", async () => {
  const exported = await zigExports();
  const problems: string[] = [];
  for (const [name, symbol] of Object.entries(SYMBOLS)) {
    const native = exported.get(name);
    if (native === undefined) {
      problems.push(`${name} is in src/native/symbols.ts, exported nowhere`);
    } else if (native[0] !== symbol.parameters.length) {
      problems.push(
        `${name}: ${native[0]} parameters in ${
          native[1]
        }, ${symbol.parameters.length} in the symbol table`,
      );
    }
  }
  for (const [name, [, where]] of exported) {
    const testOnly = where === "zig/test_exports.zig";
    if (testOnly !== name in TEST_SYMBOLS && name in SYMBOLS) {
      problems.push(
        `${name}: test-only exports (and only they) belong in test_symbols.ts`,
      );
    }
  }
  assert.ok(problems.length === 0, listed(problems));
});

Deno.test({
  name:
    "a library built with -Dtest-exports=false has no eg_test_ symbols, and the test helpers say how to rebuild",
  fn: async () => {
    const prefix = await Deno.makeTempDir({ prefix: "evergreen-no-tests-" });
    try {
      const build = await new Deno.Command("zig", {
        args: [
          "build",
          "-Doptimize=Debug",
          "-Dtest-exports=false",
          "--prefix",
          prefix,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        build.code,
        0,
        `zig build failed: ${new TextDecoder().decode(build.stderr)}`,
      );
      const library = [`${prefix}/lib`, `${prefix}/bin`]
        .map((dir) => `${dir}/${libraryFileName()}`)
        .find((path) => exists(path));
      assert.ok(library !== undefined, `no library under ${prefix}`);
      const script = `
        import { testSymbols } from "${ROOT}src/native/test_support.ts";
        import { openLibrary } from "${ROOT}src/native/library.ts";
        const symbols = openLibrary().symbols;
        console.log(symbols.eg_test_pipe === null, symbols.eg_abi_version());
        try { testSymbols(); } catch (error) { console.log(error.code, error.message); }
      `;
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script],
        env: { EVERGREEN_LIB: library },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(run.stdout);
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      const [first, second] = output.trim().split("\n");
      assert.equal(first, `true ${constants.ABI_VERSION}`);
      assert.match(second, /^ENOLIB .*eg_test_pipe.*-Dtest-exports=false/);
      assert.match(second, /tools\/dev build/);
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
