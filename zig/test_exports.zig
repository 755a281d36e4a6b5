//! The test-only part of the C ABI (`eg_test_*`): real OS objects and fault injection for the
//! Deno tests, which get no raw descriptors from Deno. root.zig compiles it in only with
//! `-Dtest-exports=true` (the default, and what `tools/dev` builds; `tools/release.ts` turns it
//! off), so a released library has none of these symbols. src/native/test_support.ts calls
//! them and says how to rebuild when they are missing. Like exports.zig, every function
//! validates its arguments and returns 0 or a count, or `-code`.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const support = @import("loop/test_support.zig");
const hub_module = @import("hub/hub.zig");
const loops = @import("hub/loops.zig");
const io = @import("io/io.zig");
const exports = @import("exports.zig");
const ffi = @import("ffi.zig");

/// A nonblocking pipe; out[0] reads, out[1] writes (POSIX only).
export fn eg_test_pipe(out: ?*[2]i32) i32 {
    const target = out orelse return ffi.fail(error.InvalidArgument);
    const fds = support.pipe() catch |err| return ffi.fail(err);
    target.* = .{ @intCast(fds[0]), @intCast(fds[1]) };
    return 0;
}

/// Two connected nonblocking sockets (AF_UNIX; TCP over 127.0.0.1 on Windows).
export fn eg_test_socketpair(out: ?*[2]i32) i32 {
    const target = out orelse return ffi.fail(error.InvalidArgument);
    const fds = support.socketPair() catch |err| return ffi.fail(err);
    target.* = .{ @intCast(fds[0]), @intCast(fds[1]) };
    return 0;
}

export fn eg_test_write(fd: i32, bytes: ?[*]const u8, length: u32) i32 {
    return ffi.call(support.write, .{ ffi.toFd(fd), ffi.text(bytes, length) });
}

export fn eg_test_read(fd: i32, buffer: ?[*]u8, length: u32) i32 {
    return ffi.call(support.read, .{ ffi.toFd(fd), ffi.buffer(buffer, length) });
}

export fn eg_test_close(fd: i32) i32 {
    return ffi.call(support.close, .{ffi.toFd(fd)});
}

/// Starts the reference hub op: read exactly `length` bytes (1..4096) from fd on a stacklet,
/// then post { token, length, kind 16, FNV-1a of the bytes }.
export fn eg_test_read_exact(handle: u32, fd: i32, length: u32, token: u32) i32 {
    const hub = loops.get(handle) catch |err| return ffi.fail(err);
    const descriptor = ffi.toFd(fd) catch |err| return ffi.fail(err);
    if (length == 0 or length > hub_module.read_exact_length_max) return ffi.fail(error.InvalidArgument);
    hub.start(hub_module.ReadExact, .{ .op = undefined, .fd = descriptor, .length = length }, token) catch |err| return ffi.fail(err);
    return 0;
}

/// Queues a datagram as if the kernel's buffer were full (loopback never pushes back), so
/// tests can run the queue, eg_udp_flush_start and flush on demand.
export fn eg_test_udp_enqueue(handle: u32, data: ?[*]const u8, length: u32, address: ?[*]const u8) i32 {
    return ffi.call(io.udp_calls.enqueueForTest, .{ io.udp.get(handle), ffi.bytes(data, length), ffi.address(address) });
}

/// A pseudo-terminal pair for tests: out[0] the controlling side, out[1] the terminal.
export fn eg_test_openpty(out: ?*[2]i32) i32 {
    const target = out orelse return ffi.fail(error.InvalidArgument);
    target.* = io.tty.openPty() catch |err| return ffi.fail(err);
    return 0;
}

export fn eg_test_set_winsize(fd: i32, columns: u32, rows: u32) i32 {
    if (columns > std.math.maxInt(u16) or rows > std.math.maxInt(u16)) return ffi.fail(error.InvalidArgument);
    io.tty.setWindowSize(fd, @intCast(columns), @intCast(rows)) catch |err| return ffi.fail(err);
    return 0;
}

/// Makes the stream's next close reset the connection (SO_LINGER 0), as a crashed peer would.
export fn eg_test_stream_linger_zero(handle: u32) i32 {
    const stream = io.stream_calls.get(handle) catch |err| return ffi.fail(err);
    io.sys.setLingerZero(stream.fd) catch |err| return ffi.fail(err);
    return 0;
}

/// Counts `count` more name lookups as running in the process (fewer for a negative count that
/// gives back what an earlier call took), so that a test fills the 64 with fewer real ones;
/// returns how many run now.
export fn eg_test_lookup_slots_hold(count: i32) i32 {
    if (count < -@as(i32, io.resolve.in_flight_max) or count > io.resolve.in_flight_max) return ffi.fail(error.InvalidArgument);
    if (count < 0 and io.resolve.inFlight() < @as(u32, @intCast(-count))) return ffi.fail(error.InvalidArgument);
    return @intCast(io.resolve.holdSlots(count));
}

const testing = std.testing;

test "test exports validate their arguments" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const h: u32 = @intCast(exports.eg_loop_new(16));
    defer _ = exports.eg_loop_close(h);
    try testing.expectEqual(errors.negative(error.InvalidArgument), eg_test_pipe(null));
    try testing.expectEqual(errors.negative(error.InvalidArgument), eg_test_socketpair(null));
    try testing.expectEqual(errors.negative(error.BadDescriptor), eg_test_close(-1));
    try testing.expectEqual(errors.negative(error.InvalidArgument), eg_test_read_exact(h, 0, 0, 1));
    try testing.expectEqual(errors.negative(error.InvalidArgument), eg_test_read_exact(h, 0, 4097, 1));
    try testing.expectEqual(errors.negative(error.BadDescriptor), eg_test_read_exact(0, 0, 1, 1));
    try testing.expectEqual(errors.negative(error.BadDescriptor), eg_test_udp_enqueue(0, null, 0, null));
    try testing.expectEqual(errors.negative(error.BadDescriptor), eg_test_stream_linger_zero(0));
    try testing.expectEqual(errors.negative(error.InvalidArgument), eg_test_set_winsize(0, 1 << 16, 1));
}

test "the read_exact op runs through the exported calls" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const h: u32 = @intCast(exports.eg_loop_new(0));
    defer _ = exports.eg_loop_close(h);
    var fds: [2]i32 = undefined;
    try testing.expectEqual(@as(i32, 0), eg_test_pipe(&fds));
    defer for (fds) |fd| {
        _ = eg_test_close(fd);
    };
    try testing.expectEqual(@as(i32, 0), eg_test_read_exact(h, fds[0], 5, 77));
    try testing.expectEqual(@as(i32, 1), exports.eg_loop_ops_live(h));
    try testing.expectEqual(@as(i32, 5), eg_test_write(fds[1], "hello", 5));
    try testing.expectEqual(@as(i32, 1), exports.eg_loop_poll(h, 1000));
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_ops_live(h));
}
