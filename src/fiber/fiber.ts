/**
 * Fibers with python-fibers semantics, built on generators.
 *
 * A fiber's body is a generator; every point where it may suspend is a
 * `yield*` of one of this library's operations. A synchronous trampoline
 * resumes exactly one generator at a time, so a switch is a plain function
 * call: no promise, no microtask, and no stack growth with the number of
 * switches. The loop's hub is the one exception, one level deep: it runs the
 * fiber a ready entry switches to in place (`resumeInPlace`). The event loop (`loop.ts`) and every blocking primitive are built
 * on {@linkcode Fiber.switch}. The request a switch makes and the operation
 * that carries it to the trampoline are in `switch.ts`.
 *
 * @module
 */

import { checkTarget, describe, isGenerator } from "../_util.ts";
import { protocol } from "./switch.ts";
import { NamedError } from "../named_error.ts";

/**
 * A function a fiber runs. If the call returns a generator, that generator is
 * driven as the fiber's body and may suspend with `yield*`; any other return
 * value ends the fiber at once.
 */
// deno-lint-ignore no-explicit-any
export type FiberTarget<A extends unknown[] = any[], R = unknown> = (
  ...args: A
) => Generator<unknown, R, unknown> | R;

/**
 * Misuse of a fiber: switching to a dead fiber or to the running one, a value
 * passed to the first switch, a re-parenting that would make a cycle, a bare
 * `yield` inside a fiber, or a synchronous switch while a fiber runs.
 *
 * @example
 * ```ts
 * import { Fiber, FiberError } from "./fiber.ts";
 * const f = new Fiber(() => 1);
 * f.switchSync();
 * try {
 *   f.switchSync();
 * } catch (error) {
 *   console.log(error instanceof FiberError); // true: f is dead
 * }
 * ```
 */
export class FiberError extends NamedError {}

// Module-local names for the switch protocol (see `protocol` on why).
const {
  request,
  switchOperation: SWITCH_OPERATION,
  switchDone: SWITCH_DONE,
  switchYield: SWITCH_YIELD,
  hubSwitch: HUB_SWITCH,
} = protocol;

const NEW = 0;
const STARTED = 1;
const DEAD = 2;
type FiberState = typeof NEW | typeof STARTED | typeof DEAD;

// Resuming through the builtins themselves keeps the trampoline's call site
// monomorphic: `body.next` would look `next` up on each body's own prototype
// (one per generator function), which goes megamorphic once a program has a
// few fiber bodies (28 -> 24 ns per switch in a ring of eight bodies).
const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype;
const isPrototypeOf = Object.prototype.isPrototypeOf;
const generatorNext = GeneratorPrototype.next as (
  this: Generator<unknown, unknown, unknown>,
  value: unknown,
) => IteratorResult<unknown, unknown>;
const generatorThrow = GeneratorPrototype.throw as (
  this: Generator<unknown, unknown, unknown>,
  error: unknown,
) => IteratorResult<unknown, unknown>;

// Shared by every fiber without arguments (and by every started one), so
// that none allocates an array of its own.
const NO_ARGS: unknown[] = Object.freeze([]) as unknown as unknown[];

let nextFiberNumber = 1;

// Module state is per isolate, so each Worker gets its own main fiber: fibers
// belong to the thread that made them (`request.running`).
let trampoline: () => unknown;
let resumeHere: (caller: Fiber) => boolean;
let fiberLocalsOf: (fiber: Fiber) => WeakMap<object, unknown>;
let peekFiberLocalsOf: (fiber: Fiber) => WeakMap<object, unknown> | undefined;

