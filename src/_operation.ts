/**
 * Private: catches a blocking operation called without `yield*` (issue
 * 12.1). Every public blocking method is wrapped once (`@blocking(name)`
 * on a method, `operation(name, fn)` or `made(name, op)` for a function,
 * `opMade`/`opStarted` by hand for `sleep()`): the wrapper counts the
 * operation as made, and the first `yield*` on what it returned (which asks
 * for its iterator) counts it as started. The loop checks the count where a
 * task blocks (`loop.switch()`), after each loop callback and when a task
 * ends: anything made and never started there was called without `yield*`,
 * and the task gets a FiberError naming it. The same hook throws a task's
 * sticky kill or Timeout at the start of any blocking call (`tasks.ts`).
 *
 * @module
 */

import { current, type Fiber, FiberError } from "./fiber/fiber.ts";

// One constant object rather than module `let`s, whose every use from a
// function pays a check that they are initialised.
const state = {
  // Operations made and not started yet, and the name of the first.
  unstarted: 0,
  firstUnstarted: "",
  // Tasks with a sticky kill or fired Timeout: while none, the start hook
  // does not look at the running fiber.
  stickyTasks: 0,
};

const HOOKED: unique symbol = Symbol("operation start hook");

// The iterator method `yield*` calls first: counts the operation started,
// and throws the running task's sticky kill or Timeout.
function started(this: unknown): unknown {
  if (state.unstarted > 0) state.unstarted--;
  if (state.stickyTasks !== 0) current()._beforeBlock();
  return this;
}

// The same for shield(), which must start in a killed task.
function startedShield(this: unknown): unknown {
  if (state.unstarted > 0) state.unstarted--;
  return this;
}

