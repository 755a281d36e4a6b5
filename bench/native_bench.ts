// Costs of the FFI seam: an empty fast-path call (ffi_call_ns), one poll(0)
// of an idle loop, and draining completion records straight from the ring.
// Run: deno bench -A bench/native_bench.ts (after `tools/dev build`).

import { NativeLoop, READABLE } from "../src/native/native_loop.ts";
import { openLibrary } from "../src/native/library.ts";
import {
  startReadExact,
  testClose,
  testPipe,
  testSocketPair,
  testWrite,
} from "../src/native/test_support.ts";

const symbols = openLibrary().symbols;
const idle = new NativeLoop();

// A loop with RECORDS readable pipes: every poll(0) posts RECORDS records.
const RECORDS = 64;
const busy = new NativeLoop();
const pairs = Array.from(
  { length: RECORDS },
  () => Deno.build.os === "windows" ? testSocketPair() : testPipe(),
);
pairs.forEach(([r, w], i) => {
  busy.watch(r, READABLE, i);
  testWrite(w, new Uint8Array([1]));
});
let sink = 0;
const onCompletion = (token: number, result: number) => {
  sink += token + result;
};

Deno.bench("ffi_call_ns: eg_nop, an empty fast-path FFI call", () => {
  symbols.eg_nop();
});

Deno.bench("poll(0) of an idle loop", () => {
  idle.poll(0);
});

Deno.bench(`drain of ${RECORDS} records read from the ring`, (b) => {
  busy.poll(0);
  b.start();
  const n = busy.drain(onCompletion);
  b.end();
  if (n !== RECORDS) {
    throw new Error(`drained ${n} records, expected ${RECORDS}`);
  }
});

Deno.bench(`poll(0) posting ${RECORDS} readiness records, then drain`, () => {
  busy.poll(0);
  busy.drain(onCompletion);
});

// One op at a time over a socket pair: the hub's cost per native op.
const [opRead, opWrite] = testSocketPair();
const oneByte = new Uint8Array([7]);

Deno.bench(
  "hub op whose data is there: start (stacklet runs and ends) + drain",
  () => {
    testWrite(opWrite, oneByte);
    startReadExact(idle, opRead, 1, 1);
    if (idle.drain(onCompletion) !== 1) throw new Error("no completion");
  },
);

Deno.bench(
  "hub op that blocks: start, write, poll resumes its stacklet, drain",
  () => {
    startReadExact(idle, opRead, 1, 2);
    testWrite(opWrite, oneByte);
    idle.poll(0);
    if (idle.drain(onCompletion) !== 1) throw new Error("no completion");
  },
);

Deno.bench(
  "park() of a loop already woken (nonblocking call round trip)",
  async () => {
    idle.wake();
    await idle.park(-1);
    idle.poll(0);
  },
);

globalThis.addEventListener("unload", () => {
  idle.close();
  busy.close();
  testClose(opRead);
  testClose(opWrite);
  for (const [r, w] of pairs) {
    testClose(r);
    testClose(w);
  }
  if (sink < 0) console.log(sink);
});
