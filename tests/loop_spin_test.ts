// run() spins briefly before parking only while that pays (issue 11, point
// 5): never when the process may use one CPU (the spin would only keep the
// peer that sends the next request from running), and after a spin that
// caught nothing it skips the next chances, 1, 2, 4 ... up to 64, until a
// spin catches work again. The native poll's spin follows the same rule
// (tested in zig/loop/loop.zig).

import assert from "node:assert/strict";
import { SpinPolicy } from "../src/loop.ts";

/** Which of the next `chances` the policy takes, as a string of 1s and 0s. */
function taken(policy: SpinPolicy, chances: number): string {
  let out = "";
  for (let i = 0; i < chances; i++) out += policy.pays() ? "1" : "0";
  return out;
}

Deno.test("with one CPU, run() never spins", () => {
  const policy = new SpinPolicy(1);
  assert.equal(taken(policy, 5), "00000");
  policy.caught();
  assert.equal(taken(policy, 5), "00000");
});

Deno.test("with several CPUs, run() spins at every chance while spins catch work", () => {
  const policy = new SpinPolicy(2);
  assert.equal(taken(policy, 3), "111");
  policy.caught();
  assert.equal(taken(policy, 3), "111");
});

Deno.test("a spin that caught nothing skips the next chances, doubling, until one catches work", () => {
  const policy = new SpinPolicy(4);
  policy.vain();
  assert.equal(taken(policy, 2), "01");
  policy.vain();
  assert.equal(taken(policy, 3), "001");
  policy.vain();
  assert.equal(taken(policy, 5), "00001");
  policy.caught();
  policy.vain();
  assert.equal(taken(policy, 2), "01", "a caught spin restarts the back-off");
});

Deno.test("the back-off is bounded: at most 64 chances are skipped", () => {
  const policy = new SpinPolicy(2);
  for (let i = 0; i < 20; i++) policy.vain();
  assert.equal(taken(policy, 65), "0".repeat(64) + "1");
});

Deno.test({
  name: "a process pinned to one CPU sees one CPU (what the policy is given)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { code, stdout } = await new Deno.Command("taskset", {
      args: [
        "-c",
        "0",
        Deno.execPath(),
        "eval",
        "console.log(navigator.hardwareConcurrency)",
      ],
      stdout: "piped",
    }).output();
    assert.equal(code, 0);
    assert.equal(new TextDecoder().decode(stdout).trim(), "1");
  },
});
