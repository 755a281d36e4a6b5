// Checks zig/'s shape from its @import lines: no import cycle, and every file imports only
// from its own layer and the layers below it (the table in zig/README.md). Prints the
// problems and exits 1 if there are any; tests/zig_layers_test.ts runs the same check.
//
//   deno run --allow-read tools/zig_layers.ts [zig folder]

import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** What exports.zig may import: every layer below the C ABI. */
const BELOW_EXPORTS = [
  "ffi.zig",
  "abi.zig",
  "io/",
  "hub/",
  "loop/",
  "stacklet/",
];

/** Each layer, lowest first, with the layers its files may import (its own included). */
export const LAYERS: ReadonlyArray<{ layer: string; imports: string[] }> = [
  { layer: "stacklet/", imports: ["stacklet/"] },
  { layer: "loop/", imports: ["loop/"] },
  { layer: "hub/", imports: ["hub/", "loop/", "stacklet/"] },
  { layer: "io/", imports: ["io/", "hub/", "loop/"] },
  { layer: "abi.zig", imports: ["io/", "hub/", "loop/"] },
  { layer: "ffi.zig", imports: ["io/", "hub/", "loop/"] },
  { layer: "exports.zig", imports: BELOW_EXPORTS },
  { layer: "test_exports.zig", imports: ["exports.zig", ...BELOW_EXPORTS] },
  { layer: "exports_test.zig", imports: ["exports.zig", ...BELOW_EXPORTS] },
  { layer: "root.zig", imports: ["*"] },
];

function layerOf(file: string): string {
  const slash = file.indexOf("/");
  return slash < 0 ? file : file.slice(0, slash + 1);
}

function* zigFiles(root: string, folder = ""): Generator<string> {
  for (const entry of Deno.readDirSync(join(root, folder))) {
    const path = folder ? `${folder}/${entry.name}` : entry.name;
    if (entry.isDirectory) yield* zigFiles(root, path);
    else if (entry.name.endsWith(".zig")) yield path;
  }
}

/** Every file of zig/ (relative to it) and the files of zig/ it imports. */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of zigFiles(root)) {
    const text = Deno.readTextFileSync(join(root, file));
    const targets = new Set<string>();
    for (const match of text.matchAll(/@import\("([^"]+\.zig)"\)/g)) {
      const target = relative(
        root,
        normalize(join(root, dirname(file), match[1])),
      );
      targets.add(target.replaceAll("\\", "/"));
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** The import cycles, each as the files along it (strongly connected components). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, counter);
    low.set(file, counter);
    counter++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    const selfImport = (graph.get(file) ?? []).includes(file);
    if (component.length > 1 || selfImport) found.push(component.sort());
  };
  for (const file of [...graph.keys()].sort()) {
    if (!index.has(file)) visit(file);
  }
  return found;
}

/** Imports that reach up (or sideways) past what the importing file's layer may use. */
export function layerViolations(graph: Map<string, string[]>): string[] {
  const allowed = new Map(LAYERS.map((row) => [row.layer, row.imports]));
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const rules = allowed.get(layerOf(file));
    if (rules === undefined) {
      problems.push(`${file}: in no layer of zig/README.md's table`);
      continue;
    }
    if (rules.includes("*")) continue;
    for (const target of targets) {
      if (!rules.includes(layerOf(target))) {
        problems.push(
          `${file} imports ${target}: ${layerOf(file)} may import ${
            rules.join(", ")
          }`,
        );
      }
    }
  }
  return problems.sort();
}

if (import.meta.main) {
  const root = Deno.args[0] ??
    fileURLToPath(new URL("../zig", import.meta.url));
  const graph = importGraph(root);
  const found = cycles(graph);
  const problems = layerViolations(graph);
  for (const cycle of found) console.log(`cycle: ${cycle.join(" <-> ")}`);
  for (const problem of problems) console.log(problem);
  const edges = [...graph.values()].reduce(
    (sum, targets) => sum + targets.length,
    0,
  );
  console.log(
    `${graph.size} files, ${edges} imports: ${found.length} cycles, ${problems.length} layer violations`,
  );
  if (found.length > 0 || problems.length > 0) Deno.exit(1);
}
