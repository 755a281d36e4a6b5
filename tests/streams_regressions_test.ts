// Regressions found by a review of the stream I/O: each test
// is one behaviour that broke, checked with real descriptors and bounded in
// time.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";
import { TCPError } from "../src/io/errors.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

Deno.test("web streams: pipeTo(stdout.writable) resolves when stdout is a pipe (no half-close there)", async () => {
  // A child pipes two chunks into its StdoutStream's writable; closing the
  // writable must not fail with ENOTSOCK.
  const code = `
    import { EventLoop, StdoutStream } from ${JSON.stringify(MOD)};
    const loop = new EventLoop();
    const running = loop.runForever();
    const out = new StdoutStream();
    let outcome = "resolved";
    try {
      await ReadableStream.from(["hello ", "world\\n"])
        .pipeThrough(new TextEncoderStream())
        .pipeTo(out.writable);
    } catch (error) {
      outcome = "rejected: " + error;
    }
    console.error(outcome, out.closed ? "closed" : "open");
    loop.stop();
    await running;
    loop.destroy();
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const errors = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, errors);
  assert.equal(errors, "resolved closed\n");
  assert.equal(new TextDecoder().decode(output.stdout), "hello world\n");
});

for (const mode of ["run", "runSync"] as const) {
  Deno.test(`a task in flush() is woken when the task connecting the client is killed [${mode}]`, async () => {
    using loop = new EventLoop();
    const errors: unknown[] = [];
    loop.setExceptionHandler((error) => errors.push(error));
    const server = new TCPServer({ handleConnection() {} });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    const client = new TCPClient();
    let flushed: unknown = "still waiting";
    spawn(function* () {
      const connecting = spawn(function* () {
        yield* client.connect(server.sockname);
      });
      const flushing = spawn(function* () {
        client.write("kept until connected");
        try {
          yield* client.flush();
          flushed = "flushed";
        } catch (error) {
          flushed = error;
        }
      });
      // Both wait now (connect's completion comes with the next poll).
      yield* sleep(0);
      connecting.kill();
      const ended = yield* flushing.join(2000);
      client.close();
      server.close();
      assert.ok(ended, "flush() stayed blocked after the connect was killed");
    });
    if (mode === "run") await loop.run();
    else loop.runSync();
    assert.ok(
      flushed instanceof TCPError && flushed.code === "ENOTCONN",
      `expected TCPError ENOTCONN, got ${flushed}`,
    );
    assert.deepEqual(errors, []);
  });
}
