// Terminals: TTYStream over a real pseudo-terminal (the terminal side), with
// the controlling side played by the test through raw descriptor calls.
// Window size, raw versus canonical input, output translation, and the
// descriptor the caller lent staying open. POSIX only.

import assert from "node:assert/strict";
import { sleep } from "../src/tasks.ts";
import { StreamError } from "../src/io/errors.ts";
import { TTYStream } from "../src/io/tty.ts";
import { testOpenPty, testSetWindowSize } from "../src/native/stream_native.ts";
import {
  testClose,
  testPipe,
  testRead,
  testWrite,
} from "../src/native/test_support.ts";
import type { NativeError } from "../src/native/errors.ts";
import { bothModes, bytes, scenario, text } from "./fixtures/stream_harness.ts";
import { startOp } from "./fixtures/loop_harness.ts";

const ignore = Deno.build.os === "windows";

function openPty(): [number, number] {
  const pair = testOpenPty();
  if (typeof pair === "number") throw new Error(`openpty failed: ${pair}`);
  return pair;
}

/** Reads what the controlling side has, waiting up to `attempts` x 5 ms for `length` bytes. */
function* readController(
  fd: number,
  length: number,
  attempts = 200,
): Generator<unknown, string, unknown> {
  let got = "";
  for (let attempt = 0; attempt < attempts && got.length < length; attempt++) {
    try {
      got += text(testRead(fd, length - got.length));
    } catch (error) {
      if ((error as NativeError).code !== "EAGAIN") throw error;
      yield* sleep(5);
    }
  }
  return got;
}

bothModes(
  "winsize reports the terminal's size",
  (mode) =>
    scenario(mode, function* () {
      const [controller, terminal] = openPty();
      assert.equal(testSetWindowSize(terminal, 120, 40), 0);
      const tty = new TTYStream(terminal, true);
      assert.deepEqual(tty.winsize, { columns: 120, rows: 40 });
      testSetWindowSize(terminal, 80, 24);
      assert.deepEqual(
        tty.winsize,
        { columns: 80, rows: 24 },
        "read anew each time",
      );
      tty.close();
      testClose(terminal);
      testClose(controller);
      yield* sleep(0);
    }),
  { ignore },
);

bothModes(
  "raw mode delivers keys at once; canonical mode waits for the line",
  (mode) =>
    scenario(mode, function* () {
      const [controller, terminal] = openPty();
      const tty = new TTYStream(terminal, true);
      tty.setRawMode(true);
      testWrite(controller, bytes("abc") as Uint8Array<ArrayBuffer>);
      assert.equal(
        text(yield* tty.readBytes(3)),
        "abc",
        "raw: no newline needed",
      );
      assert.equal(
        yield* readController(controller, 1, 10),
        "",
        "raw: no echo",
      );

      tty.setRawMode(false);
      testWrite(controller, bytes("xy") as Uint8Array<ArrayBuffer>);
      yield* sleep(20);
      testWrite(controller, bytes("z\n") as Uint8Array<ArrayBuffer>);
      assert.equal(
        text(yield* tty.readUntil("\n")),
        "xyz\n",
        "canonical: the whole line",
      );
      tty.close();
      testClose(terminal);
      testClose(controller);
    }),
  { ignore },
);

bothModes(
  "writes reach the terminal with NL turned into CRNL",
  (mode) =>
    scenario(mode, function* () {
      const [controller, terminal] = openPty();
      const tty = new TTYStream(terminal, false);
      tty.setRawMode(true);
      assert.equal(tty.write("one\ntwo\n"), true);
      yield* tty.flush();
      assert.equal(yield* readController(controller, 10), "one\r\ntwo\r\n");
      assert.throws(() => startOp(tty.readBytes(1)), (error: unknown) =>
        error instanceof StreamError && error.code === "EINVAL" &&
        /not readable/.test(error.message));
      tty.close();
      testClose(terminal);
      testClose(controller);
    }),
  { ignore },
);

bothModes(
  "closing the stream leaves the lent descriptor open and usable",
  (mode) =>
    scenario(mode, function* () {
      const [controller, terminal] = openPty();
      const tty = new TTYStream(terminal, true);
      tty.close();
      assert.throws(
        () => tty.winsize,
        (error: unknown) =>
          error instanceof StreamError && error.code === "EBADF",
      );
      assert.throws(
        () => tty.setRawMode(true),
        (error: unknown) =>
          error instanceof StreamError && error.code === "EBADF",
      );
      assert.equal(
        testWrite(terminal, bytes("still\n") as Uint8Array<ArrayBuffer>),
        6,
      );
      assert.equal(yield* readController(controller, 7), "still\r\n");
      testClose(terminal);
      testClose(controller);
    }),
  { ignore },
);

bothModes(
  "a descriptor that is not a terminal is refused",
  (mode) =>
    scenario(mode, function* () {
      const [readEnd, writeEnd] = testPipe();
      assert.throws(() => new TTYStream(readEnd, true), (error: unknown) =>
        error instanceof StreamError && error.code === "EINVAL" &&
        /not a terminal/.test(error.message));
      assert.throws(() =>
        new TTYStream(1_000_000, true), (error: unknown) =>
        error instanceof StreamError && error.code === "EBADF");
      assert.throws(() =>
        new TTYStream(-1, true), RangeError);
      testClose(readEnd);
      testClose(writeEnd);
      yield* sleep(0);
    }),
  { ignore },
);
