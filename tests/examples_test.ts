/**
 * Every program in examples/ runs as its header says (the `deno run` line's
 * permissions, nothing more), ends by itself, and prints what it should.
 * Each runs as a subprocess over 127.0.0.1, against the local build.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUN_TIMEOUT_MS = 60_000;

/** The permission flags of the `deno run` line in an example's header. */
async function headerFlags(example: string): Promise<string[]> {
  const source = await Deno.readTextFile(`${ROOT}examples/${example}`);
  const match = source.match(
    new RegExp(
      `^ \\*\\s+deno run ((?:--[\\w-]+(?:=\\S+)? )*)examples/${example}`,
      "m",
    ),
  );
  assert.ok(match, `examples/${example} states its deno run command`);
  return match[1].trim().split(/\s+/).filter((flag) => flag !== "");
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function command(example: string, flags: string[], args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, `examples/${example}`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  });
}

async function runExample(
  example: string,
  args: string[] = [],
): Promise<Outcome> {
  const started = performance.now();
  const output = await command(example, await headerFlags(example), args)
    .output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    elapsedMs: performance.now() - started,
  };
}

function lines(outcome: Outcome, example: string): string[] {
  assert.equal(
    outcome.code,
    0,
    `${example} should exit 0; stderr:\n${outcome.stderr}`,
  );
  assert.equal(outcome.stderr, "", `${example} should print no error`);
  return outcome.stdout.trimEnd().split("\n");
}

function includesLine(all: string[], line: string | RegExp, example: string) {
  const found = all.some((l) =>
    typeof line === "string" ? l === line : line.test(l)
  );
  assert.ok(found, `${example} should print ${line}; got:\n${all.join("\n")}`);
}

/** A long-running example whose stdout is read as it comes. */
class Running {
  #process: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #finished = false;
  readonly lines: string[] = [];

