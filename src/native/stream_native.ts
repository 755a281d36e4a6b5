/**
 * Native streams seen from JS (`zig/io/`): thin wrappers over the
 * `eg_stream_*`, `eg_tcp_*`, `eg_pipe_*` and `eg_tty_*` calls, so that
 * `src/io/` never touches FFI itself. Every function returns the native
 * result (a handle, a count, or `-code` on failure) and lets the I/O layer
 * word its own errors; ops answer {@linkcode IN_PROGRESS} and complete
 * through the loop's ring with the kinds below.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import { ERROR_NAMES } from "./errors.ts";
import type { NativeLoop } from "./native_loop.ts";
import type { NativeLibrary } from "./symbols.ts";
import type { Address } from "./address.ts";
import { STREAM_ADDRESS_BYTES, WINDOW_GENERATION } from "./constants.ts";
import { testSymbols } from "./test_support.ts";

export type { NativeLoop } from "./native_loop.ts";

// Read modes, write results, cancel sides and the stream ops' record kinds
// (constants.ts has their docs).
export {
  ACCEPTED,
  KIND_ACCEPT,
  KIND_CONNECT,
  KIND_DRAIN,
  KIND_READ,
  READ_EXACT,
  READ_MORE,
  READ_UNTIL,
  SIDE_READ,
  SIDE_WRITE,
  WRITE_FAILED,
  WRITE_QUEUED,
  WRITE_QUEUED_START,
  WRITE_SENT,
} from "./constants.ts";

const code = (name: string): number => -ERROR_NAMES.indexOf(name);
/** `-EAGAIN`: the read has no answer yet; start an op. */
export const WOULD_BLOCK: number = code("EAGAIN");
/** `-EINPROGRESS`: the op started; its completion comes through the ring. */
export const IN_PROGRESS: number = code("EINPROGRESS");
/** `-ECANCELED`: the op was canceled (or its stream closed). */
export const CANCELED: number = code("ECANCELED");
/** `-ENOBUFS`: the read buffer reached its bound. */
export const NO_BUFFER_SPACE: number = code("ENOBUFS");
/** `-ENOENT`: a host name that does not resolve, a path that does not exist. */
export const NOT_FOUND: number = code("ENOENT");
/** `-EBADF`: a closed handle, or an op whose loop was destroyed. */
export const BAD_DESCRIPTOR: number = code("EBADF");
/** `-EINVAL`: an argument native code refused (an address that is no IP). */
export const INVALID: number = code("EINVAL");

let symbols: NativeLibrary["symbols"] | undefined;
const lib = (): NativeLibrary["symbols"] => symbols ??= openLibrary().symbols;
const encoder = new TextEncoder();
const addressBuffer = new Uint8Array(STREAM_ADDRESS_BYTES);
const addressView = new DataView(addressBuffer.buffer);
const utf8 = new TextDecoder();
const sizeBuffer = new Uint32Array(2);
const pairBuffer = new Int32Array(2);

/** Streams open now (for leak checks). */
export function streamsLive(): number {
  return lib().eg_io_streams_live();
}

/**
 * An unconnected socket stream on `loop`, reading into at most
 * `maxBufferSize` bytes: its handle, or `-code`.
 *
 * @example
 * ```ts ignore
 * import { streamNew } from "./stream_native.ts";
 * const handle = streamNew(loop._native, 1 << 20);
 * ```
 */
export function streamNew(loop: NativeLoop, maxBufferSize: number): number {
  return lib().eg_stream_new(loop.handle, maxBufferSize);
}

/** A stream over inherited descriptor `fd` (which it then owns). */
export function streamOpen(
  loop: NativeLoop,
  fd: number,
  maxBufferSize: number,
): number {
  return lib().eg_stream_open(loop.handle, fd, maxBufferSize);
}

/**
 * A stream over a descriptor of its own for standard stream `fd` (0, 1 or
 * 2), whatever it is: its handle or `-code`.
 */
export function stdioOpen(
  loop: NativeLoop,
  fd: number,
  maxBufferSize: number,
): number {
  return lib().eg_stdio_open(loop.handle, fd, maxBufferSize);
}

/** Answers a read now: a count to take, `WOULD_BLOCK`, or `-code`. */
export function streamRead(handle: number, mode: number, arg: number): number {
  return lib().eg_stream_read(handle, mode, arg);
}

/** Sets the delimiter and answers a read up to it, like `streamRead`. */
export function streamReadUntil(handle: number, delimiter: Uint8Array): number {
  return lib().eg_stream_read_until(
    handle,
    delimiter as Uint8Array<ArrayBuffer>,
    delimiter.length,
  );
}

