/**
 * `deno bench` for fibers and fiber-local storage. Every benchmark runs
 * `OPS_PER_CALL` (1000) operations per iteration, so time/iter in µs is the
 * cost of one operation in ns. `fiber_compare.ts` runs the same shapes side by
 * side with greenlet and Effection.
 *
 * @module
 */

import { OPS_PER_CALL, SHAPES } from "./fiber_shapes.ts";

for (const shape of SHAPES) {
  Deno.bench({
    name: `${shape.description} ×${OPS_PER_CALL}`,
    fn: shape.make(),
  });
}
