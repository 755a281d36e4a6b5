/**
 * Fibers with python-fibers semantics, built on generators: `Fiber`,
 * `FiberError`, `current()`. This module gathers what `fiber/` exports, one
 * concept a file: `fiber/fiber.ts` (the class, its trampoline and the
 * per-fiber locals table) and `fiber/switch.ts` (the switch request and the
 * operation that carries it to the trampoline).
 *
 * @example
 * ```ts
 * import { Fiber } from "./fiber.ts";
 * const main = Fiber.current();
 * const child = new Fiber(function* () {
 *   yield* main.switch("hello");
 *   return "bye";
 * });
 * console.log(child.switchSync()); // "hello"
 * console.log(child.switchSync()); // "bye"
 * ```
 *
 * @module
 */

export {
  current,
  Fiber,
  FiberError,
  type FiberTarget,
  isMainFiber,
  localsOf,
  peekLocals,
} from "./fiber/fiber.ts";
export { HUB_SWITCH, isSwitch, switchYield } from "./fiber/switch.ts";
