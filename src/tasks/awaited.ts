/**
 * The tasks being awaited (`await task`, `Task.then` in `task.ts`) before
 * they end, for the loop of this thread: while there are any, one token
 * registered with the loop (kept alive by nothing) lets `destroy()` reject
 * them, and a hook rejects them when `run()` ends, since they can never end
 * then.
 *
 * @module
 */

import type { EventLoop } from "../loop/event_loop.ts";
import type { Task } from "./task.ts";

let awaited: { loop: EventLoop; tasks: Set<Task>; token: number } | null = null;
// The loops whose end already rejects their awaited tasks.
const hooked = new WeakSet<EventLoop>();

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
  if (!hooked.has(loop)) {
    // Once per loop (the set is made anew each time it empties): a task
    // still blocked when run() ends can never end either.
    hooked.add(loop);
    loop._atEnd(() => {
      if (awaited?.loop !== loop) return;
      for (const task of awaited.tasks) task._abandon("ELOOPENDED");
    });
  }
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
