// A DNS-like request/response over UDP, the shape dnsperf drives: a
// responder answers each query datagram with one A record. Ours (UDPEndpoint
// under run() and runSync(): receive() one by one, send() each answer)
// against its twin on Deno.listenDatagram (bench/peers/udp_dns_deno.ts:
// receive(buffer), awaited send), each in its own process pinned to CPU 0,
// dnsperf pinned to CPU 1. Reported per round and as medians: queries per
// second, and the responder's CPU time (user + system, from /proc) per
// query, which is steadier than queries per second on a shared machine.
//
//   deno run -A --unstable-net bench/udp_dns.ts [SECONDS] [ROUNDS] [OUTSTANDING...]
//
// OUTSTANDING: dnsperf's -q, queries in flight (default: 1 and 100). Needs
// dnsperf (Debian: apt-get install dnsperf) and taskset.

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { answerQuery } from "./udp_dns_answer.ts";

if (Deno.args[0] === "--serve") {
  // The responder written on this library, as a user would.
  const loop = new EventLoop();
  const server = new UDPEndpoint({ receiveSize: 512 });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  console.log(server.sockname.port);
  const reply = new Uint8Array(512);
  spawn(function* () {
    for (;;) {
      const [query, from] = yield* server.receive();
      const length = answerQuery(query, reply);
      if (length > 0) server.send(reply.subarray(0, length), from);
    }
  });
  if (Deno.args[1] === "runSync") loop.runSync();
  else await loop.run();
  Deno.exit(0);
}

const SECONDS = Number(Deno.args[0] ?? "5");
const ROUNDS = Number(Deno.args[1] ?? "3");
const OUTSTANDING = Deno.args.length > 2
  ? Deno.args.slice(2).map(Number)
  : [1, 100];

async function has(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${command}`],
      stdout: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

for (const command of ["dnsperf", "taskset"]) {
  if (!await has(command)) {
    console.error(
      `${command} is needed (Debian: apt-get install dnsperf util-linux)`,
    );
    Deno.exit(1);
  }
}

const ticksPerSecond = Number(
  new TextDecoder().decode(
    (await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output())
      .stdout,
  ).trim(),
) || 100;

/** utime + stime of a process, all threads, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

const queries = await Deno.makeTempFile({ prefix: "udp_dns_", suffix: ".txt" });
await Deno.writeTextFile(
  queries,
  Array.from({ length: 1000 }, (_, i) => `host${i}.example.com A\n`).join(""),
);

const script = new URL(import.meta.url).pathname;
const peer = new URL("./peers/udp_dns_deno.ts", import.meta.url).pathname;
const servers: [string, string[]][] = [
  ["deno listenDatagram", ["run", "-A", "--unstable-net", peer]],
  ["evergreen run()", ["run", "-A", script, "--serve", "run"]],
  ["evergreen runSync()", ["run", "-A", script, "--serve", "runSync"]],
];

interface Figure {
  qps: number;
  cpuMicros: number;
}

async function measure(args: string[], outstanding: number): Promise<Figure> {
  const server = new Deno.Command("taskset", {
    args: ["-c", "0", Deno.execPath(), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = server.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the responder ${args.join(" ")} ended`);
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const port = text.trim().split("\n")[0];
    const before = cpuSeconds(server.pid);
    const output = await new Deno.Command("taskset", {
      args: [
        "-c",
        "1",
        "dnsperf",
        "-s",
        "127.0.0.1",
        "-p",
        port,
        "-d",
        queries,
        "-l",
        String(SECONDS),
        "-q",
        String(outstanding),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const after = cpuSeconds(server.pid);
    const report = new TextDecoder().decode(output.stdout);
    const completed = Number(report.match(/Queries completed:\s+(\d+)/)?.[1]);
    const qps = Number(report.match(/Queries per second:\s+([\d.]+)/)?.[1]);
    if (!(completed > 0)) throw new Error(`dnsperf failed:\n${report}`);
    return { qps, cpuMicros: (after - before) * 1e6 / completed };
  } finally {
    server.kill("SIGKILL");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

console.log(
  `DNS-like UDP request/response, dnsperf ${SECONDS} s x ${ROUNDS} rounds; responder on CPU 0, dnsperf on CPU 1`,
);
for (const outstanding of OUTSTANDING) {
  const results = new Map<string, Figure[]>(servers.map(([n]) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, args] of servers) {
      results.get(name)!.push(await measure(args, outstanding));
    }
  }
  console.log(
    `-q ${outstanding} (queries in flight): median qps, responder CPU µs per query`,
  );
  const deno = results.get("deno listenDatagram")!;
  for (const [name] of servers) {
    const figures = results.get(name)!;
    const qps = median(figures.map((figure) => figure.qps));
    const cpu = median(figures.map((figure) => figure.cpuMicros));
    const ratio = name.startsWith("deno")
      ? ""
      : `   CPU ${
        (cpu / median(deno.map((figure) => figure.cpuMicros))).toFixed(2)
      }x Deno's, qps ${
        (qps / median(deno.map((figure) => figure.qps))).toFixed(2)
      }x`;
    console.log(
      `  ${name.padEnd(22)} ${qps.toFixed(0).padStart(7)} q/s ${
        cpu.toFixed(2).padStart(7)
      } µs${ratio}`,
    );
  }
}
await Deno.remove(queries);
