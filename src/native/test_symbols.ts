/**
 * The test-only part of the native library's symbol table (`eg_test_*`,
 * zig/test_exports.zig), spread into `SYMBOLS` by `symbols.ts`. A library
 * built with `-Dtest-exports=false` (every release build) has none of them,
 * so each is `optional`: `Deno.dlopen` leaves it `null` instead of failing,
 * and `test_support.ts` turns a missing one into an error that says how to
 * rebuild.
 *
 * @module
 */

/**
 * `Deno.dlopen` declarations of the `eg_test_*` functions, all optional.
 *
 * @example
 * ```ts ignore
 * import { TEST_SYMBOLS } from "./test_symbols.ts";
 * console.log(Object.keys(TEST_SYMBOLS).length);
 * ```
 */
export const TEST_SYMBOLS = {
  eg_test_pipe: { parameters: ["buffer"], result: "i32", optional: true },
  eg_test_socketpair: { parameters: ["buffer"], result: "i32", optional: true },
  eg_test_write: {
    parameters: ["i32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  eg_test_read: {
    parameters: ["i32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  eg_test_close: { parameters: ["i32"], result: "i32", optional: true },
  eg_test_read_exact: {
    parameters: ["u32", "i32", "u32", "u32"],
    result: "i32",
    optional: true,
  },
  eg_test_udp_enqueue: {
    parameters: ["u32", "buffer", "u32", "buffer"],
    result: "i32",
    optional: true,
  },
  eg_test_openpty: { parameters: ["buffer"], result: "i32", optional: true },
  eg_test_set_winsize: {
    parameters: ["i32", "u32", "u32"],
    result: "i32",
    optional: true,
  },
  eg_test_stream_linger_zero: {
    parameters: ["u32"],
    result: "i32",
    optional: true,
  },
  eg_test_lookup_slots_hold: {
    parameters: ["i32"],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
