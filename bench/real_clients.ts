// Servers written as a user would (bench/servers/, on mod.ts) against their
// Deno-native twins (bench/peers/) and anchors (redis-server; a line echo
// and a DNS responder in C, bench/peers/line_echo.c and dns.c, built on
// first use with zig cc), driven by the real clients people use:
// redis-benchmark, wrk, socat and dnsperf. The server is pinned to CPU 0 and the client to CPU 1 (taskset);
// the figure that counts is the server's CPU time per request (the CPU time
// of the server process, all threads, from /proc before and after each
// client run, over the requests the client completed), steadier than
// requests/s on a shared machine; requests/s are the client's own figures.
// The sides of a workload run side by side, alternating round by round (the
// order rotates each round); the table has medians, and ours/twin is the
// median of the rounds' ratios.
//
//   deno run -A bench/real_clients.ts [options]
//
//   --workloads LIST  comma-separated, of resp-p1, resp-p16, http,
//                     unix-echo, dns (default: all)
//   --rounds N        client runs per side (default 5)
//   --seconds S       length of a wrk or dnsperf run; RESP runs send
//                     about 15000*S (P=1) or 50000*S (P=16) requests per
//                     redis-benchmark test (default 3)
//   --resp-requests N requests per redis-benchmark test (overrides the above)
//   --lines N         lines per socat run (default 1000000)
//   --sync            run our servers with runSync() instead of run()
//   --quick           smoke test: 1 round, 1 s, 20000 lines, short warm-up,
//                     and RESULTS.md/SVG left alone unless --write
//   --write/--no-write  update bench/RESULTS.md (the marked section) and
//                     bench/real_clients.svg (default: write unless --quick)
//
// Clients: redis-benchmark (redis-tools), redis-server, wrk, socat and
// dnsperf. Missing ones are installed with apt-get when running as root on
// Debian/Ubuntu; otherwise the workloads that need them are skipped and the
// script says which packages to install.

import { parseArgs } from "node:util";
import { hasCommand } from "./servers/common.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("..", import.meta.url).pathname;

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    workloads: {
      type: "string",
      default: "resp-p1,resp-p16,http,unix-echo,dns",
    },
    rounds: { type: "string" },
    seconds: { type: "string" },
    "resp-requests": { type: "string" },
    lines: { type: "string" },
    sync: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    write: { type: "boolean" },
    "no-write": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  const text = await Deno.readTextFile(new URL(import.meta.url));
  console.log(
    text.slice(0, text.indexOf("\n\n")).split("\n")
      .map((line) => line.slice(3)).join("\n"),
  );
  Deno.exit(0);
}
const quick = options.quick;
const positive = (name: string, text: string | undefined, fallback: number) => {
  const value = text === undefined ? fallback : Number(text);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`--${name} must be a positive number, got ${text}`);
  }
  return value;
};
const ROUNDS = Math.round(positive("rounds", options.rounds, quick ? 1 : 5));
const SECONDS = positive("seconds", options.seconds, quick ? 1 : 3);
const LINES = Math.round(
  // A million lines cost the servers 60-250 ms of CPU each: 200k were too
  // few to tell 0.06 from 0.07 µs a line.
  positive("lines", options.lines, quick ? 20000 : 1000000),
);
const respRequests = (pipeline: number) =>
  Math.round(
    positive(
      "resp-requests",
      options["resp-requests"],
      (pipeline === 1 ? 15000 : 50000) * SECONDS,
    ),
  );
const WRITE = options["no-write"] ? false : options.write ?? !quick;
const WARMUP = quick ? 0.2 : 0.5; // share of a measured run, once per side

// ---------------------------------------------------------------- clients

const PACKAGES: Record<string, string> = {
  "redis-benchmark": "redis-tools",
  "redis-server": "redis-server",
  wrk: "wrk",
  socat: "socat",
  dnsperf: "dnsperf",
  taskset: "util-linux",
};

