/**
 * The switch protocol between a running fiber and the trampoline
 * (`fiber.ts`): the one pending transfer of control, and the reusable
 * operation whose `yield*` carries it out of the running generator. The hub
 * (`loop/`) and the hand-written operations of `tasks/` recognise and make
 * switches through the functions here.
 *
 * @module
 */

import type { Fiber } from "./fiber.ts";

// The one pending transfer of control. Only one fiber runs at a time, so a
// single request slot is enough: `switch()`/`throw()` fill it, the yield
// carries it to the trampoline, the trampoline consumes it.
// Fields of one constant object rather than module `let`s, whose every use
// from a function pays a check that they are initialised; `running` is the
// running fiber (null only while the main fiber itself is being made).
const request: SwitchRequest = {
  target: null,
  value: undefined,
  isThrow: false,
  running: null as unknown as Fiber,
  // This thread's main fiber: started, parentless; made by Fiber's static
  // block.
  main: null as unknown as Fiber,
};

/**
 * The iterator that `switch()`/`throw()` return. Reusing one object instead of
 * creating a generator per switch halves the cost of a switch: `yield*` asks
 * it for an iterator (marking the start), the first `next()` yields the
 * request through every enclosing `yield*` to the trampoline, and the resume
 * (`next(value)` or `throw(error)`) completes the `yield*` with the value or
 * raises the error at that point.
 */
class SwitchOperation implements Iterator<unknown, unknown, unknown> {
  #starting = false;

  [Symbol.iterator](): this {
    this.#starting = true;
    return this;
  }

  next(value?: unknown): IteratorResult<unknown, unknown> {
    if (this.#starting) {
      this.#starting = false;
      return SWITCH_YIELD;
    }
    // One result object for every resume: `yield*` reads `done` and `value`
    // at once and never hands the object on, so none is allocated per switch.
    SWITCH_DONE.value = value;
    return SWITCH_DONE;
  }

  throw(error?: unknown): IteratorResult<unknown, unknown> {
    this.#starting = false;
    throw error;
  }

  return(value?: unknown): IteratorResult<unknown, unknown> {
    this.#starting = false;
    return { done: true, value };
  }
}

const SWITCH_OPERATION = new SwitchOperation() as unknown as Generator<
  unknown,
  unknown,
  unknown
>;
const SWITCH_DONE: { done: true; value: unknown } = {
  done: true,
  value: undefined,
};
// Yielded by identity: a sync generator's `yield*` hands the inner result
// object to the outer `next()` caller unchanged, so the trampoline recognises
// a real suspension by `result === SWITCH_YIELD` and anything else as a bare
// `yield`.
const SWITCH_YIELD: IteratorResult<unknown, unknown> = {
  done: false,
  value: SWITCH_OPERATION,
};

/**
 * @internal Yielded bare by the hub (`yield HUB_SWITCH`) right after a
 * `switch()` call made the request: one generator step instead of a `yield*`
 * through the switch operation.
 *
 * @example
 * ```ts ignore
 * hub.switch();
 * yield HUB_SWITCH;
 * ```
 */
export const HUB_SWITCH: unique symbol = Symbol("hub switch");

/** @internal The pending transfer of control (see {@linkcode protocol}). */
export interface SwitchRequest {
  /** The fiber to resume; null once the trampoline has taken the request. */
  target: Fiber | null;
  /** What to deliver at its suspension point (or to raise there). */
  value: unknown;
  /** Whether `value` is raised rather than delivered. */
  isThrow: boolean;
  /** The running fiber. */
  running: Fiber;
  /** This thread's main fiber. */
  main: Fiber;
}

/**
 * @internal The protocol's objects, for the trampoline (`fiber.ts`): the
 * request slot, the switch operation, its resume result (whose `value` the
 * trampoline clears once read) and its suspension result (recognised by
 * identity). `fiber.ts` reads them through module-local constants: a module
 * reads its own non-exported constants as context slots, but every read of an
 * exported or imported binding goes through its cell (20 -> 25 ns per switch
 * when the trampoline and the operation read them that way).
 *
 * @example
 * ```ts ignore
 * const { request, switchDone } = protocol;
 * ```
 */
export const protocol: {
  readonly request: SwitchRequest;
  readonly switchOperation: Generator<unknown, unknown, unknown>;
  readonly switchDone: { done: true; value: unknown };
  readonly switchYield: IteratorResult<unknown, unknown>;
  readonly hubSwitch: typeof HUB_SWITCH;
} = Object.freeze({
  request,
  switchOperation: SWITCH_OPERATION,
  switchDone: SWITCH_DONE,
  switchYield: SWITCH_YIELD,
  hubSwitch: HUB_SWITCH,
});

/**
 * @internal Whether `value` is what `Fiber.switch` and `Fiber.throw`
 * return: the hub recognises a switch by identity before testing for other
 * iterators.
 *
 * @example
 * ```ts
 * import { Fiber } from "./fiber.ts";
 * import { isSwitch } from "./switch.ts";
 * console.log(isSwitch(new Fiber().switch())); // true
 * ```
 */
export function isSwitch(value: unknown): boolean {
  return value === SWITCH_OPERATION;
}

/**
 * @internal What the first `next()` of a switch operation returns: a
 * hand-written operation that has just made a switch request (with
 * `switch()`/`throw()`) returns it from its own `next()` instead of taking
 * the switch operation's two steps.
 *
 * @example
 * ```ts ignore
 * loop.switch();
 * return switchYield();
 * ```
 */
export function switchYield(): IteratorResult<unknown, undefined> {
  return SWITCH_YIELD as IteratorResult<unknown, undefined>;
}
