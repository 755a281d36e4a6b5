// Fibers: python-fibers' tests/test_fibers.py ported test by test, then one
// test per rule of the Fibers section of API.md and of its "Details that code
// may rely on" (Fibers bullet), misuse included with its error class.

import assert from "node:assert/strict";
import { current, Fiber, FiberError } from "../src/fiber.ts";

class SomeError extends Error {}
class KeyError extends Error {}

const main = current();

/** The running fiber's parent (never null inside a fiber). */
function parentOfCurrent(): Fiber {
  const parent = current().parent;
  assert.ok(parent !== null, "a fiber always has a parent");
  return parent;
}

function* fmain(seen: unknown[]): Generator<unknown, never, unknown> {
  try {
    yield* parentOfCurrent().switch();
  } catch (error) {
    seen.push((error as object).constructor);
    throw error;
  }
  throw new SomeError();
}

function sendException(fiber: Fiber, error: unknown): void {
  const crasher = new Fiber((e: unknown) => {
    throw e;
  }, { args: [error], parent: fiber });
  crasher.switchSync();
}

// ---------------------------------------------------------------------------
// python-fibers tests/test_fibers.py

function simple(): void {
  const lst: number[] = [];
  const g = new Fiber(function* () {
    lst.push(1);
    yield* parentOfCurrent().switch();
    lst.push(3);
  });
  lst.push(0);
  g.switchSync();
  lst.push(2);
  g.switchSync();
  lst.push(4);
  assert.deepEqual(lst, [0, 1, 2, 3, 4]);
}

Deno.test("fiber: testSimple", simple);

Deno.test("fiber: testSimple2", () => {
  simple();
  assert.equal(current(), main, "control is back in main afterwards");
});

Deno.test("fiber: testTwoChildren", () => {
  const lst: number[] = [];
  function* f() {
    lst.push(1);
    yield* parentOfCurrent().switch();
    lst.push(1, 1);
  }
  const g = new Fiber(f);
  const h = new Fiber(f);
  g.switchSync();
  assert.equal(lst.length, 1);
  h.switchSync();
  assert.equal(lst.length, 2);
  h.switchSync();
  assert.equal(lst.length, 4);
  assert.equal(h.isAlive(), false);
  g.switchSync();
  assert.equal(lst.length, 6);
  assert.equal(g.isAlive(), false);
});

Deno.test("fiber: testTwoRecursiveChildren", () => {
  const lst: number[] = [];
  function* f() {
    lst.push(1);
    yield* parentOfCurrent().switch();
  }
  function* h() {
    lst.push(1);
    const i = new Fiber(f);
    yield* i.switch();
    lst.push(1);
  }
  const g = new Fiber(h);
  g.switchSync();
  assert.equal(lst.length, 3);
});

Deno.test("fiber: testException", () => {
  const seen: unknown[] = [];
  const g1 = new Fiber(fmain, { args: [seen] });
  const g2 = new Fiber(fmain, { args: [seen] });
  g1.switchSync();
  g2.switchSync();
  g2.parent = g1;
  assert.deepEqual(seen, []);
  assert.throws(() => g2.switchSync(), SomeError);
  assert.deepEqual(seen, [SomeError]);
});

Deno.test("fiber: testSendException", () => {
  const seen: unknown[] = [];
  const g1 = new Fiber(fmain, { args: [seen] });
  g1.switchSync();
  assert.throws(() => sendException(g1, new KeyError()), KeyError);
  assert.deepEqual(seen, [KeyError]);
});

Deno.test("fiber: testInstanceDict", () => {
  const g = new Fiber(() => {
    (current() as Fiber & { test?: number }).test = 42;
  }) as Fiber & { test?: number };
  assert.deepEqual(Object.keys(g), []);
  g.switchSync();
  assert.equal(g.test, 42);
  assert.deepEqual({ ...g }, { test: 42 });
});

Deno.test("fiber: testFinishedParent", () => {
  const g = new Fiber(() => 42);
  g.switchSync();
  assert.equal(g.isAlive(), false);
  assert.throws(() => new Fiber(undefined, { parent: g }), FiberError);
});

// ---------------------------------------------------------------------------
// API.md, Fibers

