// Fiber-local storage: evergreen's tests/test_local.py ported, then one test
// per rule of API.md's Fiber-local storage section for FiberLocal and
// local(). That values die with their fiber is in local_gc_test.ts.

import assert from "node:assert/strict";
import { current, Fiber } from "../src/fiber.ts";
import { FiberLocal, local } from "../src/local.ts";

const main = current();

// ---------------------------------------------------------------------------
// evergreen tests/test_local.py (spawned tasks there; plain fibers here)

Deno.test("local: testLocal", () => {
  const tls = local<{ foo: number }>();
  tls.foo = 42;
  const ran: number[] = [];
  function func(x: number): void {
    assert.equal(tls.foo, undefined, "main's foo is invisible here");
    tls.foo = x;
    assert.equal(tls.foo, x);
    ran.push(x);
  }
  for (const x of [1, 2, 3]) new Fiber(func, { args: [x] }).switchSync();
  assert.deepEqual(ran, [1, 2, 3]);
  assert.equal(tls.foo, 42);
});

// ---------------------------------------------------------------------------
// local()

Deno.test("local: each fiber sees only the properties it set", () => {
  const l = local<{ user: string }>();
  l.user = "main";
  const a = new Fiber(function* () {
    l.user = "a";
    yield* main.switch(l.user);
    return l.user;
  });
  const b = new Fiber(function* () {
    const before = l.user;
    l.user = "b";
    yield* main.switch([before, l.user]);
    return l.user;
  });
  assert.equal(a.switchSync(), "a");
  assert.deepEqual(b.switchSync(), [undefined, "b"]);
  assert.equal(l.user, "main");
  assert.equal(a.switchSync(), "a", "kept while a was suspended");
  assert.equal(b.switchSync(), "b");
  assert.equal(l.user, "main");
});

Deno.test("local: reading an unset property gives undefined", () => {
  const l = local<{ missing: number; toString: () => string }>();
  assert.equal(l.missing, undefined);
  assert.equal(l.toString, undefined, "no inherited properties either");
  assert.equal(Object.getPrototypeOf(l), null);
});

Deno.test("local: delete removes the running fiber's property only", () => {
  const l = local<{ user: string }>();
  l.user = "main";
  const f = new Fiber(function* () {
    l.user = "fiber";
    yield* main.switch();
    const deleted = delete l.user;
    return [deleted, l.user, "user" in l];
  });
  f.switchSync();
  assert.ok(delete l.user);
  assert.equal(l.user, undefined);
  assert.equal("user" in l, false);
  assert.deepEqual(f.switchSync(), [true, undefined, false]);
  assert.ok(delete l.user, "deleting a missing property is allowed");
});

Deno.test("local: `in` and Object.keys reflect the running fiber", () => {
  const l = local<Record<string, number>>();
  l.a = 1;
  l.b = 2;
  const f = new Fiber(() => {
    l.c = 3;
    return ["a" in l, "c" in l, Object.keys(l), { ...l }];
  });
  assert.deepEqual(f.switchSync(), [false, true, ["c"], { c: 3 }]);
  assert.equal("a" in l, true);
  assert.equal("c" in l, false);
  assert.deepEqual(Object.keys(l), ["a", "b"]);
  assert.deepEqual(Object.entries(l), [["a", 1], ["b", 2]]);
  assert.equal(JSON.stringify(l), '{"a":1,"b":2}');
});

Deno.test("local: symbol keys and an undefined value are per fiber too", () => {
  const key = Symbol("key");
  const l = local<{ [key]: string; maybe: undefined }>();
  l[key] = "main";
  l.maybe = undefined;
  assert.equal("maybe" in l, true, "a set undefined is still present");
  const f = new Fiber(() => [l[key], "maybe" in l, Reflect.ownKeys(l)]);
  assert.deepEqual(f.switchSync(), [undefined, false, []]);
  assert.deepEqual(Reflect.ownKeys(l), ["maybe", key]);
});

Deno.test("local: Deno.inspect shows the running fiber's properties", () => {
  const l = local<{ user: string }>();
  l.user = "main";
  assert.equal(Deno.inspect(l), 'local { user: "main" }');
  const f = new Fiber(() => Deno.inspect(l));
  assert.equal(f.switchSync(), "local {}");
});

Deno.test("local: two local() objects are independent", () => {
  const one = local<{ x: number }>();
  const two = local<{ x: number }>();
  one.x = 1;
  assert.equal(two.x, undefined);
  two.x = 2;
  assert.equal(one.x, 1);
});

Deno.test("local: Object.defineProperty stores a plain per-fiber value", () => {
  const l = local<{ x: number }>();
  Object.defineProperty(l, "x", {
    value: 5,
    writable: true,
    enumerable: true,
    configurable: true,
  });
  assert.equal(l.x, 5);
  assert.deepEqual(Object.getOwnPropertyDescriptor(l, "x"), {
    value: 5,
    writable: true,
    enumerable: true,
    configurable: true,
  });
  assert.equal(new Fiber(() => l.x).switchSync(), undefined);
});

Deno.test("local: accessors and frozen properties are refused with TypeError", () => {
  const l = local<{ x: number }>();
  assert.throws(
    () => Object.defineProperty(l, "x", { get: () => 1, configurable: true }),
    TypeError,
  );
  assert.throws(
    () => Object.defineProperty(l, "x", { value: 1, writable: false }),
    TypeError,
  );
  assert.throws(() => Object.freeze(l), TypeError);
  assert.throws(() => Object.preventExtensions(l), TypeError);
  assert.throws(() => Object.setPrototypeOf(l, {}), TypeError);
  assert.equal(l.x, undefined, "nothing was stored");
});

