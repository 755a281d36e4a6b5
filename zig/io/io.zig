//! The stream layer in one import: sockets and addresses (sys.zig), name resolution off the
//! loop thread (resolve.zig), buffered streams and their hub ops (stream.zig), connecting and
//! listening sockets (socket.zig) for TCP and Unix sockets, Windows named pipes (pipe.zig),
//! terminals (tty.zig) and the standard streams (stdio.zig). exports.zig exposes it through the C ABI.

pub const sys = @import("sys.zig");
pub const registry = @import("registry.zig");
pub const resolve = @import("resolve.zig");
pub const stream = @import("stream.zig");
pub const tty = @import("tty.zig");
pub const socket = @import("socket.zig");
pub const pipe = @import("pipe.zig");
pub const stdio = @import("stdio.zig");

test {
    _ = sys;
    _ = registry;
    _ = resolve;
    _ = stream;
    _ = tty;
    _ = socket;
    _ = pipe;
    _ = stdio;
}
