/**
 * The UDP part of the native library's symbol table (zig/exports.zig, the
 * "UDP endpoints" section), spread into `SYMBOLS` by `symbols.ts`. Hot calls
 * (`eg_udp_send`, `eg_udp_stage`, `eg_udp_send_many`, `eg_udp_receive`) take only `u32`
 * numbers and buffers that native code reads during the call and never keeps.
 *
 * @module
 */

/**
 * `Deno.dlopen` declarations of the `eg_udp_*` functions. Each returns 0 or
 * a count on success and a negative error code on failure.
 *
 * @example
 * ```ts ignore
 * import { UDP_SYMBOLS } from "./udp_symbols.ts";
 * console.log(Object.keys(UDP_SYMBOLS).length);
 * ```
 */
export const UDP_SYMBOLS = {
  eg_udp_address: {
    parameters: ["buffer", "u32", "u32", "buffer"],
    result: "i32",
  },
  eg_address_text: { parameters: ["buffer", "buffer"], result: "i32" },
  eg_udp_open: {
    parameters: ["u32", "u32", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_udp_bind: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  eg_udp_sockname: { parameters: ["u32", "buffer"], result: "i32" },
  eg_udp_ring: { parameters: ["u32", "buffer"], result: "i32" },
  eg_udp_receive: { parameters: ["u32", "u32"], result: "i32" },
  eg_udp_cancel_receive: { parameters: ["u32"], result: "i32" },
  eg_udp_send: {
    parameters: ["u32", "buffer", "u32", "buffer"],
    result: "i32",
  },
  eg_udp_stage: {
    parameters: ["u32", "buffer", "u32", "buffer"],
    result: "i32",
  },
  eg_udp_send_queued: { parameters: ["u32"], result: "i32" },
  eg_udp_send_many: {
    parameters: ["u32", "buffer", "u32", "buffer", "u32", "buffer"],
    result: "i32",
  },
  eg_udp_flush_start: { parameters: ["u32", "u32"], result: "i32" },
  eg_udp_queued: { parameters: ["u32"], result: "i32" },
  eg_udp_set_option: { parameters: ["u32", "u32", "i32"], result: "i32" },
  eg_udp_membership: {
    parameters: ["u32", "u32", "buffer", "buffer"],
    result: "i32",
  },
  eg_udp_multicast_interface: {
    parameters: ["u32", "buffer"],
    result: "i32",
  },
  eg_udp_close: { parameters: ["u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