/** Starts the read op: `IN_PROGRESS`, an answer, or `-code`. */
export function streamReadStart(
  handle: number,
  mode: number,
  arg: number,
  token: number,
): number {
  return lib().eg_stream_read_start(handle, mode, arg, token);
}

// A fresh ArrayBuffer costs 250-400 ns in Deno (an embedder allocation),
// ten times a view of an existing one, so small results are views carved
// from a shared slab (as Node's Buffer pool does); a kept result pins at most
// one slab. The slab is replaced when full or when a caller detached it
// (transferred a result's `.buffer`): a detached slab's length reads 0.
const SLAB_SIZE = 64 * 1024;
const SLAB_RESULT_MAX = 1024;
let slab = new Uint8Array(SLAB_SIZE);
// The slab's ArrayBuffer (the .buffer getter is a builtin call).
let slabBuffer = slab.buffer;
let slabUsed = 0;

/** A fresh slab, when the last is full or was detached. */
function newSlab(): void {
  slab = new Uint8Array(SLAB_SIZE);
  slabBuffer = slab.buffer;
  slabUsed = 0;
}

/** A zero-filled array of `n` bytes, a slab view when small. */
function resultArray(n: number): Uint8Array<ArrayBuffer> {
  if (n > SLAB_RESULT_MAX) return new Uint8Array(n);
  if (slabUsed + n > slab.length) newSlab();
  // A constructed view costs about half of subarray() (no species lookup).
  const view = new Uint8Array(slabBuffer, slabUsed, n);
  // Keep views 8-byte aligned so typed-array views over them stay possible.
  slabUsed += (n + 7) & ~7;
  return view;
}

/**
 * Answers a read and takes the answer in one call when its bytes are
 * buffered: the bytes (a slab view when small), or `WOULD_BLOCK`, or
 * `-code`. `delimiter` (mode `READ_UNTIL`) replaces the stream's when given.
 */
export function streamReadTake(
  handle: number,
  mode: number,
  arg: number,
  delimiter: Uint8Array | null,
): Uint8Array | number {
  if (slabUsed + SLAB_RESULT_MAX > slab.length) newSlab();
  const result = lib().eg_stream_read_take(
    handle,
    mode,
    arg,
    delimiter as Uint8Array<ArrayBuffer> | null,
    delimiter === null ? 0 : delimiter.length,
    slab,
    slabUsed,
    SLAB_RESULT_MAX,
  );
  if (result < 0) return result;
  if (result > SLAB_RESULT_MAX) return streamTake(handle, result);
  const view = new Uint8Array(slabBuffer, slabUsed, result);
  slabUsed += (result + 7) & ~7;
  return view;
}

// The read window's words (constants.ts has their docs).
export {
  WINDOW_END,
  WINDOW_GENERATION,
  WINDOW_SCAN,
  WINDOW_START,
} from "./constants.ts";

const windowSlots = new BigUint64Array(3);
const NO_BYTES = new Uint8Array(0);

/**
 * A stream's read window (`eg_stream_window`): `words` are the native
 * `Window` (start, end, scan, generation) in place, `bytes` a view of the
 * read buffer as of `generation`. Reads of buffered bytes use them without
 * a native call: search and copy `bytes[start..end)`, then advance
 * `words[WINDOW_START]`. The buffer moves only inside native calls on the
 * stream; when `words[WINDOW_GENERATION]` differs from `generation`, fetch
 * the view again with {@linkcode streamWindow}. Neither may be touched once
 * the stream is closed (the memory is freed).
 */
export interface ReadWindow {
  /** The shared window words (index with the `WINDOW_*` constants). */
  words: Uint32Array;
  /** The read buffer, valid while the generation matches. */
  bytes: Uint8Array;
  /** The generation `bytes` belongs to. */
  generation: number;
}

/**
 * Fetches (or refreshes, reusing `previous`'s words) the read window of
 * stream `handle`: the window, or `-code`.
 *
 * @example
 * ```ts ignore
 * import { streamWindow, WINDOW_END, WINDOW_START } from "./stream_native.ts";
 * const window = streamWindow(handle, null);
 * if (typeof window !== "number") {
 *   console.log(window.words[WINDOW_END] - window.words[WINDOW_START]);
 * }
 * ```
 */
