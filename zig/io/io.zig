//! The stream layer in one import: sockets and addresses (sys.zig), name resolution off the
//! loop thread (resolve.zig), buffered streams and their hub ops (stream.zig), connecting and
//! listening sockets (socket.zig) for TCP and Unix sockets, Windows named pipes (pipe.zig) and
//! terminals (tty.zig). exports.zig exposes it through the C ABI.

pub const address = @import("address.zig");
pub const sys = @import("sys.zig");
pub const resolve = @import("resolve.zig");
pub const stream = @import("stream.zig");
pub const terminal = @import("terminal.zig");
pub const tty = @import("tty.zig");
pub const socket = @import("socket.zig");
pub const windows_pipe = @import("windows_pipe.zig");
pub const pipe = @import("pipe.zig");

test {
    _ = address;
    _ = sys;
    _ = resolve;
    _ = stream;
    _ = terminal;
    _ = tty;
    _ = socket;
    _ = windows_pipe;
    _ = pipe;
}
