/**
 * Name lookup (evergreen's `getaddrinfo`): `lookup()` resolves a host name
 * with the OS resolver on a thread of its own, the one `TCPClient.connect`
 * uses, while the task waits on the loop; a kill or a `Timeout` stops the
 * wait at once (the thread finishes on its own and frees what it holds).
 *
 * @module
 */

import { describe } from "../_util.ts";
import { made } from "../_operation.ts";
import { EventLoop } from "../loop/event_loop.ts";
import * as native from "../native/lookup_native.ts";
import { NOT_FOUND } from "../native/stream_native.ts";
import { errorName } from "../native/errors.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import { errorFor, errorFromResult, StreamError } from "./errors.ts";
import type { Address } from "./tcp.ts";

/** Options of {@linkcode lookup}. */
export interface LookupOptions {
  /** Only IPv4 (4) or only IPv6 (6) addresses; both by default. */
  family?: 4 | 6;
}

/**
 * Resolves `hostname` (a name, `"localhost"` or an IP literal) to its
 * addresses, each with port 0, in the resolver's order. Call it with
 * `yield*` inside a task.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { lookup } from "./lookup.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   const addresses = yield* lookup("localhost", { family: 4 });
 *   console.log(addresses[0]); // { hostname: "127.0.0.1", port: 0 }
 * });
 * await loop.run();
 * ```
 *
 * At most 64 lookups run at once in a process (a `TCPClient.connect` to a
 * host name runs one too); past that, a lookup waits for one of its loop's
 * to end.
 *
 * @throws {TypeError} if `hostname` is not a string or `family` is not 4
 *   or 6.
 * @throws {StreamError} `ENOTFOUND` for a name that does not resolve (or
 *   has no address of the family asked for), `EINVAL` for an empty name or
 *   one over 253 bytes, `EAGAIN`/`EMFILE` when the process runs 64 lookups
 *   and none of them is this loop's (other Workers hold them all).
 */
export function lookup(
  hostname: string,
  options: LookupOptions = {},
): Generator<unknown, Address[], unknown> {
  return made("lookup()", lookupAddresses(hostname, options));
}

function* lookupAddresses(
  hostname: string,
  options: LookupOptions,
): Generator<unknown, Address[], unknown> {
  if (typeof hostname !== "string") {
    throw new TypeError(
      `lookup() needs a hostname string, got ${describe(hostname)}`,
    );
  }
  const family = options?.family;
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new TypeError(
      `lookup() family must be 4 or 6, got ${describe(family)}`,
    );
  }
  const what = `lookup ${JSON.stringify(hostname)}`;
  const loop = EventLoop.current();
  const fiber = loop._blockingFiber("lookup()");
  const handle = yield* startWhenFree(loop, hostname, what);
  // A loop destroyed while this task waits never resumes it: the lookup
  // ends then (its descriptor and request are given back).
  const token = loop._registerToken(() => {}, false, () => {
    native.lookupClose(handle);
  });
  try {
    const fd = native.lookupFd(handle);
    if (fd < 0) throw errorFromResult(StreamError, fd, what);
    let done = false;
    loop.addReader(fd, () => {
      if (done) return undefined;
      done = true;
      loop.removeReader(fd);
      return fiber.switch();
    });
    try {
      while (!done) yield* loop.switch();
    } finally {
      if (!done) loop.removeReader(fd);
    }
    const found = native.lookupResult(handle);
    if (typeof found === "number") {
      if (found === NOT_FOUND) {
        throw errorFor(StreamError, "ENOTFOUND", what, "no such host");
      }
      throw errorFromResult(StreamError, found, what);
    }
    const addresses = found
      .filter((text) => family === undefined || familyOf(text) === family)
      .map((text) => ({ hostname: text, port: 0 }));
    if (addresses.length === 0) {
      throw errorFor(
        StreamError,
        "ENOTFOUND",
        what,
        `no IPv${family} address`,
      );
    }
    return addresses;
  } finally {
    if (!loop._destroyed) loop._releaseToken(token);
    native.lookupClose(handle);
    _lookupEnded(loop);
  }
}

/** How long a lookup waiting for a slot waits before it tries again, in ms. */
const SLOT_RETRY_MS = 50;

/** Lookups a process runs at once (zig/io/resolve.zig `in_flight_max`). */
const LOOKUPS_MAX = 64;

/** The lookups of `lookup()` running on a loop, and the tasks waiting. */
interface LoopLookups {
  running: number;
  waiting: WaitQueue;
}
const loopLookups = new WeakMap<EventLoop, LoopLookups>();

/**
 * Starts a lookup; while the process runs as many as it allows (64) and
 * some of them are this loop's, waits for one of those to end first rather
 * than fail (as getaddrinfo on libuv's thread pool queues).
 */
function* startWhenFree(
  loop: EventLoop,
  hostname: string,
  what: string,
): Generator<unknown, number, unknown> {
  for (;;) {
    const handle = native.lookupStart(hostname);
    if (handle >= 0) {
      _lookupStarted(loop);
      return handle;
    }
    if (!(yield* _awaitLookupSlot(loop, handle))) {
      throw errorFromResult(StreamError, handle, what, _slotsDetail(handle));
    }
  }
}

function lookupsOf(loop: EventLoop): LoopLookups {
  let lookups = loopLookups.get(loop);
  if (lookups === undefined) {
    lookups = { running: 0, waiting: new WaitQueue() };
    loopLookups.set(loop, lookups);
  }
  return lookups;
}

