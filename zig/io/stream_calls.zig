//! What the C ABI (exports.zig) does with a stream beyond one method call: open one on a loop
//! with a checked read bound, find the hub of its loop for the calls that start or cancel an
//! op, and the checks and defaults of the stream calls. exports.zig converts the C arguments
//! (a handle to its `*Stream`, a pointer and length to a slice) and forwards here or to a
//! method of `Stream`; tcp.zig and pipe.zig hold their protocols' policy.

const std = @import("std");
const errors = @import("../loop/errors.zig");
const hub_module = @import("../hub/hub.zig");
const loops = @import("../hub/loops.zig");
const pipe = @import("pipe.zig");
const socket = @import("socket.zig");
const stdio = @import("stdio.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");
const tcp = @import("tcp.zig");
const tty = @import("tty.zig");

const Stream = stream_module.Stream;

/// eg_tcp_listen_flags flag: SO_REUSEPORT, so that listeners in several threads or processes
/// share the port (ENOSYS where the OS has no such option: Windows).
pub const tcp_listen_reuse_port: u32 = 1;

/// Which op eg_stream_cancel completes.
pub const CancelSide = enum(u32) {
    /// The read (or accept) op.
    read = 0,
    /// The drain (or connect) op.
    write = 1,
};

/// The stream behind a handle, for its owner thread.
pub fn get(handle: u32) errors.Error!*Stream {
    return stream_module.streams.get(handle);
}

pub fn readMode(mode: u32) errors.Error!stream_module.ReadMode {
    return std.enums.fromInt(stream_module.ReadMode, mode) orelse error.InvalidArgument;
}

fn readMax(value: u32) errors.Error!usize {
    if (value == 0 or value > stream_module.read_max_limit) return error.InvalidArgument;
    return value;
}

fn port(value: u32) errors.Error!u16 {
    if (value > std.math.maxInt(u16)) return error.InvalidArgument;
    return @intCast(value);
}

fn backlogOf(value: u32) u31 {
    return @intCast(@min(value, std.math.maxInt(u31)));
}

fn hubOf(stream: *const Stream) errors.Error!*hub_module.Hub {
    return loops.get(stream.loop_handle);
}

/// A stream made by `open` on loop `loop` with read bound `read_max`; returns its handle.
fn openWith(gpa: std.mem.Allocator, loop: u32, fd: i32, read_max: u32, comptime opener: anytype) errors.Error!u32 {
    _ = try loops.get(loop);
    const stream = try opener(gpa, loop, fd, try readMax(read_max));
    return stream.handle;
}

fn openUnconnected(gpa: std.mem.Allocator, loop: u32, _: i32, read_max: usize) errors.Error!*Stream {
    return Stream.create(gpa, loop, sys.invalid_fd, .socket, read_max);
}

/// An unconnected stream (a TCP or Unix socket client before it connects).
pub fn new(gpa: std.mem.Allocator, loop: u32, read_max: u32) errors.Error!u32 {
    return openWith(gpa, loop, 0, read_max, openUnconnected);
}

/// A stream over an inherited descriptor (pipe.zig).
pub fn open(gpa: std.mem.Allocator, loop: u32, fd: i32, read_max: u32) errors.Error!u32 {
    return openWith(gpa, loop, fd, read_max, pipe.open);
}

/// A stream over the terminal on fd (tty.zig).
pub fn openTerminal(gpa: std.mem.Allocator, loop: u32, fd: i32, read_max: u32) errors.Error!u32 {
    return openWith(gpa, loop, fd, read_max, tty.open);
}

/// A stream over a descriptor of its own for standard stream fd (stdio.zig).
pub fn openStdio(gpa: std.mem.Allocator, loop: u32, fd: i32, read_max: u32) errors.Error!u32 {
    return openWith(gpa, loop, fd, read_max, stdio.open);
}

/// Sets the delimiter and answers a read up to it.
pub fn readUntil(stream: *Stream, delimiter: []const u8) errors.Error!i32 {
    try stream.setDelimiter(delimiter);
    return stream.readNow(.until, 0);
}

/// Answers a read (mode `until` first sets a non-empty delimiter) and, when the answer fits
/// in dest[offset..][0..capacity], moves it there: the count, or the read's answer as it is.
pub fn readTake(stream: *Stream, mode: stream_module.ReadMode, arg: u32, delimiter: []const u8, dest: ?[*]u8, offset: u32, capacity: u32) errors.Error!i32 {
    if (mode == .until and delimiter.len > 0) try stream.setDelimiter(delimiter);
    const result = stream.readNow(mode, arg);
    if (result <= 0) return result;
    const n: usize = @intCast(result);
    if (n > capacity) return result;
    const out = dest orelse return error.InvalidArgument;
    try stream.take(out[offset..][0..n], n);
    return result;
}

pub fn startRead(stream: *Stream, mode: stream_module.ReadMode, arg: u32, token: u32) errors.Error!i32 {
    return stream.startRead(try hubOf(stream), mode, arg, token);
}