/** Installs missing clients where it can; returns those still missing. */
async function ensureClients(binaries: string[]): Promise<Set<string>> {
  const missing: string[] = [];
  for (const binary of binaries) {
    if (!await hasCommand(binary)) missing.push(binary);
  }
  if (missing.length === 0) return new Set();
  const packages = [...new Set(missing.map((binary) => PACKAGES[binary]))];
  if (Deno.uid() === 0 && await hasCommand("apt-get")) {
    console.error(`installing ${packages.join(" ")} with apt-get ...`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    for (
      const args of [["update", "-qq"], ["install", "-y", "-qq", ...packages]]
    ) {
      const { success, stderr } = await new Deno.Command("apt-get", {
        args,
        env,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!success) console.error(new TextDecoder().decode(stderr));
    }
  }
  const still = new Set<string>();
  for (const binary of missing) {
    if (!await hasCommand(binary)) still.add(binary);
  }
  if (still.size > 0) {
    const names = [...new Set([...still].map((binary) => PACKAGES[binary]))];
    console.error(
      `missing clients: ${
        [...still].join(", ")
      }; install them (Debian/Ubuntu: ` +
        `sudo apt-get install -y ${names.join(" ")}); ` +
        `the workloads that need them are skipped`,
    );
  }
  return still;
}

// ---------------------------------------------------------------- servers

const CLOCK_TICKS = await (async () => {
  const { stdout } = await new Deno.Command("getconf", { args: ["CLK_TCK"] })
    .output();
  return Number(new TextDecoder().decode(stdout).trim()) || 100;
})();

/**
 * The CPU time process `pid` has used, in seconds: the sum over its threads
 * of the scheduler's run time (/proc/PID/task/TID/schedstat, nanoseconds),
 * which is what utime + stime in /proc/PID/stat count, without their 10 ms
 * ticks (too coarse for the line echo, whose Deno twin uses ~10 ms per run).
 * A thread that ended during a run would take its time with it; the servers'
 * threads live as long as they do. Falls back to utime + stime without
 * schedstat.
 */
function cpuSeconds(pid: number): number {
  try {
    let nanoseconds = 0;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(
        `/proc/${pid}/task/${task.name}/schedstat`,
      );
      nanoseconds += Number(text.slice(0, text.indexOf(" ")));
    }
    return nanoseconds / 1e9;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** A running server process. */
interface Server {
  pid: number;
  port: number;
  path: string;
  stop(): Promise<void>;
}

/** A contender in a workload. */
interface Side {
  name: string;
  role: "ours" | "ours-alt" | "twin" | "anchor";
  start(): Promise<Server>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function stopper(child: Deno.ChildProcess): () => Promise<void> {
  return async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      return; // it has ended
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* it ended meanwhile */ }
    }, 3000);
    await child.status;
    clearTimeout(timer);
  };
}

/** Starts a server process pinned to CPU 0; waits for its JSON line. */
async function pinnedServer(command: string[], what: string): Promise<Server> {
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", ...command],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  const deadline = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  }, 30000);
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(deadline);
      throw new Error(`${what} ended before it listened`);
    }
    text += value;
  }
  clearTimeout(deadline);
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const where = JSON.parse(text.slice(0, text.indexOf("\n")));
  return {
    pid: child.pid,
    port: where.port ?? 0,
    path: where.path ?? "",
    stop: stopper(child),
  };
}

/** Starts a Deno server script pinned to CPU 0; waits for its JSON line. */
function denoServer(
  script: string,
  extra: string[] = [],
): () => Promise<Server> {
  return () =>
    pinnedServer([
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      `${here}${script}`,
      ...extra,
    ], script);
}

const cPeerBinaries = new Map<string, Promise<string>>();
/**
 * bench/peers/NAME.c, built on first use (`zig cc -O2`, the compiler of the
 * other C peers; `cc -O2` without zig on PATH) into the run's temporary
 * directory.
 */
function cPeer(name: string): Promise<string> {
  let built = cPeerBinaries.get(name);
  if (built !== undefined) return built;
  built = (async () => {
    const source = `${here}peers/${name}.c`;
    const binary = `${socketDir}/${name}`;
    const tried: string[] = [];
    for (const compiler of [["zig", "cc"], ["cc"]]) {
      try {
        const { success, stderr } = await new Deno.Command(compiler[0], {
          args: [...compiler.slice(1), "-O2", "-o", binary, source],
          stdout: "null",
          stderr: "piped",
        }).output();
        if (success) return binary;
        tried.push(
          `${compiler.join(" ")}: ${new TextDecoder().decode(stderr).trim()}`,
        );
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        tried.push(`${compiler.join(" ")}: not on PATH`);
      }
    }
    throw new Error(
      `cannot build ${source} (${tried.join("; ")}); put zig on PATH: ` +
        "export PATH=$(tools/bootstrap.sh):$PATH",
    );
  })();
  cPeerBinaries.set(name, built);
  return built;
}

