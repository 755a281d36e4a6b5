// Scaling of one port served by a loop per Worker (SO_REUSEPORT), from 1 to
// 2 Workers: examples/multicore_server.ts serves, pinned with taskset to
// SERVER_CPUS, while a C load generator (bench/peers/multicore_load.c, one
// epoll thread, CONNECTIONS connections in request-response) runs pinned
// to LOAD_CPU, so that the load never competes with the Workers it
// measures where the machine has the cores. Each configuration runs
// REPEATS times, alternating.
//
//   deno run -A bench/multicore.ts [SECONDS] [CONNECTIONS] [REPEATS]
//
// Environment: SERVER_CPUS_1 (default "0"), SERVER_CPUS_2 (default "0,1"
// on 2 cores, else "0,1"), LOAD_CPU (default: the last CPU).

const SECONDS = Number(Deno.args[0] ?? "5");
const CONNECTIONS = Number(Deno.args[1] ?? "64");
const REPEATS = Number(Deno.args[2] ?? "3");
const cpus = navigator.hardwareConcurrency;
const LOAD_CPU = Deno.env.get("LOAD_CPU") ?? String(cpus - 1);
const SERVER_CPUS: Record<number, string> = {
  1: Deno.env.get("SERVER_CPUS_1") ?? "0",
  2: Deno.env.get("SERVER_CPUS_2") ?? (cpus >= 4 ? "0,1" : "0,1"),
};

const root = new URL("..", import.meta.url).pathname;
const load = `${Deno.makeTempDirSync()}/multicore_load`;
const compiled = new Deno.Command("cc", {
  args: ["-O2", "-o", load, `${root}bench/peers/multicore_load.c`],
}).outputSync();
if (!compiled.success) {
  throw new Error(new TextDecoder().decode(compiled.stderr));
}

async function measure(workers: number): Promise<number> {
  const server = new Deno.Command("taskset", {
    args: [
      "-c",
      SERVER_CPUS[workers],
      Deno.execPath(),
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-env",
      `${root}examples/multicore_server.ts`,
      "--workers",
      String(workers),
      "--seconds",
      String(SECONDS + 30),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the server ended before listening");
    banner += value;
  }
  const port = Number(banner.match(/127\.0\.0\.1:(\d+)/)![1]);
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      LOAD_CPU,
      load,
      String(port),
      String(CONNECTIONS),
      String(SECONDS),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  server.kill("SIGKILL");
  await server.status;
  reader.releaseLock();
  if (!output.success) throw new Error("the load generator failed");
  return JSON.parse(new TextDecoder().decode(output.stdout)).requestsPerSecond;
}

const results: Record<number, number[]> = { 1: [], 2: [] };
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const workers of [1, 2]) results[workers].push(await measure(workers));
}
const best = (values: number[]) => Math.max(...values);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(
  `multicore: ${CONNECTIONS} connections, ${SECONDS} s, load on CPU ${LOAD_CPU}, ${cpus} CPUs`,
);
for (const workers of [1, 2]) {
  console.log(
    `${workers} worker(s) on CPU ${SERVER_CPUS[workers]}: best ${
      best(results[workers]).toFixed(0)
    } (median ${median(results[workers]).toFixed(0)}) requests/s`,
  );
}
console.log(
  `scaling 1 -> 2 workers: ${
    (best(results[2]) / best(results[1])).toFixed(2)
  }x (median ${(median(results[2]) / median(results[1])).toFixed(2)}x)`,
);
