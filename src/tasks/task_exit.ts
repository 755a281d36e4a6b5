/**
 * TaskExit, the error `Task.kill()` throws by default (`task.ts`): the one
 * error that ends a task without a report.
 *
 * @module
 */

import { NamedError } from "../named_error.ts";

/**
 * Ends a task quietly: `kill()` throws it into the task by default, and a
 * task that ends with it is not reported to the loop's exception handler.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { sleep, spawn, TaskExit } from "../tasks.ts";
 *
 * using loop = new EventLoop();
 * const log: string[] = [];
 * const sleeper = spawn(function* () {
 *   try {
 *     yield* sleep(10_000);
 *   } catch (error) {
 *     log.push(error instanceof TaskExit ? "exit" : "other");
 *     throw error;
 *   }
 * });
 * spawn(() => sleeper.kill());
 * await loop.run();
 * console.log(log); // ["exit"]
 * ```
 */
export class TaskExit extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "task killed";
}
