// TCP ping-pong over one connection, client and server in one process, 1-byte
// and 1 KiB messages; the figure is round trips per second. Side by side in
// one run, rounds interleaved so that machine noise hits every side alike:
//
//   evergreen run()      TCPClient/TCPServer tasks under loop.run()
//   evergreen runSync()  the same under loop.runSync()
//   deno                 Deno.connect/Deno.listen with await, in this process
//   node, gevent, C      peers in their own processes (bench/peers/), when
//                        node, python3 with gevent, and zig are there
//
//   deno run -A bench/tcp_pingpong.ts [ROUNDS] [REPEATS]
//
// Prints each side's best and median repeat and our ratios to Deno, best
// (median): the target is run() / Deno >= 1.3x for 32-byte messages.

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { StreamError } from "../src/io/errors.ts";
import {
  denoPingPong,
  evergreenPingPong,
  format,
  measure,
  median,
  type Side,
} from "./tcp_shapes.ts";

const ROUNDS = Number(Deno.args[0] ?? "50000");
const REPEATS = Number(Deno.args[1] ?? "3");
const SIZES = [1, 32, 1024];

const modules = { EventLoop, spawn, TCPClient, TCPServer, StreamError };
const evergreen = (sync: boolean): Side =>
  evergreenPingPong(modules, sync, ROUNDS);
const deno = denoPingPong(ROUNDS);

async function peer(command: string, args: string[]): Promise<number> {
  const output = await new Deno.Command(command, { args, stderr: "inherit" })
    .output();
  if (!output.success) throw new Error(`${command} ${args.join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout))
    .roundTripsPerSecond;
}

async function available(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

const peers = new URL("./peers/", import.meta.url).pathname;
const sides: [string, Side][] = [
  ["evergreen run()", evergreen(false)],
  ["evergreen runSync()", evergreen(true)],
  ["deno (await)", deno],
];
if (await available("node", ["--version"])) {
  sides.push([
    "node net",
    (size) =>
      peer("node", [
        `${peers}tcp_pingpong_node.mjs`,
        String(ROUNDS),
        String(size),
      ]),
  ]);
}
if (await available("python3", ["-c", "import gevent"])) {
  sides.push([
    "gevent",
    (size) =>
      peer("python3", [
        `${peers}tcp_pingpong_gevent.py`,
        String(ROUNDS),
        String(size),
      ]),
  ]);
}
const cBinary = await Deno.makeTempFile({ prefix: "tcp_pingpong_" });
if (
  await available("zig", ["cc", "-O2", "-o", cBinary, `${peers}tcp_pingpong.c`])
) {
  sides.push([
    "C (epoll)",
    (size) => peer(cBinary, [String(ROUNDS), String(size)]),
  ]);
}

console.log(
  `TCP ping-pong, ${ROUNDS} round trips per repeat, best (median) of ${REPEATS}, round trips/s`,
);
for (const size of SIZES) {
  const figures = await measure(sides, size, REPEATS);
  const best = (name: string): number => Math.max(...figures.get(name)!);
  console.log(`\n${size} B messages`);
  for (const [name] of sides) {
    const values = figures.get(name)!;
    console.log(
      `  ${name.padEnd(20)} ${format(best(name)).padStart(6)} (${
        format(median(values))
      })`,
    );
  }
  const ratio = (name: string): string =>
    `${(best(name) / best("deno (await)")).toFixed(2)}x (${
      (median(figures.get(name)!) / median(figures.get("deno (await)")!))
        .toFixed(2)
    }x)`;
  console.log(`  run() / deno       ${ratio("evergreen run()")}`);
  console.log(`  runSync() / deno   ${ratio("evergreen runSync()")}`);
}
await Deno.remove(cBinary).catch(() => {});