Deno.test("fiber: a new fiber does not run until switched into", () => {
  let ran = false;
  const f = new Fiber(() => {
    ran = true;
  });
  assert.equal(ran, false);
  assert.equal(f.isAlive(), true);
  f.switchSync();
  assert.equal(ran, true);
});

Deno.test("fiber: the first switch starts target(...args)", () => {
  const f = new Fiber((a: number, b: string, c: null) => [a, b, c], {
    args: [1, "two", null],
  });
  assert.deepEqual(f.switchSync(), [1, "two", null]);
});

Deno.test("fiber: the target runs with no arguments when args is omitted", () => {
  const f = new Fiber((...args: unknown[]) => args.length);
  assert.equal(f.switchSync(), 0);
});

Deno.test("fiber: a value passed to the first switch throws FiberError and leaves the fiber unstarted", () => {
  let ran = false;
  const f = new Fiber(function* () {
    ran = true;
    return yield* main.switch("started");
  });
  assert.throws(() => f.switchSync("value"), FiberError);
  assert.equal(ran, false);
  assert.equal(f.isAlive(), true);
  assert.equal(f.switchSync(), "started", "still startable afterwards");
  assert.equal(f.switchSync("now allowed"), "now allowed");
});

Deno.test("fiber: a value passed to the first yield* switch throws FiberError inside the switching fiber", () => {
  const fresh = new Fiber(() => "never");
  const f = new Fiber(function* () {
    try {
      yield* fresh.switch(1);
    } catch (error) {
      return error;
    }
    return "no error";
  });
  assert.ok(f.switchSync() instanceof FiberError);
  assert.equal(fresh.isAlive(), true);
});

Deno.test("fiber: yield* switch delivers the value at the target's suspension point and returns what the switcher is resumed with", () => {
  const log: unknown[] = [];
  const b: Fiber = new Fiber(function* () {
    log.push(["b got", yield* a.switch("from b")]);
    log.push(["b got", yield* main.switch("b to main")]);
  });
  const a: Fiber = new Fiber(function* () {
    log.push(["a got", yield* b.switch()]);
    log.push(["a got", yield* b.switch("from a")]);
  });
  assert.equal(a.switchSync(), "b to main");
  assert.deepEqual(log, [["a got", "from b"], ["b got", "from a"]]);
  assert.equal(a.isAlive(), true);
  assert.equal(b.isAlive(), true);
});

Deno.test("fiber: control moves synchronously: the target runs before the switch call returns", () => {
  const log: string[] = [];
  const f = new Fiber(function* () {
    log.push("fiber ran");
    yield* main.switch();
    log.push("fiber resumed");
  });
  log.push("before");
  const out = f.switchSync();
  log.push("after");
  f.switchSync();
  log.push("end");
  assert.equal(out, undefined, "a plain value, not a promise");
  assert.deepEqual(log, [
    "before",
    "fiber ran",
    "after",
    "fiber resumed",
    "end",
  ]);
});

Deno.test("fiber: switchSync returns the value main is switched back with", () => {
  const f = new Fiber(function* (x: number) {
    const y = (yield* main.switch(x + 1)) as number;
    return y * 2;
  }, { args: [1] });
  assert.equal(f.switchSync(), 2);
  assert.equal(f.switchSync(10), 20);
});

Deno.test("fiber: throwSync raises at the suspension point and returns when control comes back", () => {
  const f = new Fiber(function* () {
    try {
      yield* main.switch("ready");
    } catch (error) {
      yield* main.switch(`caught ${(error as Error).message}`);
    }
    return "done";
  });
  assert.equal(f.switchSync(), "ready");
  assert.equal(f.throwSync(new Error("boom")), "caught boom");
  assert.equal(f.switchSync(), "done");
});

Deno.test("fiber: switchSync called while a fiber runs throws FiberError", () => {
  const other = new Fiber(() => "other");
  const f = new Fiber(() => {
    try {
      other.switchSync();
    } catch (error) {
      return error;
    }
    return "no error";
  });
  const error = f.switchSync();
  assert.ok(error instanceof FiberError, String(error));
  assert.equal(other.isAlive(), true, "nothing was switched");
});

