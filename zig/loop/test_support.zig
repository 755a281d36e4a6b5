//! Real OS objects for tests: nonblocking pipes, connected socket pairs, sleeps. Used by the
//! zig tests of the loop and the hub, and by the `eg_test_*` exports that Deno tests call
//! (Deno gives JS no raw descriptors of its own).

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("errors.zig");
const event = @import("event.zig");

const is_windows = builtin.os.tag == .windows;
const c = std.c;
const win = @import("winsock.zig");
const ring_module = @import("ring.zig");

pub const Fd = event.Fd;

/// A nonblocking pipe: [0] reads, [1] writes. POSIX only (Windows pipes cannot be polled).
pub fn pipe() errors.Error![2]Fd {
    if (is_windows) return error.Unsupported;
    var fds: [2]Fd = undefined;
    if (c.pipe(&fds) != 0) return errors.fromErrno(errno());
    for (fds) |fd| try setNonBlocking(fd);
    return fds;
}

/// Two connected, nonblocking stream sockets: AF_UNIX on POSIX, TCP over 127.0.0.1 on Windows.
pub fn socketPair() errors.Error![2]Fd {
    if (is_windows) return tcpPair();
    var fds: [2]Fd = undefined;
    if (c.socketpair(c.AF.UNIX, c.SOCK.STREAM, 0, &fds) != 0) return errors.fromErrno(errno());
    for (fds) |fd| try setNonBlocking(fd);
    return fds;
}

/// Two connected TCP sockets over 127.0.0.1 (nonblocking once connected).
pub fn tcpPair() errors.Error![2]Fd {
    if (is_windows) {
        try startWinsock();
        const listener = win.socket(win.AF_INET, win.SOCK_STREAM, 0);
        if (listener == win.invalid_socket) return win.lastError();
        defer _ = win.closesocket(listener);
        var address: win.sockaddr_in = .{ .port = 0, .addr = win.loopback };
        var length: i32 = @sizeOf(win.sockaddr_in);
        if (win.bind(listener, &address, length) != 0) return win.lastError();
        if (win.getsockname(listener, &address, &length) != 0) return win.lastError();
        if (win.listen(listener, 1) != 0) return win.lastError();
        const client = win.socket(win.AF_INET, win.SOCK_STREAM, 0);
        if (client == win.invalid_socket) return win.lastError();
        errdefer _ = win.closesocket(client);
        if (win.connect(client, &address, length) != 0) return win.lastError();
        const server = win.accept(listener, null, null);
        if (server == win.invalid_socket) return win.lastError();
        try win.setNonBlocking(client);
        try win.setNonBlocking(server);
        return .{ server, client };
    }
    const listener = c.socket(c.AF.INET, c.SOCK.STREAM, 0);
    if (listener < 0) return errors.fromErrno(errno());
    defer _ = c.close(listener);
    var address: c.sockaddr.in = .{ .port = 0, .addr = std.mem.nativeToBig(u32, 0x7f000001) };
    var length: c.socklen_t = @sizeOf(c.sockaddr.in);
    if (c.bind(listener, @ptrCast(&address), length) != 0) return errors.fromErrno(errno());
    if (c.getsockname(listener, @ptrCast(&address), &length) != 0) return errors.fromErrno(errno());
    if (c.listen(listener, 1) != 0) return errors.fromErrno(errno());
    const client = c.socket(c.AF.INET, c.SOCK.STREAM, 0);
    if (client < 0) return errors.fromErrno(errno());
    errdefer _ = c.close(client);
    if (c.connect(client, @ptrCast(&address), length) != 0) return errors.fromErrno(errno());
    const server = c.accept(listener, null, null);
    if (server < 0) return errors.fromErrno(errno());
    try setNonBlocking(client);
    try setNonBlocking(server);
    return .{ server, client };
}

pub fn close(fd: Fd) void {
    if (is_windows) {
        _ = win.closesocket(fd);
    } else {
        _ = c.close(fd);
    }
}

/// Writes what the descriptor takes now; returns the byte count.
pub fn write(fd: Fd, bytes: []const u8) errors.Error!usize {
    if (is_windows) {
        const rc = win.send(fd, bytes.ptr, @intCast(bytes.len), 0);
        if (rc < 0) return win.lastError();
        return @intCast(rc);
    }
    const rc = c.write(fd, bytes.ptr, bytes.len);
    if (rc < 0) return errors.fromErrno(errno());
    return @intCast(rc);
}

/// Reads what is there now; 0 means end of stream, WouldBlock means nothing yet.
pub fn read(fd: Fd, buffer: []u8) errors.Error!usize {
    if (is_windows) {
        const rc = win.recv(fd, buffer.ptr, @intCast(buffer.len), 0);
        if (rc < 0) return win.lastError();
        return @intCast(rc);
    }
    const rc = c.read(fd, buffer.ptr, buffer.len);
    if (rc < 0) return errors.fromErrno(errno());
    return @intCast(rc);
}

pub fn sleepMs(ms: u32) void {
    if (is_windows) {
        Sleep(ms);
    } else {
        const ts: c.timespec = .{ .sec = @intCast(ms / 1000), .nsec = @intCast(@as(u64, ms % 1000) * std.time.ns_per_ms) };
        _ = c.nanosleep(&ts, null);
    }
}

/// Sockets need WSAStartup before first use; it is reference counted, tests never clean up.
fn startWinsock() errors.Error!void {
    var data: win.WSADATA = undefined;
    if (win.WSAStartup(0x0202, &data) != 0) return error.Unsupported;
}

extern "kernel32" fn Sleep(ms: u32) callconv(.winapi) void;

pub const setNonBlocking = @import("descriptor.zig").setNonBlocking;

fn errno() c.E {
    return c.errno(@as(c_int, -1));
}

/// Takes up to out.len records from a completion ring, as JS does (tests read what ops posted).
pub fn drain(ring: *ring_module.Ring, out: []ring_module.Record) u32 {
    const header = ring.header;
    var n: u32 = 0;
    while (header.head != header.tail and n < out.len) : (n += 1) {
        out[n] = ring.records[header.head & (ring.records.len - 1)];
        header.head +%= 1;
    }
    return n;
}
