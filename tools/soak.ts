// The soak test (issue 10 point 15): everything that creates and gives back
// native resources, all at once, for `minutes` (default 10):
//
//   - TCP connection churn against an echo server on 127.0.0.1: round trips
//     closed normally, half-closes (shutdown, then read to end of stream) and
//     resets (SO_LINGER 0: the server sees ECONNRESET);
//   - UDP bursts of 64 datagrams between two endpoints;
//   - Worker churn: each Worker creates a loop, connects to the server, sends
//     a datagram, destroys its loop and creates another (loop create/destroy),
//     parks, and is ended by terminate() or self.close() in turn;
//   - signal delivery: SIGUSR2 and SIGHUP sent to this process and handled
//     through loop.addSignalHandler (not SIGUSR1: like Node, Deno opens its
//     inspector on 127.0.0.1:9229 on the first SIGUSR1 a process receives).
//
// Once a minute it prints descriptors (/proc/self/fd), threads
// (/proc/self/task) and RSS with the work done so far. The first fifth of the
// samples (at least one) is the warm-up, while the JS heaps of the process and
// its Workers reach their working size; the last warm-up sample is the
// baseline. It exits 1 if a later sample has more descriptors or threads than
// the baseline plus the tolerance (+48, +8), if the median RSS of the last
// three samples exceeds it by more than 64 MiB (single samples swing by tens
// of MiB with the Workers alive at that moment), if any work failed in an
// unexpected way, or if some kind of work made no progress.
//
//   tools/dev soak [minutes]             (deno run --allow-all tools/soak.ts)
//   deno run --allow-all tools/soak.ts [minutes] [--sample-seconds=60]

import {
  EventLoop,
  sleep,
  spawn,
  TCPClient,
  type TCPConnection,
  TCPServer,
  UDPEndpoint,
  waitPromise,
} from "../mod.ts";
import { testLingerZero } from "../src/native/stream_native.ts";

const MOD_URL = new URL("../mod.ts", import.meta.url).href;

const positional = Deno.args.filter((arg) => !arg.startsWith("--"));
const minutes = Number(positional[0] ?? 10);
const sampleOption = Deno.args.find((arg) =>
  arg.startsWith("--sample-seconds=")
);
const sampleMs = sampleOption === undefined
  ? 60_000
  : Number(sampleOption.split("=")[1]) * 1000;
if (!(minutes > 0) || !(sampleMs > 0)) {
  console.error(
    "usage: deno run --allow-all tools/soak.ts [minutes > 0] [--sample-seconds=N]",
  );
  Deno.exit(2);
}
if (Deno.build.os !== "linux") {
  console.error("soak: reads /proc/self: Linux only");
  Deno.exit(2);
}

const TOLERANCE = { fds: 48, threads: 8, rssMiB: 64 };
const CLIENTS = 4;
const BURST = 64;
const endAt = performance.now() + minutes * 60_000;
// The first fifth of the samples warms up (at least one).
const WARM_UP_SAMPLES = Math.max(
  1,
  Math.floor(minutes * 60_000 / sampleMs / 5),
);
const running = () => performance.now() < endAt;

const counts = {
  roundTrips: 0,
  halfCloses: 0,
  resets: 0,
  serverConnections: 0,
  datagramsSent: 0,
  datagramsReceived: 0,
  workers: 0,
  signals: 0,
};
const unexpected: string[] = [];

function fail(where: string, error: unknown): void {
  const text = `${where}: ${error instanceof Error ? error.stack : error}`;
  if (unexpected.length < 20) console.error(`soak: unexpected: ${text}`);
  unexpected.push(text);
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string })?.code;
}

interface Sample {
  /** Samples taken so far (minutes, with the default sampling). */
  minute: number;
  fds: number;
  threads: number;
  rssMiB: number;
}

function readSample(minute: number): Sample {
  const status = Deno.readTextFileSync("/proc/self/status");
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return {
    minute,
    fds: [...Deno.readDirSync("/proc/self/fd")].length,
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    rssMiB: Math.round(rssKiB / 1024),
  };
}

const loop = new EventLoop();
loop.setExceptionHandler((error) => fail("loop callback", error));

// ---- TCP: an echo server and clients that end connections three ways ----

