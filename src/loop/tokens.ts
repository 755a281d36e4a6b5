/**
 * Op tokens: the numbers the native loop reports completions under. Each
 * names a {@linkcode TokenEntry} (an fd watch, a signal watch, or a native
 * operation of the I/O layer); `driver.ts` dispatches completions through
 * this table. Fd and signal watchers (`fd_watchers.ts`, `signals.ts`)
 * extend {@linkcode TokenWatchers}.
 *
 * @module
 */

import type { NativeLoop } from "../native/native_loop.ts";
import type { Runnable } from "./handler.ts";

/**
 * @internal What a token stands for. The loop calls `callback` and
 * `settle` as methods of the entry, so an object that is its own entry
 * (an I/O op) needs no closures.
 */
export interface TokenEntry {
  /**
   * Internal dispatchers (fd, signal) run inside the drain; others are
   * queued as hub callbacks.
   */
  internal: boolean;
  /** Whether the token keeps `run()` alive. */
  keepAlive: boolean;
  /** Called with each completion of the token. */
  callback: (result: number, kind: number, aux: number) => unknown;
  /** Called by destroy() for an op that will never complete. */
  settle?: () => void;
}

/**
 * @internal One completion of a queued (not internal) token, waiting in
 * the hub's ready queue: runs `entry.callback(result, kind, aux)`.
 *
 * @example
 * ```ts
 * import { TokenRecord } from "./tokens.ts";
 * const entry = {
 *   internal: false,
 *   keepAlive: true,
 *   callback: (result: number) => console.log(result),
 * };
 * new TokenRecord(entry, 5, 0, 0)._fire(); // 5
 * ```
 */
export class TokenRecord implements Runnable {
  #entry: TokenEntry;
  #result: number;
  #kind: number;
  #aux: number;

  /** The record `result`, `kind`, `aux` of `entry`'s token. */
  constructor(entry: TokenEntry, result: number, kind: number, aux: number) {
    this.#entry = entry;
    this.#result = result;
    this.#kind = kind;
    this.#aux = aux;
  }

  /** Delivers the record (what the callback returns, the hub runs). */
  _fire(): unknown {
    return this.#entry.callback(this.#result, this.#kind, this.#aux);
  }
}

/**
 * @internal The live tokens of one loop; token 0 is never handed out.
 *
 * @example
 * ```ts
 * import { TokenTable } from "./tokens.ts";
 * const tokens = new TokenTable();
 * const token = tokens.allocate({
 *   internal: false,
 *   keepAlive: true,
 *   callback: () => {},
 * });
 * console.log(token, tokens.keepAlive); // 1 1
 * tokens.release(token);
 * console.log(tokens.live); // 0
 * ```
 */
export class TokenTable {
  /** The entry of each token, `undefined` where free. */
  entries: (TokenEntry | undefined)[] = [undefined];
  #free: number[] = [];
  /** Tokens handed out. */
  live = 0;
  /** Tokens handed out that keep `run()` alive. */
  keepAlive = 0;

  /** Hands out a token for `entry`. */
  allocate(entry: TokenEntry): number {
    const token = this.#free.pop() ?? this.entries.length;
    this.entries[token] = entry;
    this.live++;
    if (entry.keepAlive) this.keepAlive++;
    return token;
  }

  /** Takes back a token that is handed out. */
  release(token: number): void {
    const entry = this.entries[token]!;
    this.entries[token] = undefined;
    this.#free.push(token);
    this.live--;
    if (entry.keepAlive) this.keepAlive--;
  }

  /**
   * Settles every op that will never complete (the loop was destroyed) and
   * forgets every token.
   */
  settleAll(): void {
    for (const entry of this.entries) {
      if (entry?.settle === undefined) continue;
      try {
        entry.settle();
      } catch (error) {
        console.error(error);
      }
    }
    this.entries = [undefined];
    this.#free = [];
    this.live = 0;
    this.keepAlive = 0;
  }
}

/**
 * @internal What fd and signal watchers share: the native loop they watch
 * through, the token table, and where the handlers they wake go.
 *
 * @example
 * ```ts
 * import { TokenWatchers } from "./tokens.ts";
 * console.log(typeof TokenWatchers); // function
 * ```
 */
export abstract class TokenWatchers {
  /** The native loop the watches are made on. */
  protected readonly native: NativeLoop;
  /** The loop's tokens. */
  protected readonly tokens: TokenTable;
  /** Queues a handler on the hub's ready queue. */
  protected readonly enqueue: (entry: Runnable) => void;

  /** Watches through `native`; woken handlers go to `enqueue`. */
  constructor(
    native: NativeLoop,
    tokens: TokenTable,
    enqueue: (entry: Runnable) => void,
  ) {
    this.native = native;
    this.tokens = tokens;
    this.enqueue = enqueue;
  }
}
