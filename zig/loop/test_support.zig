//! Real OS objects for tests: nonblocking pipes, connected socket pairs, sleeps. Used by the
//! zig tests of the loop and the hub, and by the `eg_test_*` exports that Deno tests call
//! (Deno gives JS no raw descriptors of its own).

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("descriptor.zig");
const errors = @import("errors.zig");
const event = @import("event.zig");
const ring = @import("ring.zig");
const winsock = @import("winsock.zig");

/// A nonblocking pipe: [0] reads, [1] writes. POSIX only (Windows pipes cannot be polled).
pub fn pipe() errors.Error![2]event.Fd {
    if (builtin.os.tag == .windows) return error.Unsupported;
    var fds: [2]event.Fd = undefined;
    if (std.c.pipe(&fds) != 0) return errors.fromErrno(errno());
    for (fds) |fd| try descriptor.setNonBlocking(fd);
    return fds;
}

/// Two connected, nonblocking stream sockets: AF_UNIX on POSIX, TCP over 127.0.0.1 on Windows.
pub fn socketPair() errors.Error![2]event.Fd {
    if (builtin.os.tag == .windows) return tcpPair();
    var fds: [2]event.Fd = undefined;
    if (std.c.socketpair(std.c.AF.UNIX, std.c.SOCK.STREAM, 0, &fds) != 0) return errors.fromErrno(errno());
    for (fds) |fd| try descriptor.setNonBlocking(fd);
    return fds;
}

/// Two connected TCP sockets over 127.0.0.1 (nonblocking once connected).
pub fn tcpPair() errors.Error![2]event.Fd {
    if (builtin.os.tag == .windows) {
        // Reference counted by Windows; tests never stop it.
        try winsock.start();
        const listener = winsock.socket(winsock.AF_INET, winsock.SOCK_STREAM, 0);
        if (listener == winsock.invalid_socket) return winsock.lastError();
        defer _ = winsock.closesocket(listener);
        var address: winsock.sockaddr_in = .{ .port = 0, .addr = winsock.loopback };
        var length: i32 = @sizeOf(winsock.sockaddr_in);
        if (winsock.bind(listener, &address, length) != 0) return winsock.lastError();
        if (winsock.getsockname(listener, &address, &length) != 0) return winsock.lastError();
        if (winsock.listen(listener, 1) != 0) return winsock.lastError();
        const client = winsock.socket(winsock.AF_INET, winsock.SOCK_STREAM, 0);
        if (client == winsock.invalid_socket) return winsock.lastError();
        errdefer _ = winsock.closesocket(client);
        if (winsock.connect(client, &address, length) != 0) return winsock.lastError();
        const server = winsock.accept(listener, null, null);
        if (server == winsock.invalid_socket) return winsock.lastError();
        try winsock.setNonBlocking(client);
        try winsock.setNonBlocking(server);
        return .{ server, client };
    }
    const listener = std.c.socket(std.c.AF.INET, std.c.SOCK.STREAM, 0);
    if (listener < 0) return errors.fromErrno(errno());
    defer _ = std.c.close(listener);
    var address: std.c.sockaddr.in = .{ .port = 0, .addr = std.mem.nativeToBig(u32, 0x7f000001) };
    var length: std.c.socklen_t = @sizeOf(std.c.sockaddr.in);
    if (std.c.bind(listener, @ptrCast(&address), length) != 0) return errors.fromErrno(errno());
    if (std.c.getsockname(listener, @ptrCast(&address), &length) != 0) return errors.fromErrno(errno());
    if (std.c.listen(listener, 1) != 0) return errors.fromErrno(errno());
    const client = std.c.socket(std.c.AF.INET, std.c.SOCK.STREAM, 0);
    if (client < 0) return errors.fromErrno(errno());
    errdefer _ = std.c.close(client);
    if (std.c.connect(client, @ptrCast(&address), length) != 0) return errors.fromErrno(errno());
    const server = std.c.accept(listener, null, null);
    if (server < 0) return errors.fromErrno(errno());
    try descriptor.setNonBlocking(client);
    try descriptor.setNonBlocking(server);
    return .{ server, client };
}

pub fn close(fd: event.Fd) void {
    if (builtin.os.tag == .windows) {
        _ = winsock.closesocket(fd);
    } else {
        _ = std.c.close(fd);
    }
}

/// Writes what the descriptor takes now; returns the byte count.
pub fn write(fd: event.Fd, bytes: []const u8) errors.Error!usize {
    return transferred(if (builtin.os.tag == .windows) winsock.send(fd, bytes.ptr, @intCast(bytes.len), 0) else std.c.write(fd, bytes.ptr, bytes.len));
}

/// Reads what is there now; 0 means end of stream, WouldBlock means nothing yet.
pub fn read(fd: event.Fd, buffer: []u8) errors.Error!usize {
    return transferred(if (builtin.os.tag == .windows) winsock.recv(fd, buffer.ptr, @intCast(buffer.len), 0) else std.c.read(fd, buffer.ptr, buffer.len));
}

/// The byte count of a send/recv (Windows) or write/read, or its error.
fn transferred(rc: anytype) errors.Error!usize {
    if (rc < 0) return if (builtin.os.tag == .windows) winsock.lastError() else errors.fromErrno(errno());
    return @intCast(rc);
}

pub fn sleepMs(ms: u32) void {
    if (builtin.os.tag == .windows) {
        Sleep(ms);
    } else {
        const ts: std.c.timespec = .{ .sec = @intCast(ms / 1000), .nsec = @intCast(@as(u64, ms % 1000) * std.time.ns_per_ms) };
        _ = std.c.nanosleep(&ts, null);
    }
}

extern "kernel32" fn Sleep(ms: u32) callconv(.winapi) void;

fn errno() std.c.E {
    return std.c.errno(@as(c_int, -1));
}

/// Takes up to out.len records from a completion ring, as JS does (tests read what ops posted).
pub fn drain(completions: *ring.Ring, out: []ring.Record) u32 {
    const header = completions.header;
    var n: u32 = 0;
    while (header.head != header.tail and n < out.len) : (n += 1) {
        out[n] = completions.records[header.head & (completions.records.len - 1)];
        header.head +%= 1;
    }
    return n;
}