/**
 * A cooperative microthread. A fiber does not run until it is switched into;
 * `yield* f.switch(v)` suspends the running fiber and resumes `f`, delivering
 * `v` at `f`'s suspension point. When a fiber's target returns, its value goes
 * to its nearest started, alive parent; an escaping error is thrown there.
 *
 * Fibers are ordinary objects: user properties are allowed (greenlet's
 * instance dict).
 *
 * @example
 * ```ts
 * import { Fiber } from "./fiber.ts";
 *
 * const main = Fiber.current();
 * const echo = new Fiber(function* (first: string) {
 *   let value = first;
 *   while (value !== "bye") {
 *     value = (yield* main.switch(`echo: ${value}`)) as string;
 *   }
 *   return "done";
 * }, { args: ["hello"] });
 *
 * console.log(echo.switchSync()); // "echo: hello"
 * console.log(echo.switchSync("again")); // "echo: again"
 * console.log(echo.switchSync("bye")); // "done"
 * console.log(echo.isAlive()); // false
 * ```
 */
export class Fiber<R = unknown> {
  #state: FiberState = NEW;
  #args: unknown[];
  // The target until the fiber starts, then the generator it drives (one
  // field: a suspended fiber is 8 B smaller).
  #body:
    | FiberTarget<unknown[], R>
    | Generator<unknown, R, unknown>
    | null
    | undefined;
  #parent: Fiber | null = null;
  // The default name stays a number until read, so making a fiber builds no
  // string (with NO_ARGS: 338 -> 250 B per suspended fiber, 62 -> 46 ns to
  // create, start and end one).
  #name: string | number;
  /** Per-fiber storage of `FiberLocal` values (see `local.ts`). */
  #locals: WeakMap<object, unknown> | undefined = undefined;

  /**
   * Creates a fiber that will run `target(...args)` when first switched into.
   *
   * @param target the body; a generator function can suspend with `yield*`.
   * @param options `args` for the target, the `parent` (default: the running
   *   fiber) and a `name` (default `Fiber-N`).
   */
  constructor(
    // deno-lint-ignore no-explicit-any
    target?: FiberTarget<any[], R>,
    options?: { args?: unknown[]; parent?: Fiber; name?: string },
  ) {
    checkTarget("Fiber", target, options?.args);
    this.#body = target;
    this.#args = options?.args ?? NO_ARGS;
    const name = options?.name;
    // A number is a subclass's own numbering (Task-N), named on first read.
    this.#name = name === undefined
      ? nextFiberNumber++
      : typeof name === "number"
      ? name
      : String(name);
    const parent = options?.parent;
    if (parent === undefined) {
      // Before the main fiber exists (while it is being made) there is none.
      this.#parent = request.running;
    } else {
      this.parent = parent;
    }
  }

  /** The running fiber; the main fiber outside any fiber. */
  static current(): Fiber {
    return request.running;
  }

  /** The fiber's name, `Fiber-N` unless given. */
  get name(): string {
    const name = this.#name;
    return typeof name === "number" ? this._defaultName(name) : name;
  }

  /**
   * The fiber that receives this fiber's result when it ends; `null` only for
   * the main fiber.
   *
   * @throws {TypeError} when set to a non-fiber.
   * @throws {FiberError} when set to a dead fiber or to a fiber that would
   *   make a cycle.
   */
  get parent(): Fiber | null {
    return this.#parent;
  }

  set parent(value: Fiber) {
    if (!(value instanceof Fiber)) {
      throw new TypeError(`parent must be a Fiber, got ${describe(value)}`);
    }
    if (value.#state === DEAD) {
      throw new FiberError(`parent ${value.name} has already ended`);
    }
    for (let p: Fiber | null = value; p !== null; p = p.#parent) {
      if (p === this) {
        throw new FiberError(
          `making ${value.name} the parent of ${this.name} would create a cycle`,
        );
      }
    }
    this.#parent = value;
  }

  /**
   * @internal Called by the loop just before this fiber blocks on it; a
   * task throws a sticky kill or fired Timeout from here (`tasks.ts`).
   */
  _beforeBlock(): void {}

  /** @internal The name of a fiber not given one: `Fiber-N`. */
  _defaultName(number: number): string {
    return `Fiber-${number}`;
  }

