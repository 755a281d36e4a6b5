/**
 * The streams part of the native library's symbol table (zig/exports.zig,
 * the "Streams" section), spread into `SYMBOLS` by `symbols.ts`. Hot calls
 * (`eg_stream_read`, `eg_stream_read_start`, `eg_stream_take`,
 * `eg_stream_write`) take only `u32` numbers and buffers that native code
 * copies during the call and never keeps.
 *
 * @module
 */

/**
 * `Deno.dlopen` declarations of the `eg_stream_*`, `eg_tcp_*`, `eg_pipe_*`
 * and `eg_tty_*` functions. Each returns 0, a count or a handle on success
 * and a negative error code on failure.
 *
 * @example
 * ```ts ignore
 * import { STREAM_SYMBOLS } from "./stream_symbols.ts";
 * console.log(Object.keys(STREAM_SYMBOLS).length);
 * ```
 */
export const STREAM_SYMBOLS = {
  eg_io_streams_live: { parameters: [], result: "i32" },
  eg_stream_new: { parameters: ["u32", "u32"], result: "i32" },
  eg_stream_open: { parameters: ["u32", "i32", "u32"], result: "i32" },
  eg_stdio_open: { parameters: ["u32", "i32", "u32"], result: "i32" },
  eg_stream_read: { parameters: ["u32", "u32", "u32"], result: "i32" },
  eg_stream_read_until: {
    parameters: ["u32", "buffer", "u32"],
    result: "i32",
  },
  eg_stream_read_take: {
    parameters: ["u32", "u32", "u32", "buffer", "u32", "buffer", "u32", "u32"],
    result: "i32",
  },
  eg_stream_read_into: {
    parameters: ["u32", "buffer", "u32"],
    result: "i32",
  },
  eg_stream_read_start: {
    parameters: ["u32", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_stream_take: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  eg_stream_peek: {
    parameters: ["u32", "buffer", "u32", "u32"],
    result: "i32",
  },
  eg_stream_buffered: { parameters: ["u32"], result: "i32" },
  eg_stream_window: { parameters: ["u32", "buffer"], result: "i32" },
  eg_stream_write: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  eg_stream_drain: { parameters: ["u32", "u32"], result: "i32" },
  eg_stream_queued: { parameters: ["u32"], result: "i32" },
  eg_stream_shutdown: { parameters: ["u32"], result: "i32" },
  eg_stream_cancel: { parameters: ["u32", "u32"], result: "i32" },
  eg_stream_close: { parameters: ["u32"], result: "i32" },
  eg_stream_address: { parameters: ["u32", "u32", "buffer"], result: "i32" },
  eg_stream_listen: { parameters: ["u32", "u32"], result: "i32" },
  eg_stream_accept: { parameters: ["u32", "u32"], result: "i32" },
  eg_tcp_connect: {
    parameters: ["u32", "buffer", "u32", "u32", "buffer", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_tcp_listen: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_tcp_listen_flags: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_pipe_connect: {
    parameters: ["u32", "buffer", "u32", "u32"],
    result: "i32",
  },
  eg_pipe_listen: {
    parameters: ["u32", "buffer", "u32", "u32", "u32"],
    result: "i32",
  },
  eg_tty_open: { parameters: ["u32", "i32", "u32"], result: "i32" },
  eg_tty_winsize: { parameters: ["u32", "buffer"], result: "i32" },
  eg_tty_set_raw: { parameters: ["u32", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
