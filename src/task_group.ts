/**
 * TaskGroup: structured concurrency over tasks (`tasks.ts`). The tasks a
 * group spawns end with it: the first failure kills the others, and
 * `join()` returns only when every one of them has ended, finally blocks
 * included.
 *
 * @module
 */

import { current, type FiberTarget } from "./fiber/fiber.ts";
import { EventLoop } from "./loop/event_loop.ts";
import { shield } from "./tasks/shield.ts";
import { Task } from "./tasks/task.ts";
import { TaskExit } from "./tasks/task_exit.ts";
import { WaitQueue } from "./sync/wait_queue.ts";
import { blocking } from "./_operation.ts";

/** A group's first failure, and whether it reached anyone yet. */
type Failure = { error: unknown; thrown: boolean; loop: EventLoop };

/**
 * Failures of groups that were neither joined nor disposed go to their
 * loop's exception handler when the group is garbage-collected: the cheap
 * depth that loses nothing (a group's tasks keep it alive while any runs,
 * so it is collected only after all of them ended). The report comes from
 * a JS turn after the collection, so under `runSync()` only once the
 * thread returns to Deno's event loop.
 */
const unreported = new FinalizationRegistry<Failure>((failure) => {
  if (failure.thrown) return;
  failure.thrown = true;
  failure.loop._reportError(failure.error);
});

function delivered(failure: Failure): void {
  failure.thrown = true;
  unreported.unregister(failure);
}

/**
 * A set of tasks that succeed or fail together. `spawn()` starts a task in
 * the group; `join()` waits until every task has ended and throws the first
 * failure, after killing the other tasks and waiting for their `finally`
 * blocks. If the task in `join()` is itself killed (or its Timeout fires),
 * the group's tasks are killed and waited for before the error goes on.
 * Disposal (`using`) kills what is left. Once a failure, `kill()` or
 * disposal has cancelled the group, a task spawned into it starts killed
 * (it never runs its body), as in a cancelled Trio nursery, so a cleanup
 * that spawns cannot keep `join()` waiting. A task that ends with
 * {@linkcode TaskExit} (killed) is not a failure. Only the first failure is
 * thrown; later ones (a second task failing, a `finally` block failing
 * while the group is cancelled) go to the loop's exception handler. A
 * failure that no `join()` threw goes to the loop's exception handler when
 * the group is disposed, or, for a group neither joined nor disposed, when
 * it is garbage-collected (after all its tasks ended).
 *
 * @example
 * ```ts
 * import { EventLoop } from "./loop.ts";
 * import { sleep, spawn } from "./tasks.ts";
 * import { TaskGroup } from "./task_group.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   using group = new TaskGroup();
 *   const results: number[] = [];
 *   for (const ms of [3, 1, 2]) {
 *     group.spawn(function* () {
 *       yield* sleep(ms);
 *       results.push(ms);
 *     });
 *   }
 *   yield* group.join();
 *   console.log(results); // [1, 2, 3]
 * });
 * await loop.run();
 * ```
 */
export class TaskGroup implements Disposable {
  #tasks = new Set<Task>();
  #failure: Failure | null = null;
  // Set by the first failure, kill() and disposal: later spawns start killed.
  #cancelled = false;
  // Made by the first join() that has to wait.
  #ended: WaitQueue | null = null;

  /**
   * Creates a task running `fn(...args)` in the group and starts it (killed
   * at once if the group was cancelled: it never runs its body).
   *
   * @throws {TypeError} if `fn` is not a function.
   */
  spawn<A extends unknown[], R>(fn: FiberTarget<A, R>, ...args: A): Task<R> {
    const task = new Task<R>(fn as FiberTarget<unknown[], R>, { args });
    this.#tasks.add(task);
    task._observe(this.#onEnd);
    task.start();
    if (this.#cancelled) task.kill();
    return task;
  }

  /**
   * Waits until every task of the group has ended; use with `yield*`.
   *
   * @throws the first error a task of the group failed with (the others
   *   were killed and have ended).
   * @throws whatever is thrown into the joining task (a kill, a Timeout),
   *   after the group's tasks were killed and have ended; but a failure of
   *   the group not thrown yet wins (as in Trio and asyncio), and the kill
   *   or Timeout, sticky, is thrown by the task's next blocking call.
   * @throws {Error} if called by a task of the group, which would wait for
   *   itself.
   */
  @blocking("TaskGroup.join()")
  *join(): Generator<unknown, void, unknown> {
    const fiber = current();
    if (fiber instanceof Task && this.#tasks.has(fiber)) {
      throw new Error(
        `${fiber.name} cannot join its own TaskGroup: it would wait for itself`,
      );
    }
    try {
      yield* this.#waitAll();
    } catch (error) {
      this.kill();
      yield* shield(() => this.#waitAll());
      const failure = this.#failure;
      if (failure === null || failure.thrown) throw error;
      delivered(failure);
      throw failure.error;
    }
    const failure = this.#failure;
    if (failure !== null) {
      delivered(failure);
      throw failure.error;
    }
  }

  /**
   * Kills every task of the group still running; the group stays
   * cancelled: a task spawned into it later starts killed.
   */
  kill(): void {
    this.#cancelled = true;
    for (const task of [...this.#tasks]) task.kill();
  }

  /** The tasks of the group that have not ended yet. */
  get tasks(): readonly Task[] {
    return [...this.#tasks];
  }

  /**
   * Kills what is left (the end of a `using` block). A failure that no
   * `join()` has thrown goes to the loop's exception handler.
   */
  [Symbol.dispose](): void {
    this.kill();
    const failure = this.#failure;
    if (failure !== null && !failure.thrown) {
      delivered(failure);
      failure.loop._reportError(failure.error);
    }
  }

  *#waitAll(): Generator<unknown, void, unknown> {
    while (this.#tasks.size > 0) {
      this.#ended ??= new WaitQueue(() => {});
      yield* this.#ended.wait(undefined, "TaskGroup.join()");
    }
  }

  #onEnd = (task: Task): void => {
    this.#tasks.delete(task);
    if (task._failed && !(task._outcome instanceof TaskExit)) {
      if (this.#failure !== null) {
        // Observed tasks are not reported by the loop, and join() throws
        // only the first failure: a later one would be lost.
        this.#failure.loop._reportError(task._outcome);
      } else {
        this.#recordFailure(task._outcome);
      }
    }
    if (this.#tasks.size === 0) this.#ended?.notifyAll();
  };

  #recordFailure(error: unknown): void {
    const failure = { error, thrown: false, loop: EventLoop.current() };
    this.#failure = failure;
    // A group neither joined nor disposed would lose it: reported when
    // the group is collected instead (only failing groups pay for this).
    unreported.register(this, failure, failure);
    this.kill();
  }
}