/** redis-server on a free port, pinned to CPU 0, persistence off. */
async function redisServer(): Promise<Server> {
  const port = freePort();
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      "redis-server",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let tries = 0;; tries++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (tries > 200) {
        await stopper(child)();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { pid: child.pid, port, path: "", stop: stopper(child) };
}

// ---------------------------------------------------------------- runs

/** What one client run did. */
interface Run {
  requests: number;
  perSecond: number;
  /** Why the run does not count (wrong or missing answers), or "". */
  problem: string;
}

/** Runs a client pinned to CPU 1; its stdout, stderr and wall seconds. */
async function client(
  args: string[],
  timeoutSeconds: number,
): Promise<{ stdout: string; stderr: string; seconds: number; ok: boolean }> {
  const start = performance.now();
  const output = await new Deno.Command("taskset", {
    args: ["-c", "1", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutSeconds * 1000),
  }).output();
  const seconds = (performance.now() - start) / 1000;
  const decoder = new TextDecoder();
  return {
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    seconds,
    ok: output.success,
  };
}

const number = (text: string, pattern: RegExp): number => {
  const match = text.match(pattern);
  return match === null ? NaN : Number(match[1]);
};

async function redisBenchmark(
  server: Server,
  pipeline: number,
  share: number,
): Promise<Run> {
  const requests = Math.max(1000, Math.round(respRequests(pipeline) * share));
  const out = await client([
    "redis-benchmark",
    "-h",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-c",
    "50",
    "-P",
    String(pipeline),
    "-n",
    String(requests),
    "-t",
    "ping,set,get",
    "--csv",
  ], 600);
  let total = 0;
  let seconds = 0;
  for (const line of out.stdout.split("\n")) {
    const match = line.match(/^"([A-Z_]+)","([\d.]+)"/);
    if (match === null) continue;
    total += requests;
    seconds += requests / Number(match[2]);
  }
  const problem = !out.ok || total !== 4 * requests
    ? `redis-benchmark: ${out.stderr.trim() || out.stdout.trim()}`.slice(0, 200)
    : "";
  return { requests: total, perSecond: total / seconds, problem };
}

async function wrk(server: Server, share: number): Promise<Run> {
  const seconds = Math.max(1, Math.round(SECONDS * share));
  const out = await client([
    "wrk",
    "-t",
    "1",
    "-c",
    "50",
    "-d",
    `${seconds}s`,
    `http://127.0.0.1:${server.port}/`,
  ], seconds + 60);
  const requests = number(out.stdout, /(\d+) requests in/);
  const perSecond = number(out.stdout, /Requests\/sec:\s+([\d.]+)/);
  const bad = number(out.stdout, /Non-2xx or 3xx responses:\s+(\d+)/);
  const errors = out.stdout.match(/Socket errors:.*/)?.[0] ?? "";
  const problem = !out.ok || !(requests > 0)
    ? `wrk: ${out.stderr.trim() || out.stdout.trim()}`.slice(0, 200)
    : bad > 0
    ? `wrk: ${bad} non-2xx responses`
    : /read [1-9]|write [1-9]|timeout [1-9]/.test(errors)
    ? `wrk: ${errors}`
    : "";
  return { requests, perSecond, problem };
}

let linesFile = "";
/** Line `i` of the socat input (26 bytes). */
const echoLine = (i: number) =>
  `line ${String(i).padStart(8, "0")} of the echo\n`;
async function socat(server: Server, share: number): Promise<Run> {
  const lines = Math.max(1000, Math.round(LINES * share));
  const input = `${linesFile}.${lines}`;
  try {
    Deno.statSync(input);
  } catch {
    const line = (i: number) => echoLine(i);
    const parts: string[] = [];
    for (let i = 0; i < lines; i++) parts.push(line(i));
    Deno.writeTextFileSync(input, parts.join(""));
  }
  const output = `${input}.back`;
  const out = await client([
    "sh",
    "-c",
    `exec socat -t 30 - UNIX-CONNECT:${server.path} < ${input} > ${output}`,
  ], 600);
  const sent = Deno.readFileSync(input);
  const received = Deno.readFileSync(output);
  const back = received.length;
  const same = back === sent.length &&
    sent.every((byte, i) => byte === received[i]);
  Deno.removeSync(output);
  const problem = !out.ok
    ? `socat: ${out.stderr.trim()}`.slice(0, 200)
    : !same
    ? `echo wrong: ${back} of ${sent.length} bytes came back${
      back === sent.length ? " (different bytes)" : ""
    }`
    : "";
  return { requests: lines, perSecond: lines / out.seconds, problem };
}

let queriesFile = "";
async function dnsperf(server: Server, share: number): Promise<Run> {
  const seconds = Math.max(1, Math.round(SECONDS * share));
  const out = await client([
    "dnsperf",
    "-s",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-d",
    queriesFile,
    "-l",
    String(seconds),
  ], seconds + 60);
  const requests = number(out.stdout, /Queries completed:\s+(\d+)/);
  const perSecond = number(out.stdout, /Queries per second:\s+([\d.]+)/);
  const lost = number(out.stdout, /Queries lost:\s+(\d+)/);
  const noError = number(out.stdout, /NOERROR (\d+)/);
  const problem = !out.ok || !(requests > 0)
    ? `dnsperf: ${out.stderr.trim() || out.stdout.trim()}`.slice(0, 200)
    : noError !== requests
    ? `dnsperf: ${requests - noError} answers were not NOERROR`
    : "";
  // A lost query (one the server never answered within dnsperf's 5 s) is
  // reported, not a failure: UDP may drop under load.
  return {
    requests,
    perSecond,
    problem: problem || (lost > requests / 100 ? `dnsperf: ${lost} lost` : ""),
  };
}

// ---------------------------------------------------------------- workloads

interface Workload {
  id: string;
  label: string;
  clients: string[];
  target: number; // ours/twin server CPU per request, at most
  sides: Side[];
  run(server: Server, share: number): Promise<Run>;
}

const sync = options.sync ? ["--sync"] : [];
const runName = options.sync ? "runSync()" : "run()";
let socketDir = "";
const unixPath = (name: string) => `${socketDir}/${name}.sock`;

const respSides = (): Side[] => [
  {
    name: `ours, readUntil/readBytes + write per reply, ${runName}`,
    role: "ours",
    start: denoServer("servers/resp.ts", [...sync]),
  },
  {
    name: `ours, readInto + parser + write per read, ${runName}`,
    role: "ours-alt",
    start: denoServer("servers/resp.ts", ["--shape", "buffered", ...sync]),
  },
  {
    name: "Deno twin, conn.read + parser + write per read",
    role: "twin",
    start: denoServer("peers/resp_deno.ts"),
  },
  { name: "redis-server", role: "anchor", start: redisServer },
];

const WORKLOADS: Workload[] = [
  {
    id: "resp-p1",
    label: "RESP, redis-benchmark -c 50 -P 1 -t ping,set,get",
    clients: ["redis-benchmark", "redis-server"],
    target: 1.0,
    sides: respSides(),
    run: (server, share) => redisBenchmark(server, 1, share),
  },
  {
    id: "resp-p16",
    label: "RESP, redis-benchmark -c 50 -P 16 -t ping,set,get",
    clients: ["redis-benchmark", "redis-server"],
    target: 0.8,
    sides: respSides(),
    run: (server, share) => redisBenchmark(server, 16, share),
  },
  {
    id: "http",
    label: "HTTP/1.1 keep-alive, wrk -t 1 -c 50, GET",
    clients: ["wrk"],
    target: 1.0,
    sides: [
      {
        name: `ours, readUntil + readBytes + write, ${runName}`,
        role: "ours",
        start: denoServer("servers/http.ts", [...sync]),
      },
      {
        name: "Deno.serve",
        role: "twin",
        start: denoServer("peers/http_deno.ts"),
      },
    ],
    run: wrk,
  },
  {
    id: "unix-echo",
    label: `line echo over a Unix socket, socat, ${LINES} lines of 26 B`,
    clients: ["socat"],
    target: 1.0,
    sides: [
      {
        name: `ours, PipeServer readUntil + write per line, ${runName}`,
        role: "ours",
        start: () =>
          denoServer("servers/line_echo.ts", [
            "--path",
            unixPath("ours"),
            ...sync,
          ])(),
      },
      {
        name: `ours, PipeServer readInto + write per read, ${runName}`,
        role: "ours-alt",
        start: () =>
          denoServer("servers/line_echo.ts", [
            "--path",
            unixPath("ours-buffered"),
            "--shape",
            "buffered",
            ...sync,
          ])(),
      },
      {
        name: "Deno twin, Deno.listen unix, write per read",
        role: "twin",
        start: () =>
          denoServer("peers/line_echo_deno.ts", [
            "--path",
            unixPath("deno"),
          ])(),
      },
      {
        name: "C, epoll, memchr + memcpy per line, send per read",
        role: "anchor",
        start: async () =>
          pinnedServer(
            [await cPeer("line_echo"), "--path", unixPath("c")],
            "peers/line_echo.c",
          ),
      },
    ],
    run: socat,
  },
  {
    id: "dns",
    label: "DNS over UDP, dnsperf (A queries, 10000 names)",
    clients: ["dnsperf"],
    target: 0.4,
    sides: [
      {
        name: `ours, UDPEndpoint receive + send, ${runName}`,
        role: "ours",
        start: denoServer("servers/dns.ts", [...sync]),
      },
      {
        name: "Deno twin, listenDatagram receive(buffer) + await send",
        role: "twin",
        start: denoServer("peers/dns_deno.ts"),
      },
      {
        name: "C, epoll, recvmmsg + sendmmsg (GSO) per batch",
        role: "anchor",
        start: async () =>
          pinnedServer(
            [await cPeer("dns")],
            "peers/dns.c",
          ),
      },
    ],
    run: dnsperf,
  },
];

// ---------------------------------------------------------------- measuring

/** The figures of one side after every round. */
interface Figures {
  side: Side;
  byRound: number[]; // server CPU µs per request by round (NaN: not counted)
  perSecond: number[];
  problems: string[];
}

/** The server CPU µs per request of the rounds that counted. */
const cpuMicros = (entry: Figures): number[] =>
  entry.byRound.filter((value) => !Number.isNaN(value));

const median = (values: number[]): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function measure(workload: Workload): Promise<Figures[]> {
  const servers: Server[] = [];
  try {
    for (const side of workload.sides) servers.push(await side.start());
    for (const server of servers) await workload.run(server, WARMUP);
    const figures: Figures[] = workload.sides.map((side) => ({
      side,
      byRound: new Array(ROUNDS).fill(NaN),
      perSecond: [],
      problems: [],
    }));
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < servers.length; k++) {
        const index = (round + k) % servers.length;
        const server = servers[index];
        const before = cpuSeconds(server.pid);
        const run = await workload.run(server, 1);
        const cpu = cpuSeconds(server.pid) - before;
        const entry = figures[index];
        if (run.problem !== "") {
          entry.problems.push(run.problem);
          console.error(`  ${entry.side.name}: ${run.problem}`);
          continue;
        }
        entry.byRound[round] = cpu / run.requests * 1e6;
        entry.perSecond.push(run.perSecond);
        console.error(
          `  round ${round + 1} ${entry.side.name}: ${
            (cpu / run.requests * 1e6).toFixed(2)
          } µs/req, ${Math.round(run.perSecond)} req/s`,
        );
      }
    }
    return figures;
  } finally {
    for (const server of servers) await server.stop();
  }
}

