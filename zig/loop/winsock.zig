//! The Windows Sockets bindings of the whole library (std has none for most of them): the
//! poll backend (windows.zig), test_support.zig, and io/ (sys.zig for streams, udp_socket.zig
//! for datagrams, resolve.zig for getaddrinfo) all declare their ws2_32 calls here, once.
//! Nothing here is referenced on other OSes.

const std = @import("std");
const errors = @import("errors.zig");

pub const SOCKET = usize;
pub const invalid_socket: SOCKET = std.math.maxInt(usize);
pub const socket_error: i32 = -1;
pub const AF_INET = 2;
pub const SOCK_STREAM = 1;
pub const SOCK_DGRAM = 2;
pub const SOL_SOCKET: i32 = 0xffff;
pub const SO_ERROR: i32 = 0x1007;
pub const IPPROTO_TCP: i32 = 6;
pub const TCP_NODELAY: i32 = 1;
pub const FIONBIO: i32 = @bitCast(@as(u32, 0x8004667e));
/// _WSAIOW(IOC_VENDOR, 12): whether an ICMP port unreachable fails the next UDP receive.
pub const SIO_UDP_CONNRESET: u32 = 0x80000000 | 0x18000000 | 12;
pub const POLLRDNORM: i16 = 0x0100;
pub const POLLRDBAND: i16 = 0x0200;
pub const POLLIN: i16 = POLLRDNORM | POLLRDBAND;
pub const POLLWRNORM: i16 = 0x0010;
pub const POLLOUT: i16 = POLLWRNORM;
pub const POLLERR: i16 = 0x0001;
pub const POLLHUP: i16 = 0x0002;
pub const POLLNVAL: i16 = 0x0004;

pub const WSAPOLLFD = extern struct {
    fd: SOCKET,
    events: i16,
    revents: i16,
};

pub const sockaddr_in = extern struct {
    family: u16 = AF_INET,
    port: u16,
    addr: u32,
    zero: [8]u8 = @splat(0),
};

/// WSADATA is 408 bytes on 64-bit Windows; only its existence matters here.
pub const WSADATA = extern struct { bytes: [408]u8 align(8) };

pub const AddrInfo = extern struct {
    flags: i32,
    family: i32,
    socktype: i32,
    protocol: i32,
    addrlen: usize,
    canonname: ?[*:0]u8,
    addr: ?*anyopaque,
    next: ?*AddrInfo,
};

pub extern "ws2_32" fn WSAStartup(version: u16, data: *WSADATA) callconv(.winapi) i32;
pub extern "ws2_32" fn WSACleanup() callconv(.winapi) i32;
pub extern "ws2_32" fn WSAGetLastError() callconv(.winapi) i32;
pub extern "ws2_32" fn WSAPoll(fds: [*]WSAPOLLFD, count: u32, timeout_ms: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn WSAIoctl(
    s: SOCKET,
    code: u32,
    in: ?*const anyopaque,
    in_len: u32,
    out: ?*anyopaque,
    out_len: u32,
    returned: *u32,
    overlapped: ?*anyopaque,
    completion: ?*const anyopaque,
) callconv(.winapi) i32;
pub extern "ws2_32" fn socket(family: i32, kind: i32, protocol: i32) callconv(.winapi) SOCKET;
pub extern "ws2_32" fn closesocket(s: SOCKET) callconv(.winapi) i32;
pub extern "ws2_32" fn bind(s: SOCKET, name: *const anyopaque, len: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn connect(s: SOCKET, name: *const anyopaque, len: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn listen(s: SOCKET, backlog: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn accept(s: SOCKET, addr: ?*anyopaque, len: ?*i32) callconv(.winapi) SOCKET;
pub extern "ws2_32" fn getsockname(s: SOCKET, name: *anyopaque, len: *i32) callconv(.winapi) i32;
pub extern "ws2_32" fn getpeername(s: SOCKET, name: *anyopaque, len: *i32) callconv(.winapi) i32;
pub extern "ws2_32" fn getsockopt(s: SOCKET, level: i32, name: i32, value: *anyopaque, len: *i32) callconv(.winapi) i32;
pub extern "ws2_32" fn setsockopt(s: SOCKET, level: i32, name: i32, value: *const anyopaque, len: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn shutdown(s: SOCKET, how: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn send(s: SOCKET, buf: [*]const u8, len: i32, flags: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn recv(s: SOCKET, buf: [*]u8, len: i32, flags: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn sendto(s: SOCKET, buf: [*]const u8, len: i32, flags: i32, to: *const anyopaque, to_len: i32) callconv(.winapi) i32;
pub extern "ws2_32" fn recvfrom(s: SOCKET, buf: [*]u8, len: i32, flags: i32, from: *anyopaque, from_len: *i32) callconv(.winapi) i32;
pub extern "ws2_32" fn ioctlsocket(s: SOCKET, cmd: i32, arg: *u32) callconv(.winapi) i32;
pub extern "ws2_32" fn getaddrinfo(node: [*:0]const u8, service: ?[*:0]const u8, hints: *const AddrInfo, result: *?*AddrInfo) callconv(.winapi) i32;
pub extern "ws2_32" fn freeaddrinfo(list: *AddrInfo) callconv(.winapi) void;

/// The calling thread's last Windows Sockets error as a portable error.
pub fn lastError() errors.Error {
    return errors.fromWsa(WSAGetLastError());
}

pub fn setNonBlocking(s: SOCKET) errors.Error!void {
    var on: u32 = 1;
    if (ioctlsocket(s, FIONBIO, &on) != 0) return lastError();
}

/// Reference counted by Windows: one start per user (a socket, a loop), one stop when it goes.
pub fn start() errors.Error!void {
    var data: WSADATA = undefined;
    if (WSAStartup(0x0202, &data) != 0) return error.Unsupported;
}

pub fn stop() void {
    _ = WSACleanup();
}

/// 127.0.0.1 in network byte order.
pub const loopback: u32 = std.mem.nativeToBig(u32, 0x7f000001);
