// Generators built on fibers: python-fibers' tests/test_generator.py and
// tests/test_generator_nested.py, and greenlet's
// test_generator_deeply_nested.py, ported test by test. A "genlet" is a fiber
// whose switches to its consumer are the generator's yields; inside a fiber
// the consumer advances it with `yield* genlet.next()`, from main with a
// plain `for...of`.

import assert from "node:assert/strict";
import { current, Fiber } from "../src/fiber.ts";

// deno-lint-ignore no-explicit-any
type Body = (...args: any[]) => Generator<unknown, void, unknown>;

/** A fiber that works as a generator (python-fibers' `genlet`). */
class Genlet<T> extends Fiber {
  /** Set by a level-2 `Yield` that skipped this genlet (nested test only). */
  child: Genlet<unknown> | null = null;

  constructor(body: Body, args: unknown[]) {
    super(body, { args });
  }

  /** The fiber to resume next and whether this genlet becomes its parent. */
  #resumeTarget(): [Fiber, boolean] {
    if (this.child === null) return [this, true];
    let child = this.child;
    while (child.child !== null) {
      const previous = child;
      child = child.child;
      previous.child = null;
    }
    return [child, false];
  }

  #result(value: unknown): IteratorResult<T, undefined> {
    return this.isAlive()
      ? { done: false, value: value as T }
      : { done: true, value: undefined };
  }

  /** `next()` for a consumer running inside a fiber. */
  *next(): Generator<unknown, IteratorResult<T, undefined>, unknown> {
    const [target, adopt] = this.#resumeTarget();
    if (adopt) this.parent = current();
    return this.#result(yield* target.switch());
  }

  /** `next()` for a consumer in main: `for (const x of genlet)`. */
  [Symbol.iterator](): Iterator<T, undefined> {
    return {
      next: () => {
        const [target, adopt] = this.#resumeTarget();
        if (adopt) this.parent = current();
        return this.#result(target.switchSync());
      },
    };
  }
}

function genlet<A extends unknown[], T>(
  body: (...args: A) => Generator<unknown, void, unknown>,
): (...args: A) => Genlet<T> {
  return (...args: A) => new Genlet<T>(body, args);
}

/** Every value of a genlet, consumed from inside a fiber. */
function* drain<T>(g: Genlet<T>): Generator<unknown, T[], unknown> {
  const values: T[] = [];
  for (let r = yield* g.next(); !r.done; r = yield* g.next()) {
    values.push(r.value);
  }
  return values;
}

// ---------------------------------------------------------------------------
// python-fibers tests/test_generator.py

/** Yields `value` from the nearest enclosing genlet. */
function* yieldUp(value: unknown): Generator<unknown, void, unknown> {
  let g: Fiber | null = current();
  while (!(g instanceof Genlet)) {
    if (g === null) throw new Error("yield outside a genlet");
    g = g.parent;
  }
  yield* g.parent!.switch(value);
}

Deno.test("fiber generator: testGenerator", () => {
  const seen: number[] = [];
  const g = genlet<[number], number>(function* (n) {
    for (let i = 0; i < n; i++) {
      seen.push(i);
      yield* yieldUp(i);
    }
  });
  for (let k = 0; k < 3; k++) {
    for (const j of g(5)) seen.push(j);
  }
  assert.deepEqual(seen, Array(3).fill([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]).flat());
});

// ---------------------------------------------------------------------------
// python-fibers tests/test_generator_nested.py

/**
 * Yields `value` `level` genlets up, recording the skipped genlets as
 * children so that their consumer resumes the innermost one.
 */
function* Yield(value: unknown, level = 1): Generator<unknown, void, unknown> {
  let g: Fiber = current();
  while (level !== 0) {
    if (!(g instanceof Genlet)) throw new Error("yield outside a genlet");
    if (level > 1) (g.parent as Genlet<unknown>).child = g;
    g = g.parent!;
    level--;
  }
  yield* g.switch(value);
}

function* g1(n: number, seen: number[]): Generator<number, void, unknown> {
  for (let i = 0; i < n; i++) {
    seen.push(i + 1);
    yield i;
  }
}

const g2 = genlet<[number, number[]], number>(function* (n, seen) {
  for (let i = 0; i < n; i++) {
    seen.push(i + 1);
    yield* Yield(i);
  }
});

function* nested(i: number): Generator<unknown, void, unknown> {
  yield* Yield(i);
}

const g3 = genlet<[number, number[]], number>(function* (n, seen) {
  for (let i = 0; i < n; i++) {
    seen.push(i + 1);
    yield* nested(i);
  }
});

const ax: (n: number) => Genlet<number> = genlet<[number], number>(
  function* (n) {
    if (n === 0) return;
    for (const ii of yield* drain(ax(n - 1))) yield* Yield(ii);
    yield* Yield(n);
  },
);

const perms: (l: number[]) => Genlet<number[]> = genlet<
  [number[]],
  number[]
>(function* (l) {
  if (l.length > 1) {
    for (const e of l) {
      const sub = perms(l.filter((x) => x !== e));
      for (let r = yield* sub.next(); !r.done; r = yield* sub.next()) {
        yield* Yield([e, ...r.value]);
      }
    }
  } else {
    yield* Yield(l);
  }
});

const gr1 = genlet<[number], number>(function* (n) {
  for (let ii = 1; ii < n; ii++) {
    yield* Yield(ii);
    yield* Yield(ii * ii, 2);
  }
});

const gr2 = genlet<[number, number[]], number>(function* (n, seen) {
  const inner = gr1(n);
  for (let r = yield* inner.next(); !r.done; r = yield* inner.next()) {
    seen.push(r.value);
  }
});

