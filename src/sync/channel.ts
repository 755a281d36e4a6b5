/**
 * Channel: an unbuffered rendezvous between tasks (evergreen's Channel). A
 * sender blocks until a receiver has taken its value; a value whose sender
 * is killed before it is taken is withdrawn, and a receiver killed after
 * being woken passes the wake-up on, so nothing is lost or delivered twice.
 *
 * @module
 */

import { describe, isGenerator } from "../_util.ts";
import { WaitQueue } from "./wait_queue.ts";
import { blocking } from "../_operation.ts";
import { NamedError } from "../named_error.ts";

/**
 * Ends {@linkcode Channel.forEach} when sent with `sendException` (Python's
 * `StopIteration`, which ends `for item in channel`).
 *
 * @example
 * ```ts
 * import { StopIteration } from "./channel.ts";
 * console.log(new StopIteration().name); // "StopIteration"
 * ```
 */
export class StopIteration extends NamedError {
  /** The message when none is given. */
  static override readonly defaultMessage = "channel iteration ended";
}

interface Offer<T> {
  value: T | unknown;
  isError: boolean;
  taken: boolean;
  // The sender parks here until a receiver has taken the offer.
  sender: WaitQueue;
}

/**
 * An unbuffered channel: `send` returns only once a receiver took the value;
 * `sendException` makes the receiver throw instead.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { Channel, StopIteration } from "./channel.ts";
 *
 * using loop = new EventLoop();
 * const channel = new Channel<string>();
 * spawn(function* () {
 *   yield* channel.send("hello");
 *   yield* channel.send("world");
 *   yield* channel.sendException(new StopIteration());
 * });
 * spawn(function* () {
 *   const words: string[] = [];
 *   yield* channel.forEach((word) => {
 *     words.push(word);
 *   });
 *   console.log(words); // ["hello", "world"]
 * });
 * await loop.run();
 * ```
 */
export class Channel<T> {
  #offers: Offer<T>[] = [];
  #receivers = new WaitQueue();

  /**
   * Offers `value` and blocks until a receiver takes it; use with `yield*`.
   *
   * @throws {Error} if it would block outside a task.
   */
  @blocking("Channel.send()")
  send(value: T): Generator<unknown, void, unknown> {
    return this.#offer(value, false);
  }

  /**
   * Like {@linkcode Channel.send}, but the receiver throws `error`.
   *
   * @throws {Error} if it would block outside a task.
   */
  @blocking("Channel.sendException()")
  sendException(error: unknown): Generator<unknown, void, unknown> {
    return this.#offer(error, true);
  }

  /**
   * Blocks until a sender offers a value and returns it (or throws what was
   * sent with `sendException`); use with `yield*`.
   *
   * @throws {Error} if it would block outside a task.
   */
  @blocking("Channel.receive()")
  *receive(): Generator<unknown, T, unknown> {
    while (this.#offers.length === 0) {
      yield* this.#receivers.wait(undefined, "Channel.receive()");
    }
    const offer = this.#offers.shift()!;
    offer.taken = true;
    offer.sender.notify(1);
    if (offer.isError) throw offer.value;
    return offer.value as T;
  }

  /**
   * Receives values and calls `fn` with each (a generator result is run
   * with `yield*`) until a sender sends a {@linkcode StopIteration} with
   * `sendException` (evergreen's `for item in channel`).
   *
   * @throws {TypeError} if `fn` is not a function.
   */
  @blocking("Channel.forEach()")
  forEach(
    fn: (value: T) => Generator<unknown, unknown, unknown> | unknown,
  ): Generator<unknown, void, unknown> {
    if (typeof fn !== "function") {
      throw new TypeError(
        `forEach() needs a function, got ${describe(fn)}`,
      );
    }
    return this.#forEach(fn);
  }

  *#forEach(
    fn: (value: T) => Generator<unknown, unknown, unknown> | unknown,
  ): Generator<unknown, void, unknown> {
    for (;;) {
      let value: T;
      try {
        value = yield* this.receive();
      } catch (error) {
        if (error instanceof StopIteration) return;
        throw error;
      }
      const out = fn(value);
      if (isGenerator(out)) yield* out;
    }
  }

  *#offer(value: unknown, isError: boolean): Generator<unknown, void, unknown> {
    const offer: Offer<T> = {
      value,
      isError,
      taken: false,
      sender: new WaitQueue(() => {}),
    };
    this.#offers.push(offer);
    this.#receivers.notify(1);
    try {
      // Only a receiver wakes the sender, after taking the offer.
      yield* offer.sender.wait(undefined, "Channel.send()");
    } finally {
      if (!offer.taken) {
        this.#offers.splice(this.#offers.indexOf(offer), 1);
      }
    }
  }
}