export function streamWindow(
  handle: number,
  previous: ReadWindow | null,
): ReadWindow | number {
  const generation = lib().eg_stream_window(handle, windowSlots);
  if (generation < 0) return generation;
  let words = previous?.words;
  if (words === undefined) {
    const pointer = Deno.UnsafePointer.create(windowSlots[0]);
    if (pointer === null) return INVALID;
    words = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(pointer, 16));
  }
  const address = windowSlots[1];
  const length = Number(windowSlots[2]);
  const pointer = address === 0n ? null : Deno.UnsafePointer.create(address);
  const bytes = pointer === null || length === 0
    ? NO_BYTES
    : new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, length));
  return { words, bytes, generation: words[WINDOW_GENERATION] };
}

/**
 * Copies `bytes[start..start+n)` into a new array (a slab view when small),
 * for reads answered from the read window.
 */
export function copyOut(
  bytes: Uint8Array,
  start: number,
  n: number,
): Uint8Array<ArrayBuffer> {
  if (n > SLAB_RESULT_MAX) return bytes.slice(start, start + n);
  const out = resultArray(n);
  // A loop beats set() (which builds a subarray first) up to a few dozen
  // bytes: most protocol lines and fields.
  if (n <= 64) {
    for (let i = 0; i < n; i++) out[i] = bytes[start + i];
  } else {
    out.set(bytes.subarray(start, start + n));
  }
  return out;
}

/** Moves the first `n` buffered bytes into a new array. */
export function streamTake(handle: number, n: number): Uint8Array<ArrayBuffer> {
  const out = resultArray(n);
  if (n > 0) {
    lib().eg_stream_take(handle, out as Uint8Array<ArrayBuffer>, n);
  }
  return out;
}

/** Drops the first `n` buffered bytes. */
export function streamSkip(handle: number, n: number): void {
  lib().eg_stream_take(handle, null, n);
}

/**
 * Reads up to `dest.length` bytes into `dest`: the count, 0 at end of stream,
 * `WOULD_BLOCK`, or `-code`.
 */
export function streamReadInto(handle: number, dest: Uint8Array): number {
  return lib().eg_stream_read_into(
    handle,
    dest as Uint8Array<ArrayBuffer>,
    dest.length,
  );
}

/** Moves the first `n` buffered bytes into `dest` (which has room). */
export function streamTakeInto(
  handle: number,
  dest: Uint8Array,
  n: number,
): void {
  lib().eg_stream_take(handle, dest as Uint8Array<ArrayBuffer>, n);
}

/** Copies `n` buffered bytes from `offset` into a new array, keeping them. */
export function streamPeek(
  handle: number,
  offset: number,
  n: number,
): Uint8Array {
  const out = new Uint8Array(n);
  if (n > 0) lib().eg_stream_peek(handle, out, offset, n);
  return out;
}

/** Bytes buffered for reading. */
export function streamBuffered(handle: number): number {
  return lib().eg_stream_buffered(handle);
}

/** Writes without blocking: a `WRITE_*` result or `-code`. */
export function streamWrite(
  handle: number,
  bytes: Uint8Array,
  length: number = bytes.length,
): number {
  // The first `length` bytes (no subarray per send for a staging buffer).
  return lib().eg_stream_write(
    handle,
    bytes as Uint8Array<ArrayBuffer>,
    Math.min(length, bytes.length),
  );
}

// Strings are encoded into one reusable buffer (native code copies what it
// keeps before returning), so writing a string allocates nothing.
const SCRATCH_SIZE = 64 * 1024;
const scratch = new Uint8Array(SCRATCH_SIZE);

/** Writes a string as UTF-8 without blocking, like {@linkcode streamWrite}. */
export function streamWriteText(handle: number, text: string): number {
  // Three bytes per UTF-16 unit at most: short strings always fit.
  if (text.length * 3 > SCRATCH_SIZE) {
    return streamWrite(handle, encoder.encode(text));
  }
  const { written } = encoder.encodeInto(text, scratch);
  return lib().eg_stream_write(handle, scratch, written);
}

/** Starts the drain op: `IN_PROGRESS`, 0 (nothing queued), or `-code`. */
export function streamDrain(handle: number, token: number): number {
  return lib().eg_stream_drain(handle, token);
}

/** Bytes queued for writing, or the kept write error as `-code`. */
export function streamQueued(handle: number): number {
  return lib().eg_stream_queued(handle);
}

/** Half-closes the write side: 0 or `-code`. */
export function streamShutdown(handle: number): number {
  return lib().eg_stream_shutdown(handle);
}

/** Completes the op on one side (`SIDE_READ`/`SIDE_WRITE`) with ECANCELED. */
export function streamCancel(handle: number, side: number): number {
  return lib().eg_stream_cancel(handle, side);
}

