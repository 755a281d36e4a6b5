// zig/'s shape, read from its @import lines (tools/zig_layers.ts): no import cycle, and each
// file imports only from its own layer and the layers below it (zig/README.md's table).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cycles, importGraph, layerViolations } from "../tools/zig_layers.ts";

const zigRoot = fileURLToPath(new URL("../zig", import.meta.url));

Deno.test("zig/ has no import cycle", () => {
  const graph = importGraph(zigRoot);
  assert.ok(
    graph.has("exports.zig") && graph.has("hub/hub.zig"),
    "the zig/ files were read",
  );
  assert.deepEqual(
    cycles(graph),
    [],
    "files that import each other, directly or around",
  );
});

Deno.test("every zig/ file imports only from its own layer and the layers below it", () => {
  assert.deepEqual(layerViolations(importGraph(zigRoot)), []);
});

Deno.test("the cycle check names the files of a cycle, however long", () => {
  const graph = new Map([
    ["io/a.zig", ["io/b.zig"]],
    ["io/b.zig", ["io/c.zig"]],
    ["io/c.zig", ["io/a.zig", "loop/d.zig"]],
    ["loop/d.zig", []],
  ]);
  assert.deepEqual(cycles(graph), [["io/a.zig", "io/b.zig", "io/c.zig"]]);
});

Deno.test("the layer check flags an import of a higher layer and a file in no layer", () => {
  const graph = new Map([
    ["loop/loop.zig", ["hub/hub.zig"]],
    ["hub/hub.zig", ["loop/loop.zig"]],
    ["stray.zig", []],
  ]);
  assert.deepEqual(layerViolations(graph), [
    "loop/loop.zig imports hub/hub.zig: loop/ may import loop/",
    "stray.zig: in no layer of zig/README.md's table",
  ]);
});
