// The FFI seam against the real native library: real pipes and sockets,
// real signals to this process, parks woken from JS timers, bad handles.
// Run: deno test -A tests/native_test.ts (after `tools/dev build`).

import assert from "node:assert/strict";
import {
  HANGUP,
  KIND_READ_EXACT,
  KIND_READINESS,
  KIND_SIGNAL,
  NativeError,
  NativeLoop,
  READABLE,
  signalNumber,
  WRITABLE,
} from "../src/native/native_loop.ts";
import {
  ABI_VERSION,
  localCandidates,
  openLibrary,
} from "../src/native/library.ts";
import { ERROR_NAMES } from "../src/native/errors.ts";
import {
  fnv1a,
  startReadExact,
  testClose,
  testPipe,
  testRead,
  testSocketPair,
  testWrite,
} from "../src/native/test_support.ts";

const isWindows = Deno.build.os === "windows";
// Self-sent signals here are ones whose default action is to ignore them. A
// NativeLoop chains to the handler installed before it, and Deno's handler,
// once installed, acts out the default when no Deno listener is left (for
// SIGUSR2: ending the runner). EventLoop holds a listener of its own while it
// watches (see loop_deno_test.ts); these tests use NativeLoop directly.
const encoder = new TextEncoder();

type Record4 = [token: number, result: number, kind: number, aux: number];

function drainAll(loop: NativeLoop): Record4[] {
  const records: Record4[] = [];
  loop.drain((token, result, kind, aux) =>
    records.push([token, result, kind, aux])
  );
  return records;
}

/** A readable/writable pair: a pipe on POSIX, a socket pair on Windows. */
function streamPair(): [number, number] {
  return isWindows ? testSocketPair() : testPipe();
}

function closeAll(...fds: number[]): void {
  for (const fd of fds) testClose(fd);
}

function assertNativeError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof NativeError, `expected a NativeError`);
    assert.equal(error.code, code);
    return true;
  });
}

Deno.test("the library loads and speaks this module's ABI version", () => {
  const lib = openLibrary();
  assert.equal(lib.symbols.eg_abi_version(), ABI_VERSION);
  lib.symbols.eg_nop();
});

Deno.test("the TS error table matches the native names", () => {
  const symbols = openLibrary().symbols;
  for (let code = 1; code < ERROR_NAMES.length; code++) {
    const pointer = symbols.eg_error_name(-code);
    assert.ok(pointer !== null, `native has no name for code ${code}`);
    assert.equal(
      Deno.UnsafePointerView.getCString(pointer),
      ERROR_NAMES[code],
      `code ${code}`,
    );
  }
  assert.equal(symbols.eg_error_name(ERROR_NAMES.length), null);
});

Deno.test("a watched pipe is reported every poll while it stays readable", () => {
  using loop = new NativeLoop();
  const [r, w] = streamPair();
  try {
    loop.watch(r, READABLE, 7);
    assert.equal(loop.poll(0), 0);
    testWrite(w, encoder.encode("x"));
    for (let turn = 0; turn < 3; turn++) {
      assert.equal(loop.poll(1000), 1, `turn ${turn}`);
      const [[token, result, kind, aux]] = drainAll(loop);
      assert.equal(token, 7);
      assert.equal(result & READABLE, READABLE);
      assert.equal(kind, KIND_READINESS);
      assert.equal(aux, r);
    }
    assert.deepEqual([...testRead(r, 8)], [120]);
    assert.equal(loop.poll(0), 0);
    loop.unwatch(r);
  } finally {
    closeAll(r, w);
  }
});

Deno.test("watch replaces the mask of a socket; a hang-up reads as readable", () => {
  using loop = new NativeLoop();
  const [a, b] = testSocketPair();
  try {
    loop.watch(a, WRITABLE, 1);
    assert.equal(loop.poll(1000), 1);
    assert.equal(drainAll(loop)[0][1] & (READABLE | WRITABLE), WRITABLE);
    loop.watch(a, READABLE, 2);
    assert.equal(loop.poll(0), 0);
    testClose(b);
    assert.equal(loop.poll(1000), 1);
    const [[token, result]] = drainAll(loop);
    assert.equal(token, 2);
    assert.equal(result & READABLE, READABLE);
    if (!isWindows) assert.equal(result & HANGUP, HANGUP);
  } finally {
    testClose(a);
  }
});

Deno.test("bad descriptors, masks and unknown watches are NativeErrors", () => {
  using loop = new NativeLoop();
  assertNativeError(() => loop.watch(-1, READABLE, 0), "EBADF");
  assertNativeError(() => loop.watch(0, 8, 0), "EINVAL");
  assertNativeError(() => loop.unwatch(12345), "ENOENT");
  assertNativeError(() => loop.unwatchSignal(signalNumber("SIGINT")), "ENOENT");
  assert.throws(() => new NativeLoop({ ringCapacity: 3 }), /EINVAL/);
});

