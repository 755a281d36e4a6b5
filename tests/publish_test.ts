/**
 * Packaging: the package publishes cleanly (`deno publish --dry-run`), under
 * the MIT license, with the sources a URL or JSR import needs.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("deno publish --dry-run succeeds with a LICENSE and the module sources", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `deno publish --dry-run failed:\n${text}`);
  assert.doesNotMatch(
    text,
    /^(warning|error)\b/m,
    `the dry run warned:\n${text}`,
  );
  for (const file of ["LICENSE", "mod.ts", "src/loop.ts", "README.md"]) {
    assert.match(
      text,
      new RegExp(file.replace(".", "\\.")),
      `${file} is published`,
    );
  }
});

Deno.test("the LICENSE is MIT, as deno.json says", async () => {
  const license = await Deno.readTextFile(`${ROOT}LICENSE`);
  assert.match(license, /^MIT License/);
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(config.license, "MIT");
});
