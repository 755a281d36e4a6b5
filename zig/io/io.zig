//! The I/O layer in one import: IP addresses (address.zig), sockets (sys.zig), the kernel32
//! bindings for pipes and consoles (kernel32.zig), name resolution off the loop thread
//! (resolve.zig), buffered streams and their hub ops (stream.zig), connecting and listening
//! sockets (socket.zig) with TCP's policy (tcp.zig), pipes (pipe.zig, over windows_pipe.zig's
//! bridges on Windows), terminals (tty.zig, terminal.zig), the standard streams (stdio.zig) and
//! UDP endpoints (udp.zig, udp_socket.zig). exports.zig exposes it through the C ABI: it
//! converts the C arguments and forwards to the objects' methods or to stream_calls.zig,
//! udp_calls.zig and lookup.zig (each call's checks and defaults); owned.zig creates and
//! closes loops and gives back what a thread owns when it exits.

pub const address = @import("address.zig");
pub const sys = @import("sys.zig");
pub const kernel32 = @import("kernel32.zig");
pub const resolve = @import("resolve.zig");
pub const stream = @import("stream.zig");
pub const terminal = @import("terminal.zig");
pub const tty = @import("tty.zig");
pub const socket = @import("socket.zig");
pub const tcp = @import("tcp.zig");
pub const windows_pipe = @import("windows_pipe.zig");
pub const pipe = @import("pipe.zig");
pub const stdio = @import("stdio.zig");
pub const udp = @import("udp.zig");
pub const stream_calls = @import("stream_calls.zig");
pub const udp_calls = @import("udp_calls.zig");
pub const lookup = @import("lookup.zig");
pub const owned = @import("owned.zig");
/// Not part of the library: an instruction-count benchmark of the read path, reached through
/// here so that it can be built as a program (see its header).
pub const stream_bench = @import("stream_bench.zig");

test {
    _ = address;
    _ = sys;
    _ = kernel32;
    _ = resolve;
    _ = stream;
    _ = terminal;
    _ = tty;
    _ = socket;
    _ = tcp;
    _ = windows_pipe;
    _ = pipe;
    _ = stdio;
    _ = udp;
    _ = stream_calls;
    _ = udp_calls;
    _ = lookup;
    _ = owned;
}