  constructor(process: Deno.ChildProcess) {
    this.#process = process;
    this.#reader = process.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** Reads lines until one matches; returns its match. */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      for (const line of this.lines) {
        const match = line.match(pattern);
        if (match) return match;
      }
      const { done, value } = await this.#reader.read();
      if (done) {
        throw new Error(`ended before printing ${pattern}: ${this.lines}`);
      }
      this.#take(value);
    }
  }

  /** Ends the process if a failed test left it running. */
  async kill(): Promise<void> {
    if (this.#finished) return;
    this.#process.kill("SIGKILL");
    await this.#process.status;
    await this.#process.stderr.cancel();
    await this.#reader.cancel();
  }

  /** Waits for the process to end; returns its exit code and stderr. */
  async finish(): Promise<{ code: number; stderr: string }> {
    this.#finished = true;
    for (;;) {
      const { done, value } = await this.#reader.read();
      if (done) break;
      this.#take(value);
    }
    if (this.#buffer !== "") this.lines.push(this.#buffer);
    const stderr = await new Response(this.#process.stderr).text();
    const { code } = await this.#process.status;
    return { code, stderr };
  }

  #take(text: string) {
    this.#buffer += text;
    const parts = this.#buffer.split("\n");
    this.#buffer = parts.pop()!;
    this.lines.push(...parts);
  }
}

async function startServer(args: string[]): Promise<Running> {
  const flags = await headerFlags("echo_server.ts");
  return new Running(command("echo_server.ts", flags, args).spawn());
}

Deno.test("fibers.ts: fibers as generators, ping-pong, throw and locals", async () => {
  const out = lines(await runExample("fibers.ts"), "fibers.ts");
  assert.deepEqual(out.slice(0, 8), [
    "tree walk:",
    "  root",
    "    a",
    "      a1",
    "      a2",
    "    b",
    "      b1",
    "        b1x",
  ]);
  assert.deepEqual(out.slice(8, 13), [
    "fibonacci producer cleaned up",
    "fibonacci: 0 1 1 2 3 5 8 13 21 34 55 89",
    "rally: ping 0, pong 0, ping 1, pong 1, ping 2, pong 2 -> ping won",
    "worker: waiting",
    "worker: caught cancelled",
  ]);
  assert.match(out[13], /^switch to a dead fiber: FiberError \(.+\)$/);
  assert.equal(
    out[14],
    "main sees user=anonymous; fibers saw alice=alice, bob=bob",
  );
  assert.equal(out.length, 15);
});

Deno.test("pipeline.ts: producers and workers over a bounded Queue", async () => {
  const out = lines(await runExample("pipeline.ts"), "pipeline.ts");
  includesLine(out, "producer 0: done", "pipeline.ts");
  includesLine(out, "producer 1: done", "pipeline.ts");
  // 1² + 2² + … + 20²
  includesLine(out, "consumed 20 items, sum of squares 2870", "pipeline.ts");
  includesLine(out, "largest backlog: 4 (bound 4)", "pipeline.ts");
  const perWorker = out.find((l) => l.startsWith("jobs per worker: "))!;
  const counts = perWorker.slice("jobs per worker: ".length).split(" ").map(
    Number,
  );
  assert.equal(counts.length, 3);
  assert.equal(counts.reduce((a, b) => a + b), 20);
  assert.ok(counts.every((n) => n > 0), `every worker got jobs: ${counts}`);
  includesLine(out, /^pipeline finished in \d+ ms$/, "pipeline.ts");
});

Deno.test("echo_server.ts + echo_client.ts: two clients, then the server stops by itself", async () => {
  const server = await startServer([
    "--port",
    "0",
    "--connections",
    "2",
    "--idle-ms",
    "30000",
  ]);
  try {
    const [, port] = await server.waitFor(/^listening on 127\.0\.0\.1:(\d+)$/);
    let sent = 0;
    for (const count of [5, 12]) {
      const out = lines(
        await runExample("echo_client.ts", [
          "--port",
          port,
          "--count",
          String(count),
        ]),
        "echo_client.ts",
      );
      includesLine(out, /^connected from 127\.0\.0\.1:\d+$/, "echo_client.ts");
      for (let i = 1; i <= count; i++) {
        includesLine(out, `echo: message ${i} of ${count}`, "echo_client.ts");
        sent += `message ${i} of ${count}\n`.length;
      }
      includesLine(
        out,
        new RegExp(`^${count} round trips in [\\d.]+ ms \\(\\d+ µs each\\)$`),
        "echo_client.ts",
      );
    }
    const { code, stderr } = await server.finish();
    assert.equal(code, 0, `echo_server.ts should exit 0; stderr:\n${stderr}`);
    includesLine(
      server.lines,
      /^127\.0\.0\.1:\d+ left \(2\/2\)$/,
      "echo_server.ts",
    );
    includesLine(
      server.lines,
      `served 2 connections, echoed ${sent} bytes`,
      "echo_server.ts",
    );
  } finally {
    await server.kill();
  }
});

Deno.test("echo_server.ts stops when no client comes", async () => {
  const out = lines(
    await runExample("echo_server.ts", ["--idle-ms", "200"]),
    "echo_server.ts",
  );
  includesLine(out, /^listening on 127\.0\.0\.1:\d+$/, "echo_server.ts");
  includesLine(out, "no client for 200 ms: stopping", "echo_server.ts");
  includesLine(out, "served 0 connections, echoed 0 bytes", "echo_server.ts");
});

Deno.test("echo_client.ts without a server says so and exits 1", async () => {
  // A port that was free a moment ago and has no listener now.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const outcome = await runExample("echo_client.ts", ["--port", String(port)]);
  assert.equal(outcome.code, 1);
  assert.match(
    outcome.stderr,
    new RegExp(
      `connect to 127\\.0\\.0\\.1:${port} failed: ECONNREFUSED.*is echo_server\\.ts running\\?`,
    ),
  );
});

Deno.test("chat.ts: every client hears every other client through one Channel", async () => {
  const out = lines(
    await runExample("chat.ts", ["--clients", "6", "--messages", "4"]),
    "chat.ts",
  );
  includesLine(out, /^chat server on 127\.0\.0\.1:\d+$/, "chat.ts");
  for (let user = 1; user <= 6; user++) {
    includesLine(
      out,
      `user-${user} heard 20 messages from 5 others`,
      "chat.ts",
    );
  }
  includesLine(
    out,
    "6 clients, 24 messages broadcast, 120 deliveries",
    "chat.ts",
  );
});

Deno.test("udp_ping.ts: every ping gets its pong", async () => {
  const out = lines(
    await runExample("udp_ping.ts", ["--count", "50"]),
    "udp_ping.ts",
  );
  includesLine(out, /^responder on 127\.0\.0\.1:\d+$/, "udp_ping.ts");
  includesLine(
    out,
    "50/50 pongs, 0 lost; responder answered 50",
    "udp_ping.ts",
  );
  includesLine(
    out,
    /^round trip: min \d+ µs, avg \d+ µs, max \d+ µs$/,
    "udp_ping.ts",
  );
});

Deno.test("demo.ts: echo server and client tasks, bounded, with a rate", async () => {
  const outcome = await runExample("demo.ts", [
    "--clients",
    "3",
    "--seconds",
    "0.5",
  ]);
  const out = lines(outcome, "demo.ts");
  includesLine(out, /^echo server listening on 127\.0\.0\.1:\d+$/, "demo.ts");
  for (let i = 1; i <= 3; i++) {
    const line = out.find((l) => l.startsWith(`client ${i}: `));
    assert.ok(line, `demo.ts reports client ${i}`);
    assert.ok(
      Number(line.match(/(\d+) round trips/)![1]) > 0,
      `client ${i} made round trips: ${line}`,
    );
  }
  includesLine(out, "3 clients, 3 connections served and closed", "demo.ts");
  includesLine(
    out,
    /^\d+ round trips in [\d.]+ s: \d+ round trips\/s; each client waited [\d.]+ µs per round trip$/,
    "demo.ts",
  );
  assert.ok(
    outcome.elapsedMs < 15_000,
    `demo.ts ends by itself soon after its 0.5 s (took ${outcome.elapsedMs} ms)`,
  );
});

Deno.test("tls_echo.ts: a verified TLS connection with ALPN echoes three lines", async () => {
  const out = lines(await runExample("tls_echo.ts"), "tls_echo.ts");
  includesLine(out, /^TLS echo server on 127\.0\.0\.1:\d+$/, "tls_echo.ts");
  includesLine(out, "client: verified localhost, ALPN echo/1", "tls_echo.ts");
  includesLine(out, "server: handshake done, ALPN echo/1", "tls_echo.ts");
  for (let index = 1; index <= 3; index++) {
    includesLine(out, `client: echoed "line ${index}"`, "tls_echo.ts");
  }
  includesLine(out, "done", "tls_echo.ts");
});

Deno.test("multicore_server.ts: one port, a loop per Worker, both Workers answer", async () => {
  const out = lines(
    await runExample("multicore_server.ts", [
      "--workers",
      "2",
      "--connections",
      "60",
    ]),
    "multicore_server.ts",
  );
  includesLine(
    out,
    /^2 workers listening on 127\.0\.0\.1:\d+$/,
    "multicore_server.ts",
  );
  let total = 0;
  for (const worker of [0, 1]) {
    const line = out.find((l) => l.startsWith(`pong ${worker}: `));
    assert.ok(line, `worker ${worker} answered some of the 60 connections`);
    total += Number(line.match(/(\d+) connections/)![1]);
  }
  assert.equal(total, 60);
});