// ---------------------------------------------------------------- report

interface Result {
  workload: Workload;
  figures: Figures[];
}

const fixed = (value: number) =>
  Number.isNaN(value)
    ? "n/a"
    : value >= 100
    ? value.toFixed(0)
    : value >= 10
    ? value.toFixed(1)
    : value >= 1
    ? value.toFixed(2)
    : value.toPrecision(3); // the line echo's hundredths of a µs
const thousands = (value: number) =>
  Number.isNaN(value) ? "n/a" : `${(value / 1000).toFixed(1)}k`;

function twinOf(result: Result): Figures | undefined {
  return result.figures.find((entry) => entry.side.role === "twin");
}

/**
 * Ours against the twin: the median of the rounds' ratios (each round
 * measures the sides back to back, so a machine that slows down over the
 * run, as this one does by up to 2x, moves both sides of a ratio).
 */
function ratio(entry: Figures, result: Result): number {
  const twin = twinOf(result);
  if (twin === undefined) return NaN;
  const ratios: number[] = [];
  entry.byRound.forEach((ours, round) => {
    const theirs = twin.byRound[round];
    if (!Number.isNaN(ours) && !Number.isNaN(theirs)) {
      ratios.push(ours / theirs);
    }
  });
  return median(ratios);
}

function table(results: Result[]): string {
  const rows = [
    "| workload (real client) | server | CPU µs/request, median [min-max] | requests/s, median | ours/twin CPU | target |",
    "|---|---|---|---|---|---|",
  ];
  for (const result of results) {
    for (const entry of result.figures) {
      const ours = entry.side.role === "ours" || entry.side.role === "ours-alt";
      const r = ours ? ratio(entry, result) : NaN;
      const counted = cpuMicros(entry);
      const cpu = counted.length === 0
        ? "no valid round"
        : `${fixed(median(counted))} [${fixed(Math.min(...counted))}-${
          fixed(Math.max(...counted))
        }]`;
      const failed = entry.problems.length > 0
        ? ` (${entry.problems.length} of ${ROUNDS} rounds failed: ${
          entry.problems[0]
        })`
        : "";
      const target = entry.side.role !== "ours"
        ? ""
        : Number.isNaN(r)
        ? `≤ ${result.workload.target.toFixed(1)}x`
        : `≤ ${result.workload.target.toFixed(1)}x: ${
          r <= result.workload.target ? "met" : "not met"
        }`;
      rows.push(
        `| ${result.workload.label} | ${entry.side.name}${failed} | ${cpu} | ${
          thousands(median(entry.perSecond))
        } | ${
          ours && !Number.isNaN(r) ? `${r.toFixed(2)}x` : ""
        } | ${target} |`,
      );
    }
  }
  return rows.join("\n");
}

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

