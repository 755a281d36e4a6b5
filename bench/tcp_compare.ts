// Before/after comparison of two checkouts of this repository, side by side in
// one process, rounds interleaved: TCP ping-pong (1 connection, client and
// server in one process) under run() and runSync() for each checkout, and
// Deno's own Deno.connect/Deno.listen as the yardstick. Each checkout loads
// its own native library (its zig-out/lib, built with `zig build
// -Doptimize=ReleaseFast`), so leave EVERGREEN_LIB unset.
//
//   deno run -A bench/tcp_compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] [REPEATS]
//
// Prints each side's best and median round trips/s and the ratios to Deno.

import {
  denoPingPong,
  evergreenPingPong,
  format,
  measure,
  median,
  type Modules,
  type Side,
} from "./tcp_shapes.ts";

const [beforeDir, afterDir] = Deno.args;
if (beforeDir === undefined || afterDir === undefined) {
  throw new Error(
    "usage: tcp_compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] [REPEATS]",
  );
}
const ROUNDS = Number(Deno.args[2] ?? "30000");
const REPEATS = Number(Deno.args[3] ?? "3");
const SIZES = [1, 1024];

/** The ping-pong of bench/tcp_shapes.ts against the checkout at `dir`. */
async function checkout(dir: string, sync: boolean): Promise<Side> {
  const root = new URL(`file://${Deno.realPathSync(dir)}/`);
  const load = (path: string) => import(new URL(path, root).href);
  const modules: Modules = {
    ...await load("src/loop.ts"),
    ...await load("src/tasks.ts"),
    ...await load("src/io/tcp.ts"),
    ...await load("src/io/errors.ts"),
  };
  return evergreenPingPong(modules, sync, ROUNDS);
}

const deno = denoPingPong(ROUNDS);

const sides: [string, Side][] = [
  ["before run()", await checkout(beforeDir, false)],
  ["before runSync()", await checkout(beforeDir, true)],
  ["after run()", await checkout(afterDir, false)],
  ["after runSync()", await checkout(afterDir, true)],
  ["deno (await)", deno],
];

console.log(
  `TCP ping-pong, ${ROUNDS} round trips per repeat, best (median) of ${REPEATS}, round trips/s`,
);
for (const size of SIZES) {
  const figures = await measure(sides, size, REPEATS);
  const denoBest = Math.max(...figures.get("deno (await)")!);
  console.log(`\n${size} B messages`);
  for (const [name] of sides) {
    const values = figures.get(name)!;
    const best = Math.max(...values);
    console.log(
      `  ${name.padEnd(18)} ${format(best).padStart(6)} (${
        format(median(values))
      })  ${(best / denoBest).toFixed(2)}x deno`,
    );
  }
}
