// The floor of a per-line API in JavaScript, for the line echo of
// bench/real_clients.ts (issue 11: line echo, server CPU per line, ours/twin
// at most 1.0x). One process, no I/O, no native library: ~1M lines of 26 B
// (the socat input) held in memory, fed in 64 KiB chunks as reads would
// bring them, and the JavaScript work each server shape must do on them.
// The figure is CPU time per line, from the scheduler's run time of this
// thread (/proc/thread-self/schedstat, ns), min and median over rounds; the
// rows take turns within each round, each timed run repeats a row's work
// for at least 200 ms of CPU, after a warm-up.
//
//   (a) twin      what bench/peers/line_echo_deno.ts does in JavaScript: per
//                 64 KiB chunk, lastIndexOf("\n") and one copy of the
//                 complete lines out (where its write() hands them to the
//                 kernel). No per-line work at all.
//   (b) generator the least a per-line API must do (bench/servers/
//                 line_echo.ts's shape: `yield* readUntil("\n")` +
//                 `write(line)`): per line, one generator run by `yield*`
//                 that finds "\n" from where the last one ended and returns
//                 a new Uint8Array (a view; our readUntil copies) of the
//                 line, and write()'s copy of the line into an output
//                 buffer. The generator yields (to wait for a read) only when
//                 the chunk holds no more "\n", once per chunk.
//   (c) function  the same with a plain function in place of the generator:
//                 what a per-line API that is not a generator would cost.
//
// Every timed run checks that the output is the input. (b) - (a) is what a
// per-line API pays in JavaScript on top of the twin's work, before any I/O
// layer: a per-line server costs at least the twin's CPU per line T plus
// that, so its best ratio against the twin is (T + (b) - (a)) / T (printed
// with --twin-ns T, T from bench/real_clients.ts). (b)/(c) is the share of
// the generator protocol.
//
//   deno run -A bench/line_floor.ts [--lines N] [--rounds N] [--twin-ns T]
//
// Linux only (schedstat; Deno reads /proc/thread-self only with -A). Pin it
// (`taskset -c 0 deno run -A ...`) on a quiet CPU for steadier figures.

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    lines: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "15" },
    "twin-ns": { type: "string" },
  },
});
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);
if (!(Number.isInteger(LINES) && LINES > 0)) {
  throw new RangeError(
    `--lines must be a positive integer, got ${values.lines}`,
  );
}
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0)) {
  throw new RangeError(
    `--rounds must be a positive integer, got ${values.rounds}`,
  );
}
const TWIN_NS = values["twin-ns"] === undefined
  ? NaN
  : Number(values["twin-ns"]);
if (values["twin-ns"] !== undefined && !(TWIN_NS > 0)) {
  throw new RangeError(
    `--twin-ns must be a positive number, got ${values["twin-ns"]}`,
  );
}
const CHUNK = 64 * 1024;
const NEWLINE = 10;

/** This thread's CPU time in ns (the scheduler's run time). */
function cpuNanoseconds(): number {
  const text = Deno.readTextFileSync("/proc/thread-self/schedstat");
  return Number(text.slice(0, text.indexOf(" ")));
}

// The socat input of bench/real_clients.ts: line i is 26 bytes.
const input = new TextEncoder().encode(
  Array.from(
    { length: LINES },
    (_, i) => `line ${String(i).padStart(8, "0")} of the echo\n`,
  ).join(""),
);
const output = new Uint8Array(input.length);

/** Where an echo writes: an output buffer and how much of it is used. */
interface Sink {
  bytes: Uint8Array;
  used: number;
}

/** write(): copies `line` into the sink. */
function write(sink: Sink, line: Uint8Array): void {
  sink.bytes.set(line, sink.used);
  sink.used += line.length;
}

// ---------------------------------------------------------------- (a) twin

/**
 * Per 64 KiB read: lastIndexOf("\n"), one copy of the complete lines out;
 * the partial line left over starts the next read (the twin moves it to the
 * front of its buffer, under 26 bytes).
 */
function twin(sink: Sink): void {
  let start = 0;
  while (start < input.length) {
    const end = Math.min(start + CHUNK, input.length);
    const chunk = input.subarray(start, end);
    const last = chunk.lastIndexOf(NEWLINE);
    const lines = last < 0 ? chunk.length : last + 1;
    write(sink, chunk.subarray(0, lines));
    start += lines;
  }
}

// ---------------------------------------------------------------- (b), (c)