const COLORS: Record<Side["role"], string> = {
  ours: "#2e8b57",
  "ours-alt": "#8fc9a3",
  twin: "#4f6d8f",
  anchor: "#c0504d",
};

/** A hand-written SVG: per workload, a bar per server, CPU per request. */
function chart(results: Result[], stamp: string): string {
  const width = 980;
  const labelWidth = 330;
  const barMax = 380;
  const barHeight = 16;
  const parts: string[] = [];
  let y = 58;
  for (const result of results) {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${
        escape(result.workload.label)
      }</text>`,
    );
    y += 8;
    const largest = Math.max(
      ...result.figures.map((entry) => median(cpuMicros(entry)))
        .filter((value) => !Number.isNaN(value)),
    );
    for (const entry of result.figures) {
      const value = median(cpuMicros(entry));
      const length = Number.isNaN(value) ? 0 : value / largest * barMax;
      const ours = entry.side.role === "ours" ||
        entry.side.role === "ours-alt";
      const r = ours ? ratio(entry, result) : NaN;
      const note = Number.isNaN(value)
        ? "no valid round"
        : `${fixed(value)} µs${
          Number.isNaN(r) ? "" : `  (${r.toFixed(2)}x twin)`
        }${
          entry.problems.length === 0
            ? ""
            : `; ${entry.problems.length} of ${ROUNDS} rounds wrong`
        }`;
      parts.push(
        `<text x="${labelWidth - 6}" y="${
          y + barHeight - 4
        }" text-anchor="end" font-size="11">${escape(entry.side.name)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${
          length.toFixed(1)
        }" height="${barHeight}" fill="${COLORS[entry.side.role]}"/>`,
        `<text x="${labelWidth + length + 6}" y="${
          y + barHeight - 4
        }" font-size="11">${escape(note)}</text>`,
      );
      y += barHeight + 4;
    }
    // The target: a dashed line where ours would meet it (twin x target).
    const twin = twinOf(result);
    const goal = twin === undefined
      ? NaN
      : median(cpuMicros(twin)) * result.workload.target;
    if (!Number.isNaN(goal) && largest > 0) {
      const x = labelWidth + Math.min(goal / largest, 1) * barMax;
      const top = y - result.figures.length * (barHeight + 4) - 2;
      parts.push(
        `<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${
          y - 2
        }" stroke="#222" stroke-width="1.5" stroke-dasharray="4 3"/>`,
        `<text x="${x.toFixed(1)}" y="${
          y + 10
        }" text-anchor="middle" font-size="10" fill="#222">target ${
          result.workload.target.toFixed(1)
        }x twin</text>`,
      );
    }
    y += 26;
  }
  const height = y + 10;
  const legend = (
    [["ours", "ours (mod.ts)"], ["ours-alt", "ours, other shape"], [
      "twin",
      "Deno twin",
    ], ["anchor", "redis-server, C"]] as const
  ).map(([role, text], i) =>
    `<rect x="${10 + i * 170}" y="30" width="12" height="12" fill="${
      COLORS[role]
    }"/><text x="${28 + i * 170}" y="40" font-size="12">${text}</text>`
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">Server CPU per request under real clients (shorter is better; bars scaled per workload)</text>`,
    ...legend,
    `<text x="${
      width - 10
    }" y="40" text-anchor="end" font-size="11" fill="#666">${
      escape(stamp)
    }</text>`,
    ...parts,
    `</svg>`,
    "",
  ].join("\n");
}

