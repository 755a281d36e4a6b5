//! The OS half of UDP endpoints (io/udp.zig): addresses as the OS takes them, nonblocking datagram sockets,
//! socket options, and batched sends and receives (sendmmsg/recvmmsg on Linux, a loop of single
//! calls elsewhere). Every call returns the loop's portable errors; nothing here blocks.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const winsock = @import("../loop/winsock.zig");
const ip = @import("address.zig");

const Address = ip.Address;

/// The largest UDP payload over IPv4 and IPv6 without jumbograms.
pub const datagram_size_max = 65527;
/// The largest UDP payload over IPv4 (65535 less the IPv4 and UDP headers).
pub const datagram_size_max_ip4 = 65507;

/// An OS socket address (sockaddr_in or sockaddr_in6) with its length.
pub const Name = extern struct {
    storage: extern union {
        any: std.c.sockaddr,
        v4: std.c.sockaddr.in,
        v6: std.c.sockaddr.in6,
    },
    len: std.c.socklen_t,

    pub fn fromAddress(address: *const Address) Name {
        std.debug.assert(address.isValid());
        var name: Name = undefined;
        if (address.family == Address.ip4) {
            name.storage = .{ .v4 = .{
                .port = std.mem.nativeToBig(u16, address.port),
                .addr = @bitCast(address.bytes[0..4].*),
            } };
            name.len = @sizeOf(std.c.sockaddr.in);
        } else {
            name.storage = .{ .v6 = .{
                .port = std.mem.nativeToBig(u16, address.port),
                .flowinfo = 0,
                .addr = address.bytes,
                .scope_id = address.scope_id,
            } };
            name.len = @sizeOf(std.c.sockaddr.in6);
        }
        return name;
    }

    pub fn toAddress(name: *const Name) errors.Error!Address {
        var address = Address.any(Address.ip4);
        if (name.storage.any.family == af_inet) {
            address.port = std.mem.bigToNative(u16, name.storage.v4.port);
            address.bytes[0..4].* = @bitCast(name.storage.v4.addr);
        } else if (name.storage.any.family == af_inet6) {
            address.family = Address.ip6;
            address.port = std.mem.bigToNative(u16, name.storage.v6.port);
            address.scope_id = name.storage.v6.scope_id;
            address.bytes = name.storage.v6.addr;
        } else {
            return error.AddressFamilyNotSupported;
        }
        return address;
    }

    /// The room a receive call may fill.
    pub fn empty() Name {
        var name: Name = undefined;
        name.len = @sizeOf(@TypeOf(name.storage));
        return name;
    }
};

pub const af_inet: u16 = if (builtin.os.tag == .windows) 2 else std.c.AF.INET;
pub const af_inet6: u16 = if (builtin.os.tag == .windows) 23 else std.c.AF.INET6;

// ---------------------------------------------------------------------------------------
// Sockets

pub const BindFlags = struct {
    pub const reuse_address: u32 = 1;
    pub const ipv6_only: u32 = 2;
    /// SO_REUSEPORT: endpoints in several threads or processes share the port (not Windows).
    pub const reuse_port: u32 = 4;
    pub const all: u32 = reuse_address | ipv6_only | reuse_port;
};

