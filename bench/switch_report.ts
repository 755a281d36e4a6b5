/**
 * `deno task bench:switch`: the switch costs of every layer as one JSON line.
 *
 * - `native_stacklet_round_trip_ns`: two stacklet switches, timed in Zig
 *   (`zig build bench`, ReleaseFast);
 * - `ffi_call_ns`: an empty fast-path FFI call from TS (`eg_nop`);
 * - `ts_fiber_switch_ns`: one fiber↔fiber switch on the generator trampoline.
 *
 * The TS figures come from `deno bench --json` over `switch_bench.ts`.
 * Run: deno task bench:switch (needs `zig` on PATH: `tools/dev build` once).
 */

const root = new URL("..", import.meta.url).pathname;

async function output(cmd: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${code}): ${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
  return text;
}

const zigLine = (await output("zig", ["build", "bench"]))
  .split("\n")
  .find((line) => line.includes("native_stacklet_round_trip_ns"));
if (zigLine === undefined) {
  throw new Error("zig build bench printed no native_stacklet_round_trip_ns");
}
const native = JSON.parse(zigLine).native_stacklet_round_trip_ns as number;

const report = JSON.parse(
  await output(Deno.execPath(), [
    "bench",
    "--allow-all",
    "--json",
    "bench/switch_bench.ts",
  ]),
);
const nsPerOp: Record<string, number> = {};
for (const bench of report.benches) {
  const ok = bench.results[0]?.ok;
  if (ok === undefined) throw new Error(`bench ${bench.name} failed`);
  // Each iteration runs OPS operations (see switch_bench.ts).
  nsPerOp[bench.name] = ok.avg / Number(bench.name.split("×")[1]);
}
const round = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  native_stacklet_round_trip_ns: native,
  ffi_call_ns: round(nsPerOp["ffi_call_ns ×1000"]),
  ts_fiber_switch_ns: round(nsPerOp["ts_fiber_switch_ns ×1000"]),
}));
