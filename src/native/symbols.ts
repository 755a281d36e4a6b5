/**
 * The symbol table of the evergreen native library (zig/exports.zig), typed
 * for V8's fast FFI path: only `i32`/`u32` arguments and results on hot
 * calls, buffers only on calls made once per loop, no pointer results except
 * on cold calls. Every function returns 0 or a count on success and a
 * negative error code (see `errors.ts`) on failure.
 *
 * @module
 */

import { UDP_SYMBOLS } from "./udp_symbols.ts";
import { STREAM_SYMBOLS } from "./stream_symbols.ts";
import { TEST_SYMBOLS } from "./test_symbols.ts";

/**
 * The `Deno.dlopen` interface of the library. `eg_loop_park` is the one
 * `nonblocking` symbol: it runs on Deno's blocking thread pool so that an
 * idle loop can wait for readiness while Deno keeps running.
 *
 * @example
 * ```ts ignore
 * import { SYMBOLS } from "./symbols.ts";
 * const lib = Deno.dlopen("zig-out/lib/libevergreen.so", SYMBOLS);
 * console.log(lib.symbols.eg_abi_version());
 * ```
 */
export const SYMBOLS = {
  eg_abi_version: { parameters: [], result: "u32" },
  eg_nop: { parameters: [], result: "void" },
  eg_error_name: { parameters: ["i32"], result: "pointer" },
  eg_constant: { parameters: ["buffer", "u32", "buffer"], result: "i32" },
  eg_constant_name: { parameters: ["u32"], result: "pointer" },

  eg_loop_new: { parameters: ["u32"], result: "i32" },
  eg_loop_close: { parameters: ["u32"], result: "i32" },
  eg_loop_poll: { parameters: ["u32", "i32"], result: "i32" },
  eg_loop_park: {
    parameters: ["u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  eg_loop_wake: { parameters: ["u32"], result: "i32" },
  eg_loop_host_io_pending: { parameters: ["u32"], result: "i32" },
  eg_loop_watch: { parameters: ["u32", "i32", "u32", "u32"], result: "i32" },
  eg_loop_unwatch: { parameters: ["u32", "i32"], result: "i32" },
  eg_loop_watch_signal: { parameters: ["u32", "i32", "u32"], result: "i32" },
  eg_loop_unwatch_signal: { parameters: ["u32", "i32"], result: "i32" },
  eg_signal_arrivals: { parameters: ["i32"], result: "i32" },
  eg_loop_ring: { parameters: ["u32", "buffer"], result: "i32" },
  eg_loop_cancel_fd: { parameters: ["u32", "i32"], result: "i32" },
  eg_loop_ops_live: { parameters: ["u32"], result: "i32" },
  eg_loops_live: { parameters: [], result: "i32" },

  eg_lookup_start: { parameters: ["buffer", "u32"], result: "i32" },
  eg_lookup_fd: { parameters: ["u32"], result: "i32" },
  eg_lookup_wait: { parameters: ["u32", "i32"], result: "i32" },
  eg_lookup_result: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  eg_lookup_close: { parameters: ["u32"], result: "i32" },

  ...UDP_SYMBOLS,
  ...STREAM_SYMBOLS,
  ...TEST_SYMBOLS,
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's type. */
export type NativeLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;