Deno.test("fiber: throwSync called while a fiber runs throws FiberError", () => {
  const other = new Fiber(function* () {
    yield* main.switch();
  });
  other.switchSync();
  const f = new Fiber(() => {
    try {
      other.throwSync(new Error("x"));
    } catch (error) {
      return error;
    }
    return "no error";
  });
  assert.ok(f.switchSync() instanceof FiberError);
  assert.equal(other.isAlive(), true);
});

Deno.test("fiber: the return value goes to the parent and the fiber is dead", () => {
  const parent = new Fiber(function* () {
    const child = new Fiber(() => "child result");
    const got = yield* child.switch();
    assert.equal(child.isAlive(), false);
    return `parent got ${got}`;
  });
  assert.equal(parent.switchSync(), "parent got child result");
});

Deno.test("fiber: the return value skips parents that never started", () => {
  const unstarted = new Fiber(() => "unstarted");
  const child = new Fiber(() => 42, { parent: unstarted });
  assert.equal(child.switchSync(), 42);
  assert.equal(child.isAlive(), false);
  assert.equal(unstarted.isAlive(), true, "the unstarted parent is not run");
  assert.equal(unstarted.switchSync(), "unstarted");
});

Deno.test("fiber: the return value skips dead parents", () => {
  const orphan = new Fiber(function* () {
    yield* main.switch("orphan suspended");
    return "orphan result";
  });
  const middle = new Fiber(function* () {
    orphan.parent = current();
    yield* orphan.switch();
    return "middle ended";
  });
  assert.equal(middle.switchSync(), "orphan suspended");
  assert.equal(middle.switchSync(), "middle ended");
  assert.equal(middle.isAlive(), false);
  assert.equal(orphan.parent, middle);
  assert.equal(orphan.switchSync(), "orphan result", "went past dead middle");
});

Deno.test("fiber: an error escaping the target is thrown in the parent", () => {
  const parent = new Fiber(function* () {
    const child = new Fiber(() => {
      throw new SomeError("from child");
    });
    try {
      yield* child.switch();
    } catch (error) {
      return error;
    }
    return "no error";
  });
  const error = parent.switchSync();
  assert.ok(error instanceof SomeError);
  assert.equal((error as Error).message, "from child");
});

Deno.test("fiber: an error escaping a fiber whose parent is main is thrown by switchSync", () => {
  const f = new Fiber(function* () {
    yield* main.switch();
    throw new SomeError("late");
  });
  f.switchSync();
  assert.throws(() => f.switchSync(), SomeError);
  assert.equal(f.isAlive(), false);
  assert.equal(current(), main);
});

Deno.test("fiber: throw resumes the target by raising at its suspension point", () => {
  const log: string[] = [];
  const target = new Fiber(function* () {
    try {
      yield* main.switch();
      log.push("not reached");
    } catch (error) {
      log.push(`caught ${(error as Error).message}`);
    } finally {
      log.push("finally");
    }
    return "recovered";
  });
  target.switchSync();
  const thrower = new Fiber(function* () {
    target.parent = current();
    return yield* target.throw(new Error("into target"));
  });
  assert.equal(thrower.switchSync(), "recovered");
  assert.deepEqual(log, ["caught into target", "finally"]);
});

Deno.test("fiber: any value can be thrown into a fiber", () => {
  const f = new Fiber(function* () {
    try {
      yield* main.switch();
    } catch (value) {
      return value;
    }
  });
  f.switchSync();
  assert.deepEqual(f.throwSync({ not: "an Error" }), { not: "an Error" });
});

Deno.test("fiber: throw into a fiber that never started kills it and the error goes to its nearest started, alive parent", () => {
  let ran = false;
  const unstarted = new Fiber(() => {
    ran = true;
  });
  const parent = new Fiber(function* () {
    unstarted.parent = current();
    try {
      yield* unstarted.throw(new SomeError("never started"));
    } catch (error) {
      return error;
    }
  });
  const error = parent.switchSync();
  assert.ok(error instanceof SomeError);
  assert.equal(ran, false, "the target never runs");
  assert.equal(unstarted.isAlive(), false);
});

