/**
 * Fibers side by side with their peers in one run: times our shapes from
 * `fiber_shapes.ts` in this process, runs the same shapes under greenlet
 * (`peers/fiber_peers.py`) and Effection 4 (`peers/fiber_peers_effection.ts`),
 * and prints ns per operation and how many times faster we are.
 *
 * ```sh
 * pip install greenlet
 * deno run --allow-run --allow-read --allow-env bench/fiber_compare.ts
 * ```
 *
 * @module
 */

import { OPS_PER_CALL, SHAPES } from "./fiber_shapes.ts";

const ROUNDS = 15;
const ROUND_MS = 50;

/** Issue 11: a switch at least this many times faster than greenlet's. */
const GREENLET_SWITCH_RATIO_MIN = 10;
/** Issue 11: a fiber switch costs at most this many ns. */
const SWITCH_NS_MAX = 25;

type Result = { ns: number; best_ns: number };

/** Median and best ns per operation, timed like the peer scripts. */
function measure(call: () => void): Result {
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < ROUND_MS) {
    call();
    calls++;
  }
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) call();
    samples.push((performance.now() - t0) * 1e6 / (calls * OPS_PER_CALL));
  }
  samples.sort((a, b) => a - b);
  return { ns: samples[Math.floor(samples.length / 2)], best_ns: samples[0] };
}

/** Runs a peer script; its JSON lines keyed by shape, or why it could not. */
async function runPeer(
  command: string,
  args: string[],
): Promise<{ name: string; results: Map<string, Result> } | string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    return `${command} could not start: ${(error as Error).message}`;
  }
  const stderr = new TextDecoder().decode(output.stderr).trim();
  if (!output.success) {
    return `${command} ${args.join(" ")} failed: ${stderr.split("\n").at(-1)}`;
  }
  const results = new Map<string, Result>();
  let name = command;
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const record = JSON.parse(line);
    name = record.peer;
    results.set(record.key, { ns: record.ns, best_ns: record.best_ns });
  }
  return { name, results };
}

const here = new URL(".", import.meta.url);
const ours = new Map<string, Result>();
for (const shape of SHAPES) ours.set(shape.key, measure(shape.make()));

const peers = [
  await runPeer("python3", [
    new URL("peers/fiber_peers.py", here).pathname,
  ]),
  await runPeer(Deno.execPath(), [
    "run",
    "--no-lock",
    new URL("peers/fiber_peers_effection.ts", here).href,
  ]),
];

// The fastest round is the figure least disturbed by other processes on a
// shared machine; the median follows in brackets.
const round = (ns: number) => ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
const format = (r: Result) => `${round(r.best_ns)} (${round(r.ns)})`;
const header = [
  "ns per op: best round (median)",
  `evergreen, Deno ${Deno.version.deno}`,
];
for (const peer of peers) {
  if (typeof peer !== "string") header.push(peer.name, "we are");
}
const rows: string[][] = [header];
for (const shape of SHAPES) {
  const mine = ours.get(shape.key)!;
  const row = [shape.description, format(mine)];
  for (const peer of peers) {
    if (typeof peer === "string") continue;
    const theirs = peer.results.get(shape.key);
    row.push(
      theirs === undefined ? "n/a" : format(theirs),
      theirs === undefined
        ? ""
        : `${(theirs.best_ns / mine.best_ns).toFixed(1)}x faster`,
    );
  }
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const row of rows) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
}
for (const peer of peers) {
  if (typeof peer === "string") console.log(`skipped: ${peer}`);
}

const switchNs = ours.get("switch")!.best_ns;
console.log(
  `\nfiber↔fiber switch: ${
    switchNs.toFixed(1)
  } ns (target <= ${SWITCH_NS_MAX} ns: ${
    switchNs <= SWITCH_NS_MAX ? "met" : "NOT met"
  })`,
);
const greenlet = peers[0];
if (typeof greenlet !== "string") {
  const ratio = greenlet.results.get("switch")!.best_ns /
    ours.get("switch")!.best_ns;
  const verdict = ratio >= GREENLET_SWITCH_RATIO_MIN ? "met" : "NOT met";
  console.log(
    `fiber↔fiber switch vs greenlet: ${
      ratio.toFixed(1)
    }x faster (target ${GREENLET_SWITCH_RATIO_MIN}x: ${verdict})`,
  );
}
