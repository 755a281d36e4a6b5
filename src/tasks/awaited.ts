/**
 * The tasks being awaited (`await task`, `Task.then` in `task.ts`) before
 * they end, for the loop of this thread: while there are any, one token
 * registered with the loop (kept alive by nothing) lets `destroy()` reject
 * them, since they can never end then.
 *
 * @module
 */

import type { EventLoop } from "../loop/event_loop.ts";
import type { Task } from "./task.ts";

let awaited: { loop: EventLoop; tasks: Set<Task>; token: number } | null = null;

/**
 * @internal The set of `loop`'s awaited tasks, registering the loop's token
 * on first need.
 *
 * @example
 * ```ts ignore
 * awaitedBy(loop).add(task);
 * ```
 */
export function awaitedBy(loop: EventLoop): Set<Task> {
  if (awaited !== null && awaited.loop === loop) return awaited.tasks;
  const tasks = new Set<Task>();
  const token = loop._registerToken(() => undefined, false, () => {
    if (awaited?.tasks === tasks) awaited = null;
    for (const task of tasks) task._abandon("ELOOPDESTROYED");
  });
  awaited = { loop, tasks, token };
  return tasks;
}

/**
 * @internal An awaited task ended: forgets it, and releases the loop's
 * token with the last one.
 *
 * @example
 * ```ts ignore
 * awaitedDone(task);
 * ```
 */
export function awaitedDone(task: Task): void {
  if (awaited === null || !awaited.tasks.delete(task)) return;
  if (awaited.tasks.size > 0) return;
  if (!awaited.loop._destroyed) awaited.loop._releaseToken(awaited.token);
  awaited = null;
}
