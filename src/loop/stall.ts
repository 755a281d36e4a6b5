/**
 * The stall detector: reports a task (or a loop callback) that kept the JS
 * thread longer than `stallWarningMs` without coming back to the loop.
 * `driver.ts` times each callback it runs while the detector is on.
 *
 * @module
 */

import { describe } from "../_util.ts";
import type { Fiber } from "../fiber/fiber.ts";

/**
 * What a stall detector reports: a task (or a loop callback) kept the JS
 * thread longer than `stallWarningMs` without coming back to the loop.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 * import type { StallReport } from "./stall.ts";
 * const reports: StallReport[] = [];
 * using _loop = new EventLoop({
 *   stallWarningMs: 100,
 *   onStall: (report) => reports.push(report),
 * });
 * ```
 */
export interface StallReport {
  /** The name of the task that ran, or null for a plain loop callback. */
  readonly task: string | null;
  /** How long the JS thread stayed away from the loop, in ms. */
  readonly durationMs: number;
  /** A sentence saying both, as the default warning prints it. */
  readonly message: string;
}

/**
 * @internal The stall detector of one loop (off while `warningMs` is 0).
 *
 * @example
 * ```ts
 * import { StallDetector } from "./stall.ts";
 * const stall = new StallDetector(0, undefined);
 * console.log(stall.warningMs); // 0
 * ```
 */
export class StallDetector {
  /** The threshold in ms, 0 for off. */
  readonly warningMs: number;
  readonly #onStall: ((report: StallReport) => void) | null;

  /**
   * Checks the options `stallWarningMs` and `onStall`.
   *
   * @throws {RangeError} if `warningMs` is not a number of ms >= 0.
   * @throws {TypeError} if `onStall` is neither a function nor undefined.
   */
  constructor(warningMs: unknown, onStall: unknown) {
    if (typeof warningMs !== "number" || !(warningMs >= 0)) {
      throw new RangeError(
        `stallWarningMs must be a number of ms >= 0, got ${
          describe(warningMs)
        }`,
      );
    }
    if (onStall !== undefined && typeof onStall !== "function") {
      throw new TypeError(
        `onStall must be a function, got ${describe(onStall)}`,
      );
    }
    this.warningMs = warningMs;
    this.#onStall = (onStall as ((report: StallReport) => void) | undefined) ??
      null;
  }

  /**
   * Reports a stall if the callback that started at `startMs` (run by
   * `ranFiber`, or by the hub itself when null) took too long; an error of
   * `onStall` goes to `reportError`.
   */
  check(
    startMs: number,
    ranFiber: Fiber | null,
    reportError: (error: unknown) => void,
  ): void {
    const durationMs = performance.now() - startMs;
    if (durationMs <= this.warningMs) return;
    const task = ranFiber?.name ?? null;
    const message = `${
      task === null ? "a loop callback" : `task ${task}`
    } kept the JS thread for ${
      durationMs.toFixed(1)
    } ms without coming back to the loop (stallWarningMs: ${this.warningMs})`;
    const report: StallReport = { task, durationMs, message };
    const onStall = this.#onStall;
    if (onStall === null) {
      console.warn(message);
      return;
    }
    try {
      onStall(report);
    } catch (error) {
      reportError(error);
    }
  }
}
