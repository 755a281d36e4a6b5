/**
 * Fd watching: the readers and writers of `addReader`/`addWriter`, one
 * native watch (and one token) per descriptor, level-triggered. Readiness
 * arrives through the token's completion and queues the handlers on the
 * hub's ready queue.
 *
 * @module
 */

import { FAILED, HANGUP, READABLE, WRITABLE } from "../native/native_loop.ts";
import type { Handler } from "./handler.ts";
import { TokenWatchers } from "./tokens.ts";

interface FdEntry {
  fd: number;
  token: number;
  mask: number;
  reader: Handler | null;
  writer: Handler | null;
}

/**
 * @internal The watched descriptors of one loop. `side` is `READABLE` or
 * `WRITABLE` (`native/native_loop.ts`).
 *
 * @example
 * ```ts
 * import { FdWatchers } from "./fd_watchers.ts";
 * import type { NativeLoop } from "../native/native_loop.ts";
 * import { TokenTable } from "./tokens.ts";
 * const watchers = (native: NativeLoop) =>
 *   new FdWatchers(native, new TokenTable(), () => {});
 * console.log(typeof watchers); // function
 * ```
 */
export class FdWatchers extends TokenWatchers {
  #fds = new Map<number, FdEntry>();

  /**
   * Watches `fd` on `side` for `handler`.
   *
   * @throws {Error} if `fd` already has a handler on that side.
   */
  add(fd: number, side: number, handler: Handler): void {
    let entry = this.#fds.get(fd);
    if (entry !== undefined) {
      if ((side === READABLE ? entry.reader : entry.writer) !== null) {
        throw new Error(
          `another ${
            side === READABLE ? "reader" : "writer"
          } is already registered for fd ${fd}`,
        );
      }
    } else {
      entry = { fd, token: 0, mask: 0, reader: null, writer: null };
      const fdEntry = entry;
      entry.token = this.tokens.allocate({
        internal: true,
        keepAlive: true,
        callback: (result) => this.#queueReadiness(fdEntry, result),
      });
    }
    try {
      this.native.watch(fd, entry.mask | side, entry.token);
    } catch (error) {
      if (entry.mask === 0) this.tokens.release(entry.token);
      throw error;
    }
    this.#fds.set(fd, entry);
    entry.mask |= side;
    if (side === READABLE) entry.reader = handler;
    else entry.writer = handler;
  }

  /** Stops watching `fd` on `side`; false if it was not watched there. */
  remove(fd: number, side: number): boolean {
    const entry = this.#fds.get(fd);
    if (entry === undefined || (entry.mask & side) === 0) return false;
    const handler = side === READABLE ? entry.reader : entry.writer;
    handler!.cancel();
    if (side === READABLE) entry.reader = null;
    else entry.writer = null;
    entry.mask &= ~side;
    if (entry.mask === 0) {
      this.#fds.delete(fd);
      this.native.unwatch(fd);
      this.tokens.release(entry.token);
    } else {
      this.native.watch(fd, entry.mask, entry.token);
    }
    return true;
  }

  /** Stops watching every descriptor. */
  removeAll(): void {
    for (const fd of [...this.#fds.keys()]) {
      this.remove(fd, READABLE);
      this.remove(fd, WRITABLE);
    }
  }

  #queueReadiness(entry: FdEntry, mask: number): void {
    const broken = (mask & (FAILED | HANGUP)) !== 0;
    if (entry.reader !== null && (broken || (mask & READABLE) !== 0)) {
      this.enqueue(entry.reader);
    }
    if (entry.writer !== null && (broken || (mask & WRITABLE) !== 0)) {
      this.enqueue(entry.writer);
    }
  }
}