const server = new TCPServer({
  *handleConnection(conn: TCPConnection) {
    counts.serverConnections++;
    const buffer = new Uint8Array(4096);
    try {
      for (;;) {
        const n = yield* conn.readInto(buffer);
        if (n === 0) return; // the client half-closed or closed
        conn.write(buffer.subarray(0, n));
        yield* conn.flush();
      }
    } catch (error) {
      const code = codeOf(error);
      // A reset peer, or a write racing its close.
      if (code !== "ECONNRESET" && code !== "EPIPE" && code !== "EBADF") {
        fail("server connection", error);
      }
    } finally {
      conn.close();
    }
  },
});
server.bind({ hostname: "127.0.0.1", port: 0 });
const serverPort = server.sockname.port;
spawn(function* () {
  try {
    yield* server.serve();
  } catch (error) {
    if (codeOf(error) !== "EBADF") fail("serve", error);
  }
});

const payload = new TextEncoder().encode("soak ".repeat(40));

function* clientChurn(id: number): Generator<unknown, void, unknown> {
  let round = id;
  const buffer = new Uint8Array(payload.length);
  while (running()) {
    const client = new TCPClient();
    try {
      yield* client.connect({ hostname: "127.0.0.1", port: serverPort });
      client.write(payload);
      switch (round++ % 3) {
        case 0: {
          yield* client.readBytes(payload.length);
          counts.roundTrips++;
          break;
        }
        case 1: {
          yield* client.shutdown();
          let total = 0;
          for (;;) {
            const n = yield* client.readInto(buffer);
            if (n === 0) break;
            total += n;
          }
          if (total !== payload.length) {
            fail("half-close", `echoed ${total} of ${payload.length} bytes`);
          }
          counts.halfCloses++;
          break;
        }
        default: {
          yield* client.flush();
          testLingerZero(client._handle);
          counts.resets++;
        }
      }
    } catch (error) {
      fail(`client ${id}`, error);
      yield* sleep(10);
    } finally {
      client.close();
    }
  }
}
for (let i = 0; i < CLIENTS; i++) spawn(clientChurn, i);

// ---- UDP bursts ----

const sender = new UDPEndpoint();
const receiver = new UDPEndpoint();
sender.bind({ hostname: "127.0.0.1", port: 0 });
receiver.bind({ hostname: "127.0.0.1", port: 0 });
spawn(function* () {
  try {
    for (;;) {
      yield* receiver.receive();
      counts.datagramsReceived++;
    }
  } catch (error) {
    if (codeOf(error) !== "EBADF") fail("udp receive", error);
  }
});
spawn(function* () {
  const datagram = new Uint8Array(512);
  try {
    while (running()) {
      for (let i = 0; i < BURST; i++) sender.send(datagram, receiver.sockname);
      counts.datagramsSent += BURST;
      yield* sender.flush();
      yield* sleep(5);
    }
  } catch (error) {
    fail("udp send", error);
  }
});

// ---- signals ----

loop.addSignalHandler("SIGUSR2", () => counts.signals++);
loop.addSignalHandler("SIGHUP", () => counts.signals++);
spawn(function* () {
  let n = 0;
  while (running()) {
    Deno.kill(Deno.pid, n++ % 2 === 0 ? "SIGUSR2" : "SIGHUP");
    yield* sleep(20);
  }
});

// ---- Workers (plain async code: run() gives Deno its turns) ----

// No top-level await in the Worker: Deno itself keeps two descriptors of a
// Worker that ends while its module is still being evaluated.
const WORKER_SOURCE = `
import { EventLoop, sleep, spawn, TCPClient, UDPEndpoint } from ${
  JSON.stringify(MOD_URL)
};
self.onmessage = (event) => {
  if (event.data === "close") self.close();
  if (typeof event.data !== "object") return;
  const { tcp, udp } = event.data;
  const first = new EventLoop();
  spawn(function* () {
    const client = new TCPClient();
    yield* client.connect({ hostname: "localhost", port: tcp });
    client.write("worker\\n");
    yield* client.readBytes(7);
    client.close();
    const endpoint = new UDPEndpoint();
    endpoint.send("worker", { hostname: "127.0.0.1", port: udp });
    yield* endpoint.flush();
    endpoint.close();
  });
  first.run().then(() => {
    first.destroy();
    const second = new EventLoop();
    second.callLater(60_000, () => {});
    spawn(function* () { yield* sleep(1); postMessage("ready"); });
    return second.run();
  }).catch((error) => postMessage(String(error?.stack ?? error)));
};
`;