// ---------------------------------------------------------------------------
// FiberLocal

Deno.test("local: FiberLocal holds one value per fiber", () => {
  const value = new FiberLocal<string>();
  value.set("main");
  const f = new Fiber(function* () {
    const before = value.get();
    value.set("fiber");
    yield* main.switch([before, value.get()]);
    return value.get();
  });
  assert.deepEqual(f.switchSync(), [undefined, "fiber"]);
  assert.equal(value.get(), "main");
  assert.equal(f.switchSync(), "fiber");
  assert.equal(value.get(), "main");
});

Deno.test("local: FiberLocal initial is called lazily, once per fiber, in that fiber", () => {
  const calls: Fiber[] = [];
  const value = new FiberLocal(() => {
    calls.push(current());
    return calls.length;
  });
  assert.equal(calls.length, 0, "not called by the constructor");
  const f = new Fiber(function* () {
    assert.equal(calls.length, 0, "not called before get()");
    const first = value.get();
    const second = value.get();
    yield* main.switch();
    return [first, second, value.get()];
  });
  f.switchSync();
  assert.deepEqual(calls, [f]);
  assert.equal(value.get(), 2, "main gets its own initial value");
  assert.deepEqual(calls, [f, main]);
  assert.deepEqual(f.switchSync(), [1, 1, 1]);
  assert.equal(value.get(), 2);
  assert.equal(calls.length, 2);
});

Deno.test("local: FiberLocal initial is not called when the fiber set a value first", () => {
  let calls = 0;
  const value = new FiberLocal(() => ++calls);
  const f = new Fiber(() => {
    value.set(100);
    return value.get();
  });
  assert.equal(f.switchSync(), 100);
  assert.equal(calls, 0);
});

Deno.test("local: FiberLocal get without initial gives undefined and stores nothing", () => {
  const value = new FiberLocal<number>();
  assert.equal(value.get(), undefined);
  assert.equal(value.has(), false);
});

Deno.test("local: FiberLocal has() is true once a value is set or initialised", () => {
  const plain = new FiberLocal<number>();
  const lazy = new FiberLocal(() => 1);
  assert.equal(plain.has(), false);
  assert.equal(lazy.has(), false, "initial not run yet");
  plain.set(1);
  lazy.get();
  assert.equal(plain.has(), true);
  assert.equal(lazy.has(), true);
  assert.equal(new Fiber(() => plain.has()).switchSync(), false);
});

Deno.test("local: FiberLocal delete() removes the value and says whether there was one", () => {
  let calls = 0;
  const value = new FiberLocal(() => ++calls);
  assert.equal(value.delete(), false);
  value.set(10);
  assert.equal(value.delete(), true);
  assert.equal(value.has(), false);
  assert.equal(value.delete(), false);
  assert.equal(value.get(), 1, "initial runs again after delete");
  assert.equal(calls, 1);
});

Deno.test("local: FiberLocal delete() in one fiber leaves the others", () => {
  const value = new FiberLocal<string>();
  value.set("main");
  const f = new Fiber(() => {
    value.set("fiber");
    return value.delete();
  });
  assert.equal(f.switchSync(), true);
  assert.equal(value.get(), "main");
});

Deno.test("local: FiberLocal stores undefined as a value", () => {
  let calls = 0;
  const value = new FiberLocal<number | undefined>(() => ++calls);
  value.set(undefined);
  assert.equal(value.has(), true);
  assert.equal(value.get(), undefined);
  assert.equal(calls, 0, "a stored undefined does not re-initialise");
});

Deno.test("local: FiberLocal initial that throws stores nothing and runs again", () => {
  let calls = 0;
  const value = new FiberLocal<number>(() => {
    calls++;
    if (calls === 1) throw new Error("first call fails");
    return calls;
  });
  assert.throws(() => value.get(), /first call fails/);
  assert.equal(value.has(), false);
  assert.equal(value.get(), 2);
});

Deno.test("local: two FiberLocals are independent", () => {
  const one = new FiberLocal<number>();
  const two = new FiberLocal<number>();
  one.set(1);
  assert.equal(two.get(), undefined);
  two.set(2);
  assert.equal(one.get(), 1);
});

Deno.test("local: FiberLocal with a non-function initial throws TypeError", () => {
  assert.throws(() => new FiberLocal(42 as never), TypeError);
  assert.throws(() => new FiberLocal(null as never), TypeError);
});

Deno.test("local: a fiber's values are separate from those of the fiber that created it", () => {
  const value = new FiberLocal<string>();
  const l = local<{ who: string }>();
  const outer = new Fiber(function* () {
    value.set("outer");
    l.who = "outer";
    const inner = new Fiber(() => [value.get(), l.who]);
    const seenByInner = yield* inner.switch();
    return [seenByInner, value.get(), l.who];
  });
  assert.deepEqual(outer.switchSync(), [
    [undefined, undefined],
    "outer",
    "outer",
  ]);
});

Deno.test("local: fiber user properties work as an instance dict", () => {
  type Tagged = Fiber & { requestId?: number };
  const f: Tagged = new Fiber(() => {
    (current() as Tagged).requestId = 7;
    return (current() as Tagged).requestId;
  });
  assert.equal(f.switchSync(), 7);
  assert.equal(f.requestId, 7);
  assert.equal((main as Tagged).requestId, undefined);
});