/// Moves n buffered bytes into dest, or drops them when dest is null; returns n.
pub fn take(stream: *Stream, dest: ?[*]u8, n: u32) errors.Error!u32 {
    try stream.take(if (dest) |pointer| pointer[0..n] else null, n);
    return n;
}

/// Copies dest.len buffered bytes from offset into dest, leaving them buffered.
pub fn peek(stream: *const Stream, dest: []u8, offset: u32) errors.Error!u32 {
    try stream.peek(dest, offset, dest.len);
    return @intCast(dest.len);
}

/// The read window: writes the address of the stream's `Window` (start, end, scan,
/// generation: four u32 that JS reads and advances in place), the read buffer's address and
/// its length into out[0..3]; returns the generation (31 bits). The window's address stays
/// valid until the stream is closed; the buffer's only until the generation changes.
pub fn window(stream: *Stream, out: [*]u64) i32 {
    const buffer = stream.windowBuffer();
    out[0] = @intFromPtr(&stream.window);
    out[1] = if (buffer.len == 0) 0 else @intFromPtr(buffer.ptr);
    out[2] = buffer.len;
    return @bitCast(stream.window.generation & 0x7fffffff);
}

pub fn startDrain(stream: *Stream, token: u32) errors.Error!i32 {
    return stream.startDrain(try hubOf(stream), token);
}

/// Bytes queued and not sent yet (capped at 2^31 - 1), or the kept write error.
pub fn queued(stream: *const Stream) errors.Error!u32 {
    if (stream.write_error) |err| return err;
    return @intCast(@min(stream.queued(), std.math.maxInt(i32)));
}

pub fn cancel(stream: *Stream, side: u32) errors.Error!void {
    const which = std.enums.fromInt(CancelSide, side) orelse return error.InvalidArgument;
    stream.cancel(try hubOf(stream), switch (which) {
        .read => .read,
        .write => .write,
    });
}

/// Writes the local (peer = 0) or remote (peer = 1) address into out: port as a little-endian
/// u16, the text's length as a u16, then the host or path text.
pub fn address(stream: *const Stream, peer: u32, out: []u8) errors.Error!void {
    if (stream.fd == sys.invalid_fd) return error.NotConnected;
    // After a reset the socket no longer knows its peer: the address kept at accept or connect
    // answers then.
    const found = if (peer != 0)
        sys.peerAddress(stream.fd) catch |err| (stream.keptPeer() orelse return err)
    else
        try sys.localAddress(stream.fd);
    const length = found.hostText(out[4..]);
    std.mem.writeInt(u16, out[0..2], found.port(), .little);
    std.mem.writeInt(u16, out[2..4], @intCast(length), .little);
}

/// Listens again with another backlog.
pub fn listen(stream: *const Stream, backlog: u32) errors.Error!void {
    if (stream.role != .listener) return error.InvalidArgument;
    try sys.listen(stream.fd, backlogOf(backlog));
}

pub fn startAccept(stream: *Stream, token: u32) errors.Error!i32 {
    return socket.startAccept(stream, try hubOf(stream), token);
}

/// Connects over TCP (tcp.zig); an empty source means none.
pub fn tcpConnect(stream: *Stream, host: []const u8, to_port: u32, source: []const u8, source_port: u32, token: u32) errors.Error!i32 {
    const hub = try hubOf(stream);
    const target_port = try port(to_port);
    var from: ?tcp.Source = null;
    if (source.len > 0) from = .{ .host = source, .port = try port(source_port) };
    return tcp.connect(stream, hub, host, target_port, from, token);
}

/// A TCP listener (tcp.zig); flags: tcp_listen_reuse_port.
pub fn tcpListen(gpa: std.mem.Allocator, loop: u32, host: []const u8, bind_port: u32, backlog: u32, read_max: u32, flags: u32) errors.Error!u32 {
    if (flags & ~tcp_listen_reuse_port != 0) return error.InvalidArgument;
    _ = try loops.get(loop);
    const limit = try readMax(read_max);
    const reuse_port = flags & tcp_listen_reuse_port != 0;
    const server = try tcp.listen(gpa, loop, host, try port(bind_port), backlogOf(backlog), limit, reuse_port);
    return server.handle;
}

pub fn pipeConnect(gpa: std.mem.Allocator, stream: *Stream, path: []const u8, token: u32) errors.Error!i32 {
    return pipe.connect(gpa, stream, try hubOf(stream), path, token);
}

pub fn pipeListen(gpa: std.mem.Allocator, loop: u32, path: []const u8, backlog: u32, read_max: u32) errors.Error!u32 {
    _ = try loops.get(loop);
    const server = try pipe.listen(gpa, loop, path, backlogOf(backlog), try readMax(read_max));
    return server.handle;
}

/// Writes the terminal's { columns, rows } into out.
pub fn windowSize(stream: *const Stream, out: *[2]u32) errors.Error!void {
    const size = try tty.windowSize(stream);
    out.* = .{ size.columns, size.rows };
}

pub fn setRawMode(stream: *Stream, raw: u32) errors.Error!void {
    try tty.setRawMode(stream, raw != 0);
}