const BEGIN = "<!-- real_clients: begin (written by bench/real_clients.ts) -->";
const END = "<!-- real_clients: end -->";

async function git(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: root, stderr: "null" })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
    " ",
  );
}

// ---------------------------------------------------------------- main

const wanted = options.workloads.split(",").map((id) => id.trim());
for (const id of wanted) {
  if (!WORKLOADS.some((workload) => workload.id === id)) {
    throw new Error(
      `unknown workload ${id}; known: ${WORKLOADS.map((w) => w.id).join(", ")}`,
    );
  }
}
if (Deno.build.os !== "linux") {
  throw new Error("bench/real_clients.ts needs Linux (taskset and /proc)");
}
const workloads = WORKLOADS.filter((workload) => wanted.includes(workload.id));
const missing = await ensureClients([
  "taskset",
  ...new Set(workloads.flatMap((workload) => workload.clients)),
]);
if (missing.has("taskset")) throw new Error("taskset (util-linux) is missing");
const runnable = workloads.filter((workload) =>
  workload.clients.every((binary) => !missing.has(binary))
);
if (runnable.length === 0) {
  console.error("no workload can run");
  Deno.exit(1);
}

// Keep this driver off the server's CPU.
await new Deno.Command("taskset", {
  args: ["-a", "-p", "-c", "1", String(Deno.pid)],
  stdout: "null",
}).output();

