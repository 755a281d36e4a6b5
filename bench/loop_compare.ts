/**
 * The event loop side by side with its peers in one run: times the shapes of
 * `loop_shapes.ts` here (under `run()` and `runSync()`) and in plain Deno
 * async, runs the same shapes under gevent (`peers/loop_peers_gevent.py`)
 * and Effection 4 (`peers/loop_peers_effection.ts`), and prints ns per
 * operation, the ratios, and whether the targets of issue 5 are met.
 *
 * ```sh
 * pip install gevent
 * deno run -A bench/loop_compare.ts          # add "quick" for a short run
 * ```
 *
 * @module
 */

import {
  asyncFinish,
  awaitMicrotask,
  awaitResolved,
  idleRunForever,
  millionDenoTimers,
  millionTimers,
  type Mode,
  sleepZero,
  spawnFinish,
  type TimersResult,
} from "./loop_shapes.ts";

const QUICK = Deno.args[0] === "quick";
const ROUNDS = QUICK ? 3 : 7;
const SLEEP_OPS = QUICK ? 100_000 : 1_000_000;
const SPAWN_COUNT = 100_000;
const TIMERS = QUICK ? 100_000 : 1_000_000;
const IDLE_MS = QUICK ? 1000 : 5000;

/** Target of issue 5: sleep(0) at least this many times faster than gevent. */
const GEVENT_SLEEP_RATIO_MIN = 3;

type Result = { ns: number; best_ns: number };

async function rounds(measure: () => Promise<number>): Promise<Result> {
  await measure();
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await measure());
  samples.sort((a, b) => a - b);
  return { ns: samples[Math.floor(samples.length / 2)], best_ns: samples[0] };
}

/** Runs a peer script; its JSON lines keyed by shape, or why it could not. */
async function runPeer(
  command: string,
  args: string[],
): Promise<
  { name: string; records: Map<string, Record<string, number>> } | string
> {
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
  const records = new Map<string, Record<string, number>>();
  let name = command;
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const record = JSON.parse(line);
    name = record.peer;
    records.set(record.key, record);
  }
  return { name, records };
}

const round = (ns: number) => ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
const format = (r: Result) => `${round(r.best_ns)} (${round(r.ns)})`;

function table(rows: string[][]): void {
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((r) => (r[i] ?? "").length))
  );
  for (const row of rows) {
    console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
  }
}

// ---- ours and plain Deno, in this process ----

const modes: Mode[] = ["runSync", "run"];
const sleepShapes = [
  { key: "sleep0_10", tasks: 10, label: "sleep(0) among 10 tasks" },
  { key: "sleep0_1000", tasks: 1000, label: "sleep(0) among 1000 tasks" },
];
const ours = new Map<string, Result>();
for (const shape of sleepShapes) {
  const perTask = SLEEP_OPS / shape.tasks;
  for (const mode of modes) {
    ours.set(
      `${shape.key}/${mode}`,
      await rounds(() => sleepZero(shape.tasks, perTask, mode)),
    );
  }
  ours.set(
    `${shape.key}/resolved`,
    await rounds(() => awaitResolved(shape.tasks, perTask)),
  );
  ours.set(
    `${shape.key}/microtask`,
    await rounds(() => awaitMicrotask(shape.tasks, perTask)),
  );
}
for (const mode of modes) {
  ours.set(
    `spawn_100k/${mode}`,
    await rounds(() => spawnFinish(SPAWN_COUNT, mode)),
  );
}
ours.set("spawn_100k/async", await rounds(() => asyncFinish(SPAWN_COUNT)));

const timers = new Map<string, TimersResult>();
for (const mode of modes) timers.set(mode, await millionTimers(TIMERS, mode));
timers.set("setTimeout", await millionDenoTimers(TIMERS));

const idle = await idleRunForever(IDLE_MS);

// ---- peers ----

const here = new URL(".", import.meta.url);
const gevent = await runPeer("python3", [
  new URL("peers/loop_peers_gevent.py", here).pathname,
  ...(QUICK ? ["quick"] : []),
]);
const effection = await runPeer(Deno.execPath(), [
  "run",
  "--no-lock",
  new URL("peers/loop_peers_effection.ts", here).href,
  ...(QUICK ? ["quick"] : []),
]);

// ---- report ----

const peerResult = (
  peer: typeof gevent,
  key: string,
): Result | undefined => {
  if (typeof peer === "string") return undefined;
  const record = peer.records.get(key);
  return record === undefined
    ? undefined
    : { ns: record.ns, best_ns: record.best_ns };
};
const ratio = (theirs: Result | undefined, mine: Result) =>
  theirs === undefined
    ? "n/a"
    : `${(theirs.best_ns / mine.best_ns).toFixed(2)}x`;

