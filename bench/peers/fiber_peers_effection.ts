/**
 * Effection 4 peer of `bench/fiber_shapes.ts`: the same shapes with
 * Effection's own means (tasks handing values over through queues, spawn +
 * join, a context read), timed like the others (OPS operations per call,
 * median ns per operation), printed as JSON lines for `fiber_compare.ts`.
 * `local() property get` has no Effection equivalent and is not measured.
 *
 * ```sh
 * deno run --no-lock bench/peers/fiber_peers_effection.ts
 * ```
 *
 * @module
 */

import {
  createContext,
  createQueue,
  type Operation,
  run,
  spawn,
} from "effection";

const OPS = 1000;
const ROUNDS = 15;
const ROUND_MS = 50;
const PEER = "effection 4.1.1";

type Call = () => Operation<void>;

/** Two tasks handing control to each other; one op is one hand-over. */
function* pingPong(): Operation<Call> {
  const toPing = createQueue<number, never>();
  const toPong = createQueue<number, never>();
  const done = createQueue<void, never>();
  let remaining = 0;
  yield* spawn(function* () {
    for (;;) {
      yield* toPing.next();
      if (--remaining > 0) toPong.add(remaining);
      else done.add();
    }
  });
  yield* spawn(function* () {
    for (;;) {
      yield* toPong.next();
      if (--remaining > 0) toPing.add(remaining);
      else done.add();
    }
  });
  return function* () {
    remaining = OPS;
    toPing.add(remaining);
    yield* done.next();
  };
}

/** The main operation and a task bouncing a value back; one op is one
 * round trip (two hand-overs). */
function* roundTrip(): Operation<Call> {
  const toEcho = createQueue<number, never>();
  const toMain = createQueue<number, never>();
  yield* spawn(function* () {
    for (;;) {
      const next = yield* toEcho.next();
      toMain.add(next.value);
    }
  });
  return function* () {
    for (let i = 0; i < OPS; i++) {
      toEcho.add(i);
      yield* toMain.next();
    }
  };
}

/** A task spawned, run and joined; one op is create + run + finish. */
// deno-lint-ignore require-yield
function* createRunFinish(): Operation<Call> {
  // deno-lint-ignore require-yield
  function* body(): Operation<number> {
    return 1;
  }
  return function* () {
    for (let i = 0; i < OPS; i++) {
      const task = yield* spawn(body);
      yield* task;
    }
  };
}

/** Reading a context value (Effection's scope-local storage). */
function* contextGet(): Operation<Call> {
  const value = createContext<number>("bench.value", 0);
  yield* value.set(1);
  return function* () {
    let sink = 0;
    for (let i = 0; i < OPS; i++) sink += yield* value.expect();
    if (sink < 0) throw new Error("unreachable");
  };
}

const SHAPES: [string, () => Operation<Call>][] = [
  ["switch", pingPong],
  ["round_trip", roundTrip],
  ["create_run_finish", createRunFinish],
  ["local_get", contextGet],
];

function* measure(call: Call): Operation<[number, number]> {
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < ROUND_MS) {
    yield* call();
    calls++;
  }
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) yield* call();
    samples.push((performance.now() - t0) * 1e6 / (calls * OPS));
  }
  samples.sort((a, b) => a - b);
  return [samples[Math.floor(samples.length / 2)], samples[0]];
}

const only = new Set(Deno.args);
for (const [key, make] of SHAPES) {
  if (only.size > 0 && !only.has(key)) continue;
  // Each shape in its own run() so that its tasks are torn down after it.
  const [ns, best] = await run(function* () {
    return yield* measure(yield* make());
  });
  console.log(JSON.stringify({
    peer: PEER,
    key,
    ns: Number(ns.toFixed(2)),
    best_ns: Number(best.toFixed(2)),
  }));
}
