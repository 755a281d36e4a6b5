/**
 * The event loop: a hub fiber (`loop.task`) that runs callbacks in FIFO
 * order, fires timers from a heap, and dispatches fd readiness, signals and
 * native operation completions from the native poll loop (`native/`).
 * Tasks (`tasks.ts`) and every blocking primitive (`sync/`) park by switching
 * to the hub and are resumed by callbacks it runs. This module gathers what
 * `loop/` exports, one concept a file: `loop/event_loop.ts` (the class),
 * `loop/handler.ts`, `loop/driver.ts`, `loop/ready_queue.ts`,
 * `loop/timers.ts`,
 * `loop/fd_watchers.ts`, `loop/signals.ts`, `loop/tokens.ts`,
 * `loop/stall.ts`, `loop/pacing.ts`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * using loop = new EventLoop();
 * loop.callSoon(() => console.log("ran"));
 * loop.runSync();
 * ```
 *
 * @module
 */

export { EventLoop, type EventLoopOptions } from "./loop/event_loop.ts";
export { type Callback, Handler, type Runnable } from "./loop/handler.ts";
export type { StallReport } from "./loop/stall.ts";
export { SpinPolicy } from "./loop/pacing.ts";
// For the modules that still import it from here (`tasks.ts`, `io/stream.ts`,
// `io/udp.ts`, `sync/timeout.ts`, being edited elsewhere); its home is
// `_util.ts`.
export { describe } from "./_util.ts";
