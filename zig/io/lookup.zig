//! Name lookups by handle, for the C ABI (exports.zig): each is a request of resolve.zig
//! (getaddrinfo on a short-lived thread) that the caller waits for on its loop (the request's
//! descriptor becomes readable) or, when it cannot wait on a loop, with `wait`. Handles belong
//! to the thread that started the lookup; owned.zig ends them when that thread exits.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const handles = @import("../loop/handles.zig");
const winsock = @import("../loop/winsock.zig");
const resolve = @import("resolve.zig");
const sys = @import("sys.zig");

pub var lookups: handles.Registry(resolve.Request, resolve.in_flight_max) = .{};

/// Starts resolving host (a name or an IP literal); returns the lookup's handle.
pub fn start(gpa: std.mem.Allocator, host: []const u8) errors.Error!u32 {
    const request = try resolve.start(gpa, host, 0);
    errdefer request.release();
    return try lookups.insert(request);
}

/// The descriptor that becomes readable once the lookup is done.
pub fn waitFd(handle: u32) errors.Error!i32 {
    return @intCast((try lookups.get(handle)).waitFd());
}

/// Blocks the calling thread until the lookup is done or timeout_ms passed (-1: no bound);
/// true if done.
pub fn wait(handle: u32, timeout_ms: i32) errors.Error!bool {
    const fd = (try lookups.get(handle)).waitFd();
    if (builtin.os.tag == .windows) {
        var fds = [1]winsock.WSAPOLLFD{.{ .fd = fd, .events = winsock.POLLIN, .revents = 0 }};
        const ready = winsock.WSAPoll(&fds, 1, timeout_ms);
        if (ready < 0) return error.Unexpected;
        return ready > 0;
    }
    var fds = [1]std.c.pollfd{.{ .fd = fd, .events = std.c.POLL.IN, .revents = 0 }};
    const ready = std.c.poll(&fds, 1, timeout_ms);
    if (ready < 0) return sys.lastError();
    return ready > 0;
}

/// Once done: writes the addresses as text, each followed by a newline, into out and returns
/// the byte count; ENOENT for a name that does not resolve, ENOBUFS when out is too short.
pub fn result(handle: u32, out: []u8) errors.Error!u32 {
    const request = try lookups.get(handle);
    const found = try request.result();
    var written: usize = 0;
    for (found) |*address| {
        var text: [128]u8 = undefined;
        const length = address.hostText(&text);
        if (written + length + 1 > out.len) return error.NoBufferSpace;
        @memcpy(out[written..][0..length], text[0..length]);
        out[written + length] = '\n';
        written += length + 1;
    }
    return @intCast(written);
}

/// Ends a lookup, done or not (a thread still resolving frees the request when it ends).
pub fn close(handle: u32) errors.Error!void {
    const request = try lookups.remove(handle);
    request.release();
}
