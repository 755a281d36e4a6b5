/**
 * Spawn sites, for `traceSpawns`: where a task was made, captured raw when
 * it is made (`task.ts`) and formatted only if an error escapes it, as a
 * note on that error's stack, like async stack traces.
 *
 * @module
 */

import type { Task } from "./task.ts";

// How many spawning tasks an error's stack shows at most.
const SPAWN_CHAIN_MAX = 8;
// Spawn sites leave out the library's own frames (trampoline, hub).
const LIBRARY_URL = new URL("..", import.meta.url).href;

/**
 * @internal Where a task was made and by which task (null: outside any
 * task), with that task's own spawn site; `stack` is set by
 * `Error.captureStackTrace`.
 */
export interface SpawnSite {
  /** The raw stack at the spawn, formatted only when an error is reported. */
  stack?: string;
  /** The task that spawned this one, if any. */
  spawner: Task | null;
  /** The spawner's own spawn site, if it has one. */
  spawnerSite: SpawnSite | null;
}

function isUserFrame(line: string): boolean {
  return !line.includes(LIBRARY_URL) && !line.includes("(<anonymous>)");
}

/**
 * @internal Appends `in task <name>` and, when the task has a spawn site,
 * where it (and the tasks that spawned it) were spawned, to an escaping
 * error's stack. An error that passes through several tasks gets a line
 * for each. A frozen error keeps its stack.
 *
 * @example
 * ```ts
 * import { annotateError } from "./spawn_site.ts";
 * const error = new Error("broken");
 * annotateError(error, "parser", null);
 * console.log(error.stack!.endsWith("in task parser")); // true
 * ```
 */
export function annotateError(
  error: unknown,
  name: string,
  site: SpawnSite | null,
): void {
  if (!(error instanceof Error) || typeof error.stack !== "string") return;
  let text = `\n    in task ${name}`;
  for (let depth = 0; site !== null && depth < SPAWN_CHAIN_MAX; depth++) {
    const frames = (site.stack ?? "").split("\n").slice(1)
      .filter(isUserFrame).join("\n");
    text += `, spawned:\n${frames}`;
    const spawner = site.spawner;
    if (spawner === null) break;
    text += `\n    in task ${spawner.name}`;
    site = site.spawnerSite;
  }
  try {
    error.stack += text;
  } catch {
    // A frozen error keeps its stack.
  }
}
