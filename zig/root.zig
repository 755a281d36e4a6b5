//! Root of the evergreen native library: the poll loop (loop/), the hub that runs native ops
//! as stacklets (hub.zig), the stacklets themselves (stacklet/), and the C ABI (exports.zig),
//! which is what the shared library exposes to Deno and to C/Zig/Rust embedders.

const std = @import("std");

pub const stacklet = @import("stacklet/stacklet.zig");
pub const loop = @import("loop/loop.zig");
pub const hub = @import("hub.zig");
pub const exports = @import("exports.zig");

comptime {
    // Analyze the exports so that every `eg_` symbol lands in the library.
    _ = exports;
}

test {
    _ = @import("stacklet/stacklet.zig");
    _ = @import("loop/errors.zig");
    _ = @import("loop/spin_lock.zig");
    _ = @import("loop/ring.zig");
    _ = @import("loop/handles.zig");
    _ = @import("loop/lifetime.zig");
    _ = @import("loop/signals.zig");
    _ = @import("loop/loop.zig");
    _ = @import("hub.zig");
    _ = @import("exports.zig");
    _ = @import("io/io.zig");
}