const work = await Deno.makeTempDir({ prefix: "evergreen-real-clients-" });
socketDir = work;
linesFile = `${work}/lines`;
queriesFile = `${work}/queries`;
Deno.writeTextFileSync(
  queriesFile,
  Array.from({ length: 10000 }, (_, i) => `host${i}.bench.test A\n`).join(""),
);

const loadBefore = loadAverage();
const started = new Date();
const results: Result[] = [];
try {
  for (const workload of runnable) {
    console.error(`${workload.label}: ${ROUNDS} rounds`);
    results.push({ workload, figures: await measure(workload) });
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
const loadAfter = loadAverage();

const commit = await git(["rev-parse", "--short", "HEAD"]);
const dirty = (await git(["status", "--porcelain", "--", "src", "zig"])) !== "";
const stamp = `${started.toISOString().slice(0, 16)}Z, ${commit}${
  dirty ? "+changes" : ""
}, Deno ${Deno.version.deno}`;
const command = `deno run -A bench/real_clients.ts ${Deno.args.join(" ")}`
  .trim();
const report = [
  `Run ${stamp}; \`${command}\`: ${ROUNDS} rounds per side, alternating ` +
  `(ours/twin: the median of the rounds' ratios); ` +
  `${SECONDS} s per wrk/dnsperf run, ${respRequests(1)} (P=1) and ${
    respRequests(16)
  } (P=16) requests per redis-benchmark test, ${LINES} lines per socat run; ` +
  `server on CPU 0, client on CPU 1; load average ${loadBefore} before, ` +
  `${loadAfter} after.`,
  "",
  table(results),
].join("\n");
console.log(report);

if (WRITE) {
  const resultsPath = `${here}RESULTS.md`;
  const text = await Deno.readTextFile(resultsPath);
  const section = `${BEGIN}\n\n${report}\n\n${END}`;
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const updated = begin >= 0 && end > begin
    ? text.slice(0, begin) + section + text.slice(end + END.length)
    : `${text.trimEnd()}\n\n## Servers under real clients\n\n${section}\n`;
  await Deno.writeTextFile(resultsPath, updated);
  await Deno.writeTextFile(`${here}real_clients.svg`, chart(results, stamp));
  // Keep `deno fmt --check` clean: let it align the table, wrap the text
  // and indent the SVG.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", resultsPath, `${here}real_clients.svg`],
    stdout: "null",
  }).output();
  console.error("wrote bench/RESULTS.md and bench/real_clients.svg");
}
