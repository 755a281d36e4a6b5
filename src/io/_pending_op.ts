/**
 * Private to `io/` (not re-exported by `mod.ts`): {@linkcode PendingOp}, one
 * native op a task waits for. Streams use it for reads and connects,
 * servers for their accept loop.
 *
 * @module
 */

import { Fiber } from "../fiber.ts";
import type { EventLoop } from "../loop/event_loop.ts";
import type { TokenEntry } from "../loop/tokens.ts";
import { BAD_DESCRIPTOR } from "../native/stream_native.ts";

const fiberSwitch = Fiber.prototype.switch;

/**
 * @internal One native op a task waits for: registers the op's token with
 * the loop (keeping `run()` alive), takes its completion, and resumes the
 * waiting fiber unless it gave up (killed, or the op was canceled). An
 * `intermediate` hook consumes records that do not end the op (accepted
 * connections).
 *
 * @example
 * ```ts ignore
 * import { PendingOp } from "./_pending_op.ts";
 * const pending = new PendingOp(loop, loop._blockingFiber("connect()"));
 * const started = native.streamConnect(handle, address, pending.token);
 * if (started !== native.IN_PROGRESS) pending.release();
 * else result = yield* pending.wait();
 * ```
 */
export class PendingOp implements TokenEntry {
  /** The token the op's records carry. */
  readonly token: number;
  /** Its records are queued as hub callbacks (a TokenEntry field). */
  readonly internal = false;
  /** It keeps `run()` alive (a TokenEntry field). */
  readonly keepAlive = true;
  /** True once the final record arrived. */
  done = false;
  /** The final record's result. */
  result = 0;
  /** The final record's aux word. */
  aux = 0;
  #loop: EventLoop;
  #fiber: Fiber | null;
  #abandoned = false;
  #intermediate: ((result: number, aux: number) => boolean) | null;

  /**
   * @param loop the loop whose ring carries the op's records
   * @param fiber the fiber to resume on completion (null: nobody)
   * @param intermediate consumes records that do not end the op
   */
  constructor(
    loop: EventLoop,
    fiber: Fiber | null,
    intermediate: ((result: number, aux: number) => boolean) | null = null,
  ) {
    this.#loop = loop;
    this.#fiber = fiber;
    this.#intermediate = intermediate;
    // The op is its own token entry: no closures per op.
    this.token = loop._registerOp(this);
  }

  /** True while the op runs (not done, its loop not destroyed). */
  get busy(): boolean {
    return !this.done;
  }

  /**
   * Called by the loop when it is destroyed: the op ends with EBADF; its
   * task is not resumed.
   */
  settle(): void {
    this.done = true;
    this.result = BAD_DESCRIPTOR;
    this.#abandoned = true;
  }

  /**
   * Called by the loop with each record of the op's token: the final one
   * ends the op and resumes the waiting fiber (the hub runs the switch
   * returned).
   */
  callback(result: number, _kind: number, aux: number): unknown {
    if (this.#intermediate !== null && this.#intermediate(result, aux)) {
      return undefined;
    }
    this.done = true;
    this.result = result;
    this.aux = aux;
    this.#loop._releaseToken(this.token);
    if (this.#abandoned || this.#fiber === null) return undefined;
    return fiberSwitch.call(this.#fiber);
  }

  /** Gives the token back for an op that never started. */
  release(): void {
    this.#loop._releaseToken(this.token);
  }

  /** The waiter left early: the completion will only release the token. */
  abandon(): void {
    this.#abandoned = true;
  }

  /** Parks the running task until the final record; returns its result. */
  *wait(): Generator<unknown, number, unknown> {
    while (!this.done) yield* this.#loop.switch();
    return this.result;
  }
}
