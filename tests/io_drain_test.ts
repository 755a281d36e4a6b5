/**
 * Back-pressure: a write that starts a drain while the previous drain's
 * completion still waits in the ring must not take over that completion
 * (it once released the new drain's token, and flush() failed EALREADY
 * with bytes still queued). Eight copies of 3 MB through PipeStreams over
 * stdin/stdout, run at once against slow readers, come back whole.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(
  new URL("./fixtures/pipe_copy.ts", import.meta.url),
);
const COPIES = 8;
const SIZE = 3_000_000;

async function copyThrough(input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", FIXTURE],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
  })();
  // A slow reader: the child's writes fill the pipe and wait in drains.
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of child.stdout) {
    chunks.push(chunk);
    length += chunk.length;
    if (chunks.length % 16 === 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  await writing;
  const status = await child.status;
  const stderr = new TextDecoder().decode(
    await new Response(child.stderr).arrayBuffer(),
  );
  assert.equal(status.code, 0, `the copy failed:\n${stderr}`);
  const output = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    output.set(chunk, offset);
    offset += chunk.length;
  }
  return output;
}

Deno.test({
  name:
    "writes that overlap drains deliver every byte (8 copies of 3 MB at once)",
  ignore: Deno.build.os === "windows",
  async fn() {
    const input = new Uint8Array(SIZE);
    for (let i = 0; i < SIZE; i += 65536) {
      crypto.getRandomValues(input.subarray(i, Math.min(SIZE, i + 65536)));
    }
    const outputs = await Promise.all(
      Array.from({ length: COPIES }, () => copyThrough(input)),
    );
    for (const [i, output] of outputs.entries()) {
      assert.equal(output.length, SIZE, `copy ${i}: length`);
      assert.deepEqual(output, input, `copy ${i}: bytes`);
    }
  },
});
