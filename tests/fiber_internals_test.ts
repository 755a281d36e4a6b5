// The fiber tree's internals (making a main fiber, driving the trampoline,
// the per-fiber locals table) are out of reach of user code: mod.ts exports
// none of them and the Fiber class has no static member beyond current().
// Issue 10, point 12: `Fiber.makeMain().switchSync()` left current() on a
// fake fiber and broke every later switch.

import assert from "node:assert/strict";
import * as evergreen from "../mod.ts";
import { current, Fiber, FiberError } from "../mod.ts";

const INTERNALS = ["makeMain", "runTrampoline", "localsOf", "peekLocals"];

Deno.test("mod.ts exports none of the fiber internals", () => {
  for (const name of INTERNALS) {
    assert.ok(
      !(name in evergreen),
      `mod.ts must not export ${name}`,
    );
  }
});

Deno.test("the Fiber class has no static member but current()", () => {
  const statics = Object.getOwnPropertyNames(Fiber).filter((name) =>
    !["length", "name", "prototype"].includes(name)
  );
  assert.deepEqual(statics, ["current"]);
  for (const name of INTERNALS) {
    assert.equal(
      (Fiber as unknown as Record<string, unknown>)[name],
      undefined,
      `Fiber.${name} must not be reachable`,
    );
  }
});

Deno.test("misusing the public fiber API leaves current() on the main fiber and switches working", () => {
  const main = current();
  const reachable = Fiber as unknown as Record<string, unknown>;
  const misuses: Array<() => unknown> = [
    // The reproduction, through whatever the class exposes.
    () => (reachable.makeMain as () => Fiber)().switchSync(),
    () => (reachable.runTrampoline as () => unknown)(),
    () => main.switchSync(),
    () => main.throwSync(new Error("into main")),
    () => new Fiber(() => main.switchSync()).switchSync(),
    () =>
      new Fiber(function* () {
        yield* main.switch();
      }, { parent: main }).throwSync(new Error("never started")),
    () => {
      const child = new Fiber();
      main.parent = child;
      child.parent = main;
    },
  ];
  for (const misuse of misuses) {
    try {
      misuse();
    } catch (error) {
      if (!(error instanceof Error)) throw error;
    }
    assert.equal(current(), main, "current() must stay the main fiber");
  }
  const echo = new Fiber(function* (first: number) {
    const second = (yield* main.switch(first + 1)) as number;
    return second * 2;
  }, { args: [1] });
  assert.equal(echo.switchSync(), 2);
  assert.equal(echo.switchSync(5), 10);
  assert.equal(echo.isAlive(), false);
  assert.throws(() => echo.switchSync(), FiberError);
});

Deno.test("the hub's bare-yield switch token without a pending switch is a bare yield (FiberError), not a switch", async () => {
  const { HUB_SWITCH } = await import("../src/fiber.ts");
  const main = current();
  const fiber = new Fiber(function* () {
    yield HUB_SWITCH;
  });
  assert.throws(() => fiber.switchSync(), (error: unknown) => {
    assert.ok(error instanceof FiberError, String(error));
    assert.match((error as Error).message, /bare `yield`/);
    return true;
  });
  assert.equal(current(), main);
  assert.equal(fiber.isAlive(), false);
});
