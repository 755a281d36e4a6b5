// Issue 11 point 2: writes made in one loop turn leave in one send before
// the loop polls or parks (at once past 64 KiB); a lone write is not
// delayed; write()'s boolean says whether bytes wait in the native queue.
// Counted with the kernel's per-process write-syscall counter over a real
// pipe (PipeStream writes with write(2)), both loop modes.

import assert from "node:assert/strict";
import { sleep } from "../src/tasks.ts";
import { PipeStream } from "../src/io/pipe.ts";
import { testPipe } from "../src/native/test_support.ts";
import {
  bothModes,
  connectedToEcho,
  scenario,
  text,
} from "./fixtures/stream_harness.ts";

const isLinux = Deno.build.os === "linux";

/** The two ends of a fresh pipe as streams: [reader, writer]. */
function pipeStreams(): [PipeStream, PipeStream] {
  const [readEnd, writeEnd] = testPipe();
  const reader = new PipeStream();
  reader.open(readEnd);
  const writer = new PipeStream();
  writer.open(writeEnd);
  return [reader, writer];
}

/** write(2)-like system calls made by this process so far. */
function writeSyscalls(): number {
  const io = Deno.readTextFileSync("/proc/self/io");
  return Number(/syscw: (\d+)/.exec(io)![1]);
}

bothModes(
  "sixteen writes in one turn leave in one write system call, in order",
  (mode) =>
    scenario(mode, function* () {
      const [reader, writer] = pipeStreams();
      let expected = "";
      const before = writeSyscalls();
      for (let i = 0; i < 16; i++) {
        const reply = `reply ${i}\n`;
        expected += reply;
        assert.equal(writer.write(i % 2 === 0 ? reply : reply), true);
      }
      const got = text(yield* reader.readBytes(expected.length));
      const calls = writeSyscalls() - before;
      assert.equal(got, expected);
      // One for the batch; the loop's own wake-ups may add one or two.
      assert.ok(calls <= 3, `${calls} write system calls for 16 writes`);
      writer.close();
      reader.close();
    }),
  { ignore: !isLinux },
);

bothModes(
  "staged text is UTF-8 whatever it holds: ASCII, accents, emoji, long strings",
  (mode) =>
    scenario(mode, function* () {
      const [reader, writer] = pipeStreams();
      const pieces = [
        "plain ascii\n",
        "é at the start",
        "ends with é",
        "mid 😀 emoji, a surrogate pair",
        "😀",
        "x".repeat(255) + "ü",
        "y".repeat(256) + "ß",
        "z".repeat(300),
        "ünïcödé ".repeat(40),
        "\u007f\u0080\u07ff\u0800\uffff",
        "",
      ];
      const expected = new TextEncoder().encode(pieces.join(""));
      for (const piece of pieces) writer.write(piece);
      const got = yield* reader.readBytes(expected.length);
      assert.deepEqual(got, expected);
      writer.close();
      reader.close();
    }),
  { ignore: !isLinux },
);

bothModes(
  "past 64 KiB in one turn the staged bytes leave at once, nothing lost",
  (mode) =>
    scenario(mode, function* () {
      const [reader, writer] = pipeStreams();
      const chunk = new Uint8Array(1000);
      let total = 0;
      for (let i = 0; i < 200; i++) {
        chunk.fill(i & 0xff);
        writer.write(chunk); // copied: reusing the array is fine
        total += chunk.length;
      }
      const got = yield* reader.readBytes(total);
      for (let i = 0; i < 200; i++) {
        assert.equal(got[i * 1000], i & 0xff, `chunk ${i}`);
        assert.equal(got[i * 1000 + 999], i & 0xff, `chunk ${i}`);
      }
      yield* writer.flush();
      writer.close();
      reader.close();
    }),
  { ignore: !isLinux },
);

bothModes(
  "write() then close() in the same turn still delivers the bytes",
  (mode) =>
    scenario(mode, function* () {
      const [reader, writer] = pipeStreams();
      writer.write("last words\n");
      writer.close();
      assert.equal(text(yield* reader.readBytes(100)), "last words\n");
      assert.equal((yield* reader.readBytes(1)).length, 0);
      reader.close();
    }),
  { ignore: !isLinux },
);

bothModes(
  "write() reports false while bytes wait for a peer that does not read",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      assert.equal(client.write("ping\n"), true);
      assert.equal(text(yield* client.readUntil("\n")), "ping\n");
      // The echo server reads lines: without a newline nothing comes back,
      // and the kernel's buffers fill.
      const big = new Uint8Array(8 * 1024 * 1024).fill(120);
      let accepted = true;
      for (let i = 0; i < 8 && accepted; i++) {
        accepted = client.write(big);
        yield* sleep(0);
      }
      assert.equal(accepted, false, "the native queue holds bytes");
      assert.equal(client.write("x"), false, "and says so on every write");
      client.close();
      server.close();
    }),
);
