/**
 * The fiber benchmark shapes, shared by `fiber_bench.ts` (`deno bench`) and
 * `fiber_compare.ts` (side by side with greenlet and Effection), so both
 * time exactly the same code. Each shape returns a function that performs
 * `OPS_PER_CALL` operations.
 *
 * @module
 */

import { Fiber } from "../src/fiber.ts";
import { FiberLocal, local } from "../src/local.ts";

/** Operations performed by one call of a shape's function. */
export const OPS_PER_CALL = 1000;

/** One benchmark shape: what it measures and a factory for its function. */
export interface Shape {
  /** Stable key, shared with the peer scripts. */
  key: string;
  /** What one operation is. */
  description: string;
  /** Builds the function that performs {@linkcode OPS_PER_CALL} operations. */
  make(): () => void;
}

/**
 * Two fibers switching to each other; one operation is one switch.
 *
 * @example
 * ```ts
 * import { pingPong } from "./fiber_shapes.ts";
 * pingPong.make()();
 * ```
 */
export const pingPong: Shape = {
  key: "switch",
  description: "fiber↔fiber switch",
  make() {
    const main = Fiber.current();
    let remaining = 0;
    const ping: Fiber = new Fiber(function* () {
      for (;;) {
        yield* (--remaining > 0 ? pong : main).switch();
      }
    });
    const pong: Fiber = new Fiber(function* () {
      for (;;) {
        yield* (--remaining > 0 ? ping : main).switch();
      }
    });
    return () => {
      remaining = OPS_PER_CALL;
      ping.switchSync();
    };
  },
};

/**
 * Eight fibers passing control around a ring, each with its own generator
 * function (as in a program with several kinds of fibers); one operation is
 * one switch.
 *
 * @example
 * ```ts
 * import { ringSwitch } from "./fiber_shapes.ts";
 * ringSwitch.make()();
 * ```
 */
export const ringSwitch: Shape = {
  key: "switch_ring8",
  description: "switch in a ring of 8 bodies",
  make() {
    const main = Fiber.current();
    const size = 8;
    const ring: Fiber[] = [];
    let remaining = 0;
    // Each call makes a new generator function, hence a new prototype.
    const makeBody = (index: number) =>
      function* (): Generator<unknown, never, unknown> {
        const next = (index + 1) % size;
        for (;;) yield* (--remaining > 0 ? ring[next] : main).switch();
      };
    for (let i = 0; i < size; i++) ring.push(new Fiber(makeBody(i)));
    return () => {
      remaining = OPS_PER_CALL;
      ring[0].switchSync();
    };
  },
};

/**
 * Main switching into a fiber that switches straight back; one operation is
 * one round trip (two switches).
 *
 * @example
 * ```ts
 * import { roundTrip } from "./fiber_shapes.ts";
 * roundTrip.make()();
 * ```
 */
export const roundTrip: Shape = {
  key: "round_trip",
  description: "main→fiber→main round trip",
  make() {
    const main = Fiber.current();
    const echo = new Fiber(function* () {
      for (;;) yield* main.switch();
    });
    return () => {
      for (let i = 0; i < OPS_PER_CALL; i++) echo.switchSync();
    };
  },
};

/**
 * A new fiber with a generator body, switched into once, returning at once;
 * one operation is create + first switch + finish.
 *
 * @example
 * ```ts
 * import { createRunFinish } from "./fiber_shapes.ts";
 * createRunFinish.make()();
 * ```
 */
export const createRunFinish: Shape = {
  key: "create_run_finish",
  description: "create + first switch + finish",
  make() {
    // A generator body that ends without suspending: the cheapest fiber.
    // deno-lint-ignore require-yield
    function* body(): Generator<unknown, number, unknown> {
      return 1;
    }
    return () => {
      for (let i = 0; i < OPS_PER_CALL; i++) new Fiber(body).switchSync();
    };
  },
};

/**
 * Reading a set `FiberLocal` in the running fiber; one operation is one
 * `get()`.
 *
 * @example
 * ```ts
 * import { fiberLocalGet } from "./fiber_shapes.ts";
 * fiberLocalGet.make()();
 * ```
 */
export const fiberLocalGet: Shape = {
  key: "local_get",
  description: "FiberLocal.get()",
  make() {
    const value = new FiberLocal<number>();
    value.set(1);
    let sink = 0;
    return () => {
      for (let i = 0; i < OPS_PER_CALL; i++) sink += value.get()!;
      if (sink < 0) throw new Error("unreachable");
    };
  },
};

/**
 * Reading a set property of a `local()` object; one operation is one read.
 *
 * @example
 * ```ts
 * import { localPropertyGet } from "./fiber_shapes.ts";
 * localPropertyGet.make()();
 * ```
 */
export const localPropertyGet: Shape = {
  key: "local_property_get",
  description: "local() property get",
  make() {
    const values = local<{ count: number }>();
    values.count = 1;
    let sink = 0;
    return () => {
      for (let i = 0; i < OPS_PER_CALL; i++) sink += values.count!;
      if (sink < 0) throw new Error("unreachable");
    };
  },
};

/** Every shape, in the order the reports print them. */
export const SHAPES: readonly Shape[] = [
  pingPong,
  ringSwitch,
  roundTrip,
  createRunFinish,
  fiberLocalGet,
  localPropertyGet,
];