console.log(
  `evergreen loop vs peers, Deno ${Deno.version.deno}; ns per op: best of ${ROUNDS} rounds (median)\n`,
);
const sleepRows: string[][] = [[
  "shape",
  "runSync",
  "run",
  "await resolved",
  "queueMicrotask",
  typeof gevent === "string" ? "gevent" : gevent.name,
  "vs gevent",
  "vs await",
  "vs microtask",
]];
for (const shape of sleepShapes) {
  const sync = ours.get(`${shape.key}/runSync`)!;
  const run = ours.get(`${shape.key}/run`)!;
  const resolved = ours.get(`${shape.key}/resolved`)!;
  const microtask = ours.get(`${shape.key}/microtask`)!;
  const theirs = peerResult(gevent, shape.key);
  sleepRows.push([
    shape.label,
    format(sync),
    format(run),
    format(resolved),
    format(microtask),
    theirs === undefined ? "n/a" : format(theirs),
    ratio(theirs, run),
    ratio(resolved, run),
    ratio(microtask, run),
  ]);
}
table(sleepRows);
console.log(
  "(ratios: their time / ours under run(); above 1 means we are faster)\n",
);

const spawnRows: string[][] = [[
  "spawn + run + finish, 100k",
  "runSync",
  "run",
  "async + Promise.all",
  typeof gevent === "string" ? "gevent" : gevent.name,
  "vs gevent",
  typeof effection === "string" ? "effection" : effection.name,
  "vs effection",
]];
{
  const sync = ours.get("spawn_100k/runSync")!;
  const run = ours.get("spawn_100k/run")!;
  const theirs = peerResult(gevent, "spawn_100k");
  const eff = peerResult(effection, "spawn_100k");
  spawnRows.push([
    "ns per task",
    format(sync),
    format(run),
    format(ours.get("spawn_100k/async")!),
    theirs === undefined ? "n/a" : format(theirs),
    ratio(theirs, run),
    eff === undefined ? "n/a" : format(eff),
    ratio(eff, run),
  ]);
}
table(spawnRows);
console.log();

const timerRows: string[][] = [[
  `million-timers (${TIMERS} timers, last at ${
    timers.get("run")!.lastTimeoutMs
  } ms)`,
  "schedule ms",
  "dispatch ms",
  "ns per timer (schedule)",
  "dispatch beyond last timeout ms",
]];
const timerRow = (label: string, r: TimersResult | Record<string, number>) => {
  const initMs = "initMs" in r
    ? r.initMs
    : (r as Record<string, number>).init_ms;
  const dispatchMs = "dispatchMs" in r
    ? r.dispatchMs
    : (r as Record<string, number>).dispatch_ms;
  const last = "lastTimeoutMs" in r
    ? r.lastTimeoutMs
    : (r as Record<string, number>).last_timeout_ms;
  const count = r.count;
  timerRows.push([
    label,
    initMs.toFixed(0),
    dispatchMs.toFixed(0),
    (initMs * 1e6 / count).toFixed(0),
    (dispatchMs - last).toFixed(0),
  ]);
};
timerRow("evergreen runSync", timers.get("runSync")!);
timerRow("evergreen run", timers.get("run")!);
timerRow("Deno setTimeout", timers.get("setTimeout")!);
if (typeof gevent !== "string" && gevent.records.has("million_timers")) {
  timerRow(gevent.name, gevent.records.get("million_timers")!);
}
table(timerRows);
console.log();

const idlePercent = idle.cpuMs / idle.wallMs * 100;
console.log(
  `idle runForever(): ${idle.cpuMs.toFixed(1)} ms CPU in ${
    idle.wallMs.toFixed(0)
  } ms = ${idlePercent.toFixed(2)}% of a core` +
    (idle.procCpuMs === null
      ? ""
      : ` (/proc/self/stat: ${idle.procCpuMs.toFixed(0)} ms)`),
);

for (const peer of [gevent, effection]) {
  if (typeof peer === "string") console.log(`skipped: ${peer}`);
}

// ---- targets of issue 5 ----

console.log("\ntargets:");
const verdict = (ok: boolean) => ok ? "met" : "NOT met";
for (const shape of sleepShapes) {
  const run = ours.get(`${shape.key}/run`)!;
  const theirs = peerResult(gevent, shape.key);
  if (theirs !== undefined) {
    const r = theirs.best_ns / run.best_ns;
    console.log(
      `  ${shape.label} vs gevent.sleep(0): ${
        r.toFixed(1)
      }x faster (target ${GEVENT_SLEEP_RATIO_MIN}x: ${
        verdict(r >= GEVENT_SLEEP_RATIO_MIN)
      })`,
    );
  }
  for (const peer of ["resolved", "microtask"]) {
    const plain = ours.get(`${shape.key}/${peer}`)!;
    const r = plain.best_ns / run.best_ns;
    console.log(
      `  ${shape.label} vs ${
        peer === "resolved" ? "await of a resolved promise" : "queueMicrotask"
      }: ${r.toFixed(2)}x (target >= 1: ${verdict(r >= 1)})`,
    );
  }
}
console.log(
  `  idle runForever under 1% of a core: ${idlePercent.toFixed(2)}% (${
    verdict(idlePercent < 1)
  })`,
);