/**
 * @internal A lookup of `loop` started (a `lookup()`, or a connect by host
 * name): call {@linkcode _lookupEnded} once it ended.
 */
export function _lookupStarted(loop: EventLoop): void {
  lookupsOf(loop).running++;
}

/**
 * @internal After a lookup's start failed with `result` (`-code`): when the
 * process runs as many lookups as it allows (`EAGAIN`/`EMFILE`) and some are
 * this loop's, waits for one of those to end and returns true (start again);
 * false when waiting cannot help (another error, or none of the lookups
 * running is this loop's).
 */
export function* _awaitLookupSlot(
  loop: EventLoop,
  result: number,
): Generator<unknown, boolean, unknown> {
  const code = errorName(result);
  if (code !== "EAGAIN" && code !== "EMFILE") return false;
  const lookups = lookupsOf(loop);
  if (lookups.running === 0) return false;
  // Woken when one of them ends; the timeout tries again anyway, since a
  // slot may free first (a connect by name counts until it is connected,
  // its lookup ended before that; other Workers' lookups end unseen).
  yield* lookups.waiting.wait(SLOT_RETRY_MS, "lookup()");
  return true;
}

/**
 * @internal The detail of the error for a lookup start that failed with
 * `result` and could not wait (see {@linkcode _awaitLookupSlot}).
 */
export function _slotsDetail(result: number): string | undefined {
  const code = errorName(result);
  return code === "EAGAIN" || code === "EMFILE"
    ? `the process runs ${LOOKUPS_MAX} lookups at once, none of them this loop's to wait for`
    : undefined;
}

/** @internal A lookup of `loop` ended: the first task waiting tries again. */
export function _lookupEnded(loop: EventLoop): void {
  const lookups = loopLookups.get(loop)!;
  lookups.running--;
  if (!loop._destroyed) lookups.waiting.notify(1);
}

/**
 * @internal The first address of `hostname` as IP text, resolved at once
 * when it is an IP literal or `"localhost"`, else from the cache (names
 * resolved once stay resolved for the process), else by a native lookup this
 * call blocks the thread for (bounded by the resolver's own timeouts). For
 * synchronous callers (`UDPEndpoint.bind`).
 *
 * @throws {StreamError} `ENOTFOUND`, as {@linkcode lookup}.
 */
export function resolveNow(hostname: string): string {
  const cached = resolvedNames.get(hostname);
  if (cached !== undefined) return unwrap(cached);
  const handle = native.lookupStart(hostname);
  const what = `lookup ${JSON.stringify(hostname)}`;
  if (handle < 0) throw errorFromResult(StreamError, handle, what);
  try {
    const waited = native.lookupWait(handle, -1);
    if (waited < 0) throw errorFromResult(StreamError, waited, what);
    return unwrap(remember(hostname, native.lookupResult(handle)));
  } finally {
    native.lookupClose(handle);
  }
}

/**
 * @internal Like {@linkcode resolveNow} without blocking: the cached answer
 * (an IP text or the error), or `undefined` after starting a lookup whose
 * end calls `done` from the loop's hub (once per start; later calls for the
 * same name while it runs only add their `done`).
 */
export function resolveLater(
  loop: EventLoop,
  hostname: string,
  done: () => void,
): string | StreamError | undefined {
  const cached = resolvedNames.get(hostname);
  if (cached !== undefined) return cached;
  const waiting = running.get(hostname);
  if (waiting !== undefined) {
    waiting.push(done);
    return undefined;
  }
  const what = `lookup ${JSON.stringify(hostname)}`;
  const handle = native.lookupStart(hostname);
  if (handle < 0) return errorFromResult(StreamError, handle, what);
  const fd = native.lookupFd(handle);
  const callbacks = [done];
  running.set(hostname, callbacks);
  // A loop destroyed before the answer ends the lookup and forgets it, so
  // that a later send to the name (on a new loop) starts another.
  const token = loop._registerToken(() => {}, false, () => {
    native.lookupClose(handle);
    running.delete(hostname);
  });
  loop.addReader(fd, () => {
    loop.removeReader(fd);
    loop._releaseToken(token);
    remember(hostname, native.lookupResult(handle));
    native.lookupClose(handle);
    running.delete(hostname);
    for (const callback of callbacks) callback();
  });
  return undefined;
}

/** Names resolved once: their first address, or the error they gave. */
const resolvedNames = new Map<string, string | StreamError>();
/** Lookups `resolveLater` started and that have not ended. */
const running = new Map<string, (() => void)[]>();
/** Past this many names the cache starts over (names churn rarely). */
const RESOLVED_NAMES_MAX = 1024;

function remember(
  hostname: string,
  found: string[] | number,
): string | StreamError {
  const what = `lookup ${JSON.stringify(hostname)}`;
  const entry = typeof found === "number"
    ? found === NOT_FOUND
      ? errorFor(StreamError, "ENOTFOUND", what, "no such host")
      : errorFromResult(StreamError, found, what)
    : found.length === 0
    ? errorFor(StreamError, "ENOTFOUND", what, "no address")
    : found[0];
  if (resolvedNames.size >= RESOLVED_NAMES_MAX) resolvedNames.clear();
  // A transient failure (EAGAIN) is not worth keeping.
  if (typeof entry === "string" || entry.code === "ENOTFOUND") {
    resolvedNames.set(hostname, entry);
  }
  return entry;
}

function unwrap(entry: string | StreamError): string {
  if (typeof entry === "string") return entry;
  throw entry;
}

function familyOf(text: string): 4 | 6 {
  return text.includes(":") ? 6 : 4;
}
