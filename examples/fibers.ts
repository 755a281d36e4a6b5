/**
 * Fibers as generators, the python-fibers way: a fiber runs a body that can
 * hand values to whoever switched into it and be resumed later, so a deeply
 * recursive walk becomes a plain iterator. Also: two fibers switching to each
 * other directly, errors thrown into a fiber, and fiber-local storage.
 * Pure JS (no native library, no permissions):
 *
 *   deno run examples/fibers.ts
 */

import { Fiber, FiberError, FiberLocal } from "../mod.ts";

/** What a producer body calls to hand one value to its consumer. */
type Emit<T> = (value: T) => Generator<unknown, unknown, unknown>;

/** Ends the producer fiber when the consumer stops iterating early. */
class Stop extends Error {}

/**
 * Turns a producer that calls `yield* emit(value)` — at any depth of its own
 * `yield*` calls — into an iterator for plain code (the main fiber).
 */
function* produce<T>(
  body: (emit: Emit<T>) => Generator<unknown, void, unknown>,
): Generator<T, void, undefined> {
  const consumer = Fiber.current();
  const finished = Symbol("finished");
  const producer = new Fiber(function* () {
    yield* body((value) => consumer.switch(value));
    return finished;
  });
  try {
    while (true) {
      const value = producer.switchSync();
      if (value === finished) return;
      yield value as T;
    }
  } finally {
    // `break` in a for..of lands here: unwind the producer so its own
    // `finally` blocks run, as closing a Python generator does.
    if (producer.isAlive()) stop(producer);
  }
}

function stop(producer: Fiber): void {
  try {
    producer.throwSync(new Stop());
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
}

// 1. A recursive tree walk as an iterator: the emit happens three calls deep.
type Tree = { value: string; children?: Tree[] };
const tree: Tree = {
  value: "root",
  children: [
    { value: "a", children: [{ value: "a1" }, { value: "a2" }] },
    { value: "b", children: [{ value: "b1", children: [{ value: "b1x" }] }] },
  ],
};
function* walk(node: Tree, emit: Emit<string>, depth = 0): Generator {
  yield* emit(`${"  ".repeat(depth)}${node.value}`);
  for (const child of node.children ?? []) {
    yield* walk(child, emit, depth + 1);
  }
}
console.log("tree walk:");
for (const line of produce<string>((emit) => walk(tree, emit))) {
  console.log(`  ${line}`);
}

// 2. An endless producer stopped early: its finally block still runs.
const fibonacci: number[] = [];
for (
  const n of produce<number>(function* (emit) {
    try {
      let [a, b] = [0, 1];
      while (true) {
        yield* emit(a);
        [a, b] = [b, a + b];
      }
    } finally {
      console.log("fibonacci producer cleaned up");
    }
  })
) {
  if (n > 100) break;
  fibonacci.push(n);
}
console.log(`fibonacci: ${fibonacci.join(" ")}`);

// 3. Ping-pong: two fibers switch to each other, never through main.
const rally: string[] = [];
const ping: Fiber = new Fiber(function* () {
  for (let i = 0; i < 3; i++) {
    rally.push(`ping ${i}`);
    rally.push((yield* pong.switch()) as string);
  }
  return "ping won";
}, { name: "ping" });
const pong: Fiber = new Fiber(function* () {
  for (let hits = 0;; hits++) yield* ping.switch(`pong ${hits}`);
}, { name: "pong" });
// ping's result goes to its parent, main: the switch that started it all.
const result = ping.switchSync();
console.log(`rally: ${rally.join(", ")} -> ${result}`);

// 4. Errors: thrown into a fiber at its suspension point, caught there.
const worker = new Fiber(function* () {
  try {
    yield* Fiber.current().parent!.switch("waiting");
  } catch (error) {
    return `caught ${(error as Error).message}`;
  }
  return "not reached";
});
console.log(`worker: ${worker.switchSync()}`);
console.log(`worker: ${worker.throwSync(new Error("cancelled"))}`);
try {
  worker.switchSync();
} catch (error) {
  if (!(error instanceof FiberError)) throw error;
  console.log(`switch to a dead fiber: FiberError (${error.message})`);
}

// 5. Fiber-local storage: one value per fiber, like greenlet's instance dict.
const user = new FiberLocal<string>(() => "anonymous");
const main = Fiber.current();
const seen: string[] = [];
const fibers = ["alice", "bob"].map((name) =>
  new Fiber(function* () {
    user.set(name);
    yield* main.switch();
    // The other fiber set its own value meanwhile; this one is untouched.
    seen.push(`${Fiber.current().name}=${user.get()}`);
  }, { name })
);
for (const fiber of fibers) fiber.switchSync();
for (const fiber of fibers) fiber.switchSync();
console.log(`main sees user=${user.get()}; fibers saw ${seen.join(", ")}`);
