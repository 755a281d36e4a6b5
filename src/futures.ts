/**
 * Futures for tasks (evergreen's `futures` module): `Future`, a pool of
 * worker tasks (`TaskPoolExecutor`), `wait` and `asCompleted` over several
 * futures, and `waitPromise`, the bridge that lets a task wait for an
 * ordinary JS promise while `loop.run()` keeps Deno's event loop turning.
 *
 * @module
 */

import type { FiberTarget } from "./fiber/fiber.ts";
import { EventLoop } from "./loop/event_loop.ts";
import { checkOptionalTimeMs, describe, isGenerator } from "./_util.ts";
import { spawn } from "./tasks/spawn.ts";
import type { Task } from "./tasks/task.ts";
import { TaskExit } from "./tasks/task_exit.ts";
import { Event } from "./sync/event.ts";
import { Queue } from "./sync/queue.ts";
import { blocking, made } from "./_operation.ts";
import { Future, futureInternals, TimeoutError } from "./future.ts";

export { CancelledError, Future, TimeoutError } from "./future.ts";

const {
  runningOrCancelled,
  watch: watchFuture,
  unwatch: unwatchFuture,
  failed: failedFuture,
} = futureInternals;

/** When {@linkcode wait} returns (Python's `concurrent.futures` names). */
export type ReturnWhen =
  | "FIRST_COMPLETED"
  | "FIRST_EXCEPTION"
  | "ALL_COMPLETED";

/**
 * Waits until some or all of `futures` are done; use with `yield*`. With
 * `FIRST_COMPLETED` it returns when any is done, with `FIRST_EXCEPTION` when
 * any fails (or all are done), with `ALL_COMPLETED` (default) when all are.
 * After `timeoutMs` it returns whatever is done by then.
 *
 * @throws {TypeError} if `returnWhen` is not one of the three names.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn } from "./tasks.ts";
 * import { TaskPoolExecutor, wait } from "./futures.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   const pool = new TaskPoolExecutor(4);
 *   const fast = pool.submit(function* () {
 *     yield* sleep(1);
 *     return "fast";
 *   });
 *   const slow = pool.submit(function* () {
 *     yield* sleep(50);
 *     return "slow";
 *   });
 *   const { done } = yield* wait([fast, slow], undefined, "FIRST_COMPLETED");
 *   console.log(done.has(fast), done.has(slow)); // true false
 *   yield* pool.shutdown();
 * });
 * await loop.run();
 * ```
 */
export function wait<T>(
  futures: Iterable<Future<T>>,
  timeoutMs?: number,
  returnWhen: ReturnWhen = "ALL_COMPLETED",
): Generator<
  unknown,
  { done: Set<Future<T>>; notDone: Set<Future<T>> },
  unknown
> {
  if (
    returnWhen !== "FIRST_COMPLETED" && returnWhen !== "FIRST_EXCEPTION" &&
    returnWhen !== "ALL_COMPLETED"
  ) {
    throw new TypeError(
      `returnWhen must be "FIRST_COMPLETED", "FIRST_EXCEPTION" or "ALL_COMPLETED", got ${
        describe(returnWhen)
      }`,
    );
  }
  checkOptionalTimeMs(timeoutMs, "wait()");
  return made(
    "wait()",
    waitFutures(checkedFutures(futures), timeoutMs, returnWhen),
  );
}

function* waitFutures<T>(
  futures: Set<Future<T>>,
  timeoutMs: number | undefined,
  returnWhen: ReturnWhen,
): Generator<
  unknown,
  { done: Set<Future<T>>; notDone: Set<Future<T>> },
  unknown
> {
  const finished = (): boolean => {
    let doneCount = 0;
    for (const future of futures) {
      if (!future.done()) continue;
      doneCount++;
      if (returnWhen === "FIRST_COMPLETED") return true;
      if (
        returnWhen === "FIRST_EXCEPTION" &&
        failedFuture(future as Future<unknown>)
      ) {
        return true;
      }
    }
    return doneCount === futures.size;
  };
  if (!finished()) {
    const event = new Event();
    const watcher = (): void => {
      if (finished()) event.set();
    };
    for (const future of futures) {
      watchFuture(future as Future<unknown>, watcher);
    }
    try {
      yield* event.wait(timeoutMs);
    } finally {
      for (const future of futures) {
        unwatchFuture(future as Future<unknown>, watcher);
      }
    }
  }
  const done = new Set<Future<T>>();
  const notDone = new Set<Future<T>>();
  for (const future of futures) (future.done() ? done : notDone).add(future);
  return { done, notDone };
}