/// A nonblocking, close-on-exec datagram socket of `family` (Address.ip4 or ip6).
pub fn open(family: u16) errors.Error!event.Fd {
    std.debug.assert(family == Address.ip4 or family == Address.ip6);
    const af: c_int = if (family == Address.ip4) af_inet else af_inet6;
    if (builtin.os.tag == .windows) {
        try winsock.start();
        errdefer winsock.stop();
        const fd = winsock.socket(af, winsock.SOCK_DGRAM, 0);
        if (fd == winsock.invalid_socket) return winsock.lastError();
        errdefer _ = winsock.closesocket(fd);
        var on: u32 = 1;
        if (winsock.ioctlsocket(fd, winsock.FIONBIO, &on) != 0) return winsock.lastError();
        // An ICMP port-unreachable would otherwise fail the next receive with WSAECONNRESET.
        var off: u32 = 0;
        var returned: u32 = 0;
        if (winsock.WSAIoctl(fd, winsock.SIO_UDP_CONNRESET, &off, @sizeOf(u32), null, 0, &returned, null, null) != 0) {
            return winsock.lastError();
        }
        return fd;
    }
    if (builtin.os.tag == .linux) {
        const fd = std.c.socket(@intCast(af), std.c.SOCK.DGRAM | std.c.SOCK.NONBLOCK | std.c.SOCK.CLOEXEC, 0);
        if (fd < 0) return errors.fromErrno(errno());
        return fd;
    }
    const fd = std.c.socket(@intCast(af), std.c.SOCK.DGRAM, 0);
    if (fd < 0) return errors.fromErrno(errno());
    errdefer _ = std.c.close(fd);
    if (std.c.fcntl(fd, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return errors.fromErrno(errno());
    const flags = std.c.fcntl(fd, std.c.F.GETFL);
    if (flags < 0) return errors.fromErrno(errno());
    const nonblock: c_int = @bitCast(@as(u32, @bitCast(std.c.O{ .NONBLOCK = true })));
    if (std.c.fcntl(fd, std.c.F.SETFL, flags | nonblock) < 0) return errors.fromErrno(errno());
    return fd;
}

pub fn close(fd: event.Fd) void {
    if (builtin.os.tag == .windows) {
        _ = winsock.closesocket(fd);
        winsock.stop();
    } else {
        _ = std.c.close(fd);
    }
}

pub fn bind(fd: event.Fd, address: *const Address, flags: u32) errors.Error!void {
    if (flags & ~BindFlags.all != 0) return error.InvalidArgument;
    if (flags & BindFlags.reuse_address != 0) {
        try setInt(fd, sol_socket, so_reuseaddr, 1);
        // BSDs let several sockets share a multicast port only with SO_REUSEPORT.
        if (builtin.os.tag.isDarwin()) try setInt(fd, sol_socket, std.c.SO.REUSEPORT, 1);
    }
    if (flags & BindFlags.reuse_port != 0) {
        if (builtin.os.tag == .windows) return error.Unsupported;
        try setInt(fd, sol_socket, std.c.SO.REUSEPORT, 1);
    }
    if (address.family == Address.ip6) {
        try setInt(fd, ipproto_ipv6, ipv6_v6only, @intFromBool(flags & BindFlags.ipv6_only != 0));
    } else if (flags & BindFlags.ipv6_only != 0) {
        return error.InvalidArgument;
    }
    const name = Name.fromAddress(address);
    if (builtin.os.tag == .windows) {
        if (winsock.bind(fd, &name.storage, @intCast(name.len)) != 0) return winsock.lastError();
        return;
    }
    if (std.c.bind(fd, &name.storage.any, name.len) != 0) return errors.fromErrno(errno());
}

pub fn sockname(fd: event.Fd) errors.Error!Address {
    var name = Name.empty();
    if (builtin.os.tag == .windows) {
        var len: i32 = @intCast(name.len);
        if (winsock.getsockname(fd, &name.storage, &len) != 0) return winsock.lastError();
    } else {
        if (std.c.getsockname(fd, &name.storage.any, &name.len) != 0) return errors.fromErrno(errno());
    }
    return name.toAddress();
}

/// Sends one datagram whole, or fails (WouldBlock when the socket buffer is full).
pub fn sendTo(fd: event.Fd, bytes: []const u8, name: *const Name) errors.Error!void {
    if (bytes.len > datagram_size_max) return error.MessageTooBig;
    if (builtin.os.tag == .windows) {
        const rc = winsock.sendto(fd, bytes.ptr, @intCast(bytes.len), 0, &name.storage, @intCast(name.len));
        if (rc < 0) return winsock.lastError();
        return;
    }
    var attempt: u32 = 0;
    while (attempt < interrupts_max) : (attempt += 1) {
        const rc = std.c.sendto(fd, bytes.ptr, bytes.len, 0, &name.storage.any, name.len);
        if (rc >= 0) return;
        const e = errno();
        if (e != .INTR) return errors.fromErrno(e);
    }
    return error.Interrupted;
}

pub const Received = struct {
    /// Bytes stored (at most the buffer's length).
    stored: u32,
    /// The datagram's real size when known, else `stored`.
    size: u32,
    truncated: bool,
};

/// Receives one datagram into buffer; WouldBlock when none is waiting.
pub fn receiveFrom(fd: event.Fd, buffer: []u8, name: *Name) errors.Error!Received {
    std.debug.assert(buffer.len > 0 and buffer.len <= std.math.maxInt(i32));
    name.len = @sizeOf(@TypeOf(name.storage));
    if (builtin.os.tag == .windows) {
        var len: i32 = @intCast(name.len);
        const rc = winsock.recvfrom(fd, buffer.ptr, @intCast(buffer.len), 0, &name.storage, &len);
        name.len = @intCast(len);
        if (rc >= 0) return .{ .stored = @intCast(rc), .size = @intCast(rc), .truncated = false };
        const err = winsock.lastError();
        // Windows fills the buffer with the first part and reports the rest as lost.
        if (err == error.MessageTooBig) {
            const stored: u32 = @intCast(buffer.len);
            return .{ .stored = stored, .size = stored, .truncated = true };
        }
        return err;
    }
    var iov = [1]std.c.iovec{.{ .base = buffer.ptr, .len = buffer.len }};
    var message: std.c.msghdr = std.mem.zeroes(std.c.msghdr);
    message.name = &name.storage.any;
    message.namelen = name.len;
    message.iov = &iov;
    message.iovlen = 1;
    var attempt: u32 = 0;
    while (attempt < interrupts_max) : (attempt += 1) {
        // MSG_TRUNC makes Linux return the datagram's real size.
        const flags: u32 = if (builtin.os.tag == .linux) std.c.MSG.TRUNC else 0;
        const rc = std.c.recvmsg(fd, &message, flags);
        if (rc >= 0) {
            name.len = message.namelen;
            const size: u32 = @intCast(rc);
            const stored: u32 = @intCast(@min(size, buffer.len));
            return .{ .stored = stored, .size = size, .truncated = message.flags & std.c.MSG.TRUNC != 0 };
        }
        const e = errno();
        if (e != .INTR) return errors.fromErrno(e);
    }
    return error.Interrupted;
}

// ---------------------------------------------------------------------------------------
// Batches: Linux gives one system call per batch; other systems loop over single calls.

pub const has_batches = builtin.os.tag == .linux;
const interrupts_max = 64;

pub const MessageHeader = if (builtin.os.tag == .linux) std.os.linux.mmsghdr else void;
pub const IoVector = if (builtin.os.tag == .linux) std.posix.iovec else void;

/// Receives up to headers.len datagrams (headers prepared by the caller: iov and name set);
/// returns how many, or WouldBlock when none was waiting.
pub fn receiveBatch(fd: event.Fd, headers: []MessageHeader, names: []Name) errors.Error!u32 {
    comptime std.debug.assert(builtin.os.tag == .linux);
    std.debug.assert(headers.len > 0 and headers.len == names.len);
    for (headers, names) |*header, *name| {
        name.len = @sizeOf(@TypeOf(name.storage));
        header.hdr.namelen = name.len;
        header.hdr.flags = 0;
        header.len = 0;
    }
    var attempt: u32 = 0;
    while (attempt < interrupts_max) : (attempt += 1) {
        const rc = std.os.linux.recvmmsg(fd, headers.ptr, @intCast(headers.len), std.os.linux.MSG.TRUNC, null);
        switch (std.os.linux.errno(rc)) {
            .SUCCESS => {
                const count: u32 = @intCast(rc);
                std.debug.assert(count > 0 and count <= headers.len);
                for (headers[0..count], names[0..count]) |*header, *name| name.len = header.hdr.namelen;
                return count;
            },
            .INTR => continue,
            else => |e| return errors.fromErrno(e),
        }
    }
    return error.Interrupted;
}

/// The control message that makes one sendmmsg message a run of datagrams (UDP generic
/// segmentation offload, Linux 4.18+): the kernel cuts the message's payload into datagrams
/// of `segment` bytes (the last may be shorter) at the cost of about one datagram's sending.
pub const SegmentControl = if (builtin.os.tag == .linux) extern struct {
    len: usize = @offsetOf(@This(), "segment") + @sizeOf(u16),
    level: i32 = std.os.linux.IPPROTO.UDP,
    type: i32 = std.os.linux.UDP.SEGMENT,
    segment: u16,
} else void;

/// Datagrams one segmented message may carry (the kernel's UDP_MAX_SEGMENTS, 64 before 6.x).
pub const segments_max = 64;
/// Bytes one segmented message may carry in all (one IPv4 datagram's largest payload).
pub const segmented_bytes_max = 65507;

var segmentation_probed = std.atomic.Value(u8).init(0);

/// Whether the kernel segments datagrams for us (UDP_SEGMENT). Probed once per process: a
/// kernel without it would ignore the control message and send the run as one datagram.
pub fn hasSegmentation(fd: event.Fd) bool {
    if (builtin.os.tag != .linux) return false;
    const known = segmentation_probed.load(.acquire);
    if (known != 0) return known == 2;
    var value: c_int = 0;
    var len: std.os.linux.socklen_t = @sizeOf(c_int);
    const rc = std.os.linux.getsockopt(fd, std.os.linux.IPPROTO.UDP, std.os.linux.UDP.SEGMENT, std.mem.asBytes(&value), &len);
    const supported = std.os.linux.errno(rc) == .SUCCESS;
    segmentation_probed.store(if (supported) 2 else 1, .release);
    return supported;
}

/// Sends the prepared datagrams in order; returns how many went out before the first that
/// would block or failed (then `failure` holds why; 0 sent and WouldBlock means a full buffer).
pub fn sendBatch(fd: event.Fd, headers: []MessageHeader, failure: *?errors.Error) u32 {
    comptime std.debug.assert(builtin.os.tag == .linux);
    std.debug.assert(headers.len > 0);
    failure.* = null;
    var sent: u32 = 0;
    var attempt: u32 = 0;
    while (sent < headers.len and attempt < interrupts_max) : (attempt += 1) {
        const rest = headers[sent..];
        const rc = std.os.linux.sendmmsg(fd, rest.ptr, @intCast(rest.len), 0);
        switch (std.os.linux.errno(rc)) {
            .SUCCESS => {
                std.debug.assert(rc > 0 and rc <= rest.len);
                sent += @intCast(rc);
            },
            .INTR => continue,
            else => |e| {
                failure.* = errors.fromErrno(e);
                return sent;
            },
        }
    }
    if (sent < headers.len) failure.* = error.Interrupted;
    return sent;
}

// ---------------------------------------------------------------------------------------
// Options

pub const Option = enum(u32) {
    broadcast = 1,
    multicast_loopback = 2,
    multicast_ttl = 3,
    ttl = 4,
    receive_buffer_size = 5,
    send_buffer_size = 6,
};

pub fn setOption(fd: event.Fd, family: u16, option: Option, value: i32) errors.Error!void {
    const v6 = family == Address.ip6;
    switch (option) {
        .broadcast => try setInt(fd, sol_socket, so_broadcast, @intFromBool(value != 0)),
        .multicast_loopback => if (v6)
            try setInt(fd, ipproto_ipv6, ipv6_multicast_loop, @intFromBool(value != 0))
        else
            try setByteOrInt(fd, ipproto_ip, ip_multicast_loop, @intFromBool(value != 0)),
        .multicast_ttl => {
            if (value < 0 or value > 255) return error.InvalidArgument;
            if (v6) try setInt(fd, ipproto_ipv6, ipv6_multicast_hops, value) else try setByteOrInt(fd, ipproto_ip, ip_multicast_ttl, value);
        },
        .ttl => {
            if (value < 1 or value > 255) return error.InvalidArgument;
            if (v6) try setInt(fd, ipproto_ipv6, ipv6_unicast_hops, value) else try setInt(fd, ipproto_ip, ip_ttl, value);
        },
        .receive_buffer_size => {
            if (value <= 0) return error.InvalidArgument;
            try setInt(fd, sol_socket, so_rcvbuf, value);
        },
        .send_buffer_size => {
            if (value <= 0) return error.InvalidArgument;
            try setInt(fd, sol_socket, so_sndbuf, value);
        },
    }
}

/// Joins or leaves multicast `group` on the interface with address `interface` (IPv4) or
/// index `interface.scope_id` (IPv6); an unspecified interface lets the OS choose.
pub fn membership(fd: event.Fd, join: bool, group: *const Address, interface: *const Address) errors.Error!void {
    if (group.family == Address.ip4) {
        if (interface.family != Address.ip4) return error.InvalidArgument;
        const request = extern struct { group: [4]u8, interface: [4]u8 }{
            .group = group.bytes[0..4].*,
            .interface = interface.bytes[0..4].*,
        };
        return setRaw(fd, ipproto_ip, if (join) ip_add_membership else ip_drop_membership, std.mem.asBytes(&request));
    }
    const request = extern struct { group: [16]u8, interface: u32 }{
        .group = group.bytes,
        .interface = interface.scope_id,
    };
    return setRaw(fd, ipproto_ipv6, if (join) ipv6_join_group else ipv6_leave_group, std.mem.asBytes(&request));
}

/// Picks the interface outgoing multicast datagrams leave by.
pub fn setMulticastInterface(fd: event.Fd, family: u16, interface: *const Address) errors.Error!void {
    if (family == Address.ip4) {
        if (interface.family != Address.ip4) return error.InvalidArgument;
        return setRaw(fd, ipproto_ip, ip_multicast_if, interface.bytes[0..4]);
    }
    const index: u32 = interface.scope_id;
    return setRaw(fd, ipproto_ipv6, ipv6_multicast_if, std.mem.asBytes(&index));
}

fn setInt(fd: event.Fd, level: i32, name: u32, value: i32) errors.Error!void {
    return setRaw(fd, level, name, std.mem.asBytes(&value));
}

/// BSDs take a byte for the IPv4 multicast TTL/loop options, Linux and Windows an int.
fn setByteOrInt(fd: event.Fd, level: i32, name: u32, value: i32) errors.Error!void {
    if (!builtin.os.tag.isDarwin()) return setInt(fd, level, name, value);
    const byte: u8 = @intCast(value);
    return setRaw(fd, level, name, std.mem.asBytes(&byte));
}

fn setRaw(fd: event.Fd, level: i32, name: u32, value: []const u8) errors.Error!void {
    if (builtin.os.tag == .windows) {
        if (winsock.setsockopt(fd, level, @intCast(name), value.ptr, @intCast(value.len)) != 0) return winsock.lastError();
        return;
    }
    if (std.c.setsockopt(fd, level, name, value.ptr, @intCast(value.len)) != 0) return errors.fromErrno(errno());
}

// Option numbers per OS (netinet/in.h, linux/in.h and linux/in6.h, ws2ipdef.h): std.c has only
// some of them, and not for every OS.
const sol_socket: i32 = if (builtin.os.tag == .windows) 0xffff else std.c.SOL.SOCKET;
const so_reuseaddr: u32 = if (builtin.os.tag == .windows) 4 else std.c.SO.REUSEADDR;
const so_broadcast: u32 = if (builtin.os.tag == .windows) 0x20 else std.c.SO.BROADCAST;
const so_sndbuf: u32 = if (builtin.os.tag == .windows) 0x1001 else std.c.SO.SNDBUF;
const so_rcvbuf: u32 = if (builtin.os.tag == .windows) 0x1002 else std.c.SO.RCVBUF;
const ipproto_ip: i32 = 0;
const ipproto_ipv6: i32 = 41;
const ip_ttl: u32 = if (builtin.os.tag == .linux) 2 else 4;
const ip_multicast_if: u32 = if (builtin.os.tag == .linux) 32 else 9;
const ip_multicast_ttl: u32 = if (builtin.os.tag == .linux) 33 else 10;
const ip_multicast_loop: u32 = if (builtin.os.tag == .linux) 34 else 11;
const ip_add_membership: u32 = if (builtin.os.tag == .linux) 35 else 12;
const ip_drop_membership: u32 = if (builtin.os.tag == .linux) 36 else 13;
const ipv6_unicast_hops: u32 = if (builtin.os.tag == .linux) 16 else 4;
const ipv6_multicast_if: u32 = if (builtin.os.tag == .linux) 17 else 9;
const ipv6_multicast_hops: u32 = if (builtin.os.tag == .linux) 18 else 10;
const ipv6_multicast_loop: u32 = if (builtin.os.tag == .linux) 19 else 11;
const ipv6_join_group: u32 = if (builtin.os.tag == .linux) 20 else 12;
const ipv6_leave_group: u32 = if (builtin.os.tag == .linux) 21 else 13;
const ipv6_v6only: u32 = if (builtin.os.tag == .linux) 26 else 27;

fn errno() std.c.E {
    return std.c.errno(@as(c_int, -1));
}

// ---------------------------------------------------------------------------------------
// Tests: real sockets on the loopback interface.

const testing = std.testing;

/// A socket bound to 127.0.0.1 at a port the OS picks, and the address it is bound to.
fn openLoopback() !struct { fd: event.Fd, address: Address } {
    const fd = try open(Address.ip4);
    errdefer close(fd);
    const loopback = try ip.parse("127.0.0.1", 0);
    try bind(fd, &loopback, 0);
    return .{ .fd = fd, .address = try sockname(fd) };
}

test "a datagram goes out and comes back with its sender's address" {
    const receiving = try openLoopback();
    const receiver = receiving.fd;
    defer close(receiver);
    try testing.expect(receiving.address.port != 0);

    const sender = try openLoopback();
    defer close(sender.fd);
    try sendTo(sender.fd, "hello", &Name.fromAddress(&receiving.address));

    var buffer: [16]u8 = undefined;
    var name = Name.empty();
    var received: Received = undefined;
    var attempt: u32 = 0;
    while (attempt < 1000) : (attempt += 1) {
        received = receiveFrom(receiver, &buffer, &name) catch |err| switch (err) {
            error.WouldBlock => {
                sleepMs(1);
                continue;
            },
            else => return err,
        };
        break;
    }
    try testing.expectEqualStrings("hello", buffer[0..received.stored]);
    const address = try name.toAddress();
    try testing.expectEqual(sender.address.port, address.port);
    try testing.expectError(error.WouldBlock, receiveFrom(receiver, &buffer, &name));
}

test "a port in use is EADDRINUSE; a datagram too big is EMSGSIZE" {
    const first = try openLoopback();
    defer close(first.fd);
    const taken = first.address;
    const second = try open(Address.ip4);
    defer close(second);
    try testing.expectError(error.AddressInUse, bind(second, &taken, 0));
    var huge: [datagram_size_max + 1]u8 = undefined;
    try testing.expectError(error.MessageTooBig, sendTo(first.fd, &huge, &Name.fromAddress(&taken)));
    try testing.expectError(error.InvalidArgument, bind(second, &taken, BindFlags.ipv6_only));
}

test "options are set or refused with a clear error" {
    const fd = try open(Address.ip4);
    defer close(fd);
    try setOption(fd, Address.ip4, .broadcast, 1);
    try setOption(fd, Address.ip4, .multicast_loopback, 1);
    try setOption(fd, Address.ip4, .multicast_ttl, 4);
    try setOption(fd, Address.ip4, .ttl, 64);
    try setOption(fd, Address.ip4, .receive_buffer_size, 1 << 20);
    try testing.expectError(error.InvalidArgument, setOption(fd, Address.ip4, .ttl, 0));
    try testing.expectError(error.InvalidArgument, setOption(fd, Address.ip4, .multicast_ttl, 256));
}

fn sleepMs(ms: u32) void {
    @import("../loop/test_support.zig").sleepMs(ms);
}