  /**
   * @internal Called when the fiber's target has ended, with its result or
   * error, while the fiber is still the running one: returns true to keep
   * the outcome from the parent (a task does; a plain fiber does not).
   */
  _ended(_value: unknown, _isThrow: boolean): boolean {
    return false;
  }

  /** True until the fiber's target has ended (a fiber never started is alive). */
  isAlive(): boolean {
    return this.#state !== DEAD;
  }

  /**
   * Suspends the running fiber and resumes this one with `value`; use with
   * `yield*`. Evaluates to whatever value the running fiber is later resumed
   * with.
   *
   * @throws {FiberError} if this fiber is dead or running, or if a value is
   *   passed to the switch that starts it.
   */
  switch(value?: unknown): Generator<unknown, unknown, unknown> {
    this.#checkSwitch(value, "switch to");
    request.target = this;
    request.value = value;
    request.isThrow = false;
    return SWITCH_OPERATION;
  }

  /**
   * Suspends the running fiber and raises `error` in this one at its
   * suspension point; use with `yield*`. A fiber never started dies at once
   * and `error` goes to its nearest started, alive parent.
   *
   * @throws {FiberError} if this fiber is dead or running.
   */
  throw(error: unknown): Generator<unknown, unknown, unknown> {
    this.#checkSwitch(undefined, "throw into");
    request.target = this;
    request.value = error;
    request.isThrow = true;
    return SWITCH_OPERATION;
  }

  /**
   * {@linkcode Fiber.switch} for plain code running in the main fiber:
   * returns when control comes back to main, with the value it comes back
   * with.
   *
   * @throws {FiberError} if called while a fiber runs, or as `switch` would.
   */
  switchSync(value?: unknown): unknown {
    return this.#resumeFromMain("switchSync", value, false);
  }

  /**
   * {@linkcode Fiber.throw} for plain code running in the main fiber.
   *
   * @throws {FiberError} if called while a fiber runs, or as `throw` would.
   */
  throwSync(error: unknown): unknown {
    return this.#resumeFromMain("throwSync", error, true);
  }

