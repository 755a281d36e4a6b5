/**
 * The event loop's benchmark shapes, shared by `loop_bench.ts` (`deno
 * bench`) and `loop_compare.ts` (side by side with gevent, Effection and
 * plain Deno async): task switches through the loop, spawn + run + finish,
 * libxev's million-timers, and the CPU of an idle `runForever()`.
 *
 * @module
 */

import process from "node:process";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn } from "../src/tasks.ts";

/** How the loop is run: inside Deno's event loop, or blocking the thread. */
export type Mode = "run" | "runSync";

async function drive(loop: EventLoop, mode: Mode): Promise<void> {
  if (mode === "run") await loop.run();
  else loop.runSync();
}

/**
 * `tasks` tasks each doing `yield* sleep(0)` `perTask` times; returns ns per
 * `sleep(0)` (the loop's task switch: task → hub → next task).
 */
export async function sleepZero(
  tasks: number,
  perTask: number,
  mode: Mode,
): Promise<number> {
  const loop = new EventLoop();
  try {
    const body = function* (): Generator<unknown, void, unknown> {
      for (let j = 0; j < perTask; j++) yield* sleep(0);
    };
    for (let i = 0; i < tasks; i++) spawn(body);
    const t0 = performance.now();
    await drive(loop, mode);
    return (performance.now() - t0) * 1e6 / (tasks * perTask);
  } finally {
    loop.destroy();
  }
}

/** The same shape in plain Deno async: `await` of a resolved promise. */
export async function awaitResolved(
  tasks: number,
  perTask: number,
): Promise<number> {
  const resolved = Promise.resolve();
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  const body = async () => {
    for (let j = 0; j < perTask; j++) await resolved;
  };
  for (let i = 0; i < tasks; i++) all.push(body());
  await Promise.all(all);
  return (performance.now() - t0) * 1e6 / (tasks * perTask);
}

/** The same shape in plain Deno async, yielding through `queueMicrotask`. */
export async function awaitMicrotask(
  tasks: number,
  perTask: number,
): Promise<number> {
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  const body = async () => {
    for (let j = 0; j < perTask; j++) {
      await new Promise<void>((resolve) => queueMicrotask(resolve));
    }
  };
  for (let i = 0; i < tasks; i++) all.push(body());
  await Promise.all(all);
  return (performance.now() - t0) * 1e6 / (tasks * perTask);
}

// One body for every task, as in the peers (a generator function made per
// task costs its own prototype object, and V8 then sees a new shape per task).
function* emptyBody(): Generator<unknown, void, unknown> {}

/** Spawns `count` tasks with an empty generator body and runs them all to
 * the end on a fresh loop; returns ns per task. */
export async function spawnFinish(count: number, mode: Mode): Promise<number> {
  const t0 = performance.now();
  const loop = new EventLoop();
  try {
    for (let i = 0; i < count; i++) spawn(emptyBody);
    await drive(loop, mode);
    return (performance.now() - t0) * 1e6 / count;
  } finally {
    loop.destroy();
  }
}

async function emptyAsync(): Promise<void> {}

/** The same shape in plain Deno async: `count` async calls, then
 * `Promise.all`. */
export async function asyncFinish(count: number): Promise<number> {
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < count; i++) all.push(emptyAsync());
  await Promise.all(all);
  return (performance.now() - t0) * 1e6 / count;
}

/** Timings of one million-timers run, in ms. */
export interface TimersResult {
  /** Timers scheduled. */
  count: number;
  /** Scheduling all of them. */
  initMs: number;
  /** From the start of the run until the last one fired. */
  dispatchMs: number;
  /** The largest timeout given, in ms (the least dispatch can take). */
  lastTimeoutMs: number;
}

/**
 * libxev's million-timers (`src/bench/million-timers.zig`): `count` timers,
 * the timeout starting at 1 ms and growing by 1 ms every 1000 timers, all
 * scheduled before the loop runs, each callback counting itself.
 */
export async function millionTimers(
  count: number,
  mode: Mode,
): Promise<TimersResult> {
  const loop = new EventLoop();
  try {
    let fired = 0;
    const callback = () => {
      fired++;
    };
    const t0 = performance.now();
    let timeoutMs = 1;
    for (let i = 0; i < count; i++) {
      if (i % 1000 === 0) timeoutMs++;
      loop.callLater(timeoutMs, callback);
    }
    const t1 = performance.now();
    await drive(loop, mode);
    const t2 = performance.now();
    if (fired !== count) throw new Error(`${fired} of ${count} timers fired`);
    return {
      count,
      initMs: t1 - t0,
      dispatchMs: t2 - t1,
      lastTimeoutMs: timeoutMs,
    };
  } finally {
    loop.destroy();
  }
}

/** The same shape with Deno's own `setTimeout`. */
export async function millionDenoTimers(count: number): Promise<TimersResult> {
  let fired = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const callback = () => {
    if (++fired === count) done();
  };
  const t0 = performance.now();
  let timeoutMs = 1;
  for (let i = 0; i < count; i++) {
    if (i % 1000 === 0) timeoutMs++;
    setTimeout(callback, timeoutMs);
  }
  const t1 = performance.now();
  await finished;
  const t2 = performance.now();
  return {
    count,
    initMs: t1 - t0,
    dispatchMs: t2 - t1,
    lastTimeoutMs: timeoutMs,
  };
}

/** CPU use of an idle loop. */
export interface IdleResult {
  /** Wall time measured, ms. */
  wallMs: number;
  /** CPU time (user + system) of the process meanwhile, ms. */
  cpuMs: number;
  /** The same from /proc/self/stat (Linux only; null elsewhere). */
  procCpuMs: number | null;
}

function procCpuMs(): number | null {
  if (Deno.build.os !== "linux") return null;
  // Fields 14 and 15 (utime, stime) in clock ticks, after the command name.
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) * 1000 / ticksPerSecond;
}

/** Runs an empty `runForever()` for `ms` and measures the CPU it used. */
export async function idleRunForever(ms: number): Promise<IdleResult> {
  const loop = new EventLoop();
  try {
    const timer = setTimeout(() => loop.stop(), ms);
    const usage0 = process.cpuUsage();
    const proc0 = procCpuMs();
    const t0 = performance.now();
    try {
      await loop.runForever();
    } finally {
      clearTimeout(timer);
    }
    const wallMs = performance.now() - t0;
    const usage = process.cpuUsage(usage0);
    const proc1 = procCpuMs();
    return {
      wallMs,
      cpuMs: (usage.user + usage.system) / 1000,
      procCpuMs: proc0 === null || proc1 === null ? null : proc1 - proc0,
    };
  } finally {
    loop.destroy();
  }
}
