// Regressions found by an adversarial review of pipes, the standard streams,
// UDP and many cores: each test failed before its fix.
//
// - A PipeServer's close() removed whatever its path named by then: the
//   socket of a server bound there since (the old one of a restart closing
//   after the new one took the path), or a file that replaced the socket.
//   It now removes the socket file only while it is still its own.
// - A write that failed for lack of space (stdout sent to /dev/full, a full
//   disk) was reported as EUNKNOWN; it is ENOSPC.
// - Standard input from a file or a directory is copied in by a native
//   thread, which took a read error (EISDIR for `< /`, EIO) for the end of
//   the input: the reader saw an empty (or truncated) input and no error. The
//   error now reaches the reader.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { PipeServer } from "../src/io/pipe.ts";

const unix = Deno.build.os !== "windows";

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

Deno.test({
  name:
    "closing a PipeServer leaves alone the socket another server bound at its path since",
  ignore: !unix,
  fn() {
    const directory = Deno.makeTempDirSync();
    try {
      using _loop = new EventLoop();
      const path = `${directory}/server.sock`;
      using old = new PipeServer({ handleConnection() {} });
      old.bind(path);
      // A restart: the new server removes the old socket file and binds.
      Deno.removeSync(path);
      using replacement = new PipeServer({ handleConnection() {} });
      replacement.bind(path);
      old.close();
      assert.equal(lstatOrNull(path)?.isSocket, true);
      replacement.close();
      assert.equal(lstatOrNull(path), null);
    } finally {
      Deno.removeSync(directory, { recursive: true });
    }
  },
});

Deno.test({
  name: "closing a PipeServer leaves alone a file that replaced its socket",
  ignore: !unix,
  fn() {
    const directory = Deno.makeTempDirSync();
    try {
      using _loop = new EventLoop();
      const path = `${directory}/server.sock`;
      using server = new PipeServer({ handleConnection() {} });
      server.bind(path);
      Deno.removeSync(path);
      Deno.writeTextFileSync(path, "precious");
      server.close();
      assert.equal(Deno.readTextFileSync(path), "precious");
    } finally {
      Deno.removeSync(directory, { recursive: true });
    }
  },
});

Deno.test({
  name: "a write to a full device fails with ENOSPC",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const child = new URL("./fixtures/stdio_child.ts", import.meta.url)
      .pathname;
    const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
    const output = await new Deno.Command("sh", {
      args: [
        "-c",
        `printf 'some bytes\\n' | ${quote(Deno.execPath())} run ` +
        `--allow-ffi --allow-read --allow-env ${quote(child)} copy ` +
        `> /dev/full`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const errors = new TextDecoder().decode(output.stderr);
    assert.match(errors, /ENOSPC/);
    assert.doesNotMatch(errors, /EUNKNOWN/);
  },
});

Deno.test({
  name: "standard input that is a directory fails to read with EISDIR",
  ignore: !unix,
  async fn() {
    const child = new URL("./fixtures/stdio_child.ts", import.meta.url)
      .pathname;
    const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
    // "copy" reads with readInto, "line" with readUntil: both read paths.
    for (const mode of ["copy", "line"]) {
      const output = await new Deno.Command("sh", {
        args: [
          "-c",
          `${quote(Deno.execPath())} run --allow-ffi --allow-read ` +
          `--allow-env ${quote(child)} ${mode} < /`,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const errors = new TextDecoder().decode(output.stderr);
      assert.match(errors, /EISDIR/, `${mode}: ${errors}`);
      assert.doesNotMatch(errors, /copied 0/);
      assert.equal(new TextDecoder().decode(output.stdout), "");
    }
  },
});
