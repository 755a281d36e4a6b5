/**
 * The hub's ready queue: the entries (`Runnable`, `handler.ts`) it runs next,
 * in FIFO order. `driver.ts` runs one queue as a batch while new entries go
 * to the other, then empties the batch and swaps the two.
 *
 * @module
 */

import type { Runnable } from "./handler.ts";

/**
 * @internal A FIFO of ready entries over an array whose store is kept from
 * one batch to the next. Emptying a JS array with `length = 0` makes V8 drop
 * its store, and the next batch grew a new one entry by entry: 15 bytes and
 * a slow-path grow per `sleep(0)` among ten tasks (93 -> 81 ns per switch
 * without it).
 *
 * @example
 * ```ts
 * import { ReadyQueue } from "./ready_queue.ts";
 * const queue = new ReadyQueue();
 * queue.push({ _fire: () => console.log("ran") });
 * for (let i = 0; i < queue.length; i++) queue.entries[i]!._fire();
 * queue.empty();
 * console.log(queue.length); // 0
 * ```
 */
export class ReadyQueue {
  /** The entries, `length` of them from index 0; null past `length`. */
  readonly entries: (Runnable | null)[] = [];
  /** How many entries are queued. */
  length = 0;

  /**
   * Appends `entry`: a store at the array's length grows it, one below it
   * reuses a slot (both fast paths of one keyed store).
   */
  push(entry: Runnable): void {
    this.entries[this.length++] = entry;
  }

  /** Forgets every entry, keeping the store. */
  empty(): void {
    const entries = this.entries;
    for (let i = 0; i < this.length; i++) entries[i] = null;
    this.length = 0;
  }
}
