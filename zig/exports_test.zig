//! Tests of the C ABI's contract (exports.zig): codes, handles, threads, and what a thread
//! that exits gives back. They call the exports by their C names, as a C program would.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const support = @import("loop/test_support.zig");
const stacklet = @import("stacklet/stacklet.zig");
const io = @import("io/io.zig");
const exports = @import("exports.zig");
const ffi = @import("ffi.zig");

const testing = std.testing;

test "bad, stale and closed loop handles give EBADF" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_poll(0, 0));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_poll(0xffff_ffff, 0));
    const handle = exports.eg_loop_new(0);
    try testing.expect(handle > 0);
    const h: u32 = @intCast(handle);
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_poll(h, 0));
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_close(h));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_close(h));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_poll(h, 0));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_wake(h));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_park(h, 0));
    try testing.expectEqual(errors.negative(error.InvalidArgument), exports.eg_loop_new(3));
}

test "arguments are validated" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const h: u32 = @intCast(exports.eg_loop_new(16));
    defer _ = exports.eg_loop_close(h);
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_watch(h, -1, 1, 0));
    try testing.expectEqual(errors.negative(error.InvalidArgument), exports.eg_loop_watch(h, 0, 8, 0));
    try testing.expectEqual(errors.negative(error.NotFound), exports.eg_loop_unwatch(h, 5));
    // SIGKILL on POSIX; Windows has only SIGINT and SIGBREAK.
    const refused: errors.Error = if (builtin.os.tag == .windows) error.Unsupported else error.InvalidArgument;
    try testing.expectEqual(errors.negative(refused), exports.eg_loop_watch_signal(h, 9, 0));
    try testing.expectEqual(errors.negative(error.InvalidArgument), exports.eg_loop_ring(h, null));
    var address: u64 = 0;
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_ring(h, &address));
    const header: *const [8]u32 = @ptrFromInt(address);
    try testing.expectEqual(@as(u32, 0x31524745), header[0]);
    try testing.expectEqual(@as(u32, 16), header[2]);
    try testing.expectEqualStrings("EBADF", std.mem.span(exports.eg_error_name(-1).?));
    try testing.expect(exports.eg_error_name(999) == null);
}

const WrongThread = struct {
    fn run(handle: u32, result: *i32) void {
        result.* = exports.eg_loop_poll(handle, 0);
    }
};

test "a call from another thread gives EWRONGTHREAD; wake and park work from any thread" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const h: u32 = @intCast(exports.eg_loop_new(0));
    defer _ = exports.eg_loop_close(h);
    var result: i32 = 0;
    const thread = try std.Thread.spawn(.{}, WrongThread.run, .{ h, &result });
    thread.join();
    try testing.expectEqual(errors.negative(error.WrongThread), result);
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_wake(h));
    try testing.expectEqual(@as(i32, 1), exports.eg_loop_park(h, 1000));
}

const Parked = struct {
    fn run(handle: u32, result: *i32) void {
        result.* = exports.eg_loop_park(handle, -1);
    }
};

test "closing a loop wakes and waits for a park in progress on another thread" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const h: u32 = @intCast(exports.eg_loop_new(0));
    var result: i32 = -100;
    const thread = try std.Thread.spawn(.{}, Parked.run, .{ h, &result });
    support.sleepMs(30);
    try testing.expectEqual(@as(i32, 0), exports.eg_loop_close(h));
    thread.join();
    try testing.expect(result == 1 or result == errors.negative(error.BadDescriptor));
}

const Counter = struct {
    thread: ?*stacklet.Thread,
    steps: u32 = 0,

    fn run(origin: stacklet.Handle, arg: ?*anyopaque) callconv(.c) stacklet.Handle {
        const self: *Counter = @ptrCast(@alignCast(arg.?));
        self.steps += 1;
        var back: stacklet.Handle = null;
        if (exports.eg_stacklet_switch(self.thread, origin, &back) != 0) return origin;
        self.steps += 1;
        return back;
    }
};

test "the stacklet C API runs a stacklet and rejects bad pointers" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const thread = exports.eg_stacklet_newthread();
    try testing.expect(thread != null);
    var counter: Counter = .{ .thread = thread };
    var suspended: stacklet.Handle = null;
    try testing.expectEqual(@as(i32, 0), exports.eg_stacklet_new(thread, Counter.run, &counter, &suspended));
    try testing.expect(suspended != null);
    try testing.expectEqual(@as(u32, 1), counter.steps);
    var finished: stacklet.Handle = undefined;
    try testing.expectEqual(@as(i32, 0), exports.eg_stacklet_switch(thread, suspended, &finished));
    try testing.expect(finished == null);
    try testing.expectEqual(@as(u32, 2), counter.steps);
    // The finished stacklet's handle is stale now.
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_stacklet_switch(thread, suspended, &finished));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_stacklet_destroy(thread, @ptrFromInt(0x1000)));
    var not_a_thread: u64 = 0;
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_stacklet_new(@ptrCast(&not_a_thread), Counter.run, null, &suspended));
    try testing.expectEqual(@as(i32, 0), exports.eg_stacklet_deletethread(thread));
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_stacklet_deletethread(thread));
}