  // switchSync and throwSync: resumes this fiber from main and runs the
  // trampoline until control comes back there.
  #resumeFromMain(what: string, value: unknown, isThrow: boolean): unknown {
    checkOnMain(what);
    if (isThrow) this.#checkSwitch(undefined, "throw into");
    else this.#checkSwitch(value, "switch to");
    request.target = this;
    request.value = value;
    request.isThrow = isThrow;
    return trampoline();
  }

  #checkSwitch(value: unknown, verb: string): void {
    if (this.#state === DEAD) {
      throw new FiberError(`cannot ${verb} ${this.name}: it has ended`);
    }
    if (this === request.running) {
      throw new FiberError(
        `cannot ${verb} ${this.name}: it is the running fiber`,
      );
    }
    if (this.#state === NEW && value !== undefined) {
      throw new FiberError(
        `cannot pass a value to the switch that starts ${this.name}: pass arguments with the args option`,
      );
    }
  }

  /** Runs this fiber until it suspends or ends (the trampoline's one step). */
  static #step(fiber: Fiber, value: unknown, isThrow: boolean): void {
    request.running = fiber;
    let result: IteratorResult<unknown, unknown>;
    try {
      if (fiber.#state === NEW) {
        if (isThrow) {
          Fiber.#finish(fiber, value, true);
          return;
        }
        fiber.#state = STARTED;
        const target = fiber.#body as
          | FiberTarget<unknown[], unknown>
          | undefined;
        const out = target === undefined
          ? undefined
          : target.apply(undefined, fiber.#args);
        fiber.#args = NO_ARGS;
        fiber.#body = undefined;
        if (!isGenerator(out)) {
          Fiber.#finish(fiber, out, false);
          return;
        }
        // Asking a real generator for its iterator (as `yield*` would)
        // counts a blocking operation given as the target as started.
        const body = isPrototypeOf.call(GeneratorPrototype, out)
          ? out[Symbol.iterator]() as Generator<unknown, unknown, unknown>
          : delegateTo(out);
        fiber.#body = body;
        result = generatorNext.call(body, undefined);
      } else {
        const body = fiber.#body as Generator<unknown, unknown, unknown>;
        result = isThrow
          ? generatorThrow.call(body, value)
          : generatorNext.call(body, value);
        // The resumed `yield*` has read its value: keep no reference to it.
        SWITCH_DONE.value = undefined;
      }
    } catch (error) {
      SWITCH_DONE.value = undefined;
      Fiber.#finish(fiber, error, true);
      return;
    }
    if (result !== SWITCH_YIELD) Fiber.#afterStep(fiber, result);
  }

  /** A step that did not end in a switch: the fiber ended, or yielded bare. */
  static #afterStep(
    fiber: Fiber,
    result: IteratorResult<unknown, unknown>,
  ): void {
    if (result.done) {
      Fiber.#finish(fiber, result.value, false);
    } else if (result.value === HUB_SWITCH && request.target !== null) {
      // The hub's own switch (see HUB_SWITCH): the request is already set.
    } else {
      request.target = fiber;
      request.value = new FiberError(
        `bare \`yield\` of ${
          describe(result.value)
        } inside fiber ${fiber.name}: fibers suspend only with \`yield*\` on this library's operations (a forgotten \`*\`?)`,
      );
      request.isThrow = true;
    }
  }

  #end(): void {
    this.#state = DEAD;
    this.#body = null;
    this.#args = NO_ARGS;
    // No code can run as this fiber again, so its locals are unreachable:
    // let them go now even if the fiber object itself is kept.
    this.#locals = undefined;
  }

  /** The nearest parent that has started and has not ended. */
  static #activeParent(fiber: Fiber): Fiber {
    let p = fiber.#parent;
    while (p !== null && p.#state !== STARTED) p = p.#parent;
    if (p === null) throw new FiberError(`${fiber.name} has no live parent`);
    return p;
  }

  /** Moves control until it returns to the main fiber. */
  static #runTrampoline(): unknown {
    for (;;) {
      const target = request.target!;
      const value = request.value;
      const isThrow = request.isThrow;
      request.target = null;
      request.value = undefined;
      if (target === request.main) {
        request.running = request.main;
        if (isThrow) throw value;
        return value;
      }
      if (!isThrow && target.#state === STARTED) {
        request.running = target;
        let result: IteratorResult<unknown, unknown>;
        try {
          result = generatorNext.call(
            target.#body as Generator<unknown, unknown, unknown>,
            value,
          );
        } catch (error) {
          SWITCH_DONE.value = undefined;
          Fiber.#finish(target, error, true);
          continue;
        }
        SWITCH_DONE.value = undefined;
        if (result !== SWITCH_YIELD) Fiber.#afterStep(target, result);
        continue;
      }
      Fiber.#step(target, value, isThrow);
    }
  }

  // Internals stay out of the class's public surface: the main fiber is made
  // here, once per isolate, and the locals table is reached through
  // module-level functions that `mod.ts` does not re-export, so no user code
  // can fake a main fiber or drive the trampoline (issue 10, point 12).
  static {
    const main = new Fiber(undefined, { name: "MainFiber" });
    main.#state = STARTED;
    main.#parent = null;
    request.main = main;
    request.running = main;
    trampoline = () => Fiber.#runTrampoline();
    // One trampoline step (#step) with the caller's frame below it instead
    // of the trampoline's; see resumeInPlace.
    resumeHere = (caller) => {
      const target = request.target!;
      if (target === request.main) return false;
      const value = request.value;
      const isThrow = request.isThrow;
      request.target = null;
      request.value = undefined;
      Fiber.#step(target, value, isThrow);
      request.running = caller;
      if (request.target !== caller || request.isThrow) return false;
      request.target = null;
      request.value = undefined;
      return true;
    };
    fiberLocalsOf = (fiber) => fiber.#locals ??= new WeakMap();
    peekFiberLocalsOf = (fiber) => fiber.#locals;
  }

  /**
   * Ends `fiber` with its target's result (or error, `isThrow`): its
   * `_ended` hook runs first, still as the running fiber, and may take the
   * outcome (a task keeps it for `await task`, so its parent gets
   * undefined); then the outcome goes to the nearest live parent.
   */
  static #finish(fiber: Fiber, value: unknown, isThrow: boolean): void {
    try {
      if (fiber._ended(value, isThrow)) {
        value = undefined;
        isThrow = false;
      }
    } catch (error) {
      value = error;
      isThrow = true;
    }
    fiber.#end();
    Fiber.#endWith(fiber, value, isThrow);
  }

  /** Hands an ended fiber's result or error to its nearest live parent. */
  static #endWith(fiber: Fiber, value: unknown, isThrow: boolean): void {
    request.target = Fiber.#activeParent(fiber);
    request.value = value;
    request.isThrow = isThrow;
  }
}

