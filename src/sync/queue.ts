/**
 * Queues between tasks: FIFO `Queue`, `LifoQueue` and `PriorityQueue`, with
 * optional bounds, blocking `put`/`get` with timeouts and `taskDone`/`join`
 * (Python's `queue` module, as evergreen has it). Items stay in the queue
 * until a getter takes them, so a killed getter never loses one.
 *
 * @module
 */

import { describe } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { checkTimeout, WaitQueue } from "./wait_queue.ts";
import { blocking } from "../_operation.ts";
import { NamedError } from "../named_error.ts";

/**
 * Thrown by `get` without blocking, or after its timeout, on an empty queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueEmpty } from "./queue.ts";
 * try {
 *   new Queue<number>().getNowait();
 * } catch (error) {
 *   console.log(error instanceof QueueEmpty); // true
 * }
 * ```
 */
export class QueueEmpty extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "the queue is empty";
}

/**
 * Thrown by `put` without blocking, or after its timeout, on a full queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueFull } from "./queue.ts";
 * const queue = new Queue<number>(1);
 * queue.putNowait(1);
 * try {
 *   queue.putNowait(2);
 * } catch (error) {
 *   console.log(error instanceof QueueFull); // true
 * }
 * ```
 */
export class QueueFull extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "the queue is full";
}

/** Where a queue keeps its items: the order is the subclass's business. */
interface Store<T> {
  size(): number;
  add(item: T): void;
  take(): T;
}

let setStore: <T>(queue: Queue<T>, store: Store<T>) => void;

/**
 * A FIFO queue, unbounded when `maxsize` is 0 or less. `put` blocks while a
 * bounded queue is full, `get` while it is empty; `join` waits until every
 * item put has been marked done with `taskDone`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { Queue } from "./queue.ts";
 *
 * using loop = new EventLoop();
 * const queue = new Queue<string>(1);
 * spawn(function* () {
 *   for (const word of ["a", "b", "c"]) yield* queue.put(word);
 * });
 * spawn(function* () {
 *   const got: string[] = [];
 *   for (let i = 0; i < 3; i++) got.push(yield* queue.get());
 *   console.log(got); // ["a", "b", "c"]
 * });
 * await loop.run();
 * ```
 */
export class Queue<T> {
  /** The bound given to the constructor (0 or less: unbounded). */
  readonly maxsize: number;
  #store: Store<T>;
  #unfinished = 0;
  #notEmpty = new WaitQueue();
  #notFull = new WaitQueue();
  #allDone = new WaitQueue(() => {});

  static {
    setStore = (queue, store) => {
      queue.#store = store;
    };
  }

  /**
   * Creates a queue holding at most `maxsize` items (0: no limit).
   *
   * @throws {TypeError} if `maxsize` is not an integer.
   */
  constructor(maxsize = 0) {
    if (!Number.isInteger(maxsize)) {
      throw new TypeError(
        `Queue maxsize must be an integer, got ${describe(maxsize)}`,
      );
    }
    this.maxsize = maxsize;
    this.#store = new FifoStore<T>();
  }

  /** Number of items in the queue. */
  qsize(): number {
    return this.#store.size();
  }

  /** True if the queue holds no item. */
  empty(): boolean {
    return this.#store.size() === 0;
  }

  /** True if a bounded queue holds `maxsize` items. */
  full(): boolean {
    return this.maxsize > 0 && this.#store.size() >= this.maxsize;
  }

  /**
   * Adds `item`; use with `yield*`. When the queue is full it waits (up to
   * `timeoutMs` if given), or with `block` false throws at once.
   *
   * @throws {QueueFull} when full and not blocking, or after the timeout.
   * @throws {RangeError} if `timeoutMs` is negative.
   */
  @blocking("Queue.put()")
  *put(
    item: T,
    block = true,
    timeoutMs?: number,
  ): Generator<unknown, void, unknown> {
    checkTimeout(timeoutMs, "Queue.put()");
    if (this.full()) {
      if (!block) throw new QueueFull();
      const deadline = deadlineOf(timeoutMs);
      while (this.full()) {
        const remaining = remainingUntil(deadline);
        if (remaining !== undefined && remaining <= 0) throw new QueueFull();
        yield* this.#notFull.wait(remaining, "Queue.put()");
      }
    }
    this.#add(item);
  }

  /**
   * Adds `item` without blocking.
   *
   * @throws {QueueFull} if the queue is full.
   */
  putNowait(item: T): void {
    if (this.full()) throw new QueueFull();
    this.#add(item);
  }

