// TCP throughput over one connection: 1 GiB written in 64 KiB writes and read
// by a task of the same process, in GiB/s; ours under run() and runSync()
// against Deno's own (Deno.connect/Deno.listen with await), rounds
// interleaved, best and median of REPEATS. Target: at least Deno's own.
// Ours reads with readInto() into one reused buffer, as Deno's conn.read
// does, and with readBytes() (a fresh zero-filled array per read).
//
//   deno run -A bench/tcp_throughput.ts [MIB] [REPEATS]

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { StreamError } from "../src/io/errors.ts";
import { median, serveInTask } from "./tcp_shapes.ts";

const MIB = Number(Deno.args[0] ?? "1024");
const REPEATS = Number(Deno.args[1] ?? "3");
const CHUNK = 64 * 1024;
const TOTAL = MIB * 1024 * 1024;
const chunk = new Uint8Array(CHUNK).fill(7);

type Side = () => Promise<number>;

function evergreen(sync: boolean, reuse: boolean): Side {
  return async () => {
    const loop = new EventLoop();
    let received = 0;
    let elapsedMs = 0;
    const start = performance.now();
    const server = new TCPServer({
      *handleConnection(connection) {
        const buffer = new Uint8Array(CHUNK);
        try {
          while (received < TOTAL) {
            const count = reuse
              ? yield* connection.readInto(buffer)
              : (yield* connection.readBytes(CHUNK)).length;
            if (count === 0) break;
            received += count;
          }
        } catch (error) {
          if (!(error instanceof StreamError)) throw error;
        }
        elapsedMs = performance.now() - start;
        connection.close();
        server.close();
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    serveInTask({ spawn, StreamError }, server);
    spawn(function* () {
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      for (let sent = 0; sent < TOTAL; sent += CHUNK) {
        // write() never blocks: flush when the kernel pushes back.
        if (!client.write(chunk)) yield* client.flush();
      }
      yield* client.flush();
      client.close();
    });
    if (sync) loop.runSync();
    else await loop.run();
    loop.destroy();
    if (received !== TOTAL) {
      throw new Error(`received ${received} of ${TOTAL} bytes`);
    }
    return TOTAL / (1 << 30) / (elapsedMs / 1000);
  };
}

const deno: Side = async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const start = performance.now();
  const reading = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(CHUNK);
    let received = 0;
    while (received < TOTAL) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += n;
    }
    conn.close();
    return received;
  })();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    let written = 0;
    while (written < CHUNK) {
      written += await conn.write(chunk.subarray(written));
    }
  }
  const received = await reading;
  const elapsedMs = performance.now() - start;
  conn.close();
  listener.close();
  if (received !== TOTAL) {
    throw new Error(`received ${received} of ${TOTAL} bytes`);
  }
  return TOTAL / (1 << 30) / (elapsedMs / 1000);
};

const sides: [string, Side][] = [
  ["evergreen run()", evergreen(false, true)],
  ["evergreen runSync()", evergreen(true, true)],
  ["run(), readBytes", evergreen(false, false)],
  ["runSync(), readBytes", evergreen(true, false)],
  ["deno (await)", deno],
];
const figures = new Map<string, number[]>(sides.map(([name]) => [name, []]));
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const [name, side] of sides) figures.get(name)!.push(await side());
}
console.log(
  `TCP throughput, ${MIB} MiB in 64 KiB writes, one connection, best (median) of ${REPEATS}, GiB/s`,
);
for (const [name] of sides) {
  const values = figures.get(name)!;
  console.log(
    `  ${name.padEnd(20)} ${Math.max(...values).toFixed(2)} (${
      median(values).toFixed(2)
    })`,
  );
}
const denoBest = Math.max(...figures.get("deno (await)")!);
console.log(
  `  run() / deno       ${
    (Math.max(...figures.get("evergreen run()")!) / denoBest).toFixed(2)
  }x (target >= 1)`,
);
console.log(
  `  runSync() / deno   ${
    (Math.max(...figures.get("evergreen runSync()")!) / denoBest).toFixed(2)
  }x`,
);