/**
 * Waits for every future and returns them in the order they completed
 * (those already done first); use with `yield*`.
 *
 * @throws {TimeoutError} if they are not all done after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn } from "./tasks.ts";
 * import { asCompleted, TaskPoolExecutor } from "./futures.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   const pool = new TaskPoolExecutor(3);
 *   const futures = [30, 10, 20].map((ms) =>
 *     pool.submit(function* () {
 *       yield* sleep(ms);
 *       return ms;
 *     })
 *   );
 *   const order: number[] = [];
 *   for (const future of yield* asCompleted(futures)) {
 *     order.push(yield* future.get());
 *   }
 *   console.log(order); // [10, 20, 30]
 *   yield* pool.shutdown();
 * });
 * await loop.run();
 * ```
 */
export function asCompleted<T>(
  futures: Iterable<Future<T>>,
  timeoutMs?: number,
): Generator<unknown, Future<T>[], unknown> {
  checkOptionalTimeMs(timeoutMs, "asCompleted()");
  return made(
    "asCompleted()",
    collectCompleted(checkedFutures(futures), timeoutMs),
  );
}

function* collectCompleted<T>(
  futures: Set<Future<T>>,
  timeoutMs: number | undefined,
): Generator<unknown, Future<T>[], unknown> {
  const order: Future<T>[] = [];
  const pending = new Set<Future<T>>();
  for (const future of futures) {
    if (future.done()) order.push(future);
    else pending.add(future);
  }
  if (pending.size === 0) return order;
  const event = new Event();
  const watcher = (future: Future<unknown>): void => {
    order.push(future as Future<T>);
    pending.delete(future as Future<T>);
    if (pending.size === 0) event.set();
  };
  for (const future of pending) {
    watchFuture(future as Future<unknown>, watcher);
  }
  try {
    if (!(yield* event.wait(timeoutMs))) {
      throw new TimeoutError(
        `${pending.size} (of ${futures.size}) futures unfinished after ${timeoutMs} ms`,
      );
    }
  } finally {
    for (const future of futures) {
      unwatchFuture(future as Future<unknown>, watcher);
    }
  }
  return order;
}

function checkedFutures<T>(futures: Iterable<Future<T>>): Set<Future<T>> {
  const set = new Set<Future<T>>();
  for (const future of futures) {
    if (!(future instanceof Future)) {
      throw new TypeError(`expected Future objects, got ${describe(future)}`);
    }
    set.add(future);
  }
  return set;
}

interface WorkItem {
  future: Future<unknown>;
  fn: FiberTarget<unknown[], unknown>;
  args: unknown[];
}

/**
 * Runs submitted functions in up to `maxWorkers` worker tasks, each call's
 * outcome delivered through a {@linkcode Future}.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { spawn } from "./tasks.ts";
 * import { TaskPoolExecutor } from "./futures.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   const pool = new TaskPoolExecutor(2);
 *   console.log(yield* pool.map((x: number) => x * x, [1, 2, 3])); // [1, 4, 9]
 *   const future = pool.submit((a: number, b: number) => a + b, 2, 3);
 *   console.log(yield* future.get()); // 5
 *   yield* pool.shutdown();
 * });
 * await loop.run();
 * ```
 */
export class TaskPoolExecutor {
  #maxWorkers: number;
  #workers = new Set<Task<void>>();
  #work = new Queue<WorkItem | null>();
  #shutdown = false;

  /**
   * Creates a pool of at most `maxWorkers` worker tasks (spawned on demand).
   *
   * @throws {RangeError} if `maxWorkers` is not a positive integer.
   */
  constructor(maxWorkers: number) {
    if (!Number.isInteger(maxWorkers) || maxWorkers <= 0) {
      throw new RangeError(
        `maxWorkers must be a positive integer, got ${describe(maxWorkers)}`,
      );
    }
    this.#maxWorkers = maxWorkers;
  }

