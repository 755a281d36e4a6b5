//! Host name resolution off the loop thread. Each request runs getaddrinfo on a short-lived
//! thread and signals a descriptor (an eventfd, a pipe, or a loopback UDP socket on Windows)
//! that the connect op waits on with the poll loop, so neither JS nor the loop ever blocks on
//! DNS and `runSync()` resolves names too. The request is shared by the op and the thread and
//! freed by whichever lets go last, so an op canceled mid-lookup leaks nothing.

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("../loop/descriptor.zig");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const winsock = @import("../loop/winsock.zig");
const sys = @import("sys.zig");

/// Addresses kept per lookup (the rest are dropped: nobody tries 16 addresses in a row).
pub const addresses_max = 16;
/// Longest host name DNS allows.
pub const host_max = 253;
/// Lookups running at once; more fail with EAGAIN rather than pile up threads.
pub const in_flight_max = 64;

var in_flight = std.atomic.Value(u32).init(0);

/// Lookups whose thread has not let go of its request yet.
pub fn inFlight() u32 {
    return in_flight.load(.acquire);
}

/// For tests that fill the process's lookups: counts `count` more lookups as running (fewer
/// for a negative count, which must give back only what an earlier call took); returns the
/// count of lookups running now.
pub fn holdSlots(count: i32) u32 {
    if (count >= 0) return in_flight.fetchAdd(@intCast(count), .acq_rel) + @as(u32, @intCast(count));
    return in_flight.fetchSub(@intCast(-count), .acq_rel) - @as(u32, @intCast(-count));
}

pub const Request = struct {
    gpa: std.mem.Allocator,
    /// The op's reference and the thread's.
    refs: std.atomic.Value(u32) = .init(2),
    host: [host_max + 1]u8 = undefined,
    port: u16,
    notify: Notify,
    /// Written by the thread before it signals; read by the op after the signal.
    status: i32 = 0,
    count: u32 = 0,
    addresses: [addresses_max]sys.Address = undefined,

    /// The descriptor that becomes readable when the lookup is done.
    pub fn waitFd(request: *const Request) event.Fd {
        return request.notify.read_fd;
    }

    /// The lookup's outcome, once `waitFd` was readable.
    pub fn result(request: *const Request) errors.Error![]const sys.Address {
        if (request.status < 0) return errors.fromCode(@fromBackingInt(@intCast(-request.status)));
        if (request.count == 0) return error.NotFound;
        return request.addresses[0..request.count];
    }

    /// Drops one reference; the last frees the request.
    pub fn release(request: *Request) void {
        const before = request.refs.fetchSub(1, .acq_rel);
        std.debug.assert(before == 1 or before == 2);
        if (before != 1) return;
        request.notify.deinit();
        request.gpa.destroy(request);
    }
};

/// Starts looking up `host`; the caller owns one reference (release it when done or canceled).
pub fn start(gpa: std.mem.Allocator, host: []const u8, port: u16) errors.Error!*Request {
    if (host.len == 0 or host.len > host_max) return error.InvalidArgument;
    if (std.mem.indexOfScalar(u8, host, 0) != null) return error.InvalidArgument;
    if (in_flight.fetchAdd(1, .acq_rel) >= in_flight_max) {
        _ = in_flight.fetchSub(1, .acq_rel);
        return error.WouldBlock;
    }
    errdefer _ = in_flight.fetchSub(1, .acq_rel);
    const request = try gpa.create(Request);
    errdefer gpa.destroy(request);
    request.* = .{ .gpa = gpa, .port = port, .notify = try Notify.init() };
    errdefer request.notify.deinit();
    @memcpy(request.host[0..host.len], host);
    request.host[host.len] = 0;
    const thread = std.Thread.spawn(.{ .stack_size = 512 * 1024 }, work, .{request}) catch |err| return switch (err) {
        error.OutOfMemory, error.SystemResources, error.LockedMemoryLimitExceeded => error.OutOfMemory,
        error.ThreadQuotaExceeded => error.WouldBlock,
        error.Unexpected => error.Unexpected,
    };
    thread.detach();
    return request;
}

fn work(request: *Request) void {
    lookup(request) catch |err| {
        request.status = errors.negative(err);
    };
    request.notify.signal();
    request.release();
    _ = in_flight.fetchSub(1, .acq_rel);
}

fn lookup(request: *Request) errors.Error!void {
    if (builtin.os.tag == .windows) return windows.lookup(request);
    const hints: std.c.addrinfo = .{
        .flags = .{},
        .family = std.c.AF.UNSPEC,
        .socktype = std.c.SOCK.STREAM,
        .protocol = 0,
        .addrlen = 0,
        .canonname = null,
        .addr = null,
        .next = null,
    };
    var list: ?*std.c.addrinfo = null;
    const status = std.c.getaddrinfo(@ptrCast(&request.host), null, &hints, &list);
    if (@backingInt(status) != 0) return mapStatus(status);
    defer if (list) |head| std.c.freeaddrinfo(head);
    keepAddresses(request, list);
}

/// Keeps the IPv4 and IPv6 addresses of a getaddrinfo list (libc's or Winsock's entries), at
/// most addresses_max of them, with the request's port.
fn keepAddresses(request: *Request, list: anytype) void {
    var cursor = list;
    var walked: u32 = 0;
    while (cursor) |entry| : (cursor = entry.next) {
        walked += 1;
        if (walked > 256 or request.count == addresses_max) break;
        const raw = entry.addr orelse continue;
        var address = sys.Address.fromRaw(raw, entry.addrlen) catch continue;
        const family = address.family();
        if (family != sys.af_inet and family != sys.af_inet6) continue;
        std.mem.writeInt(u16, address.storage[2..4], request.port, .big);
        request.addresses[request.count] = address;
        request.count += 1;
    }
}

