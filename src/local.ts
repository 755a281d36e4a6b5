/**
 * Fiber-local storage: {@linkcode FiberLocal} (one value per fiber) and
 * {@linkcode local} (evergreen's object whose properties are per fiber).
 * Values are kept in a per-fiber table owned by the fiber (see `fiber.ts`),
 * so they die with their fiber, and weakly keyed, so they die with the local.
 *
 * @module
 */

import { current, localsOf, peekLocals } from "./fiber/fiber.ts";

/**
 * One value per fiber, like a thread-local variable for fibers. Each fiber
 * sees only the value it set; a fiber that never set one gets the result of
 * `initial()` (computed lazily on its first `get()`, then kept) or
 * `undefined`. A value lives until it is deleted, its fiber ends or the
 * `FiberLocal` itself is dropped.
 *
 * @example
 * ```ts
 * import { Fiber } from "./fiber.ts";
 * import { FiberLocal } from "./local.ts";
 *
 * const requestId = new FiberLocal<number>(() => 0);
 * requestId.set(1);
 * const worker = new Fiber(() => {
 *   const before = requestId.get(); // 0: the initial value for this fiber
 *   requestId.set(2);
 *   return [before, requestId.get()];
 * });
 * console.log(worker.switchSync()); // [0, 2]
 * console.log(requestId.get()); // 1: main's value is untouched
 * ```
 */
export class FiberLocal<T> {
  readonly #initial: (() => T) | undefined;

  /**
   * Creates the local, with no value in any fiber yet.
   *
   * @param initial called at most once per fiber, by the first `get()` in a
   *   fiber that has no value (again after a `delete()`).
   * @throws {TypeError} if `initial` is given and is not a function.
   */
  constructor(initial?: () => T) {
    if (initial !== undefined && typeof initial !== "function") {
      throw new TypeError(
        `FiberLocal initial must be a function, got ${typeof initial}`,
      );
    }
    this.#initial = initial;
  }

  /**
   * The running fiber's value: what it set, else `initial()` (stored for
   * later calls), else `undefined`.
   */
  get(): T | undefined {
    const fiber = current();
    const values = peekLocals(fiber);
    if (values !== undefined) {
      const value = values.get(this);
      // A stored `undefined` is a value too: only a missing key initialises.
      if (value !== undefined || values.has(this)) return value as T;
    }
    const initial = this.#initial;
    if (initial === undefined) return undefined;
    const value = initial();
    localsOf(fiber).set(this, value);
    return value;
  }

  /** Sets the running fiber's value. */
  set(value: T): void {
    localsOf(current()).set(this, value);
  }

  /**
   * Removes the running fiber's value; the next `get()` calls `initial`
   * again.
   *
   * @returns true if the running fiber had a value.
   */
  delete(): boolean {
    const values = peekLocals(current());
    return values !== undefined && values.delete(this);
  }

  /** True if the running fiber has a value (set, or made by `initial`). */
  has(): boolean {
    const values = peekLocals(current());
    return values !== undefined && values.has(this);
  }
}

/** One fiber's properties of one `local()` object. */
type LocalDict = Record<PropertyKey, unknown>;

// The traps see the per-fiber dict of the running fiber. The proxy target
// stays empty and extensible, so every property the traps report may be
// configurable and the Proxy invariants always hold; the target doubles as
// the key of the dicts in each fiber's table.
const localHandler: ProxyHandler<object> = {
  get(key, name) {
    const dict = peekDict(key);
    return dict === undefined ? undefined : dict[name];
  },
  set(key, name, value) {
    dictOf(key)[name] = value;
    return true;
  },
  has(key, name) {
    const dict = peekDict(key);
    return dict !== undefined && Object.hasOwn(dict, name);
  },
  deleteProperty(key, name) {
    const dict = peekDict(key);
    if (dict !== undefined) delete dict[name];
    return true;
  },
  ownKeys(key) {
    const dict = peekDict(key);
    return dict === undefined ? [] : Reflect.ownKeys(dict);
  },
  getOwnPropertyDescriptor(key, name) {
    const dict = peekDict(key);
    if (dict === undefined || !Object.hasOwn(dict, name)) return undefined;
    return {
      value: dict[name],
      writable: true,
      enumerable: true,
      configurable: true,
    };
  },
  defineProperty(key, name, descriptor) {
    if (
      descriptor.get !== undefined || descriptor.set !== undefined ||
      descriptor.writable === false || descriptor.enumerable === false ||
      descriptor.configurable === false
    ) {
      throw new TypeError(
        `local() properties are plain writable, enumerable, configurable values: cannot define ${
          String(name)
        } otherwise`,
      );
    }
    dictOf(key)[name] = descriptor.value;
    return true;
  },
  setPrototypeOf() {
    return false;
  },
  preventExtensions() {
    return false;
  },
};

// Deno's console inspects a proxy's target, not its traps: the target
// carries a (hidden, configurable) custom inspector showing the running
// fiber's properties, so `console.log(l)` prints what the fiber sees.
const customInspect = Symbol.for("Deno.customInspect");

function inspectLocal(
  this: object,
  inspect: (value: unknown, options: unknown) => string,
  options: unknown,
): string {
  return `local ${inspect({ ...peekDict(this) }, options)}`;
}

function peekDict(key: object): LocalDict | undefined {
  return peekLocals(current())?.get(key) as LocalDict | undefined;
}

function dictOf(key: object): LocalDict {
  const values = localsOf(current());
  let dict = values.get(key) as LocalDict | undefined;
  if (dict === undefined) {
    dict = Object.create(null) as LocalDict;
    values.set(key, dict);
  }
  return dict;
}

/**
 * evergreen's `local()`: an object whose properties are per fiber. Each
 * fiber sees only the properties it set; an unset property reads
 * `undefined`; `delete`, `in` and `Object.keys` see the running fiber's
 * properties only. Properties die with their fiber. The object has no
 * prototype, so it has no inherited methods either.
 *
 * @example
 * ```ts
 * import { Fiber } from "./fiber.ts";
 * import { local } from "./local.ts";
 *
 * const context = local<{ user: string }>();
 * context.user = "main";
 * const handler = new Fiber(() => {
 *   const before = context.user; // undefined: set in another fiber
 *   context.user = "alice";
 *   return [before, context.user];
 * });
 * console.log(handler.switchSync()); // [undefined, "alice"]
 * console.log(context.user); // "main"
 * ```
 *
 * @throws {TypeError} from `Object.defineProperty` with an accessor or a
 *   non-writable, non-enumerable or non-configurable descriptor, and from
 *   `Object.setPrototypeOf`/`Object.preventExtensions` on the object.
 */
export function local<T extends object>(): Partial<T> {
  const key = Object.create(null);
  Object.defineProperty(key, customInspect, {
    value: inspectLocal,
    configurable: true,
  });
  return new Proxy(key, localHandler) as Partial<T>;
}