Deno.test("fiber generator: testLayeredGenlets", () => {
  const seen: number[] = [];
  for (const ii of gr2(5, seen)) seen.push(ii);
  assert.deepEqual(seen, [1, 1, 2, 4, 3, 9, 4, 16]);
});

Deno.test("fiber generator: testPermutations", () => {
  const permutations = [...perms([0, 1, 2, 3])];
  assert.equal(permutations.length, 4 * 3 * 2 * 1);
  assert.ok(permutations.some((p) => p.join() === "0,1,2,3"));
  assert.ok(permutations.some((p) => p.join() === "3,2,1,0"));
  const res: [number[], number[]][] = [];
  const a = perms([0, 1, 2, 3])[Symbol.iterator]();
  const b = perms([0, 1, 2])[Symbol.iterator]();
  for (;;) {
    const x = a.next();
    if (x.done) break;
    const y = b.next();
    if (y.done) break;
    res.push([x.value, y.value]);
  }
  assert.deepEqual(res, [
    [[0, 1, 2, 3], [0, 1, 2]],
    [[0, 1, 3, 2], [0, 2, 1]],
    [[0, 2, 1, 3], [1, 0, 2]],
    [[0, 2, 3, 1], [1, 2, 0]],
    [[0, 3, 1, 2], [2, 0, 1]],
    [[0, 3, 2, 1], [2, 1, 0]],
  ]);
});

Deno.test("fiber generator: testGenletSimple", () => {
  const makers: ((n: number, seen: number[]) => Iterable<number>)[] = [
    g1,
    g2,
    g3,
  ];
  for (const g of makers) {
    const seen: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (const j of g(5, seen)) seen.push(j);
    }
    assert.deepEqual(
      seen,
      Array(3).fill([1, 0, 2, 1, 3, 2, 4, 3, 5, 4]).flat(),
    );
  }
});

Deno.test("fiber generator: testGenletBad", () => {
  assert.throws(() => Yield(10).next(), /yield outside a genlet/);
});

Deno.test("fiber generator: testNestedGenlets", () => {
  const seen: number[] = [];
  for (const ii of ax(5)) seen.push(ii);
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
});

// ---------------------------------------------------------------------------
// greenlet src/greenlet/tests/test_generator_deeply_nested.py: delegation
// (`yield from`) handled by a trampoline of worker fibers, so depth costs
// heap, not stack.

type Task = [Body, unknown[]];

class YieldFromMarker {
  constructor(readonly task: Task) {}
}

/** Pauses the running worker and hands `value` to its genlet. */
function* deepYield(value: unknown): Generator<unknown, void, unknown> {
  const parent = current().parent;
  if (!(parent instanceof DeepGenlet)) {
    throw new Error("yield outside a genlet");
  }
  yield* parent.switch(value);
}

function* deepYieldFrom<A extends unknown[]>(
  body: (...args: A) => Generator<unknown, void, unknown>,
  ...args: A
): Generator<unknown, void, unknown> {
  yield* deepYield(new YieldFromMarker([body, args]));
}

class DeepGenlet extends Fiber implements Iterable<unknown> {
  consumer: Fiber | null = null;

  constructor(readonly initialTask: Task) {
    super(DeepGenlet.#run);
  }

  [Symbol.iterator](): Iterator<unknown> {
    return {
      next: () => {
        this.consumer = current();
        const value = this.switchSync();
        return this.isAlive()
          ? { done: false, value }
          : { done: true, value: undefined };
      },
    };
  }

  static *#run(): Generator<unknown, void, unknown> {
    const self = current() as DeepGenlet;
    const stack: Fiber[] = [];
    let [body, args] = self.initialTask;
    let active: Fiber = new Fiber(body, { args });
    let yielded = yield* active.switch();
    for (;;) {
      if (yielded instanceof YieldFromMarker) {
        stack.push(active);
        [body, args] = yielded.task;
        active = new Fiber(body, { args });
        yielded = yield* active.switch();
        continue;
      }
      if (!active.isAlive()) {
        const waiting = stack.pop();
        if (waiting === undefined) break;
        active = waiting;
        yielded = yield* active.switch();
        continue;
      }
      yield* self.consumer!.switch(yielded);
      yielded = yield* active.switch();
    }
  }
}

function* hanoi(
  n: number,
  a: string,
  b: string,
  c: string,
): Generator<unknown, void, unknown> {
  if (n > 1) yield* deepYieldFrom(hanoi, n - 1, a, c, b);
  yield* deepYield(`${a} -> ${c}`);
  if (n > 1) yield* deepYieldFrom(hanoi, n - 1, b, a, c);
}

function* makeIntegerSequence(n: number): Generator<unknown, void, unknown> {
  if (n > 1) yield* deepYieldFrom(makeIntegerSequence, n - 1);
  yield* deepYield(n);
}

function* emptyGen(): Generator<unknown, void, unknown> {}

Deno.test("fiber generator: testHanoi", () => {
  const results = [...new DeepGenlet([hanoi, [3, "A", "B", "C"]])];
  assert.deepEqual(results, [
    "A -> C",
    "A -> B",
    "C -> B",
    "A -> C",
    "B -> A",
    "B -> C",
    "A -> C",
  ]);
});

Deno.test("fiber generator: testMakeIntegerSequence", () => {
  const results = [
    ...new DeepGenlet([makeIntegerSequence, [2000]]),
  ];
  assert.deepEqual(results, Array.from({ length: 2000 }, (_, i) => i + 1));
});

Deno.test("fiber generator: testEmptyGen", () => {
  for (const _ of new DeepGenlet([emptyGen, []])) {
    assert.fail("empty generator should not yield anything");
  }
});