Deno.test("fiber: throwSync into a fiber that never started raises in main", () => {
  const unstarted = new Fiber(() => "never");
  assert.throws(() => unstarted.throwSync(new SomeError()), SomeError);
  assert.equal(unstarted.isAlive(), false);
});

Deno.test("fiber: switching to a dead fiber throws FiberError", () => {
  const dead = new Fiber(() => 1);
  dead.switchSync();
  assert.throws(() => dead.switchSync(), FiberError);
  assert.throws(() => dead.switchSync("value"), FiberError);
  assert.throws(() => dead.switch(), FiberError);
  const inside = new Fiber(function* () {
    try {
      yield* dead.switch();
    } catch (error) {
      return error;
    }
  });
  assert.ok(inside.switchSync() instanceof FiberError);
});

Deno.test("fiber: throwing into a dead fiber throws FiberError", () => {
  const dead = new Fiber(() => 1);
  dead.switchSync();
  assert.throws(() => dead.throwSync(new Error("x")), FiberError);
  assert.throws(() => dead.throw(new Error("x")), FiberError);
  const inside = new Fiber(function* () {
    try {
      yield* dead.throw(new Error("x"));
    } catch (error) {
      return error;
    }
  });
  assert.ok(inside.switchSync() instanceof FiberError);
});

Deno.test("fiber: parent setter with a non-Fiber throws TypeError", () => {
  const f = new Fiber(function* () {
    yield* main.switch();
  });
  for (const bad of [null, undefined, 1, "42", {}, () => main]) {
    assert.throws(
      () => {
        (f as { parent: unknown }).parent = bad;
      },
      TypeError,
      `parent = ${String(bad)}`,
    );
  }
  assert.equal(f.parent, main, "unchanged");
});

Deno.test("fiber: parent setter with a dead fiber throws FiberError", () => {
  const dead = new Fiber(() => undefined);
  dead.switchSync();
  const f = new Fiber(() => undefined);
  assert.throws(() => {
    f.parent = dead;
  }, FiberError);
  assert.equal(f.parent, main);
});

Deno.test("fiber: parent setter that would make a cycle throws FiberError", () => {
  const a = new Fiber(() => undefined);
  assert.throws(() => {
    a.parent = a;
  }, FiberError);
  const b = new Fiber(() => undefined, { parent: a });
  const c = new Fiber(() => undefined, { parent: b });
  assert.throws(() => {
    a.parent = c;
  }, FiberError);
  assert.throws(() => {
    main.parent = a;
  }, FiberError);
  assert.equal(a.parent, main);
  assert.equal(main.parent, null);
});

Deno.test("fiber: a plain function target runs to completion on the first switch", () => {
  const log: string[] = [];
  const f = new Fiber(() => {
    log.push("ran");
    return "result";
  });
  assert.equal(f.switchSync(), "result");
  assert.deepEqual(log, ["ran"]);
  assert.equal(f.isAlive(), false);
});

Deno.test("fiber: a bare yield inside a fiber throws FiberError at that point", () => {
  const f = new Fiber(function* () {
    try {
      yield "not an operation";
    } catch (error) {
      return error;
    }
    return "no error";
  });
  const error = f.switchSync();
  assert.ok(error instanceof FiberError, String(error));
  assert.match((error as Error).message, /yield\*/);
  assert.equal(f.isAlive(), false);
});

Deno.test("fiber: a bare yield of a fiber operation's result still throws FiberError", () => {
  const f = new Fiber(function* () {
    yield main.switch(); // the forgotten `*`
  });
  assert.throws(() => f.switchSync(), FiberError);
  assert.equal(f.isAlive(), false);
  assert.equal(current(), main);
});

Deno.test("fiber: a bare yield in a nested generator throws there and can be caught there", () => {
  function* helper(): Generator<unknown, string, unknown> {
    try {
      yield;
    } catch (error) {
      return error instanceof FiberError ? "caught in helper" : "wrong error";
    }
    return "no error";
  }
  const f = new Fiber(function* () {
    const got = yield* helper();
    yield* main.switch(got);
    return "after";
  });
  assert.equal(f.switchSync(), "caught in helper");
  assert.equal(f.switchSync(), "after");
});

