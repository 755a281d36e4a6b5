// Many connections: CLIENTS concurrent echo clients in one process, each doing
// REQUESTS round trips of 64-byte messages against one echo server; the
// figures are requests per second over the whole run and the p99 of each
// request's round-trip time. Every client connects first; all start their
// requests together, so that all CLIENTS are in flight at once. Ours (tasks, under run() and runSync()) against
// Deno's own (async functions over Deno.connect/Deno.listen), rounds
// interleaved, best (by throughput) of REPEATS.
//
//   deno run -A bench/tcp_many.ts [CLIENTS] [REQUESTS] [REPEATS]

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { StreamError } from "../src/io/errors.ts";
import { readFull, startEchoServer } from "./tcp_shapes.ts";

const CLIENTS = Number(Deno.args[0] ?? "1000");
const REQUESTS = Number(Deno.args[1] ?? "100");
const REPEATS = Number(Deno.args[2] ?? "3");
const SIZE = 64;

interface Figure {
  requestsPerSecond: number;
  p99Ms: number;
}

function figure(latenciesMs: Float64Array, elapsedMs: number): Figure {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    requestsPerSecond: latenciesMs.length / elapsedMs * 1000,
    p99Ms: sorted[Math.floor(sorted.length * 0.99)],
  };
}

function evergreen(sync: boolean): () => Promise<Figure> {
  return async () => {
    const loop = new EventLoop();
    const server = startEchoServer({ spawn, TCPServer, StreamError }, SIZE);
    const latencies = new Float64Array(CLIENTS * REQUESTS);
    let connected = 0;
    let finished = 0;
    let start = 0;
    let elapsedMs = 0;
    const go = new Event();
    const address = server.sockname;
    for (let c = 0; c < CLIENTS; c++) {
      spawn(function* () {
        const client = new TCPClient();
        yield* client.connect(address);
        const message = new Uint8Array(SIZE);
        if (++connected === CLIENTS) {
          start = performance.now();
          go.set();
        }
        yield* go.wait();
        for (let r = 0; r < REQUESTS; r++) {
          const sent = performance.now();
          client.write(message);
          yield* client.readBytes(SIZE);
          latencies[c * REQUESTS + r] = performance.now() - sent;
        }
        client.close();
        if (++finished === CLIENTS) {
          elapsedMs = performance.now() - start;
          server.close();
        }
      });
    }
    if (sync) loop.runSync();
    else await loop.run();
    loop.destroy();
    return figure(latencies, elapsedMs);
  };
}

async function deno(): Promise<Figure> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const handlers: Promise<void>[] = [];
  const accepting = (async () => {
    for (let i = 0; i < CLIENTS; i++) {
      const conn = await listener.accept();
      conn.setNoDelay(true);
      handlers.push((async () => {
        const buffer = new Uint8Array(SIZE);
        while (await readFull(conn, buffer)) await conn.write(buffer);
        conn.close();
      })());
    }
  })();
  const latencies = new Float64Array(CLIENTS * REQUESTS);
  let start = 0;
  let connected = 0;
  let release = (): void => {};
  const go = new Promise<void>((resolve) => release = resolve);
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const message = new Uint8Array(SIZE);
    const buffer = new Uint8Array(SIZE);
    if (++connected === CLIENTS) {
      start = performance.now();
      release();
    }
    await go;
    for (let r = 0; r < REQUESTS; r++) {
      const sent = performance.now();
      await conn.write(message);
      await readFull(conn, buffer);
      latencies[c * REQUESTS + r] = performance.now() - sent;
    }
    conn.close();
  });
  await Promise.all(clients);
  const elapsedMs = performance.now() - start;
  await accepting;
  await Promise.all(handlers);
  listener.close();
  return figure(latencies, elapsedMs);
}

const sides: [string, () => Promise<Figure>][] = [
  ["evergreen run()", evergreen(false)],
  ["evergreen runSync()", evergreen(true)],
  ["deno (await)", deno],
];
const best = new Map<string, Figure>();
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const [name, side] of sides) {
    const result = await side();
    const previous = best.get(name);
    if (
      previous === undefined ||
      result.requestsPerSecond > previous.requestsPerSecond
    ) best.set(name, result);
  }
}
console.log(
  `${CLIENTS} concurrent echo clients x ${REQUESTS} requests of ${SIZE} B, best of ${REPEATS}`,
);
for (const [name] of sides) {
  const { requestsPerSecond, p99Ms } = best.get(name)!;
  console.log(
    `  ${name.padEnd(20)} ${Math.round(requestsPerSecond / 1000)}k req/s, p99 ${
      p99Ms.toFixed(2)
    } ms`,
  );
}
const denoFigure = best.get("deno (await)")!;
for (const name of ["evergreen run()", "evergreen runSync()"]) {
  const ours = best.get(name)!;
  console.log(
    `  ${name} / deno: ${
      (ours.requestsPerSecond / denoFigure.requestsPerSecond).toFixed(2)
    }x throughput, p99 ${(ours.p99Ms / denoFigure.p99Ms).toFixed(2)}x`,
  );
}
