// Fiber.throw: python-fibers' tests/test_throw.py ported test by test, plus
// how a thrown error travels through nested generators inside one fiber.

import assert from "node:assert/strict";
import { current, Fiber, FiberError } from "../src/fiber.ts";

class RuntimeError extends Error {}
class ValueError extends Error {}
class IndexError extends Error {}

const main = current();

/** python-fibers' `switch(val)`: hand `value` to the running fiber's parent. */
function* switchToParent(value: unknown): Generator<unknown, unknown, unknown> {
  const parent = current().parent;
  assert.ok(parent !== null);
  return yield* parent.switch(value);
}

Deno.test("fiber throw: testClass", () => {
  const g = new Fiber(function* () {
    try {
      yield* switchToParent("ok");
    } catch (error) {
      if (!(error instanceof RuntimeError)) throw error;
      yield* switchToParent("ok");
      return;
    }
    yield* switchToParent("fail");
  });
  assert.equal(g.switchSync(), "ok");
  assert.equal(g.throwSync(new RuntimeError()), "ok");
});

Deno.test("fiber throw: testVal", () => {
  function* f(): Generator<unknown, void, unknown> {
    try {
      yield* switchToParent("ok");
    } catch (error) {
      if (error instanceof RuntimeError && error.message === "ciao") {
        yield* switchToParent("ok");
        return;
      }
    }
    yield* switchToParent("fail");
  }
  let g = new Fiber(f);
  assert.equal(g.switchSync(), "ok");
  assert.equal(g.throwSync(new RuntimeError("ciao")), "ok");

  // The original's second half is the (type, value) form of throw; JS has
  // one form, so the same error is thrown from another fiber instead.
  g = new Fiber(f);
  assert.equal(g.switchSync(), "ok");
  const thrower = new Fiber(function* () {
    g.parent = current();
    return yield* g.throw(new RuntimeError("ciao"));
  });
  assert.equal(thrower.switchSync(), "ok");
});

Deno.test("fiber throw: testKill", () => {
  const g = new Fiber(function* () {
    try {
      yield* switchToParent("ok");
      yield* switchToParent("fail");
    } catch (error) {
      return error;
    }
  });
  assert.equal(g.switchSync(), "ok");
  const result = g.throwSync(new ValueError());
  assert.ok(result instanceof ValueError);
  assert.equal(g.isAlive(), false);
});

function* f1(): Generator<unknown, string, unknown> {
  try {
    yield* main.switch("f1 ready to catch");
  } catch (error) {
    if (error instanceof IndexError) return "caught";
    throw error;
  }
  return "normal exit";
}

function* f2(): Generator<unknown, void, unknown> {
  yield* main.switch("from f2");
}

Deno.test("fiber throw: testThrowGoesToOriginalParent", () => {
  const g1 = new Fiber(f1);
  const g2 = new Fiber(f2, { parent: g1 });
  assert.throws(() => g2.throwSync(new IndexError()), IndexError);
  assert.equal(g2.isAlive(), false);
  assert.equal(g1.isAlive(), true, "g1 is skipped because it was not started");
});

Deno.test("fiber throw: testThrowGoesToOriginalParent2", () => {
  const g1 = new Fiber(f1);
  const g2 = new Fiber(f2, { parent: g1 });
  assert.equal(g1.switchSync(), "f1 ready to catch");
  assert.equal(g2.throwSync(new IndexError()), "caught");
  assert.equal(g2.isAlive(), false);
  assert.equal(g1.isAlive(), false);
});

Deno.test("fiber throw: testThrowGoesToOriginalParent3", () => {
  const g1 = new Fiber(f1);
  const g2 = new Fiber(f2, { parent: g1 });
  assert.equal(g1.switchSync(), "f1 ready to catch");
  assert.equal(g2.switchSync(), "from f2");
  assert.equal(g2.throwSync(new IndexError()), "caught");
  assert.equal(g2.isAlive(), false);
  assert.equal(g1.isAlive(), false);
});

// ---------------------------------------------------------------------------
// Errors thrown in reach the innermost suspension point

Deno.test("fiber throw: the error is raised in the innermost nested generator and every finally runs", () => {
  const log: string[] = [];
  function* inner(): Generator<unknown, void, unknown> {
    try {
      yield* main.switch("suspended in inner");
    } finally {
      log.push("inner finally");
    }
  }
  function* middle(): Generator<unknown, void, unknown> {
    try {
      yield* inner();
    } finally {
      log.push("middle finally");
    }
  }
  const f = new Fiber(function* () {
    try {
      yield* middle();
    } catch (error) {
      log.push(`body caught ${(error as Error).message}`);
      return "handled";
    }
  });
  assert.equal(f.switchSync(), "suspended in inner");
  assert.equal(f.throwSync(new Error("stop")), "handled");
  assert.deepEqual(log, [
    "inner finally",
    "middle finally",
    "body caught stop",
  ]);
});

Deno.test("fiber throw: a fiber can throw into another and be switched back to", () => {
  const catcher: Fiber = new Fiber(function* () {
    for (;;) {
      try {
        yield* thrower.switch("waiting");
      } catch (error) {
        yield* thrower.switch(`caught ${(error as Error).message}`);
      }
    }
  });
  const thrower: Fiber = new Fiber(function* () {
    assert.equal(yield* catcher.switch(), "waiting");
    const reply = yield* catcher.throw(new Error("one"));
    return reply;
  });
  assert.equal(thrower.switchSync(), "caught one");
});

Deno.test("fiber throw: an uncaught thrown error ends the target and goes to its parent, not to the thrower", () => {
  const parent = new Fiber(function* () {
    try {
      yield* main.switch("parent suspended");
    } catch (error) {
      return `parent caught ${(error as Error).message}`;
    }
    return "parent resumed normally";
  });
  assert.equal(parent.switchSync(), "parent suspended");
  const target = new Fiber(function* () {
    yield* main.switch("target suspended");
  }, { parent });
  assert.equal(target.switchSync(), "target suspended");
  assert.equal(target.throwSync(new Error("boom")), "parent caught boom");
  assert.equal(target.isAlive(), false);
  assert.equal(parent.isAlive(), false);
});

Deno.test("fiber throw: throwing again into a fiber that a throw killed throws FiberError", () => {
  const g = new Fiber(function* () {
    yield* switchToParent("ok");
  });
  assert.equal(g.switchSync(), "ok");
  assert.throws(() => g.throwSync(new ValueError()), ValueError);
  assert.equal(g.isAlive(), false);
  assert.throws(() => g.throwSync(new ValueError()), FiberError);
});