fn mapStatus(status: std.c.EAI) errors.Error {
    return switch (status) {
        .AGAIN => error.WouldBlock,
        .MEMORY => error.OutOfMemory,
        .FAMILY => error.AddressFamilyNotSupported,
        .SYSTEM => sys.lastError(),
        else => error.NotFound,
    };
}

/// A one-shot signal from the lookup thread to the loop thread.
const Notify = struct {
    read_fd: event.Fd,
    write_fd: event.Fd,

    fn init() errors.Error!Notify {
        if (builtin.os.tag == .windows) return windows.notifyInit();
        if (builtin.os.tag == .linux) {
            const fd = std.c.eventfd(0, std.os.linux.EFD.CLOEXEC | std.os.linux.EFD.NONBLOCK);
            if (fd < 0) return sys.lastError();
            return .{ .read_fd = fd, .write_fd = fd };
        }
        var fds: [2]std.c.fd_t = undefined;
        if (std.c.pipe(&fds) != 0) return sys.lastError();
        errdefer for (fds) |fd| sys.close(fd);
        for (fds) |fd| {
            try descriptor.setNonBlocking(fd);
            if (std.c.fcntl(fd, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return sys.lastError();
        }
        return .{ .read_fd = fds[0], .write_fd = fds[1] };
    }

    fn signal(notify: *const Notify) void {
        if (builtin.os.tag == .windows) return windows.notifySignal(notify);
        const one: u64 = 1;
        // A full pipe or a saturated eventfd is readable already: nothing to report.
        _ = std.c.write(notify.write_fd, @ptrCast(&one), if (builtin.os.tag == .linux) 8 else 1);
    }

    fn deinit(notify: *Notify) void {
        sys.close(notify.read_fd);
        if (notify.write_fd != notify.read_fd) sys.close(notify.write_fd);
        notify.* = undefined;
    }
};

const windows = struct {
    fn lookup(request: *Request) errors.Error!void {
        const hints: winsock.AddrInfo = .{ .flags = 0, .family = 0, .socktype = 1, .protocol = 0, .addrlen = 0, .canonname = null, .addr = null, .next = null };
        var list: ?*winsock.AddrInfo = null;
        const status = winsock.getaddrinfo(@ptrCast(&request.host), null, &hints, &list);
        if (status != 0) return switch (status) {
            11002 => error.WouldBlock, // WSATRY_AGAIN
            8 => error.OutOfMemory, // WSA_NOT_ENOUGH_MEMORY
            10047 => error.AddressFamilyNotSupported,
            else => error.NotFound, // WSAHOST_NOT_FOUND, WSANO_DATA, WSANO_RECOVERY
        };
        defer if (list) |head| winsock.freeaddrinfo(head);
        keepAddresses(request, list);
    }

    /// A UDP socket connected to itself: a send from the lookup thread makes it readable.
    fn notifyInit() errors.Error!Notify {
        const fd = try sys.openSocket(sys.af_inet, .datagram);
        errdefer sys.close(fd);
        var address = sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
        try sys.bind(fd, &address);
        address = try sys.localAddress(fd);
        _ = try sys.connect(fd, &address);
        return .{ .read_fd = fd, .write_fd = fd };
    }

    fn notifySignal(notify: *const Notify) void {
        const one = [1]u8{1};
        _ = winsock.send(notify.write_fd, &one, 1, 0);
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real lookups of names every machine has, waited for with poll(2).

const testing = std.testing;

/// Waits until every lookup thread let go of its request, so the leak check sees them freed.
fn awaitThreads() void {
    var waited: u32 = 0;
    while (in_flight.load(.acquire) != 0 and waited < 2000) : (waited += 1) {
        @import("../loop/test_support.zig").sleepMs(5);
    }
}

fn awaitSignal(request: *const Request) !void {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var fds = [1]std.c.pollfd{.{ .fd = request.waitFd(), .events = std.c.POLL.IN, .revents = 0 }};
    try testing.expectEqual(@as(c_int, 1), std.c.poll(&fds, 1, 10_000));
}

test "localhost resolves to loopback addresses with the port filled in" {
    const request = try start(testing.allocator, "localhost", 8080);
    defer awaitThreads();
    defer request.release();
    try awaitSignal(request);
    const addresses = try request.result();
    try testing.expect(addresses.len >= 1);
    for (addresses) |address| {
        try testing.expectEqual(@as(u16, 8080), address.port());
        var text: [64]u8 = undefined;
        const host = text[0..address.hostText(&text)];
        try testing.expect(std.mem.eql(u8, host, "127.0.0.1") or std.mem.eql(u8, host, "::1"));
    }
}

test "an unresolvable name is NotFound" {
    const request = try start(testing.allocator, "no-such-host.invalid", 1);
    defer awaitThreads();
    defer request.release();
    try awaitSignal(request);
    try testing.expectError(error.NotFound, request.result());
}

test "a request released before the lookup ends is freed by the thread" {
    const request = try start(testing.allocator, "localhost", 1);
    request.release();
    // The leak-checking allocator fails the test run if the thread never frees it.
    awaitThreads();
    try testing.expectEqual(@as(u32, 0), in_flight.load(.acquire));
}

test "bad names are refused before any thread starts" {
    try testing.expectError(error.InvalidArgument, start(testing.allocator, "", 1));
    try testing.expectError(error.InvalidArgument, start(testing.allocator, "a\x00b", 1));
    const long: [host_max + 1]u8 = @splat('a');
    try testing.expectError(error.InvalidArgument, start(testing.allocator, &long, 1));
}
