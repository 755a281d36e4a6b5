// Regression: a drain op that ends natively while the task that wrote
// starts the next drain before the first one's completion is taken. The
// late completion used to end the next drain's wait (releasing its token,
// clearing `draining`), so `flush()` started a drain while one ran and
// threw EALREADY, and a server closed the connection with bytes queued
// (found by bench/real_clients.ts's line echo). The peer is another
// process, so it acts while this loop is blocked and both completions
// arrive in one poll: the signal stream's read first, then the drain's.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { PipeClient } from "../src/io/pipe.ts";
import { bothModes, scenario, text } from "./fixtures/stream_harness.ts";

bothModes(
  "a drain's late completion does not end the next drain: flush waits for every byte",
  async (mode) => {
    const dir = Deno.makeTempDirSync();
    const signalPath = `${dir}/signal.sock`;
    const bulkPath = `${dir}/bulk.sock`;
    const peer = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./fixtures/drain_race_peer.ts", import.meta.url).pathname,
        signalPath,
        bulkPath,
      ],
      stdout: "piped",
    }).spawn();
    const reader = peer.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let output = "";
    while (!output.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the peer ended early");
      output += value;
    }
    const first = new Uint8Array(600 * 1024).fill(97);
    const second = new Uint8Array(600 * 1024).fill(98);
    let passed = false;
    try {
      await scenario(mode, function* () {
        const signal = new PipeClient();
        yield* signal.connect(signalPath);
        const bulk = new PipeClient();
        yield* bulk.connect(bulkPath);
        let flushed = false;
        const writer = spawn(function* () {
          assert.equal(text(yield* signal.readUntil("\n")), "go\n");
          // Drain A ended in the poll that brought "go"; its completion
          // is taken after this task runs.
          bulk.write(second);
          yield* bulk.flush();
          flushed = true;
        });
        // More than the kernel holds: the rest waits in the native queue
        // and drain A runs.
        assert.equal(bulk.write(first), false);
        signal.write("s");
        yield* signal.flush();
        // Blocked: the peer answers, then empties the kernel's buffer, so
        // the next poll finds both the signal readable and the bulk stream
        // writable (drain A sends the rest and ends).
        const until = performance.now() + 400;
        while (performance.now() < until) {
          // busy: no poll
        }
        yield* writer.join();
        assert.ok(flushed);
        bulk.close();
        signal.close();
        yield* sleep(0);
      }, 10_000);
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
      }
      assert.equal(Number(rest.trim()), first.length + second.length);
      passed = true;
    } finally {
      // A failed scenario leaves the peer waiting for the end of the stream.
      if (!passed) peer.kill();
      await peer.status;
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
