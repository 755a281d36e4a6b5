/**
 * Event: a flag that tasks wait on until another task (or any code) sets it.
 * Waiters park through `wait_queue.ts`; `set()` wakes them all through loop
 * callbacks.
 *
 * @module
 */

import { checkTimeout, WaitQueue } from "./wait_queue.ts";
import { blocking } from "../_operation.ts";

/**
 * A flag tasks can wait for. `set()` wakes every waiter; `wait()` on a set
 * event returns true without yielding.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { Event } from "./event.ts";
 *
 * using loop = new EventLoop();
 * const ready = new Event();
 * spawn(function* () {
 *   const ok = yield* ready.wait();
 *   console.log("woken:", ok); // woken: true
 * });
 * spawn(() => ready.set());
 * await loop.run();
 * ```
 */
export class Event {
  #flag = false;
  // Every waiter is woken by set(), so a killed one has nothing to pass on.
  #waiters = new WaitQueue(() => {});

  /** True while the flag is set. */
  isSet(): boolean {
    return this.#flag;
  }

  /** Sets the flag and wakes every waiting task. */
  set(): void {
    this.#flag = true;
    this.#waiters.notifyAll();
  }

  /** Clears the flag; later `wait()` calls block again. */
  clear(): void {
    this.#flag = false;
  }

  /**
   * Blocks until the flag is set; use with `yield*`. Returns true when set,
   * false if `timeoutMs` passed first (undefined or `Infinity`: no limit).
   *
   * @throws {Error} if it would block outside a task.
   */
  @blocking("Event.wait()")
  *wait(timeoutMs?: number): Generator<unknown, boolean, unknown> {
    if (this.#flag) {
      checkTimeout(timeoutMs, "Event.wait()");
      return true;
    }
    return yield* this.#waiters.wait(timeoutMs, "Event.wait()");
  }
}
