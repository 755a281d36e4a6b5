/**
 * `shield()`: cleanup that must block (a flush, a goodbye) runs with a
 * task's cancellation deferred: its kill or outer Timeout (`task.ts`) waits
 * until the shielded body ends.
 *
 * @module
 */

import { current } from "../fiber/fiber.ts";
import { describe, isGenerator } from "../_util.ts";
import { operation } from "../_operation.ts";
import { Task } from "./task.ts";

/**
 * Runs `body` with cancellation deferred, for cleanup that must block (a
 * flush, a goodbye message); use with `yield*`. A kill, or a Timeout
 * started outside the shield, that arrives while the body runs waits until
 * the body ends, then takes effect at the task's next blocking call. A
 * Timeout started inside the body still fires inside it (Trio's shielded
 * cancel scope). Outside a task it simply runs `body`.
 *
 * @throws {TypeError} if `body` is not a function.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { shield, sleep, spawn } from "../tasks.ts";
 *
 * using loop = new EventLoop();
 * const log: string[] = [];
 * const worker = spawn(function* () {
 *   try {
 *     yield* sleep(10_000);
 *   } finally {
 *     // Without the shield, this sleep would throw TaskExit again.
 *     yield* shield(function* () {
 *       yield* sleep(1);
 *       log.push("goodbye sent");
 *     });
 *   }
 * });
 * spawn(() => worker.kill());
 * await loop.run();
 * console.log(log); // ["goodbye sent"]
 * ```
 */
export const shield: <T>(
  body: () => Generator<unknown, T, unknown>,
) => Generator<unknown, T, unknown> = operation("shield()", function shield<T>(
  body: () => Generator<unknown, T, unknown>,
): Generator<unknown, T, unknown> {
  if (typeof body !== "function") {
    throw new TypeError(`shield() needs a function, got ${describe(body)}`);
  }
  const fiber = current();
  if (fiber instanceof Task) return fiber._shielded(body);
  return runBody(body);
}, false);

function* runBody<T>(
  body: () => Generator<unknown, T, unknown>,
): Generator<unknown, T, unknown> {
  const out = body();
  return isGenerator<T>(out) ? yield* out : out as T;
}
