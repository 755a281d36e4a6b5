//! Root of the evergreen native library: the poll loop (loop/), the hub that runs native ops
//! as stacklets and the loops by handle (hub/), the stacklets themselves (stacklet/), I/O (io/)
//! and the C ABI (exports.zig through ffi.zig, with its numbers in abi.zig and its test-only
//! part in test_exports.zig), which is what the shared library exposes to Deno and to
//! C/Zig/Rust embedders. Layers: zig/README.md.

const build_options = @import("build_options");

pub const stacklet = @import("stacklet/stacklet.zig");
pub const loop = @import("loop/loop.zig");
pub const hub = @import("hub/hub.zig");
pub const exports = @import("exports.zig");
pub const abi = @import("abi.zig");
/// The I/O layer (streams, UDP, addresses, ...), for Zig programs that import the library as a
/// module (io/stream_bench.zig's build does).
pub const io = @import("io/io.zig");
/// The `eg_test_*` symbols, in the library only with -Dtest-exports=true (build.zig).
pub const test_exports = if (build_options.test_exports) @import("test_exports.zig") else struct {};

comptime {
    // Analyze the exports so that every `eg_` symbol lands in the library.
    _ = exports;
    _ = test_exports;
}

test {
    _ = @import("stacklet/stacklet.zig");
    _ = @import("stacklet/tests.zig");
    _ = @import("loop/errors.zig");
    _ = @import("loop/spin_lock.zig");
    _ = @import("loop/ring.zig");
    _ = @import("loop/handles.zig");
    _ = @import("loop/lifetime.zig");
    _ = @import("loop/signals.zig");
    _ = @import("loop/loop.zig");
    _ = @import("loop/host_io.zig");
    _ = @import("hub/hub.zig");
    _ = @import("hub/loops.zig");
    _ = @import("hub/stacklets.zig");
    _ = @import("hub/tests.zig");
    _ = @import("exports.zig");
    _ = @import("exports_test.zig");
    _ = @import("ffi.zig");
    _ = @import("abi.zig");
    _ = test_exports;
    _ = @import("io/io.zig");
}
