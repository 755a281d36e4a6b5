/**
 * Heap per fiber: makes one million fibers, switches into each so that all
 * are suspended at once, and divides the growth of
 * `Deno.memoryUsage().heapUsed` (after a full GC) by their number. Then does
 * the same with one `FiberLocal` value and one `local()` property set in
 * each, and checks that ending them gives the memory back.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc bench/fiber_memory.ts [count]
 * ```
 *
 * @module
 */

import { Fiber } from "../src/fiber.ts";
import { FiberLocal, local } from "../src/local.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with --v8-flags=--expose-gc for a meaningful figure");
  Deno.exit(2);
}

/** Target of issue 11: at most 256 B of heap per suspended fiber. */
const BYTES_PER_FIBER_MAX = 256;

const count = Number(Deno.args[0] ?? 1_000_000);
const main = Fiber.current();

function heapUsed(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

function* suspendOnce(): Generator<unknown, void, unknown> {
  yield* main.switch();
}

const value = new FiberLocal<number>();
const context = local<{ id: number }>();

function* suspendWithLocals(id: number): Generator<unknown, void, unknown> {
  value.set(id);
  context.id = id;
  yield* main.switch();
}

function measure(
  label: string,
  make: (i: number) => Fiber,
): number {
  const before = heapUsed();
  let fibers: Fiber[] | null = new Array(count);
  for (let i = 0; i < count; i++) {
    const fiber = make(i);
    fiber.switchSync();
    fibers[i] = fiber;
  }
  const alive = heapUsed();
  for (const fiber of fibers) fiber.switchSync();
  if (fibers.some((fiber) => fiber.isAlive())) throw new Error("not ended");
  fibers = null;
  const after = heapUsed();
  const perFiber = (alive - before) / count;
  console.log(
    `${label}: ${count} alive at once, ${perFiber.toFixed(0)} B of heap each (${
      ((alive - before) / 2 ** 20).toFixed(1)
    } MiB); ${
      ((after - before) / 2 ** 20).toFixed(1)
    } MiB left after they ended`,
  );
  return perFiber;
}

const plain = measure(
  "suspended fibers",
  () => new Fiber(suspendOnce),
);
measure(
  "suspended fibers with a FiberLocal value and a local() property",
  (i) => new Fiber(suspendWithLocals, { args: [i] }),
);
console.log(
  `target <= ${BYTES_PER_FIBER_MAX} B per suspended fiber: ${
    plain <= BYTES_PER_FIBER_MAX ? "met" : "NOT met"
  }`,
);
