// TCP ping-pong with the client in another process: Deno's own client
// (bench/peers/tcp_client_deno.ts, Deno.connect with await) against our
// TCPServer (under run() and under runSync()) and against a Deno server
// (Deno.listen with await) in this process; round trips per second, 1-byte
// messages, rounds interleaved, best (median) of REPEATS. Target: our server
// at least as fast as Deno's.
//
//   deno run -A bench/tcp_crossprocess.ts [ROUNDS] [REPEATS]

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TCPServer } from "../src/io/tcp.ts";
import { StreamError } from "../src/io/errors.ts";
import { median, startEchoServer } from "./tcp_shapes.ts";

const ROUNDS = Number(Deno.args[0] ?? "30000");
const REPEATS = Number(Deno.args[1] ?? "3");
const SIZE = 1;
const client = new URL("./peers/tcp_client_deno.ts", import.meta.url).pathname;

function startClient(port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      client,
      String(port),
      String(ROUNDS),
      String(SIZE),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function figureOf(child: Deno.ChildProcess): Promise<number> {
  const output = await child.output();
  if (!output.success) throw new Error("the client process failed");
  return JSON.parse(new TextDecoder().decode(output.stdout))
    .roundTripsPerSecond;
}

function evergreen(sync: boolean): () => Promise<number> {
  return async () => {
    const loop = new EventLoop();
    const server = startEchoServer(
      { spawn, TCPServer, StreamError },
      SIZE,
      (server) => server.close(),
    );
    const child = startClient(server.sockname.port);
    if (sync) loop.runSync();
    else await loop.run();
    loop.destroy();
    return figureOf(child);
  };
}

async function deno(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = startClient((listener.addr as Deno.NetAddr).port);
  const conn = await listener.accept();
  conn.setNoDelay(true);
  const buffer = new Uint8Array(SIZE);
  outer: for (;;) {
    let got = 0;
    while (got < SIZE) {
      const n = await conn.read(buffer.subarray(got));
      if (n === null) break outer;
      got += n;
    }
    await conn.write(buffer);
  }
  conn.close();
  listener.close();
  return figureOf(child);
}

const sides: [string, () => Promise<number>][] = [
  ["our server, run()", evergreen(false)],
  ["our server, runSync()", evergreen(true)],
  ["deno server (await)", deno],
];
const figures = new Map<string, number[]>(sides.map(([name]) => [name, []]));
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const [name, side] of sides) figures.get(name)!.push(await side());
}
console.log(
  `TCP ping-pong, Deno client in its own process, ${SIZE} B, ${ROUNDS} round trips, best (median) of ${REPEATS}`,
);
for (const [name] of sides) {
  const values = figures.get(name)!;
  console.log(
    `  ${name.padEnd(22)} ${Math.round(Math.max(...values) / 1000)}k (${
      Math.round(median(values) / 1000)
    }k) rt/s`,
  );
}
const denoBest = Math.max(...figures.get("deno server (await)")!);
for (const name of ["our server, run()", "our server, runSync()"]) {
  console.log(
    `  ${name} / deno: ${
      (Math.max(...figures.get(name)!) / denoBest).toFixed(2)
    }x (target >= 1)`,
  );
}
