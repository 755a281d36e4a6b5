/**
 * evergreen for Deno: cooperative fibers, fiber-local storage, an event loop
 * with thread-like tasks and primitives, and fast TCP/pipe/UDP I/O on a
 * native core loaded with `Deno.dlopen`.
 *
 * @module
 */

export { current, Fiber, FiberError, type FiberTarget } from "./src/fiber.ts";
export { FiberLocal, local } from "./src/local.ts";
