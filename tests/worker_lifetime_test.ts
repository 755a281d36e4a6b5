// The library's lifetime against Workers (issue 10, points 1-3): a Worker
// that used the library may end while library code still runs on other
// threads (a park on Deno's blocking pool, a name lookup) without taking the
// process down, and what its loops owned (loop slot, descriptors, listening
// ports, the parked thread) is given back natively, since a Worker that ends
// runs no JS finalizers.

import assert from "node:assert/strict";
import { testLoopsLive } from "../src/native/test_support.ts";
import { EventLoop } from "../src/loop.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { spawn } from "../src/tasks.ts";
import { eventually } from "./fixtures/loop_harness.ts";

const MOD_URL = new URL("../mod.ts", import.meta.url).href;
const decoder = new TextDecoder();

async function runFixture(
  name: string,
  args: string[],
): Promise<{ code: number; signal: string | null; out: string; err: string }> {
  const fixture = new URL(`./fixtures/${name}`, import.meta.url);
  const { code, signal, stdout, stderr } = await new Deno.Command(
    Deno.execPath(),
    {
      args: ["run", "--allow-all", fixture.pathname, ...args],
      stdout: "piped",
      stderr: "piped",
      // A Worker that cannot end keeps the process alive: fail, not hang.
      signal: AbortSignal.timeout(300_000),
    },
  ).output();
  return {
    code,
    signal,
    out: decoder.decode(stdout),
    err: decoder.decode(stderr),
  };
}

Deno.test({
  name:
    "workers: 200 Workers that serve TCP and UDP and are ended mid-park leave descriptors, sockets, threads and loop slots flat, and their ports bind again",
  // /proc/self/fd and /proc/self/task are Linux's.
  ignore: Deno.build.os !== "linux",
  async fn() {
    const run = await runFixture("worker_churn.ts", ["200"]);
    assert.equal(
      run.code,
      0,
      `worker_churn.ts ended with ${run.code} (${run.signal}): ${run.err}`,
    );
    const result = JSON.parse(run.out);
    assert.equal(result.loopsLive, 0, "every Worker's loop slot was freed");
    assert.equal(result.rebound, 200, "every TCP and UDP port binds again");
    // Against the same churn of Workers that never load the library.
    assert.ok(
      result.library.all <= result.plain.all + 4,
      `descriptors ${result.plain.all} -> ${result.library.all}`,
    );
    assert.ok(
      result.library.sockets <= result.plain.sockets,
      `sockets ${result.plain.sockets} -> ${result.library.sockets}`,
    );
    assert.ok(
      result.library.threads <= result.plain.threads + 2,
      `threads ${result.plain.threads} -> ${result.library.threads}`,
    );
  },
});

Deno.test({
  name:
    "workers: the library stays mapped after the only isolate that opened it closes it",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const path = libraryPath();
    const script = `
      const lib = Deno.dlopen(${
      JSON.stringify(path)
    }, { eg_abi_version: { parameters: [], result: "u32" } });
      lib.symbols.eg_abi_version();
      lib.close();
      const maps = Deno.readTextFileSync("/proc/self/maps");
      console.log(JSON.stringify(maps.includes(${JSON.stringify(path)})));`;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout).trim(), "true");
  },
});

/** The local build this checkout's tests load (EVERGREEN_LIB wins). */
function libraryPath(): string {
  const explicit = Deno.env.get("EVERGREEN_LIB");
  if (explicit) return explicit;
  return new URL("../zig-out/lib/libevergreen.so", import.meta.url).pathname;
}

/**
 * Starts a module Worker running `body` after importing mod.ts; resolves
 * with the Worker and its first message.
 */
async function startWorker(
  body: string,
): Promise<{ worker: Worker; first: unknown }> {
  const code = `import * as eg from ${JSON.stringify(MOD_URL)};\n${body}`;
  const url = URL.createObjectURL(
    new Blob([code], { type: "text/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  URL.revokeObjectURL(url);
  const first = await new Promise((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`worker failed: ${event.message}`));
    };
  });
  return { worker, first };
}

Deno.test("workers: a Worker blocked in runSync() with no timer armed ends when a task calls self.close(), and its loop and port are given back", async () => {
  const loopsBefore = testLoopsLive();
  // The Worker's loop waits natively with nothing armed but its server; the
  // connection below wakes it, and the handler ends the Worker from inside.
  const { first } = await startWorker(`
    const loop = new eg.EventLoop();
    const server = new eg.TCPServer({ *handleConnection() { self.close(); } });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    eg.spawn(function* () { yield* server.serve(); });
    postMessage(server.sockname.port);
    loop.runSync();
    postMessage("runSync returned");
  `);
  const port = first as number;
  assert.ok(await eventually(() => testLoopsLive() === loopsBefore + 1));
  {
    using loop = new EventLoop();
    spawn(function* () {
      const client = new TCPClient();
      yield* client.connect({ hostname: "127.0.0.1", port });
      client.close();
    });
    await loop.run();
  }
  assert.ok(
    await eventually(() => testLoopsLive() === loopsBefore),
    `loops alive: ${testLoopsLive()}, before: ${loopsBefore}`,
  );
  // The exit hook closes the loop, then the thread's sockets: the port is
  // free a moment after the loop count drops.
  const bindable = () => {
    const again = new TCPServer();
    try {
      again.bind({ hostname: "127.0.0.1", port });
      return true;
    } catch {
      return false;
    } finally {
      again.close();
    }
  };
  assert.ok(await eventually(bindable), `port ${port} is bindable again`);
});

Deno.test("workers: a Worker in runSync() with a far timer, ended by self.close() from a task, lets the process exit at once", async () => {
  const started = performance.now();
  const run = await runFixture("worker_runsync_close.ts", []);
  const wallMs = performance.now() - started;
  assert.equal(run.code, 0, run.err);
  assert.deepEqual(JSON.parse(run.out), { message: "in", loopsLive: 0 });
  assert.ok(wallMs < 15_000, `the process took ${wallMs.toFixed(0)} ms`);
});

Deno.test("workers: a Worker under run() that keeps calling lookup() ends at once when terminated, and its loop is given back", async () => {
  const loopsBefore = testLoopsLive();
  for (let round = 0; round < 3; round++) {
    const { worker } = await startWorker(`
      const loop = new eg.EventLoop();
      eg.spawn(function* () {
        for (let n = 0; ; n++) {
          yield* eg.lookup("localhost");
          if (n === 2) postMessage("looking up");
        }
      });
      await loop.run();
    `);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = performance.now();
    worker.terminate();
    assert.ok(
      await eventually(() => testLoopsLive() === loopsBefore, 3_000),
      `loops alive: ${testLoopsLive()}, before: ${loopsBefore}`,
    );
    const endMs = performance.now() - started;
    assert.ok(endMs < 1_000, `the Worker took ${endMs.toFixed(0)} ms to end`);
  }
});