/**
 * Closes the stream; its ops complete with ECANCELED. Their records are
 * posted at once, which a loop parked meanwhile does not notice: the caller
 * wakes it (`EventLoop._wakeParked`).
 */
export function streamClose(handle: number): number {
  return lib().eg_stream_close(handle);
}

/** The local (`peer` false) or remote address, or `-code`. */
export function streamAddress(
  handle: number,
  peer: boolean,
): Address | number {
  const result = lib().eg_stream_address(handle, peer ? 1 : 0, addressBuffer);
  if (result < 0) return result;
  const port = addressView.getUint16(0, true);
  const length = addressView.getUint16(2, true);
  const hostname = utf8.decode(addressBuffer.subarray(4, 4 + length));
  return { hostname, port };
}

/** Listens again with another backlog. */
export function streamListen(handle: number, backlog: number): number {
  return lib().eg_stream_listen(handle, backlog);
}

/** Starts the accept loop of a listener: `IN_PROGRESS` or `-code`. */
export function streamAccept(handle: number, token: number): number {
  return lib().eg_stream_accept(handle, token);
}

/**
 * Connects over TCP to `host`:`port` (resolved off the JS thread), from
 * `source` when given: `IN_PROGRESS` or `-code`.
 */
export function tcpConnect(
  handle: number,
  host: string,
  port: number,
  source: { hostname: string; port: number } | undefined,
  token: number,
): number {
  const hostBytes = encoder.encode(host);
  const sourceBytes = source === undefined
    ? new Uint8Array(0)
    : encoder.encode(source.hostname);
  return lib().eg_tcp_connect(
    handle,
    hostBytes,
    hostBytes.length,
    port,
    sourceBytes,
    sourceBytes.length,
    source?.port ?? 0,
    token,
  );
}

// The listen flag of tcpListen (SO_REUSEPORT).
export { TCP_LISTEN_REUSE_PORT as LISTEN_REUSE_PORT } from "./constants.ts";

/**
 * A TCP listener bound to `host`:`port` (`flags`: {@linkcode LISTEN_REUSE_PORT}):
 * its handle or `-code`.
 */
export function tcpListen(
  loop: NativeLoop,
  host: string,
  port: number,
  backlog: number,
  maxBufferSize: number,
  flags = 0,
): number {
  const hostBytes = encoder.encode(host);
  return lib().eg_tcp_listen_flags(
    loop.handle,
    hostBytes,
    hostBytes.length,
    port,
    backlog,
    maxBufferSize,
    flags,
  );
}

/** Connects to the Unix socket at `path`: `IN_PROGRESS` or `-code`. */
export function pipeConnect(
  handle: number,
  path: string,
  token: number,
): number {
  const bytes = encoder.encode(path);
  return lib().eg_pipe_connect(handle, bytes, bytes.length, token);
}

/** A Unix socket listener at `path`: its handle or `-code`. */
export function pipeListen(
  loop: NativeLoop,
  path: string,
  backlog: number,
  maxBufferSize: number,
): number {
  const bytes = encoder.encode(path);
  return lib().eg_pipe_listen(
    loop.handle,
    bytes,
    bytes.length,
    backlog,
    maxBufferSize,
  );
}

/** A stream over the terminal on `fd`: its handle or `-code`. */
export function ttyOpen(
  loop: NativeLoop,
  fd: number,
  maxBufferSize: number,
): number {
  return lib().eg_tty_open(loop.handle, fd, maxBufferSize);
}

/** The terminal's size, or `-code`. */
export function ttyWindowSize(
  handle: number,
): { columns: number; rows: number } | number {
  const result = lib().eg_tty_winsize(handle, sizeBuffer);
  if (result < 0) return result;
  return { columns: sizeBuffer[0], rows: sizeBuffer[1] };
}

/** Raw mode on or back to the mode from before: 0 or `-code`. */
export function ttySetRaw(handle: number, raw: boolean): number {
  return lib().eg_tty_set_raw(handle, raw ? 1 : 0);
}

/**
 * Test support: a pseudo-terminal pair `[controller, terminal]`, or
 * `-code`.
 */
export function testOpenPty(): [number, number] | number {
  const result = testSymbols().eg_test_openpty(pairBuffer);
  if (result < 0) return result;
  return [pairBuffer[0], pairBuffer[1]];
}

/** Test support: sets a terminal's window size. */
export function testSetWindowSize(
  fd: number,
  columns: number,
  rows: number,
): number {
  return testSymbols().eg_test_set_winsize(fd, columns, rows);
}

/** Test support: the stream's next close resets the connection. */
export function testLingerZero(handle: number): number {
  return testSymbols().eg_test_stream_linger_zero(handle);
}
