// Values die with their fiber: fixtures/gc_scenarios.ts runs in a child Deno
// with `--expose-gc` (so `deno test tests/` needs no extra flag), forces full
// collections and reports which WeakRef targets were, or were not, collected.
// Also python-fibers' test_weakref.py, test_gc.py and test_leaks.py
// (test_arg_refs), which need a real collector to mean anything.

import assert from "node:assert/strict";

const results: Promise<Record<string, string[]>> = (async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      new URL("./fixtures/gc_scenarios.ts", import.meta.url).href,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `gc_scenarios.ts failed:\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
})();

function scenario(name: string, description: string): void {
  Deno.test(`local gc: ${description}`, async () => {
    const failures = (await results)[name];
    assert.ok(failures !== undefined, `scenario ${name} did not run`);
    assert.deepEqual(failures, []);
  });
}

scenario(
  "fiberLocalValueDiesWithDroppedSuspendedFiber",
  "a FiberLocal value lives while its suspended fiber is reachable and dies with it",
);
scenario(
  "fiberLocalValueDiesWhenFiberEndsEvenIfKept",
  "a FiberLocal value dies when its fiber ends, even if the fiber object is kept",
);
scenario(
  "localPropertyDiesWithFiber",
  "a local() property dies with its fiber",
);
scenario(
  "valueDiesWithItsFiberLocal",
  "a value dies with its FiberLocal while the fiber lives on",
);
scenario(
  "localPropertyDiesWithItsLocal",
  "a property dies with its local() object while the fiber lives on",
);
scenario("testDeadWeakref", "testDeadWeakref (test_weakref.py)");
scenario("testInactiveWeakref", "testInactiveWeakref (test_weakref.py)");
scenario("testCircularFiber", "testCircularFiber (test_gc.py)");
scenario("testDeadCircularRef", "testDeadCircularRef (test_gc.py)");
scenario("testInactiveRef", "testInactiveRef (test_gc.py)");
scenario("testFinalizerCrash", "testFinalizerCrash (test_gc.py)");
scenario(
  "testArgRefs",
  "testArgRefs (test_leaks.py): args and target are let go once started",
);
scenario(
  "switchValuesAreNotRetained",
  "a value passed through a switch is not retained by the trampoline",
);
