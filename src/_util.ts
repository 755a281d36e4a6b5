/**
 * Private helpers shared by the library's modules (not re-exported by
 * `mod.ts`): describing values in error messages, telling generators from
 * other values, and the argument checks
 * that keep out-of-range times and integers from ever reaching the native
 * layer as a raw FFI error (API.md, "Changes and additions").
 *
 * @module
 */

/**
 * The largest descriptor (or Windows handle value) the native layer takes:
 * its FFI parameter is an `i32`.
 */
export const FD_MAX = 0x7fff_ffff;

/**
 * A short description of a value for error messages.
 *
 * @example
 * ```ts
 * import { describe } from "./_util.ts";
 * console.log(describe(42), describe("x"), describe([])); // 42 "x" an object of class Array
 * ```
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "function") {
    return `function ${value.name || "(anonymous)"}`;
  }
  if (typeof value === "object") {
    return `an object of class ${value.constructor?.name ?? "Object"}`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  return String(value);
}

const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype;
const isPrototypeOf = Object.prototype.isPrototypeOf;

/**
 * True for a generator, or an object that behaves as one (`next`, `throw`
 * and an iterator), so that it can be run with `yield*`.
 *
 * @example
 * ```ts
 * import { isGenerator } from "./_util.ts";
 * console.log(isGenerator((function* () {})()), isGenerator([])); // true false
 * ```
 */
export function isGenerator<T = unknown>(
  value: unknown,
): value is Generator<unknown, T, unknown> {
  // Real generators first: the property probes below are slow on the fresh
  // prototype of a generator function made per call.
  if (isPrototypeOf.call(GeneratorPrototype, value as object)) return true;
  return typeof value === "object" && value !== null &&
    typeof (value as Generator).next === "function" &&
    typeof (value as Generator).throw === "function" &&
    typeof (value as Generator)[Symbol.iterator] === "function";
}

/**
 * Checks an integer argument against `[min, max]` and returns it. The one
 * check for every integer that reaches the native layer (descriptors,
 * backlogs, sizes, limits), so that none fails there with a raw FFI error.
 *
 * @param what the call, for the message (`"addReader()"`).
 * @param name the argument's name (`"fd"`).
 * @throws {TypeError} if `value` is not a number.
 * @throws {RangeError} if it is not an integer from `min` to `max`.
 *
 * @example
 * ```ts
 * import { checkInteger } from "./_util.ts";
 * checkInteger(511, "serve()", "backlog", 0, 0x7fffffff); // 511
 * try {
 *   checkInteger(2 ** 32, "serve()", "backlog", 0, 0x7fffffff);
 * } catch (error) {
 *   console.log((error as Error).message);
 *   // serve(): backlog must be an integer from 0 to 2147483647, got 4294967296
 * }
 * ```
 */
export function checkInteger(
  value: unknown,
  what: string,
  name: string,
  min: number,
  max: number,
): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `${what}: ${name} must be an integer from ${min} to ${max}, got ${
        describe(value)
      }`,
    );
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${what}: ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks a descriptor argument (0 to {@linkcode FD_MAX}) and returns it.
 *
 * @throws {TypeError} if `fd` is not a number.
 * @throws {RangeError} if it is not an integer from 0 to `FD_MAX`.
 *
 * @example
 * ```ts
 * import { checkFd } from "./_util.ts";
 * checkFd(0, "addReader()"); // 0
 * ```
 */
export function checkFd(fd: unknown, what: string): number {
  return checkInteger(fd, what, "fd", 0, FD_MAX);
}

/**
 * Checks a time in milliseconds and returns it: any number from 0 up to
 * `Infinity` (never). Waits longer than the native layer can express are
 * clamped there (`NativeLoop.poll`/`park`), so callers need no special case.
 *
 * @param what the call, for the message (`"sleep()"`).
 * @param name the argument's name (`"ms"`).
 * @throws {TypeError} if `ms` is not a number.
 * @throws {RangeError} if it is negative or `NaN`.
 *
 * @example
 * ```ts
 * import { checkTimeMs } from "./_util.ts";
 * checkTimeMs(Infinity, "sleep()", "ms"); // Infinity
 * try {
 *   checkTimeMs(-1, "sleep()", "ms");
 * } catch (error) {
 *   console.log((error as Error).name); // RangeError
 * }
 * ```
 */
export function checkTimeMs(ms: unknown, what: string, name: string): number {
  if (typeof ms !== "number") {
    throw new TypeError(
      `${what}: ${name} must be a number of ms, got ${describe(ms)}`,
    );
  }
  if (!(ms >= 0)) {
    throw new RangeError(
      `${what}: ${name} must be a number of ms from 0 to Infinity, got ${ms}`,
    );
  }
  return ms;
}

/**
 * {@linkcode checkTimeMs} for an optional timeout: `undefined` (no limit)
 * passes.
 *
 * @throws {TypeError} if `ms` is neither undefined nor a number.
 * @throws {RangeError} if it is negative or `NaN`.
 *
 * @example
 * ```ts
 * import { checkOptionalTimeMs } from "./_util.ts";
 * checkOptionalTimeMs(undefined, "wait()"); // undefined
 * checkOptionalTimeMs(10, "wait()"); // 10
 * ```
 */
export function checkOptionalTimeMs(
  ms: unknown,
  what: string,
  name = "timeoutMs",
): number | undefined {
  return ms === undefined ? undefined : checkTimeMs(ms, what, name);
}

/**
 * Checks what a fiber or a task is made with: `target`, if given, is a
 * function, and `args`, if given, an array.
 *
 * @param kind the class, for the message (`"Fiber"`, `"Task"`).
 * @throws {TypeError} if either is something else.
 *
 * @example
 * ```ts
 * import { checkTarget } from "./_util.ts";
 * checkTarget("Fiber", () => 1, [2]);
 * try {
 *   checkTarget("Task", 42, undefined);
 * } catch (error) {
 *   console.log((error as Error).message); // Task target must be a function, got 42
 * }
 * ```
 */
export function checkTarget(
  kind: string,
  target: unknown,
  args: unknown,
): void {
  if (target !== undefined && typeof target !== "function") {
    throw new TypeError(
      `${kind} target must be a function, got ${describe(target)}`,
    );
  }
  if (args !== undefined && !Array.isArray(args)) {
    throw new TypeError(`${kind} args must be an array, got ${describe(args)}`);
  }
}