Deno.test("park resolves on wake() from a timer, on readiness, and on timeout", async () => {
  using loop = new NativeLoop();
  let started = performance.now();
  const timer = setTimeout(() => loop.wake(), 30);
  await loop.park(-1);
  clearTimeout(timer);
  const woke = performance.now() - started;
  assert.ok(woke >= 20 && woke < 5000, `woken after ${woke} ms`);
  loop.poll(0);

  started = performance.now();
  await loop.park(40);
  const timedOut = performance.now() - started;
  assert.ok(timedOut >= 30, `timed out after ${timedOut} ms`);

  const [r, w] = streamPair();
  try {
    loop.watch(r, READABLE, 3);
    const writer = setTimeout(() => testWrite(w, encoder.encode("y")), 20);
    await loop.park(5000);
    clearTimeout(writer);
    assert.equal(loop.poll(0), 1);
    assert.equal(drainAll(loop)[0][0], 3);
  } finally {
    closeAll(r, w);
  }
});

Deno.test("closing a loop ends a park in progress", async () => {
  const loop = new NativeLoop();
  const parked = loop.park(-1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  loop.close();
  await parked;
  assert.ok(loop.closed);
});

// Signals are process-wide and test files may run in parallel in one process:
// each test keeps a Deno listener on its signal, so that Deno's handler (which
// stays installed for good) is what a native unwatch restores, and a signal
// from another test can never take the default action (terminate).

async function waitForRecords(
  loop: NativeLoop,
  token: number,
): Promise<Record4[]> {
  for (let turn = 0; turn < 40; turn++) {
    loop.poll(50);
    const records = drainAll(loop).filter((record) => record[0] === token);
    if (records.length > 0) return records;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return [];
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100 && !condition(); turn++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test({
  name:
    "a signal sent to this process is a record, and Deno's listener still runs",
  ignore: isWindows,
  async fn() {
    let denoSaw = 0;
    const listener = () => denoSaw++;
    Deno.addSignalListener("SIGURG", listener);
    using loop = new NativeLoop();
    const signo = signalNumber("SIGURG");
    loop.watchSignal(signo, 44);
    try {
      Deno.kill(Deno.pid, "SIGURG");
      const records = await waitForRecords(loop, 44);
      assert.equal(records.length, 1);
      const [, result, kind, count] = records[0];
      assert.deepEqual([result, kind], [signo, KIND_SIGNAL]);
      assert.ok(count >= 1);
      await waitUntil(() => denoSaw > 0);
      assert.ok(denoSaw >= 1, "Deno's listener saw the signal too");
    } finally {
      loop.unwatchSignal(signo);
      Deno.removeSignalListener("SIGURG", listener);
    }
  },
});

Deno.test({
  name: "two loops watching one signal both get it",
  ignore: isWindows,
  async fn() {
    const listener = () => {};
    Deno.addSignalListener("SIGWINCH", listener);
    using first = new NativeLoop();
    using second = new NativeLoop();
    const signo = signalNumber("SIGWINCH");
    first.watchSignal(signo, 1);
    second.watchSignal(signo, 2);
    try {
      Deno.kill(Deno.pid, "SIGWINCH");
      assert.equal((await waitForRecords(first, 1)).length, 1);
      assert.equal((await waitForRecords(second, 2)).length, 1);
    } finally {
      first.unwatchSignal(signo);
      second.unwatchSignal(signo);
      Deno.removeSignalListener("SIGWINCH", listener);
    }
  },
});

Deno.test("signals that cannot be watched are refused", () => {
  using loop = new NativeLoop();
  if (isWindows) {
    assertNativeError(() => loop.watchSignal(10, 0), "ENOSYS");
  } else {
    assertNativeError(
      () => loop.watchSignal(signalNumber("SIGKILL"), 0),
      "EINVAL",
    );
    assertNativeError(
      () => loop.watchSignal(signalNumber("SIGSEGV"), 0),
      "EINVAL",
    );
  }
  assertNativeError(() => loop.watchSignal(0, 0), "EINVAL");
});

Deno.test("signal numbers follow the OS", () => {
  assert.equal(signalNumber("SIGUSR1", "linux"), 10);
  assert.equal(signalNumber("SIGUSR1", "darwin"), 30);
  assert.equal(signalNumber("SIGBREAK", "windows"), 21);
  assert.throws(() => signalNumber("SIGBREAK", "linux"), TypeError);
  assert.throws(() => signalNumber("SIGUSR1", "windows"), TypeError);
});

Deno.test("a closed loop: calls give EBADF, a second close does nothing", () => {
  const loop = new NativeLoop();
  loop.close();
  loop.close();
  assertNativeError(() => loop.poll(0), "EBADF");
  assertNativeError(() => loop.wake(), "EBADF");
  assertNativeError(() => loop.watch(0, READABLE, 0), "EBADF");
  assertNativeError(() => loop.drain(() => {}), "EBADF");
});

Deno.test("forged and stale handles give EBADF", () => {
  const symbols = openLibrary().symbols;
  const code = -ERROR_NAMES.indexOf("EBADF");
  assert.equal(symbols.eg_loop_poll(0, 0), code);
  assert.equal(symbols.eg_loop_poll(0xffffffff, 0), code);
  const loop = new NativeLoop();
  const handle = loop.handle;
  loop.close();
  assert.equal(symbols.eg_loop_poll(handle, 0), code);
  assert.equal(symbols.eg_loop_close(handle), code);
});

Deno.test("a loop used from another thread (a worker) gives EWRONGTHREAD", async () => {
  using loop = new NativeLoop();
  const library = new URL("../src/native/library.ts", import.meta.url).href;
  const source = `
    import { openLibrary } from ${JSON.stringify(library)};
    self.onmessage = (event) => {
      const symbols = openLibrary().symbols;
      self.postMessage({
        poll: symbols.eg_loop_poll(event.data, 0),
        wake: symbols.eg_loop_wake(event.data),
      });
    };`;
  const url = URL.createObjectURL(
    new Blob([source], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  try {
    const reply = new Promise<{ poll: number; wake: number }>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
    });
    worker.postMessage(loop.handle);
    const { poll, wake } = await reply;
    assert.equal(poll, -ERROR_NAMES.indexOf("EWRONGTHREAD"));
    assert.equal(wake, 0, "wake is allowed from any thread");
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});

Deno.test("a full ring defers readiness to later polls, losing none", () => {
  using loop = new NativeLoop({ ringCapacity: 4 });
  const pairs = Array.from({ length: 10 }, () => streamPair());
  try {
    pairs.forEach(([r, w], i) => {
      loop.watch(r, READABLE, i);
      testWrite(w, encoder.encode("z"));
    });
    const seen = new Set<number>();
    for (let turn = 0; turn < 10 && seen.size < 10; turn++) {
      assert.ok(loop.poll(0) <= 4);
      for (const [token] of drainAll(loop)) {
        seen.add(token);
        testRead(pairs[token][0], 4);
      }
    }
    assert.equal(seen.size, 10);
    assert.ok(loop.deferredReports > 0);
  } finally {
    for (const [r, w] of pairs) closeAll(r, w);
  }
});

Deno.test("the ring wraps around many times and keeps order", () => {
  using loop = new NativeLoop({ ringCapacity: 4 });
  const [r, w] = streamPair();
  try {
    loop.watch(r, READABLE, 5);
    testWrite(w, encoder.encode("q"));
    let delivered = 0;
    for (let turn = 0; turn < 50; turn++) {
      assert.equal(loop.poll(0), 1);
      delivered += loop.drain((token) => assert.equal(token, 5));
    }
    assert.equal(delivered, 50);
  } finally {
    closeAll(r, w);
  }
});

Deno.test("a nested drain delivers each record exactly once", () => {
  using loop = new NativeLoop({ ringCapacity: 8 });
  const pairs = Array.from({ length: 3 }, () => streamPair());
  try {
    pairs.forEach(([r, w], i) => {
      loop.watch(r, READABLE, i);
      testWrite(w, encoder.encode("n"));
    });
    assert.equal(loop.poll(1000), 3);
    const tokens: number[] = [];
    loop.drain((token) => {
      tokens.push(token);
      if (tokens.length === 1) loop.drain((inner) => tokens.push(inner));
    });
    assert.deepEqual(tokens.sort(), [0, 1, 2]);
  } finally {
    for (const [r, w] of pairs) closeAll(r, w);
  }
});

Deno.test("a callback that closes the loop ends the drain safely", () => {
  const loop = new NativeLoop({ ringCapacity: 8 });
  const pairs = Array.from({ length: 3 }, () => streamPair());
  try {
    pairs.forEach(([r, w], i) => {
      loop.watch(r, READABLE, i);
      testWrite(w, encoder.encode("c"));
    });
    assert.equal(loop.poll(1000), 3);
    let calls = 0;
    const delivered = loop.drain(() => {
      calls++;
      loop.close();
    });
    assert.equal(delivered, 1);
    assert.equal(calls, 1);
  } finally {
    loop.close();
    for (const [r, w] of pairs) closeAll(r, w);
  }
});

Deno.test("a native op on a stacklet blocks, resumes on poll, and completes", () => {
  using loop = new NativeLoop();
  const [r, w] = streamPair();
  try {
    const payload = encoder.encode("hello, stacklet");
    startReadExact(loop, r, payload.length, 61);
    assert.equal(loop.opsLive(), 1);
    assert.equal(loop.poll(0), 0);
    testWrite(w, payload.subarray(0, 5));
    assert.equal(loop.poll(1000), 0);
    assert.equal(loop.opsLive(), 1);
    testWrite(w, payload.subarray(5));
    assert.equal(loop.poll(1000), 1);
    assert.deepEqual(drainAll(loop), [[
      61,
      payload.length,
      KIND_READ_EXACT,
      fnv1a(payload),
    ]]);
    assert.equal(loop.opsLive(), 0);
  } finally {
    closeAll(r, w);
  }
});

Deno.test("op completions beyond the ring wait natively, in order", () => {
  using loop = new NativeLoop({ ringCapacity: 4 });
  const pairs = Array.from({ length: 10 }, () => streamPair());
  try {
    pairs.forEach(([r, w], i) => {
      testWrite(w, encoder.encode("ab"));
      startReadExact(loop, r, 2, i);
    });
    assert.equal(loop.overflowRecords, 6);
    const tokens: number[] = [];
    for (let turn = 0; turn < 10 && tokens.length < 10; turn++) {
      loop.poll(0);
      for (const [token, result, kind] of drainAll(loop)) {
        assert.equal(kind, KIND_READ_EXACT);
        assert.equal(result, 2);
        tokens.push(token);
      }
    }
    assert.deepEqual(tokens, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    for (const [r, w] of pairs) closeAll(r, w);
  }
});

Deno.test("canceling an op's descriptor completes it with ECANCELED", () => {
  using loop = new NativeLoop();
  const [r, w] = streamPair();
  try {
    startReadExact(loop, r, 4, 8);
    loop.cancelFd(r);
    const [[token, result]] = drainAll(loop);
    assert.equal(token, 8);
    assert.equal(result, -ERROR_NAMES.indexOf("ECANCELED"));
  } finally {
    closeAll(r, w);
  }
});

Deno.test("closing a loop with ops still waiting frees them", () => {
  const loop = new NativeLoop();
  const [r1, w1] = streamPair();
  const [r2, w2] = streamPair();
  try {
    startReadExact(loop, r1, 4, 1);
    startReadExact(loop, r2, 4, 2);
    assert.equal(loop.opsLive(), 2);
    loop.close();
    assert.ok(loop.closed);
  } finally {
    closeAll(r1, w1, r2, w2);
  }
});

/** The path of the library these tests loaded (EVERGREEN_LIB or zig-out). */
function openLibraryPath(): string {
  return Deno.env.get("EVERGREEN_LIB") ?? localCandidates()[0];
}

/**
 * Whether this Deno can start itself as a subprocess: not so for a foreign
 * Deno run under qemu-user without binfmt (tools/dev's aarch64 suite).
 */
function canSpawnSelf(): boolean {
  try {
    return new Deno.Command(Deno.execPath(), { args: ["--version"] })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "a missing or foreign library file is a clear error",
  ignore: !canSpawnSelf(),
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const name = isWindows ? "evergreen.dll" : "libevergreen.so";
    const bogus = `${dir}/bogus-${name}`;
    await Deno.writeTextFile(bogus, "not a shared library");
    // The real library with its ELF machine changed: a build for another CPU.
    const foreign = `${dir}/foreign-${name}`;
    const bytes = await Deno.readFile(openLibraryPath());
    if (Deno.build.os === "linux") bytes[18] = bytes[18] === 0xb7 ? 0x3e : 0xb7;
    await Deno.writeFile(foreign, bytes);
    const moduleUrl = new URL("../src/native/native_loop.ts", import.meta.url);
    const script = `import { NativeLoop } from ${
      JSON.stringify(moduleUrl.href)
    }; new NativeLoop();`;
    for (
      const [path, expected] of [
        [`${dir}/missing.so`, /not found/],
        [bogus, /another OS or architecture/],
        ...(Deno.build.os === "linux"
          ? [[foreign, /another OS or architecture/] as const]
          : []),
      ] as const
    ) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        env: { EVERGREEN_LIB: path },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.success, false);
      assert.match(stderr, /LibraryLoadError/);
      assert.ok(stderr.includes(path), `names ${path}: ${stderr}`);
      assert.match(stderr, expected);
      assert.match(stderr, /tools\/dev build/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
