/**
 * Starting tasks: `spawn(fn, ...args)` makes a task (`task.ts`) and starts
 * it, `task(fn)` turns a function into one that does (evergreen's `@task`).
 *
 * @module
 */

import type { FiberTarget } from "../fiber/fiber.ts";
import { describe } from "../_util.ts";
import { Task } from "./task.ts";

/**
 * Creates a task running `fn(...args)` and starts it.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 *
 * using loop = new EventLoop();
 * const seen: number[] = [];
 * for (let i = 0; i < 3; i++) spawn((x: number) => seen.push(x), i);
 * await loop.run();
 * console.log(seen); // [0, 1, 2]
 * ```
 */
export function spawn<A extends unknown[], R>(
  fn: FiberTarget<A, R>,
  ...args: A
): Task<R> {
  const task = new Task<R>(fn as FiberTarget<unknown[], R>, { args });
  task.start();
  return task;
}

/**
 * Turns `fn` into a function that spawns a task running it (evergreen's
 * `@task` decorator).
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { task } from "../tasks.ts";
 *
 * using loop = new EventLoop();
 * const greet = task((name: string) => console.log(`hello ${name}`));
 * greet("world");
 * await loop.run(); // prints "hello world"
 * ```
 */
export function task<A extends unknown[], R>(
  fn: FiberTarget<A, R>,
): (...args: A) => Task<R> {
  if (typeof fn !== "function") {
    throw new TypeError(`task() needs a function, got ${describe(fn)}`);
  }
  return (...args: A) => spawn(fn, ...args);
}