function checkOnMain(what: string): void {
  if (request.running !== request.main) {
    throw new FiberError(
      `${what}() called while fiber ${request.running.name} is running: inside a fiber use \`yield* fiber.${
        what.replace("Sync", "")
      }()\``,
    );
  }
}

// Wraps a hand-written iterator in a real generator so the trampoline can
// always resume through the builtins; `yield*` forwards next/throw and hands
// results back unchanged, so a switch is still recognised by identity.
function* delegateTo(
  iterator: Generator<unknown, unknown, unknown>,
): Generator<unknown, unknown, unknown> {
  return yield* iterator;
}

/**
 * The running fiber; the main fiber outside any fiber. Same as
 * {@linkcode Fiber.current}.
 *
 * @example
 * ```ts
 * import { current, Fiber } from "./fiber.ts";
 * const f: Fiber = new Fiber((): boolean => current() === f);
 * console.log(f.switchSync()); // true
 * ```
 */
export function current(): Fiber {
  return request.running;
}

/**
 * @internal The storage behind `FiberLocal` and `local()`: one table per
 * fiber, weakly keyed by the local so values die with the fiber or the local,
 * whichever goes first. Not re-exported by `mod.ts`.
 *
 * @example
 * ```ts
 * import { current, localsOf } from "./fiber.ts";
 * const key = {};
 * localsOf(current()).set(key, 1);
 * console.log(localsOf(current()).get(key)); // 1
 * ```
 */
export function localsOf(fiber: Fiber): WeakMap<object, unknown> {
  return fiberLocalsOf(fiber);
}

/**
 * @internal The storage behind `FiberLocal`, without creating it.
 *
 * @example
 * ```ts
 * import { Fiber, peekLocals } from "./fiber.ts";
 * console.log(peekLocals(new Fiber())); // undefined: nothing stored yet
 * ```
 */
export function peekLocals(fiber: Fiber): WeakMap<object, unknown> | undefined {
  return peekFiberLocalsOf(fiber);
}

/**
 * @internal Carries out the switch request the running fiber `caller` just
 * made, in place: runs the target as the trampoline would, on top of the
 * caller's frame, until it makes a request of its own. True when that request
 * is a plain switch back to `caller` (consumed: the caller goes on as if
 * resumed); false when it is anything else, left pending for the caller to
 * hand to the trampoline (`yield HUB_SWITCH`). For the hub only: nothing a
 * fiber does can resume the hub's generator while it runs on top of it, since
 * every switch goes through the request and only the trampoline resumes.
 *
 * @example
 * ```ts ignore
 * if (!resumeInPlace(hub)) yield HUB_SWITCH;
 * ```
 */
export function resumeInPlace(caller: Fiber): boolean {
  return resumeHere(caller);
}

/** @internal True when `fiber` is this thread's main fiber. */
export function isMainFiber(fiber: Fiber): boolean {
  return fiber === request.main;
}
