/**
 * The safety net of the library's native handles: an object dropped
 * without `close()` gives its handle (and so its descriptor) back when the
 * collector takes it. One registry serves every kind of handle (streams,
 * servers, UDP endpoints), each with its own close function; finalizers run
 * on the JS thread that registered them, the owner thread native handles
 * require.
 *
 * @module
 */

/** What a collected owner leaves to close. */
interface Held<T> {
  handle: T;
  close: (handle: T) => unknown;
}

// deno-lint-ignore no-explicit-any
const registry = new FinalizationRegistry<Held<any>>((held) => {
  held.close(held.handle);
});

/**
 * Closes `handle` with `close` once `owner` is collected, unless
 * {@linkcode forgetOnCollect} is called first (by the owner's `close()`).
 * `handle` is a native handle number, or an object that owns native memory
 * (a TLS server's OpenSSL context). Neither `handle` nor `close` may keep
 * `owner` alive (pass a module function, not a closure over it).
 *
 * @example
 * ```ts ignore
 * import { closeOnCollect, forgetOnCollect } from "./finalizer.ts";
 * import { streamClose } from "./stream_native.ts";
 * class Wrapper {
 *   constructor(readonly handle: number) {
 *     closeOnCollect(this, handle, streamClose);
 *   }
 *   close(): void {
 *     forgetOnCollect(this);
 *     streamClose(this.handle);
 *   }
 * }
 * ```
 */
export function closeOnCollect<T = number>(
  owner: object,
  handle: T,
  close: (handle: T) => unknown,
): void {
  registry.register(owner, { handle, close }, owner);
}

/**
 * Cancels {@linkcode closeOnCollect} for `owner` (it was closed on
 * purpose); does nothing for an owner that was never registered.
 *
 * @example
 * ```ts ignore
 * import { forgetOnCollect } from "./finalizer.ts";
 * forgetOnCollect(someStream);
 * ```
 */
export function forgetOnCollect(owner: object): void {
  registry.unregister(owner);
}