Deno.test("fiber: an uncaught bare yield ends the fiber and raises FiberError in its parent", () => {
  const f = new Fiber(function* () {
    yield 1;
  });
  assert.throws(() => f.switchSync(), FiberError);
  assert.equal(f.isAlive(), false);
});

Deno.test("fiber: fibers take user properties", () => {
  const f = new Fiber(() => undefined) as Fiber & {
    label?: string;
    [key: symbol]: unknown;
  };
  const tag = Symbol("tag");
  f.label = "worker";
  f[tag] = 7;
  assert.equal(f.label, "worker");
  assert.equal(f[tag], 7);
  f.switchSync();
  assert.equal(f.label, "worker", "kept after the fiber ended");
  assert.ok(delete f.label);
  assert.equal("label" in f, false);
});

Deno.test("fiber: current() is Fiber.current() and the main fiber outside any fiber", () => {
  assert.equal(current(), Fiber.current());
  assert.ok(main instanceof Fiber);
  assert.equal(main.parent, null);
  assert.equal(main.name, "MainFiber");
  assert.equal(main.isAlive(), true);
  const f = new Fiber(() => [current(), Fiber.current()]);
  const [a, b] = f.switchSync() as Fiber[];
  assert.equal(a, f);
  assert.equal(b, f);
  assert.equal(current(), main);
});

Deno.test("fiber: names default to Fiber-N and can be given", () => {
  const a = new Fiber();
  const b = new Fiber();
  assert.match(a.name, /^Fiber-\d+$/);
  assert.match(b.name, /^Fiber-\d+$/);
  assert.notEqual(a.name, b.name);
  assert.equal(new Fiber(undefined, { name: "worker" }).name, "worker");
});

Deno.test("fiber: constructor misuse throws TypeError", () => {
  assert.throws(() => new Fiber(42 as never), TypeError);
  assert.throws(() => new Fiber("f" as never), TypeError);
  assert.throws(
    () => new Fiber(() => 1, { args: "abc" as never }),
    TypeError,
  );
  assert.throws(
    () => new Fiber(() => 1, { parent: {} as never }),
    TypeError,
  );
});

// ---------------------------------------------------------------------------
// API.md, Details that code may rely on: Fibers

Deno.test("fiber: the default parent is the fiber running at construction", () => {
  assert.equal(new Fiber().parent, main);
  const outer = new Fiber(() => new Fiber());
  const inner = outer.switchSync() as Fiber;
  assert.equal(inner.parent, outer);
});

Deno.test("fiber: { parent: undefined } means the running fiber", () => {
  assert.equal(new Fiber(undefined, { parent: undefined }).parent, main);
  const outer = new Fiber(() => new Fiber(undefined, { parent: undefined }));
  assert.equal((outer.switchSync() as Fiber).parent, outer);
});

Deno.test("fiber: a fiber that was never started is alive", () => {
  assert.equal(new Fiber(() => 1).isAlive(), true);
  assert.equal(new Fiber().isAlive(), true);
});

Deno.test("fiber: new Fiber() without a target ends on its first switch and delivers undefined", () => {
  const f = new Fiber();
  assert.equal(f.switchSync(), undefined);
  assert.equal(f.isAlive(), false);
  const parent = new Fiber(function* () {
    const got = yield* new Fiber().switch();
    return ["parent resumed with", got];
  });
  assert.deepEqual(parent.switchSync(), ["parent resumed with", undefined]);
});

Deno.test("fiber: throwing into a fiber without a target kills it and raises in the parent", () => {
  const f = new Fiber();
  assert.throws(() => f.throwSync(new SomeError()), SomeError);
  assert.equal(f.isAlive(), false);
});