async function workerChurn(): Promise<void> {
  const url = URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "text/javascript" }),
  );
  let n = 0;
  while (running()) {
    const worker = new Worker(url, { type: "module" });
    try {
      const reply = await new Promise<unknown>((resolve, reject) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(event.message));
        };
        worker.postMessage({ tcp: serverPort, udp: receiver.sockname.port });
      });
      if (reply !== "ready") fail("worker", reply);
      counts.workers++;
    } catch (error) {
      fail("worker", error);
    }
    if (n++ % 2 === 0) worker.terminate();
    else worker.postMessage("close");
  }
  URL.revokeObjectURL(url);
}

// ---- sampling ----

const samples: Sample[] = [];
let grew = false;

async function sampleAt(minute: number): Promise<void> {
  // The least of a few readings: connections and Workers in flight come and go.
  let best = readSample(minute);
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = readSample(minute);
    best = {
      minute,
      fds: Math.min(best.fds, next.fds),
      threads: Math.min(best.threads, next.threads),
      rssMiB: Math.min(best.rssMiB, next.rssMiB),
    };
  }
  samples.push(best);
  const over: string[] = [];
  if (samples.length > WARM_UP_SAMPLES) {
    const base = samples[WARM_UP_SAMPLES - 1];
    if (best.fds > base.fds + TOLERANCE.fds) over.push("descriptors");
    if (best.threads > base.threads + TOLERANCE.threads) over.push("threads");
    const recent = samples.slice(-3).map((sample) => sample.rssMiB)
      .sort((a, b) => a - b);
    const rssMiB = recent[Math.floor(recent.length / 2)];
    if (rssMiB > base.rssMiB + TOLERANCE.rssMiB) over.push("RSS");
  }
  if (over.length > 0) grew = true;
  const when = sampleMs === 60_000
    ? `minute ${minute}`
    : `sample ${minute} (${(minute * sampleMs / 1000).toFixed(0)} s)`;
  console.log(
    `soak: ${when}: fds ${best.fds} threads ${best.threads} rss ${best.rssMiB} MiB | ` +
      `round trips ${counts.roundTrips} half-closes ${counts.halfCloses} resets ${counts.resets} ` +
      `udp ${counts.datagramsReceived}/${counts.datagramsSent} workers ${counts.workers} ` +
      `signals ${counts.signals}` +
      (samples.length === WARM_UP_SAMPLES
        ? " (end of warm-up: the baseline)"
        : "") +
      (over.length > 0 ? ` GREW: ${over.join(", ")}` : ""),
  );
}

async function sampling(): Promise<void> {
  const started = performance.now();
  let minute = 0;
  for (;;) {
    const next = started + (minute + 1) * sampleMs;
    if (next > endAt + 1000) return;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, next - performance.now()))
    );
    await sampleAt(++minute);
  }
}

const workersDone = workerChurn().catch((error) => fail("workers", error));
const samplingDone = sampling();
// Closes what keeps the loop alive once the deadline passes and the last
// Worker and the last sample are done.
spawn(function* () {
  while (running()) yield* sleep(100);
  yield* waitPromise(Promise.all([workersDone, samplingDone]));
  server.close();
  sender.close();
  receiver.close();
  loop.removeSignalHandler("SIGUSR2");
  loop.removeSignalHandler("SIGHUP");
});
await loop.run();
loop.destroy();
await workersDone;
await samplingDone;

const stalled = Object.entries(counts)
  .filter(([, value]) => value === 0)
  .map(([name]) => name);
if (stalled.length > 0) {
  console.error(`soak: no progress: ${stalled.join(", ")}`);
}
if (unexpected.length > 0) {
  console.error(`soak: ${unexpected.length} unexpected failures`);
}
if (grew) {
  console.error(
    `soak: resources grew beyond the tolerance (fds +${TOLERANCE.fds}, threads +${TOLERANCE.threads}, RSS +${TOLERANCE.rssMiB} MiB)`,
  );
}
const ok = !grew && unexpected.length === 0 && stalled.length === 0;
console.log(`soak: ${ok ? "flat" : "FAILED"} after ${minutes} min`);
Deno.exit(ok ? 0 : 1);