/// A thread that makes a loop with a listening socket (accept op live), a bound UDP endpoint
/// (receive op live), a client whose connect waits for a name lookup, and a park in progress
/// on a second thread; then exits without closing any of it.
const Abandoning = struct {
    loop: u32 = 0,
    tcp_port: u16 = 0,
    udp_port: u16 = 0,
    lookup: u32 = 0,
    parker: ?std.Thread = null,
    park_result: i32 = -100,
    failure: ?anyerror = null,

    fn run(self: *Abandoning) void {
        self.setUp() catch |err| {
            self.failure = err;
        };
    }

    fn setUp(self: *Abandoning) !void {
        const handle = exports.eg_loop_new(0);
        if (handle < 0) return error.LoopNew;
        self.loop = @intCast(handle);
        const host = "127.0.0.1";
        const server = exports.eg_tcp_listen(self.loop, host, host.len, 0, 16, 65536);
        if (server < 0) return error.Listen;
        var address: [132]u8 = undefined;
        if (exports.eg_stream_address(@intCast(server), 0, &address) != 0) return error.Address;
        self.tcp_port = std.mem.readInt(u16, address[0..2], .little);
        if (exports.eg_stream_accept(@intCast(server), 1) != errors.negative(error.InProgress)) return error.Accept;

        const endpoint = exports.eg_udp_open(self.loop, 4, 0, 0, 0);
        if (endpoint < 0) return error.UdpOpen;
        var udp_address: [@sizeOf(io.address.Address)]u8 = undefined;
        if (exports.eg_udp_address(host, host.len, 0, &udp_address) != 4) return error.UdpAddress;
        if (exports.eg_udp_bind(@intCast(endpoint), &udp_address, 0) != 0) return error.UdpBind;
        if (exports.eg_udp_sockname(@intCast(endpoint), &udp_address) != 0) return error.UdpName;
        self.udp_port = std.mem.bytesToValue(io.address.Address, &udp_address).port;
        var ring: u64 = 0;
        if (exports.eg_udp_ring(@intCast(endpoint), &ring) != 0) return error.UdpRing;
        if (exports.eg_udp_receive(@intCast(endpoint), 2) != 0) return error.UdpReceive;

        const client = exports.eg_stream_new(self.loop, 65536);
        if (client < 0) return error.StreamNew;
        const name = "localhost";
        if (exports.eg_tcp_connect(@intCast(client), name, name.len, self.tcp_port, null, 0, 0, 3) != errors.negative(error.InProgress)) return error.Connect;
        const lookup = exports.eg_lookup_start(name, name.len);
        if (lookup < 0) return error.LookupStart;
        self.lookup = @intCast(lookup);

        self.parker = try std.Thread.spawn(.{}, Parked.run, .{ self.loop, &self.park_result });
        support.sleepMs(30);
    }
};

test "a thread that exits gives back what its loops own, ends its lookups and wakes a park in progress" {
    const saved = ffi.setAllocator(testing.allocator);
    defer _ = ffi.setAllocator(saved);
    const loops_before = exports.eg_loops_live();
    const streams_before = exports.eg_io_streams_live();
    const lookups_before = io.lookup.lookups.liveCount();
    var abandoning: Abandoning = .{};
    const thread = try std.Thread.spawn(.{}, Abandoning.run, .{&abandoning});
    thread.join();
    if (abandoning.failure) |err| return err;
    abandoning.parker.?.join();
    try testing.expect(abandoning.park_result == 1 or abandoning.park_result == errors.negative(error.BadDescriptor));
    try testing.expectEqual(loops_before, exports.eg_loops_live());
    try testing.expectEqual(streams_before, exports.eg_io_streams_live());
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_loop_wake(abandoning.loop));
    // Its name lookup was ended too (the leak check below sees the request freed).
    try testing.expectEqual(lookups_before, io.lookup.lookups.liveCount());
    try testing.expectEqual(errors.negative(error.BadDescriptor), exports.eg_lookup_close(abandoning.lookup));

    // The ports were released: both bind again.
    const h: u32 = @intCast(exports.eg_loop_new(0));
    defer _ = exports.eg_loop_close(h);
    const host = "127.0.0.1";
    const server = exports.eg_tcp_listen(h, host, host.len, abandoning.tcp_port, 16, 65536);
    try testing.expect(server > 0);
    const endpoint = exports.eg_udp_open(h, 4, 0, 0, 0);
    try testing.expect(endpoint > 0);
    defer _ = exports.eg_udp_close(@intCast(endpoint));
    var udp_address: [@sizeOf(io.address.Address)]u8 = undefined;
    try testing.expectEqual(@as(i32, 4), exports.eg_udp_address(host, host.len, abandoning.udp_port, &udp_address));
    try testing.expectEqual(@as(i32, 0), exports.eg_udp_bind(@intCast(endpoint), &udp_address, 0));
    // The name lookup outlives its loop on its own thread, touching only its request; wait for
    // it so that the leak check sees the request freed.
    var waited: u32 = 0;
    while (io.resolve.inFlight() != 0 and waited < 2000) : (waited += 1) support.sleepMs(5);
    try testing.expectEqual(@as(u32, 0), io.resolve.inFlight());
    _ = exports.eg_stream_close(@intCast(server));
}
