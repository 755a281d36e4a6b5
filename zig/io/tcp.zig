//! TCP's policy over the socket ops of socket.zig: which host text is an address and which a
//! name to resolve, the optional source address a client binds first, and where a listener
//! binds ("" every IPv4 address, "localhost" 127.0.0.1, else an IP literal). stream_calls.zig
//! calls these for the C ABI (exports.zig); pipe.zig plays the same part for pipes.

const std = @import("std");
const errors = @import("../loop/errors.zig");
const hub_module = @import("../hub/hub.zig");
const address = @import("address.zig");
const socket = @import("socket.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");

/// Where a client binds before it connects: an IP literal and a port (0: any).
pub const Source = struct {
    host: []const u8,
    port: u16,
};

/// Connects an unconnected stream to host:port: an IP literal is tried at once, a name is
/// resolved off the loop thread and every address tried in order. Returns -EINPROGRESS (the
/// op reports with `token`) or -code.
pub fn connect(stream: *stream_module.Stream, hub: *hub_module.Hub, host: []const u8, port: u16, source: ?Source, token: u32) i32 {
    if (host.len == 0) return errors.negative(error.InvalidArgument);
    var source_address: ?sys.Address = null;
    if (source) |from| {
        source_address = sys.parseIp(from.host, from.port) orelse return errors.negative(error.InvalidArgument);
    }
    if (sys.parseIp(host, port)) |literal| {
        return socket.startConnect(stream, hub, &.{literal}, "", 0, source_address, true, token);
    }
    return socket.startConnect(stream, hub, &.{}, host, port, source_address, true, token);
}

/// A listener bound to host:port and listening: a port in use is EADDRINUSE here (also when
/// the listener holding it set reuse_port and this one did not). reuse_port sets SO_REUSEPORT
/// so that listeners in several threads or processes share the port (ENOSYS on Windows).
pub fn listen(gpa: std.mem.Allocator, loop_handle: u32, host: []const u8, port: u16, backlog: u31, read_max: usize, reuse_port: bool) errors.Error!*stream_module.Stream {
    var bind_address = address.Address.any(address.Address.ip4);
    bind_address.port = port;
    if (host.len != 0) bind_address = try address.parseLocal(host, port);
    return socket.listen(gpa, loop_handle, &sys.Address.fromIp(&bind_address), backlog, read_max, true, reuse_port);
}

const testing = std.testing;

test "a listener on \"\" takes every IPv4 address, a name is refused without a lookup" {
    const server = try listen(testing.allocator, 0, "", 0, 4, 1024, false);
    defer server.close(null);
    const bound = try sys.localAddress(server.fd);
    var text: [address.text_max]u8 = undefined;
    try testing.expectEqualStrings("0.0.0.0", text[0..bound.hostText(&text)]);
    try testing.expect(bound.port() != 0);
    try testing.expectError(error.InvalidArgument, listen(testing.allocator, 0, "example.com", 0, 4, 1024, false));
}
