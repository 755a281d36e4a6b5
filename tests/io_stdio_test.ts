// StdinStream/StdoutStream/StderrStream (issue 13, point 2): a child Deno
// process copies its standard input to its standard output through them,
// with those descriptors being pipes, regular files and (through `script`)
// a pseudo-terminal.

import assert from "node:assert/strict";

const CHILD = new URL("./fixtures/stdio_child.ts", import.meta.url).pathname;
const DENO = Deno.execPath();
const SIZE = 3 * 1024 * 1024 + 17;

function payload(): Uint8Array {
  const bytes = new Uint8Array(SIZE);
  for (let index = 0; index < SIZE; index++) {
    bytes[index] = (index * 31 + (index >> 11)) & 0xff;
  }
  return bytes;
}

function sh(script: string): Deno.Command {
  return new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  });
}

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
const childCommand = (mode: string) =>
  `${quote(DENO)} run --allow-ffi --allow-read --allow-env ${
    quote(CHILD)
  } ${mode}`;

Deno.test("the standard streams copy 3 MiB from a pipe to a pipe", async () => {
  const child = new Deno.Command(DENO, {
    args: ["run", "--allow-ffi", "--allow-read", "--allow-env", CHILD, "copy"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const input = payload();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const output = await child.output();
  const errors = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, errors);
  assert.equal(errors, `copied ${SIZE}\n`);
  assert.ok(output.stdout.length === SIZE, `got ${output.stdout.length} bytes`);
  assert.deepEqual(output.stdout, input);
});

Deno.test("the standard streams copy 3 MiB from a regular file to a regular file", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const input = payload();
    await Deno.writeFile(`${directory}/in`, input);
    const output = await sh(
      `${childCommand("copy")} < ${quote(`${directory}/in`)} > ${
        quote(`${directory}/out`)
      } 2> ${quote(`${directory}/err`)}`,
    ).output();
    const errors = await Deno.readTextFile(`${directory}/err`);
    assert.equal(output.code, 0, errors);
    assert.equal(errors, `copied ${SIZE}\n`);
    assert.deepEqual(await Deno.readFile(`${directory}/out`), input);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("the standard streams read a file and write to a pipe, and the reverse", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const input = payload();
    await Deno.writeFile(`${directory}/in`, input);
    const fromFile = await sh(
      `${childCommand("copy")} < ${quote(`${directory}/in`)}`,
    ).output();
    assert.equal(fromFile.code, 0, new TextDecoder().decode(fromFile.stderr));
    assert.deepEqual(fromFile.stdout, input);
    const toFile = await sh(
      `cat ${quote(`${directory}/in`)} | ${childCommand("copy")} > ${
        quote(`${directory}/out`)
      }`,
    ).output();
    assert.equal(toFile.code, 0, new TextDecoder().decode(toFile.stderr));
    assert.deepEqual(await Deno.readFile(`${directory}/out`), input);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("an empty input file reads as end of stream at once", async () => {
  const output = await sh(`${childCommand("copy")} < /dev/null`).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(new TextDecoder().decode(output.stderr), "copied 0\n");
  assert.equal(output.stdout.length, 0);
});

const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the standard streams work on a terminal (a pty made by script)",
  ignore: !hasScript,
  fn: async () => {
    const child = new Deno.Command("script", {
      args: ["-qec", childCommand("line"), "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hello terminal\n"));
    const output = await child.output();
    await writer.close().catch(() => {});
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, text);
    assert.match(text, /LINE:hello terminal/);
  },
});
