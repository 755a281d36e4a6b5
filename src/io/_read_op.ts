/**
 * The object `readBytes`, `readUntil` and `readInto` return: the iterator
 * `yield*` drives. Its first step is the read without waiting (`Stream`'s
 * `_readNow`); only a read that must wait runs a generator (`_readLater`).
 * Most reads of a protocol find their bytes buffered, and a generator object
 * per call cost about 15 ns more than this small object (a pipelined RESP
 * command makes seven reads).
 *
 * It behaves as the generator it replaces: nothing happens until `yield*`
 * starts it, errors come out of that `yield*`, a kill or Timeout while it
 * waits goes through the waiting generator, and `.next()` on a finished one
 * answers done.
 *
 * @module
 */

import { opMade, opStarted } from "../_operation.ts";
import { describe } from "../_util.ts";
import {
  READ_EXACT,
  READ_MORE,
  READ_UNTIL as MODE_UNTIL,
} from "../native/stream_native.ts";

/** Read kinds. */
export const READ_BYTES = 0;
export const READ_UNTIL = 1;
export const READ_INTO = 2;

/** `_readNow`'s answer when the read must wait. */
export const WAIT: unique symbol = Symbol("wait");

/** @internal What a ReadOperation needs of its stream. */
export interface ReadSource {
  /** The read's answer without waiting, or {@linkcode WAIT}. */
  _readNow(kind: number, arg: unknown): unknown;
  /** The rest of a read that must wait. */
  _readLater(kind: number, arg: unknown): Iterator<unknown, unknown, unknown>;
}

/** Each kind's name in errors, and its native read mode. */
export const READ_NAMES = ["readBytes", "readUntil", "readInto"];
export const READ_MODES = [READ_EXACT, MODE_UNTIL, READ_MORE];
const OPERATION_NAMES = READ_NAMES.map((name) => `${name}()`);

/**
 * @internal Throws for a bad byte count (`READ_BYTES`) or buffer
 * (`READ_INTO`), as a read starts; TLS streams check theirs with it too.
 *
 * @example
 * ```ts ignore
 * checkReadArgument(READ_BYTES, n);
 * ```
 */
export function checkReadArgument(kind: number, arg: unknown): void {
  if (kind === READ_BYTES) {
    if (!Number.isInteger(arg) || (arg as number) <= 0) {
      throw new RangeError(
        `readBytes() needs a positive integer byte count, got ${describe(arg)}`,
      );
    }
  } else if (kind === READ_INTO) {
    if (!(arg instanceof Uint8Array) || arg.length === 0) {
      throw new TypeError(
        `readInto() needs a non-empty Uint8Array, got ${describe(arg)}`,
      );
    }
  }
}

/**
 * @internal One read, as the generator `yield*` expects.
 *
 * @example
 * ```ts ignore
 * readBytes(n: number): Generator<unknown, Uint8Array<ArrayBuffer>, unknown> {
 *   return readOperation(this, READ_BYTES, n);
 * }
 * ```
 */
class ReadOperation {
  #source: ReadSource | null;
  #kind: number;
  #arg: unknown;
  #later: Iterator<unknown, unknown, unknown> | null = null;

  constructor(source: ReadSource, kind: number, arg: unknown) {
    this.#source = source;
    this.#kind = kind;
    this.#arg = arg;
  }

  [Symbol.iterator](): this {
    opStarted();
    return this;
  }

  next(value?: unknown): IteratorResult<unknown, unknown> {
    const later = this.#later;
    if (later !== null) return later.next(value);
    const source = this.#source;
    if (source === null) return { done: true, value: undefined };
    // Ended, whatever the first step does (answers, throws or waits).
    this.#source = null;
    const kind = this.#kind;
    if (kind !== READ_UNTIL) checkReadArgument(kind, this.#arg);
    const result = source._readNow(kind, this.#arg);
    if (result !== WAIT) return { done: true, value: result };
    const rest = source._readLater(kind, this.#arg);
    this.#later = rest;
    return rest.next();
  }

  throw(error: unknown): IteratorResult<unknown, unknown> {
    this.#source = null;
    if (this.#later !== null) return this.#later.throw!(error);
    throw error;
  }

  return(value?: unknown): IteratorResult<unknown, unknown> {
    this.#source = null;
    if (this.#later !== null) return this.#later.return!(value);
    return { done: true, value };
  }
}

// Iterator helpers and `Symbol.dispose`, as a generator has (chaining the
// prototype costs nothing per object; extending Iterator would call its
// constructor on every read).
Object.setPrototypeOf(ReadOperation.prototype, Iterator.prototype);

/** @internal A read of `kind` on `source`, counted as made until started. */
export function readOperation<T>(
  source: ReadSource,
  kind: number,
  arg: unknown,
): Generator<unknown, T, unknown> {
  opMade(OPERATION_NAMES[kind]);
  return new ReadOperation(source, kind, arg) as unknown as Generator<
    unknown,
    T,
    unknown
  >;
}