  /**
   * Schedules `fn(...args)` on a worker task; returns its future.
   *
   * @throws {Error} after `shutdown()`.
   * @throws {TypeError} if `fn` is not a function.
   */
  submit<A extends unknown[], R>(
    fn: FiberTarget<A, R>,
    ...args: A
  ): Future<R> {
    if (this.#shutdown) {
      throw new Error("cannot submit() to a TaskPoolExecutor after shutdown()");
    }
    if (typeof fn !== "function") {
      throw new TypeError(`submit() needs a function, got ${describe(fn)}`);
    }
    const future = new Future<R>();
    this.#work.putNowait({
      future: future as Future<unknown>,
      fn: fn as FiberTarget<unknown[], unknown>,
      args,
    });
    this.#adjustWorkers();
    return future;
  }

  /**
   * Runs `fn` on every item (in the pool) and returns the results in item
   * order; use with `yield*`. On an error or after `timeoutMs` the calls not
   * yet started are cancelled.
   *
   * @throws the first failing call's error, or {@linkcode TimeoutError}.
   */
  @blocking("TaskPoolExecutor.map()")
  *map<T, R>(
    fn: (item: T) => Generator<unknown, R, unknown> | R,
    items: Iterable<T>,
    timeoutMs?: number,
  ): Generator<unknown, R[], unknown> {
    checkOptionalTimeMs(timeoutMs, "TaskPoolExecutor.map()");
    const loop = EventLoop.current();
    const deadline = timeoutMs === undefined
      ? undefined
      : loop.time() + timeoutMs;
    const futures = [...items].map((item) => this.submit(fn, item));
    try {
      const results: R[] = [];
      for (const future of futures) {
        const remaining = deadline === undefined
          ? undefined
          : Math.max(0, deadline - loop.time());
        results.push(yield* future.get(remaining));
      }
      return results;
    } finally {
      for (const future of futures) future.cancel();
    }
  }

  /**
   * Refuses new work and lets the workers end once the queued work is done;
   * with `wait` (default) blocks until they have. Use with `yield*`; calling
   * it again is harmless.
   */
  @blocking("TaskPoolExecutor.shutdown()")
  *shutdown(wait = true): Generator<unknown, void, unknown> {
    if (!this.#shutdown) {
      this.#shutdown = true;
      this.#work.putNowait(null);
    }
    if (wait) {
      for (const worker of [...this.#workers]) yield* worker.join();
    }
  }

  #adjustWorkers(): void {
    for (const worker of this.#workers) {
      if (!worker.isAlive()) this.#workers.delete(worker);
    }
    if (this.#workers.size < this.#maxWorkers) {
      this.#workers.add(spawn(() => this.#runWorker()));
    }
  }

  *#runWorker(): Generator<unknown, void, unknown> {
    for (;;) {
      const item = yield* this.#work.get();
      if (item === null) {
        // Let the other workers see the end too.
        this.#work.putNowait(null);
        return;
      }
      yield* runWorkItem(item);
    }
  }
}

function* runWorkItem(item: WorkItem): Generator<unknown, void, unknown> {
  if (!runningOrCancelled(item.future)) return;
  let value: unknown;
  try {
    const out = item.fn(...item.args);
    value = isGenerator(out) ? yield* out : out;
  } catch (error) {
    item.future.setException(error);
    // The worker itself was killed: end it after failing the future.
    if (error instanceof TaskExit) throw error;
    return;
  }
  item.future.setResult(value);
}

/**
 * Blocks the running task until a JS promise settles and returns its value
 * (or throws its rejection); use with `yield*`. Works under `loop.run()`,
 * which lets Deno settle promises; a pending `waitPromise` keeps `run()`
 * alive.
 *
 * Given a function, it is called with an `AbortSignal` that aborts (with
 * the error as its reason) when the task is killed or its Timeout fires
 * while it waits, so the work behind the promise stops too:
 * `yield* waitPromise((signal) => fetch(url, { signal }))`.
 *
 * @throws {Error} under `loop.runSync()`, where promises cannot settle.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { spawn } from "./tasks.ts";
 * import { waitPromise } from "./futures.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   const text = yield* waitPromise(
 *     new Promise<string>((resolve) => setTimeout(() => resolve("late"), 5)),
 *   );
 *   console.log(text); // "late"
 *   const aborted = yield* waitPromise((signal) =>
 *     new Promise<boolean>((resolve) => {
 *       setTimeout(() => resolve(signal.aborted), 5);
 *     })
 *   );
 *   console.log(aborted); // false
 * });
 * await loop.run();
 * ```
 */
export function waitPromise<T>(
  promise: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T> | T),
): Generator<unknown, T, unknown> {
  return made("waitPromise()", waitFor(promise));
}

function* waitFor<T>(
  promise: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T> | T),
): Generator<unknown, T, unknown> {
  const loop = EventLoop.current();
  if (loop._isSync()) {
    throw new Error(
      "waitPromise() cannot work under loop.runSync(): JS promises settle only while Deno's event loop turns; use `await loop.run()`",
    );
  }
  const fiber = loop._blockingFiber("waitPromise()");
  let controller: AbortController | null = null;
  if (typeof promise === "function") {
    controller = new AbortController();
    promise = Promise.resolve(promise(controller.signal));
  }
  let settled = false;
  let rejected = false;
  let outcome: unknown;
  let waiting = true;
  const settle = (isRejection: boolean, value: unknown): void => {
    if (!waiting || !loop._acceptsCallbacks()) return;
    settled = true;
    rejected = isRejection;
    outcome = value;
    loop.callSoon(resume);
  };
  const resume = (): Generator<unknown, unknown, unknown> | undefined =>
    waiting ? fiber.switch() : undefined;
  loop._promisePending(1);
  Promise.resolve(promise).then(
    (value) => settle(false, value),
    (error) => settle(true, error),
  );
  try {
    while (!settled) yield* loop.switch();
  } catch (error) {
    // Killed, timed out, or thrown into while waiting: stop the work too.
    if (!settled) controller?.abort(error);
    throw error;
  } finally {
    waiting = false;
    loop._promisePending(-1);
  }
  if (rejected) throw outcome;
  return outcome as T;
}
