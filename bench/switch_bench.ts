/**
 * The TS half of `deno task bench:switch` (see switch_report.ts): an empty
 * fast-path FFI call and one fiber↔fiber switch, 1000 per iteration so that
 * µs per iteration reads as ns per operation.
 *
 * Run: deno bench -A bench/switch_bench.ts
 */

import { openLibrary } from "../src/native/library.ts";
import { Fiber } from "../src/fiber.ts";

const OPS = 1000;
const symbols = openLibrary().symbols;

Deno.bench(`ffi_call_ns ×${OPS}`, () => {
  for (let i = 0; i < OPS; i++) symbols.eg_nop();
});

// Two fibers bouncing control: OPS switches per run (OPS/2 round trips).
let remaining = 0;
const ping: Fiber = new Fiber(function* () {
  for (;;) {
    while (remaining > 0) {
      remaining -= 2;
      yield* pong.switch();
    }
    yield* Fiber.current().parent!.switch();
  }
});
const pong: Fiber = new Fiber(function* () {
  for (;;) yield* ping.switch();
});

Deno.bench(`ts_fiber_switch_ns ×${OPS}`, () => {
  remaining = OPS;
  ping.switchSync();
});