Deno.test("fiber: switching to the running fiber itself throws FiberError", () => {
  assert.throws(() => main.switchSync(), FiberError);
  assert.throws(() => main.throwSync(new Error("x")), FiberError);
  const f = new Fiber(function* () {
    const errors: unknown[] = [];
    for (const op of [() => current().switch(), () => current().throw(1)]) {
      try {
        yield* op();
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  });
  const errors = f.switchSync() as unknown[];
  assert.equal(errors.length, 2);
  for (const error of errors) assert.ok(error instanceof FiberError);
});

Deno.test("fiber: a dead fiber given as the parent option throws FiberError", () => {
  const dead = new Fiber();
  dead.switchSync();
  assert.throws(() => new Fiber(() => 1, { parent: dead }), FiberError);
});

Deno.test("fiber: re-parenting a dead fiber to a live one is allowed", () => {
  const dead = new Fiber();
  dead.switchSync();
  const live = new Fiber(function* () {
    yield* main.switch();
  });
  live.switchSync();
  dead.parent = live;
  assert.equal(dead.parent, live);
  assert.throws(() => dead.switchSync(), FiberError, "still dead");
});

Deno.test("fiber: a target that returns a generator is driven as the body", () => {
  function* body(x: number): Generator<unknown, number, unknown> {
    const y = (yield* main.switch(x)) as number;
    return x + y;
  }
  const f = new Fiber((x: number) => body(x), { args: [1] });
  assert.equal(f.switchSync(), 1, "suspended: the generator was driven");
  assert.equal(f.switchSync(2), 3);
});

Deno.test("fiber: a target that returns a hand-written iterator is driven as the body", () => {
  const log: unknown[] = [];
  let step = 0;
  const iterator = {
    [Symbol.iterator]() {
      return this;
    },
    next(value: unknown): IteratorResult<unknown, unknown> {
      step++;
      if (step === 1) {
        // What `yield* main.switch("suspended")` does, by hand.
        const operation = main.switch("suspended")[Symbol.iterator]();
        return operation.next();
      }
      log.push(["resumed with", value]);
      return { done: false, value: "a bare yield" };
    },
    throw(error: unknown): IteratorResult<unknown, unknown> {
      log.push(["thrown", error instanceof FiberError]);
      return { done: true, value: "ended" };
    },
  };
  const f = new Fiber(() => iterator);
  assert.equal(f.switchSync(), "suspended");
  assert.equal(f.switchSync("value"), "ended");
  assert.deepEqual(log, [["resumed with", "value"], ["thrown", true]]);
  assert.equal(f.isAlive(), false);
});

Deno.test("fiber: a target that returns a non-generator value ends at once with it", () => {
  const values = [0, "s", null, { next: 1 }, [1, 2], Promise.resolve(1)];
  for (const value of values) {
    const f = new Fiber(() => value);
    assert.equal(f.switchSync(), value);
    assert.equal(f.isAlive(), false);
  }
});

// ---------------------------------------------------------------------------
// No stack growth with the number of switches

Deno.test("fiber: a million fiber↔fiber switches in a row do not overflow the stack", () => {
  const count = 1_000_000;
  let remaining = count;
  let switches = 0;
  const ping: Fiber = new Fiber(function* () {
    while (--remaining > 0) {
      switches++;
      yield* pong.switch();
    }
    return "done";
  });
  const pong: Fiber = new Fiber(function* () {
    for (;;) {
      switches++;
      yield* ping.switch();
    }
  });
  assert.equal(ping.switchSync(), "done");
  assert.equal(switches, 2 * (count - 1));
});

Deno.test("fiber: a million main→fiber→main round trips do not overflow the stack", () => {
  let n = 0;
  const f = new Fiber(function* () {
    for (;;) n = (yield* main.switch(n)) as number + 1;
  });
  f.switchSync();
  let last = 0;
  for (let i = 0; i < 1_000_000; i++) last = f.switchSync(i) as number;
  assert.equal(last, 1_000_000);
});

Deno.test("fiber: a chain of 100000 fibers each starting the next does not overflow the stack", () => {
  const depth = 100_000;
  function* link(level: number): Generator<unknown, number, unknown> {
    if (level === depth) return level;
    const child = new Fiber(link, { args: [level + 1] });
    return (yield* child.switch()) as number;
  }
  assert.equal(new Fiber(link, { args: [1] }).switchSync(), depth);
});

Deno.test("fiber: FiberError is an Error named FiberError with a message naming the fiber", () => {
  const dead = new Fiber(undefined, { name: "worker-7" });
  dead.switchSync();
  try {
    dead.switchSync();
    assert.fail("expected FiberError");
  } catch (error) {
    assert.ok(error instanceof FiberError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "FiberError");
    assert.match(error.message, /worker-7/);
  }
});
