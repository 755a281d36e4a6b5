/**
 * Tasks: fibers that look like threads, scheduled by the event loop
 * (`loop.ts`), and what they block on first, `sleep()`. This module gathers
 * what `tasks/` exports, one concept a file: `tasks/task.ts` (`Task`),
 * `tasks/task_exit.ts`, `tasks/spawn.ts` (`spawn`, `task`),
 * `tasks/sleep.ts`, `tasks/shield.ts`, `tasks/awaited.ts` (`await task`
 * while its loop can still end it) and `tasks/spawn_site.ts`
 * (`traceSpawns`).
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn } from "./tasks.ts";
 *
 * using loop = new EventLoop();
 * const order: string[] = [];
 * spawn(function* () {
 *   order.push("a1");
 *   yield* sleep(0);
 *   order.push("a2");
 * });
 * spawn(() => order.push("b"));
 * await loop.run();
 * console.log(order); // ["a1", "b", "a2"]
 * ```
 *
 * @module
 */

export { Task } from "./tasks/task.ts";
export { TaskExit } from "./tasks/task_exit.ts";
export { spawn, task } from "./tasks/spawn.ts";
export { sleep } from "./tasks/sleep.ts";
export { shield } from "./tasks/shield.ts";