/** A read buffer: the bytes, where the next line starts, what has arrived. */
interface Reader {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/**
 * readUntil("\n") as a generator: the line up to and including "\n" as a
 * new view; yields (waits for a read) while the arrived bytes hold no "\n";
 * at end of stream what is left, then an empty array. The scan is a loop
 * over the bytes (for 26 B cheaper than a call to indexOf) and the view a
 * `new Uint8Array(buffer, offset, length)` (cheaper than subarray): the
 * cheapest forms measured here.
 */
function* readLine(reader: Reader): Generator<void, Uint8Array, void> {
  // The library's shape: a small generator around a plain read that answers
  // from what is buffered (readLineNow, below).
  for (;;) {
    const line = readLineNow(reader);
    if (line !== null) return line;
    yield;
  }
}

/** The line echo's per-line shape: `yield* readLine` + `write` per line. */
function* echoGenerator(
  reader: Reader,
  sink: Sink,
): Generator<void, void, void> {
  for (;;) {
    const line = yield* readLine(reader);
    if (line.length === 0) return;
    write(sink, line);
  }
}

/** Feeds `input` to a per-line echo in 64 KiB reads. */
function perLineGenerator(sink: Sink): void {
  const reader: Reader = { bytes: input, start: 0, end: 0 };
  const echo = echoGenerator(reader, sink);
  while (!echo.next().done) {
    reader.end = Math.min(reader.end + CHUNK, input.length);
  }
}

/** readUntil("\n") as a plain function: the line, or null to wait. */
function readLineNow(reader: Reader): Uint8Array | null {
  const bytes = reader.bytes;
  const end = reader.end;
  let found = reader.start;
  while (found < end && bytes[found] !== NEWLINE) found++;
  if (found < end) {
    const line = new Uint8Array(
      bytes.buffer,
      bytes.byteOffset + reader.start,
      found + 1 - reader.start,
    );
    reader.start = found + 1;
    return line;
  }
  if (end === bytes.length) {
    const rest = bytes.subarray(reader.start, end);
    reader.start = end;
    return rest;
  }
  return null;
}

/** The same per-line echo with the plain function. */
function perLineFunction(sink: Sink): void {
  const reader: Reader = { bytes: input, start: 0, end: 0 };
  for (;;) {
    const line = readLineNow(reader);
    if (line === null) {
      reader.end = Math.min(reader.end + CHUNK, input.length);
      continue;
    }
    if (line.length === 0) return;
    write(sink, line);
  }
}

// ---------------------------------------------------------------- measuring

const ROWS: [string, (sink: Sink) => void][] = [
  ["(a) twin: per 64 KiB, lastIndexOf + one copy", twin],
  ["(b) per line: yield* generator, scan, view, copy", perLineGenerator],
  ["(c) per line: function, scan, view, copy", perLineFunction],
];

/** Whether the output is the input, byte for byte. */
function echoed(sink: Sink): boolean {
  if (sink.used !== input.length) return false;
  for (let i = 0; i < input.length; i++) {
    if (output[i] !== input[i]) return false;
  }
  return true;
}

/** `passes` runs of `body` over the input; CPU ns per line. */
function once(body: (sink: Sink) => void, passes: number): number {
  const sink: Sink = { bytes: output, used: 0 };
  const before = cpuNanoseconds();
  for (let pass = 0; pass < passes; pass++) {
    sink.used = 0;
    body(sink);
  }
  const cpu = cpuNanoseconds() - before;
  if (!echoed(sink)) {
    throw new Error(`${body.name}: the output is not the input`);
  }
  output.fill(0);
  return cpu / passes / LINES;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
};

// The scheduler's run time of the running thread advances in steps (about
// a millisecond here), so each timed run repeats a row's work for at least
// RUN_NS of CPU time; the warm-up (which also lets the JIT settle) doubles
// the passes until it does.
const RUN_NS = 200e6;
const passes = ROWS.map(([, body]) => {
  once(body, 3);
  let count = 1;
  while (once(body, count) * count * LINES < RUN_NS) count *= 2;
  return count;
});
const figures = ROWS.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < ROWS.length; k++) {
    const index = (round + k) % ROWS.length;
    figures[index].push(once(ROWS[index][1], passes[index]));
  }
}

const mins = figures.map((values) => Math.min(...values));
const medians = figures.map(median);
console.log(
  `Line echo floor in JavaScript: ${LINES} lines of 26 B in memory, ` +
    `64 KiB reads, no I/O; CPU ns per line, ${ROUNDS} rounds of ` +
    `${passes.join("/")} passes (Deno ${Deno.version.deno}, ` +
    `V8 ${Deno.version.v8})\n`,
);
console.log(
  "| row | ns/line, min | ns/line, median | x (a), min | x (a), median |",
);
console.log("|---|---|---|---|---|");
for (let i = 0; i < ROWS.length; i++) {
  console.log(
    `| ${ROWS[i][0]} | ${mins[i].toFixed(1)} | ${medians[i].toFixed(1)} | ${
      (mins[i] / mins[0]).toFixed(2)
    }x | ${(medians[i] / medians[0]).toFixed(2)}x |`,
  );
}
console.log(
  `\n(b) - (a): ${(mins[1] - mins[0]).toFixed(1)} ns per line (min), ${
    (medians[1] - medians[0]).toFixed(1)
  } (median): what a per-line API adds before any I/O. ` +
    `(b)/(c): ${(mins[1] / mins[2]).toFixed(2)}x (min), ${
      (medians[1] / medians[2]).toFixed(2)
    }x (median): the generator's share.`,
);
if (!Number.isNaN(TWIN_NS)) {
  const least = TWIN_NS + mins[1] - mins[0];
  console.log(
    `With the twin's server at ${TWIN_NS} ns per line, a per-line server ` +
      `(generator API) costs at least ${least.toFixed(0)} ns per line: ` +
      `${(least / TWIN_NS).toFixed(2)}x the twin at best.`,
  );
}