  /**
   * Removes and returns the next item; use with `yield*`. When the queue is
   * empty it waits (up to `timeoutMs` if given), or with `block` false
   * throws at once.
   *
   * @throws {QueueEmpty} when empty and not blocking, or after the timeout.
   * @throws {RangeError} if `timeoutMs` is negative.
   */
  @blocking("Queue.get()")
  *get(block = true, timeoutMs?: number): Generator<unknown, T, unknown> {
    checkTimeout(timeoutMs, "Queue.get()");
    if (this.empty()) {
      if (!block) throw new QueueEmpty();
      const deadline = deadlineOf(timeoutMs);
      while (this.empty()) {
        const remaining = remainingUntil(deadline);
        if (remaining !== undefined && remaining <= 0) throw new QueueEmpty();
        yield* this.#notEmpty.wait(remaining, "Queue.get()");
      }
    }
    return this.#take();
  }

  /**
   * Removes and returns the next item without blocking.
   *
   * @throws {QueueEmpty} if the queue is empty.
   */
  getNowait(): T {
    if (this.empty()) throw new QueueEmpty();
    return this.#take();
  }

  /**
   * Marks one item taken with `get` as processed; when every item put has
   * been marked, `join()` returns.
   *
   * @throws {Error} if called more times than items were put.
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new Error("taskDone() called more times than items were put");
    }
    if (--this.#unfinished === 0) this.#allDone.notifyAll();
  }

  /** Blocks until every item put has been marked with `taskDone()`. */
  @blocking("Queue.join()")
  *join(): Generator<unknown, void, unknown> {
    while (this.#unfinished > 0) {
      yield* this.#allDone.wait(undefined, "Queue.join()");
    }
  }

  #add(item: T): void {
    this.#store.add(item);
    this.#unfinished++;
    this.#notEmpty.notify(1);
  }

  #take(): T {
    const item = this.#store.take();
    this.#notFull.notify(1);
    return item;
  }
}

/**
 * A queue that returns the most recently added item first.
 *
 * @example
 * ```ts
 * import { LifoQueue } from "./queue.ts";
 * const stack = new LifoQueue<number>();
 * stack.putNowait(1);
 * stack.putNowait(2);
 * console.log(stack.getNowait()); // 2
 * ```
 */
export class LifoQueue<T> extends Queue<T> {
  /** Creates a LIFO queue holding at most `maxsize` items (0: no limit). */
  constructor(maxsize = 0) {
    super(maxsize);
    setStore(this, new LifoStore<T>());
  }
}

/**
 * A queue that returns the smallest item first, by `compare` (default:
 * `<` on numbers and strings, element by element on arrays, so
 * `[priority, data]` pairs work as in Python).
 *
 * @example
 * ```ts
 * import { PriorityQueue } from "./queue.ts";
 * const jobs = new PriorityQueue<[number, string]>();
 * jobs.putNowait([3, "low"]);
 * jobs.putNowait([1, "high"]);
 * console.log(jobs.getNowait()); // [1, "high"]
 * ```
 */
export class PriorityQueue<T> extends Queue<T> {
  /**
   * Creates a priority queue holding at most `maxsize` items (0: no limit).
   *
   * @throws {TypeError} if `compare` is given and is not a function.
   */
  constructor(maxsize = 0, compare?: (a: T, b: T) => number) {
    super(maxsize);
    if (compare !== undefined && typeof compare !== "function") {
      throw new TypeError(
        `PriorityQueue compare must be a function, got ${describe(compare)}`,
      );
    }
    setStore(this, new HeapStore<T>(compare ?? naturalOrder));
  }
}

class FifoStore<T> implements Store<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  size(): number {
    return this.#items.length - this.#head;
  }

  add(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined;
    // Compact once the consumed prefix dominates, keeping take() O(1)
    // amortised.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

class LifoStore<T> implements Store<T> {
  #items: T[] = [];

  size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    return this.#items.pop() as T;
  }
}

class HeapStore<T> implements Store<T> {
  #heap: T[] = [];
  #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  size(): number {
    return this.#heap.length;
  }

  add(item: T): void {
    const heap = this.#heap;
    let index = heap.length;
    heap.push(item);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.#compare(heap[parent], item) <= 0) break;
      heap[index] = heap[parent];
      index = parent;
    }
    heap[index] = item;
  }

  take(): T {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop() as T;
    const size = heap.length;
    if (size > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= size) break;
        const right = left + 1;
        const child = right < size && this.#compare(heap[right], heap[left]) < 0
          ? right
          : left;
        if (this.#compare(heap[child], last) >= 0) break;
        heap[index] = heap[child];
        index = child;
      }
      heap[index] = last;
    }
    return top;
  }
}

function naturalOrder(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const length = Math.min(a.length, b.length);
    for (let i = 0; i < length; i++) {
      const order = naturalOrder(a[i], b[i]);
      if (order !== 0) return order;
    }
    return a.length - b.length;
  }
  // deno-lint-ignore no-explicit-any
  return (a as any) < (b as any) ? -1 : (a as any) > (b as any) ? 1 : 0;
}

function deadlineOf(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined
    ? undefined
    : EventLoop.current().time() + timeoutMs;
}

function remainingUntil(deadline: number | undefined): number | undefined {
  return deadline === undefined
    ? undefined
    : deadline - EventLoop.current().time();
}