function hook(prototype: object, cancels: boolean): void {
  const target = prototype as Record<PropertyKey, unknown>;
  if (target[HOOKED] === true) return;
  const own = Object.getOwnPropertyDescriptor(prototype, Symbol.iterator);
  const original = own?.value as ((this: unknown) => unknown) | undefined;
  const start = cancels ? started : startedShield;
  Object.defineProperty(prototype, Symbol.iterator, {
    value: original === undefined ? start : function (this: unknown) {
      start.call(this);
      return original.call(this);
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(prototype, HOOKED, { value: true });
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (this: any, ...args: any[]) => any;

// Operations take at most this many arguments: the wrappers pass them on
// one by one, which V8 inlines, instead of a rest array and apply().
const ARGUMENTS_MAX = 4;
type Wrapper = (
  this: unknown,
  a: unknown,
  b: unknown,
  c: unknown,
  d: unknown,
) => unknown;

function wrap<F extends AnyFunction>(
  name: string,
  fn: F,
  cancels: boolean,
): F {
  if (fn.length > ARGUMENTS_MAX) {
    throw new TypeError(
      `${name} takes more than ${ARGUMENTS_MAX} arguments: raise ARGUMENTS_MAX`,
    );
  }
  const prototype = (fn as { prototype?: object }).prototype;
  if (isGeneratorFunction(fn) && prototype !== undefined) {
    // A generator function's objects all have its prototype: hook it once.
    // (A wrapper of its own: one wrapper for both kinds, looking at each
    // result's prototype, took the check from 1 to 16 ns per operation in
    // bench/operation_cost.ts.)
    hook(prototype, cancels);
    const counting: Wrapper = function (a, b, c, d) {
      const op = fn.call(this, a, b, c, d);
      if (state.unstarted++ === 0) state.firstUnstarted = name;
      return op;
    };
    return counting as F;
  }
  // Any other function (one returning another generator, or an object with
  // its own iterator, such as sleep()) is hooked on what it returns, on
  // first sight of each kind (two are remembered: sleep() has two).
  let seen: object | null = null;
  let seenToo: object | null = null;
  const hooking: Wrapper = function (a, b, c, d) {
    const op = fn.call(this, a, b, c, d);
    const actual = Object.getPrototypeOf(op);
    if (actual !== seen && actual !== seenToo && actual !== null) {
      hook(actual, cancels);
      if (seen === null) seen = actual;
      else seenToo = actual;
    }
    if (state.unstarted++ === 0) state.firstUnstarted = name;
    return op;
  };
  return hooking as F;
}

/**
 * Marks a class method as a blocking operation named `name` (the decorator
 * form of {@linkcode operation}).
 *
 * @example
 * ```ts ignore
 * class Door {
 *   @blocking("Door.open()")
 *   *open(): Generator<unknown, void> {}
 * }
 * ```
 */
export function blocking(name: string) {
  return function <F extends AnyFunction>(
    method: F,
    _context: ClassMethodDecoratorContext,
  ): F {
    return wrap(name, method, true);
  };
}

/**
 * Wraps a function that returns a blocking operation, named `name` in the
 * error a forgotten `yield*` raises. With `cancels` false, starting it does
 * not throw a sticky kill or Timeout (for `shield()`).
 *
 * @example
 * ```ts ignore
 * export const nap = operation("nap()", function* (ms: number) {});
 * ```
 */
export function operation<F extends AnyFunction>(
  name: string,
  fn: F,
  cancels = true,
): F {
  return wrap(name, fn, cancels);
}

/**
 * Marks `op`, just made by a plain function, as a blocking operation named
 * `name` (for functions whose body cannot be wrapped, such as generic
 * exported functions); returns it.
 *
 * @example
 * ```ts ignore
 * return made("wait()", waitFutures(futures));
 * ```
 */
export function made<T extends object>(name: string, op: T): T {
  const prototype = Object.getPrototypeOf(op);
  if (prototype !== null && prototype[HOOKED] !== true) hook(prototype, true);
  if (state.unstarted++ === 0) state.firstUnstarted = name;
  return op;
}

/**
 * The two halves by hand, for the hottest operation (`sleep(0)`, whose
 * object has its own iterator): `opMade(name)` when it is made, and
 * `opStarted()` in its `[Symbol.iterator]()`; a generator it may return
 * instead is hooked once with {@linkcode hookGenerator}.
 *
 * @example
 * ```ts ignore
 * opMade("sleep()");
 * ```
 */
export function opMade(name: string): void {
  if (state.unstarted++ === 0) state.firstUnstarted = name;
}

/**
 * See {@linkcode opMade}.
 *
 * @example
 * ```ts ignore
 * [Symbol.iterator]() { opStarted(); return this; }
 * ```
 */
export function opStarted(): void {
  if (state.unstarted > 0) state.unstarted--;
  if (state.stickyTasks !== 0) current()._beforeBlock();
}

/**
 * Hooks the objects of generator function `fn` (see {@linkcode opMade}).
 *
 * @example
 * ```ts ignore
 * hookGenerator(sleepFor);
 * ```
 */
export function hookGenerator(fn: AnyFunction): void {
  hook((fn as { prototype: object }).prototype, true);
}

/**
 * Called by the loop where `fiber` is about to block: throws the FiberError
 * of a forgotten operation, or the fiber's sticky kill or Timeout. One
 * test of the two counters while there is neither.
 *
 * @example
 * ```ts ignore
 * beforeBlock(fiber);
 * ```
 */
export function beforeBlock(fiber: Fiber): void {
  // One test while neither: both counts are small non-negative integers.
  if ((state.unstarted | state.stickyTasks) === 0) return;
  if (state.unstarted !== 0) throw takeForgotten();
  fiber._beforeBlock();
}

/**
 * True while an operation was made and not started (cheap; see
 * {@linkcode takeForgotten}).
 *
 * @example
 * ```ts ignore
 * if (forgottenPending()) report(takeForgotten());
 * ```
 */
export function forgottenPending(): boolean {
  return state.unstarted !== 0;
}

/**
 * Throws a FiberError if an operation was made and never started: called
 * where a task blocks. Resets the count, so one mistake is reported once.
 *
 * @example
 * ```ts ignore
 * throwIfForgotten();
 * ```
 */
export function throwIfForgotten(): void {
  if (state.unstarted !== 0) throw takeForgotten();
}

/**
 * The FiberError for the operations made and never started, or null; resets
 * the count.
 *
 * @example
 * ```ts ignore
 * const error = takeForgotten();
 * ```
 */
export function takeForgotten(): FiberError | null {
  const count = state.unstarted;
  if (count === 0) return null;
  state.unstarted = 0;
  const firstUnstarted = state.firstUnstarted;
  return new FiberError(
    `${firstUnstarted} was called without yield*${
      count > 1 ? ` (and ${count - 1} more operation(s))` : ""
    }: a blocking operation does nothing until it is run with \`yield*\` (\`yield* ${
      firstUnstarted.replace("()", "(...)")
    }\`)`,
  );
}

/**
 * Counts tasks with a sticky kill or Timeout (+1 when one gets it, -1 when
 * it leaves), so the start hook checks the running task only while any has.
 *
 * @example
 * ```ts ignore
 * stickyCancel(1);
 * ```
 */
export function stickyCancel(delta: number): void {
  state.stickyTasks = Math.max(0, state.stickyTasks + delta);
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;

function isGeneratorFunction(fn: unknown): boolean {
  return fn instanceof GeneratorFunction;
}
