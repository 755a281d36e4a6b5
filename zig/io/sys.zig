//! Socket and descriptor calls for the stream layer, one API over POSIX (libc) and Windows
//! Sockets: nonblocking, close-on-exec sockets that never raise SIGPIPE, addresses of every
//! family in one storage type, and every failure mapped to the portable errors of loop/errors.zig.

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("../loop/descriptor.zig");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const winsock = @import("../loop/winsock.zig");
const ip = @import("address.zig");
const kernel32 = @import("kernel32.zig");

pub const invalid_fd: event.Fd = if (builtin.os.tag == .windows) std.math.maxInt(usize) else -1;

pub const af_unspec: u16 = 0;
pub const af_unix: u16 = 1;
pub const af_inet: u16 = 2;
pub const af_inet6: u16 = if (builtin.os.tag == .windows) 23 else @intCast(std.c.AF.INET6);

/// Longest Unix socket path (without the terminating zero) every supported OS accepts.
pub const unix_path_max = if (builtin.os.tag.isDarwin()) 103 else 107;

/// A socket address of any family, laid out as the OS expects it.
pub const Address = extern struct {
    storage: [128]u8 align(8) = @splat(0),
    len: u32 = 0,

    pub fn ip4(bytes: [4]u8, port_number: u16) Address {
        var address: Address = .{ .len = 16 };
        address.setFamily(af_inet);
        std.mem.writeInt(u16, address.storage[2..4], port_number, .big);
        address.storage[4..8].* = bytes;
        return address;
    }

    pub fn ip6(bytes: [16]u8, port_number: u16, scope_id: u32) Address {
        var address: Address = .{ .len = 28 };
        address.setFamily(af_inet6);
        std.mem.writeInt(u16, address.storage[2..4], port_number, .big);
        address.storage[8..24].* = bytes;
        std.mem.writeInt(u32, address.storage[24..28], scope_id, builtin.cpu.arch.endian());
        return address;
    }

    pub fn fromIp(parsed: *const ip.Address) Address {
        std.debug.assert(parsed.isValid());
        if (parsed.family == ip.Address.ip4) return ip4(parsed.bytes[0..4].*, parsed.port);
        return ip6(parsed.bytes, parsed.port, parsed.scope_id);
    }

    /// The IP address in the library's layout, or null for other families.
    pub fn toIp(address: *const Address) ?ip.Address {
        const f = address.family();
        if (f == af_inet) {
            var parsed = ip.Address.any(ip.Address.ip4);
            parsed.port = address.port();
            parsed.bytes[0..4].* = address.storage[4..8].*;
            return parsed;
        }
        if (f != af_inet6) return null;
        var parsed = ip.Address.any(ip.Address.ip6);
        parsed.port = address.port();
        parsed.bytes = address.storage[8..24].*;
        parsed.scope_id = std.mem.readInt(u32, address.storage[24..28], builtin.cpu.arch.endian());
        return parsed;
    }

    /// A Unix socket address; paths longer than `unix_path_max` are refused.
    pub fn unix(path: []const u8) errors.Error!Address {
        if (path.len == 0 or path.len > unix_path_max) return error.InvalidArgument;
        if (std.mem.indexOfScalar(u8, path, 0) != null) return error.InvalidArgument;
        var address: Address = .{ .len = @intCast(2 + path.len + 1) };
        address.setFamily(af_unix);
        @memcpy(address.storage[2..][0..path.len], path);
        return address;
    }

    /// From an address the OS filled in (`length` bytes of `raw`).
    pub fn fromRaw(raw: *const anyopaque, length: usize) errors.Error!Address {
        if (length > 128 or length < 2) return error.InvalidArgument;
        var address: Address = .{ .len = @intCast(length) };
        @memcpy(address.storage[0..length], @as([*]const u8, @ptrCast(raw))[0..length]);
        return address;
    }

    pub fn family(address: *const Address) u16 {
        if (builtin.os.tag.isDarwin()) return address.storage[1];
        return std.mem.readInt(u16, address.storage[0..2], builtin.cpu.arch.endian());
    }

    fn setFamily(address: *Address, value: u16) void {
        if (builtin.os.tag.isDarwin()) {
            address.storage[0] = @intCast(address.len);
            address.storage[1] = @intCast(value);
        } else {
            std.mem.writeInt(u16, address.storage[0..2], value, builtin.cpu.arch.endian());
        }
    }

    /// The port of an IP address; 0 for other families.
    pub fn port(address: *const Address) u16 {
        const f = address.family();
        if (f != af_inet and f != af_inet6) return 0;
        return std.mem.readInt(u16, address.storage[2..4], .big);
    }

    /// The address without the port as text ("127.0.0.1", "::1", a socket path); returns the
    /// length written into `out` (at most 128 bytes are needed).
    pub fn hostText(address: *const Address, out: []u8) usize {
        if (address.toIp()) |parsed| return ip.format(&parsed, out);
        var writer = std.Io.Writer.fixed(out);
        if (address.family() == af_unix) {
            const path = address.storage[2..@max(2, address.len)];
            const end = std.mem.indexOfScalar(u8, path, 0) orelse path.len;
            writer.writeAll(path[0..end]) catch return 0;
        }
        return writer.end;
    }

    fn pointer(address: *const Address) *align(8) const anyopaque {
        return @ptrCast(&address.storage);
    }
};

/// Parses a numeric IPv4 or IPv6 address ("10.0.0.1", "::1", "fe80::1%3", "fe80::1%eth0";
/// address.zig); null if `text` is not one (a host name, say).
pub fn parseIp(text: []const u8, port: u16) ?Address {
    const parsed = ip.parse(text, port) catch return null;
    return Address.fromIp(&parsed);
}

pub const SocketKind = enum { stream, datagram };

/// A nonblocking, close-on-exec socket that never raises SIGPIPE.
pub fn openSocket(family: u16, kind: SocketKind) errors.Error!event.Fd {
    if (builtin.os.tag == .windows) return windows.openSocket(family, kind);
    const type_bits: c_uint = switch (kind) {
        .stream => std.c.SOCK.STREAM,
        .datagram => std.c.SOCK.DGRAM,
    };
    if (builtin.os.tag == .linux) {
        const fd = std.c.socket(family, type_bits | std.c.SOCK.NONBLOCK | std.c.SOCK.CLOEXEC, 0);
        if (fd < 0) return lastError();
        return fd;
    }
    const fd = std.c.socket(family, type_bits, 0);
    if (fd < 0) return lastError();
    errdefer close(fd);
    try descriptor.setNonBlocking(fd);
    try setCloseOnExec(fd);
    if (builtin.os.tag.isDarwin()) try setOption(fd, std.c.SOL.SOCKET, std.c.SO.NOSIGPIPE, 1);
    return fd;
}

pub fn close(fd: event.Fd) void {
    std.debug.assert(fd != invalid_fd);
    if (builtin.os.tag == .windows) {
        _ = winsock.closesocket(fd);
    } else {
        _ = std.c.close(fd);
    }
}

/// Starts connecting; true when already connected, false when the caller must wait until the
/// socket is writable and then check `pendingError`.
pub fn connect(fd: event.Fd, address: *const Address) errors.Error!bool {
    if (builtin.os.tag == .windows) {
        if (winsock.connect(fd, address.pointer(), @intCast(address.len)) == 0) return true;
        const err = winsock.lastError();
        if (err == error.WouldBlock or err == error.InProgress) return false;
        return err;
    }
    // POSIX reports a connect under way as EINPROGRESS (EINTR: it goes on in the background);
    // EAGAIN is a failure (a Unix socket's full backlog, no free local port).
    if (std.c.connect(fd, @ptrCast(address.pointer()), address.len) == 0) return true;
    const err = lastError();
    return switch (err) {
        error.InProgress, error.Interrupted => false,
        else => err,
    };
}

/// The error a nonblocking connect ended with (SO_ERROR), if any.
pub fn pendingError(fd: event.Fd) errors.Error!void {
    var value: c_int = 0;
    if (builtin.os.tag == .windows) {
        var length: i32 = @sizeOf(c_int);
        if (winsock.getsockopt(fd, winsock.SOL_SOCKET, winsock.SO_ERROR, @ptrCast(&value), &length) != 0) return winsock.lastError();
        if (value != 0) return errors.fromWsa(value);
        return;
    }
    var length: std.c.socklen_t = @sizeOf(c_int);
    if (std.c.getsockopt(fd, std.c.SOL.SOCKET, std.c.SO.ERROR, @ptrCast(&value), &length) != 0) return lastError();
    if (value != 0) return errors.fromErrno(@as(std.c.E, @fromBackingInt(@intCast(value))));
}

pub fn bind(fd: event.Fd, address: *const Address) errors.Error!void {
    if (builtin.os.tag == .windows) {
        if (winsock.bind(fd, address.pointer(), @intCast(address.len)) != 0) return winsock.lastError();
        return;
    }
    if (std.c.bind(fd, @ptrCast(address.pointer()), address.len) != 0) return lastError();
}

pub fn listen(fd: event.Fd, backlog: u31) errors.Error!void {
    if (builtin.os.tag == .windows) {
        if (winsock.listen(fd, backlog) != 0) return winsock.lastError();
        return;
    }
    if (std.c.listen(fd, backlog) != 0) return lastError();
}

/// A TCP socket listening on 127.0.0.1 at a port the OS picks, and the address it listens on.
pub fn listenLoopback(backlog: u31) errors.Error!struct { fd: event.Fd, address: Address } {
    const fd = try openSocket(af_inet, .stream);
    errdefer close(fd);
    var address = Address.ip4(.{ 127, 0, 0, 1 }, 0);
    try bind(fd, &address);
    try listen(fd, backlog);
    return .{ .fd = fd, .address = try localAddress(fd) };
}

/// Accepts one connection as a nonblocking, close-on-exec socket; WouldBlock when none waits.
/// The peer's address goes into `peer` when given (the kernel hands it over with the socket).
pub fn accept(fd: event.Fd, peer: ?*Address) errors.Error!event.Fd {
    if (builtin.os.tag == .windows) {
        var length: i32 = 128;
        const accepted = if (peer) |out|
            winsock.accept(fd, @ptrCast(&out.storage), &length)
        else
            winsock.accept(fd, null, null);
        if (accepted == invalid_fd) return winsock.lastError();
        errdefer close(accepted);
        try descriptor.setNonBlocking(accepted);
        if (peer) |out| out.len = @intCast(@max(length, 0));
        return accepted;
    }
    var attempt: u32 = 0;
    while (attempt < 16) : (attempt += 1) {
        var length: std.c.socklen_t = 128;
        const storage: ?*std.c.sockaddr = if (peer) |out| @ptrCast(&out.storage) else null;
        const length_out: ?*std.c.socklen_t = if (peer != null) &length else null;
        const accepted = if (builtin.os.tag == .linux)
            std.c.accept4(fd, storage, length_out, std.c.SOCK.NONBLOCK | std.c.SOCK.CLOEXEC)
        else
            std.c.accept(fd, storage, length_out);
        if (accepted < 0) {
            const err = lastError();
            if (err == error.Interrupted) continue;
            return err;
        }
        if (builtin.os.tag != .linux) {
            errdefer close(accepted);
            try descriptor.setNonBlocking(accepted);
            try setCloseOnExec(accepted);
            if (builtin.os.tag.isDarwin()) try setOption(accepted, std.c.SOL.SOCKET, std.c.SO.NOSIGPIPE, 1);
        }
        if (peer) |out| out.len = @min(length, 128);
        return accepted;
    }
    return error.Interrupted;
}

/// Sends what the socket takes now; WouldBlock when it takes nothing. Never raises SIGPIPE.
pub fn send(fd: event.Fd, bytes: []const u8) errors.Error!usize {
    std.debug.assert(bytes.len > 0);
    if (builtin.os.tag == .windows) return winsockCount(winsock.send(fd, bytes.ptr, winsockLength(bytes.len), 0));
    const flags: u32 = if (builtin.os.tag == .linux) std.c.MSG.NOSIGNAL else 0;
    return uninterrupted(std.c.send, .{ fd, bytes.ptr, bytes.len, flags });
}

/// Receives what is there now; 0 at end of stream, WouldBlock when nothing is there yet.
pub fn recv(fd: event.Fd, buffer: []u8) errors.Error!usize {
    std.debug.assert(buffer.len > 0);
    if (builtin.os.tag == .windows) return winsockCount(winsock.recv(fd, buffer.ptr, winsockLength(buffer.len), 0));
    return uninterrupted(std.c.recv, .{ fd, buffer.ptr, buffer.len, 0 });
}

/// read(2) for descriptors that are not sockets (pipes, terminals). POSIX only.
pub fn read(fd: event.Fd, buffer: []u8) errors.Error!usize {
    std.debug.assert(buffer.len > 0);
    if (builtin.os.tag == .windows) return error.Unsupported;
    return uninterrupted(std.c.read, .{ fd, buffer.ptr, buffer.len });
}

/// write(2) for descriptors that are not sockets, without ever raising SIGPIPE. POSIX only.
pub fn write(fd: event.Fd, bytes: []const u8) errors.Error!usize {
    std.debug.assert(bytes.len > 0);
    if (builtin.os.tag == .windows) return error.Unsupported;
    if (builtin.os.tag == .linux and !sigpipe.ignored()) return sigpipe.writeMasked(fd, bytes);
    return uninterrupted(std.c.write, .{ fd, bytes.ptr, bytes.len });
}

/// Calls `function(arguments)` again while it fails with EINTR: its byte count, or its error.
inline fn uninterrupted(function: anytype, arguments: anytype) errors.Error!usize {
    while (true) {
        const rc = @call(.auto, function, arguments);
        if (rc >= 0) return @intCast(rc);
        const err = lastError();
        if (err != error.Interrupted) return err;
    }
}

/// A Winsock send or recv's byte count, or its error.
inline fn winsockCount(rc: i32) errors.Error!usize {
    if (rc < 0) return winsock.lastError();
    return @intCast(rc);
}

/// Winsock takes lengths as i32: longer buffers go in part.
inline fn winsockLength(length: usize) i32 {
    return @intCast(@min(length, std.math.maxInt(i32)));
}

/// Half-closes the write side of a socket.
pub fn shutdownWrite(fd: event.Fd) errors.Error!void {
    if (builtin.os.tag == .windows) {
        if (winsock.shutdown(fd, 1) != 0) return winsock.lastError();
        return;
    }
    if (std.c.shutdown(fd, std.c.SHUT.WR) != 0) return lastError();
}

pub fn setNoDelay(fd: event.Fd) errors.Error!void {
    if (builtin.os.tag == .windows) return windows.setOption(fd, winsock.IPPROTO_TCP, winsock.TCP_NODELAY, 1);
    return setOption(fd, std.c.IPPROTO.TCP, std.c.TCP.NODELAY, 1);
}

/// SO_LINGER with a zero timeout: the next close resets the connection instead of ending it.
pub fn setLingerZero(fd: event.Fd) errors.Error!void {
    if (fd == invalid_fd) return error.NotConnected;
    const Linger = extern struct { onoff: c_int, seconds: c_int };
    const value: Linger = .{ .onoff = 1, .seconds = 0 };
    if (builtin.os.tag == .windows) {
        const WinLinger = extern struct { onoff: u16, seconds: u16 };
        const win_value: WinLinger = .{ .onoff = 1, .seconds = 0 };
        if (winsock.setsockopt(fd, winsock.SOL_SOCKET, 0x0080, @ptrCast(&win_value), @sizeOf(WinLinger)) != 0) return winsock.lastError();
        return;
    }
    if (std.c.setsockopt(fd, std.c.SOL.SOCKET, std.c.SO.LINGER, @ptrCast(&value), @sizeOf(Linger)) != 0) return lastError();
}

/// SO_REUSEADDR (POSIX only: on Windows it would let another process steal the port).
pub fn setReuseAddress(fd: event.Fd) errors.Error!void {
    if (builtin.os.tag == .windows) return;
    return setOption(fd, std.c.SOL.SOCKET, std.c.SO.REUSEADDR, 1);
}

/// SO_REUSEPORT: several sockets (in other threads or processes) bind one port and the kernel
/// spreads connections or datagrams over them. Windows has no such option: Unsupported.
pub fn setReusePort(fd: event.Fd) errors.Error!void {
    if (builtin.os.tag == .windows or !@hasDecl(std.c.SO, "REUSEPORT")) return error.Unsupported;
    return setOption(fd, std.c.SOL.SOCKET, std.c.SO.REUSEPORT, 1);
}

pub fn localAddress(fd: event.Fd) errors.Error!Address {
    return socketName(fd, .local);
}

pub fn peerAddress(fd: event.Fd) errors.Error!Address {
    return socketName(fd, .peer);
}

/// getsockname or getpeername.
fn socketName(fd: event.Fd, comptime side: enum { local, peer }) errors.Error!Address {
    var address: Address = .{};
    if (builtin.os.tag == .windows) {
        const get = if (side == .local) winsock.getsockname else winsock.getpeername;
        var length: i32 = 128;
        if (get(fd, @ptrCast(&address.storage), &length) != 0) return winsock.lastError();
        address.len = @intCast(length);
        return address;
    }
    const get = if (side == .local) std.c.getsockname else std.c.getpeername;
    var length: std.c.socklen_t = 128;
    if (get(fd, @ptrCast(&address.storage), &length) != 0) return lastError();
    address.len = @intCast(@min(length, 128));
    return address;
}

/// Whether fd is a socket (so send/recv apply) rather than a pipe or terminal.
pub fn isSocket(fd: event.Fd) bool {
    if (builtin.os.tag == .windows) return true;
    var value: c_int = 0;
    var length: std.c.socklen_t = @sizeOf(c_int);
    return std.c.getsockopt(fd, std.c.SOL.SOCKET, std.c.SO.TYPE, @ptrCast(&value), &length) == 0;
}

fn setCloseOnExec(fd: event.Fd) errors.Error!void {
    if (std.c.fcntl(fd, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return lastError();
}

fn setOption(fd: event.Fd, level: i32, name: u32, value: c_int) errors.Error!void {
    if (std.c.setsockopt(fd, level, name, @ptrCast(&value), @sizeOf(c_int)) != 0) return lastError();
}

/// A pipe or terminal that never raises SIGPIPE on write: macOS has a per-descriptor switch;
/// Linux writes through `write` below (a thread mask when the signal is not ignored).
pub fn suppressSigpipe(fd: event.Fd) void {
    if (!builtin.os.tag.isDarwin()) return;
    _ = std.c.fcntl(fd, std.c.F.SETNOSIGPIPE, @as(c_int, 1));
}

/// Removes a Unix socket's file; a missing file is not an error.
pub fn unlinkPath(path: []const u8) void {
    if (builtin.os.tag == .windows) return;
    var buffer: [unix_path_max + 1]u8 = undefined;
    if (path.len > unix_path_max) return;
    @memcpy(buffer[0..path.len], path);
    buffer[path.len] = 0;
    _ = std.c.unlink(@ptrCast(&buffer));
}

/// Which file a path names: its device and inode.
pub const FileId = struct { device: u64, inode: u64 };

/// The identity of the Unix socket file at path (not following a symbolic link); null when
/// nothing is there or it is not a socket.
pub fn socketFileId(path: []const u8) ?FileId {
    if (builtin.os.tag == .windows) return null;
    var buffer: [unix_path_max + 1]u8 = undefined;
    if (path.len > unix_path_max) return null;
    @memcpy(buffer[0..path.len], path);
    buffer[path.len] = 0;
    const path_z: [*:0]const u8 = @ptrCast(&buffer);
    if (builtin.os.tag == .linux) {
        const linux = std.os.linux;
        var info: linux.Statx = undefined;
        const rc = linux.statx(linux.AT.FDCWD, path_z, linux.AT.SYMLINK_NOFOLLOW, .{ .TYPE = true, .INO = true }, &info);
        if (linux.errno(rc) != .SUCCESS or info.mode & linux.S.IFMT != linux.S.IFSOCK) return null;
        return .{ .device = (@as(u64, info.dev_major) << 32) | info.dev_minor, .inode = info.ino };
    }
    var info: std.c.Stat = undefined;
    if (std.c.fstatat(std.c.AT.FDCWD, path_z, &info, std.c.AT.SYMLINK_NOFOLLOW) != 0) return null;
    if (!std.c.S.ISSOCK(@intCast(info.mode))) return null;
    const signed = @typeInfo(@TypeOf(info.dev)).int.signedness == .signed;
    const device: u64 = if (signed) @bitCast(@as(i64, info.dev)) else info.dev;
    return .{ .device = device, .inode = @intCast(info.ino) };
}

/// Removes the Unix socket file at path if it is still the one a listener made (`id`): a file
/// that replaced it since (another server's socket, or anything else) is left alone.
pub fn unlinkSocketFile(path: []const u8, id: FileId) void {
    const now = socketFileId(path) orelse return;
    if (now.device != id.device or now.inode != id.inode) return;
    unlinkPath(path);
}

pub fn lastError() errors.Error {
    if (builtin.os.tag == .windows) return winsock.lastError();
    return errors.fromErrno(std.c.errno(@as(c_int, -1)));
}

/// SIGPIPE on Linux pipes: when the process does not ignore it, writes block it for the thread
/// and consume a pending one, so a reader that went away is an EPIPE error and nothing else.
const sigpipe = struct {
    var state = std.atomic.Value(u8).init(0); // 0 unknown, 1 ignored, 2 delivered
    extern "c" fn sigtimedwait(set: *const std.c.sigset_t, info: ?*anyopaque, timeout: *const std.c.timespec) c_int;

    fn ignored() bool {
        const known = state.load(.monotonic);
        if (known != 0) return known == 1;
        var current: std.c.Sigaction = undefined;
        const is_ignored = std.c.sigaction(.PIPE, null, &current) == 0 and current.handler.handler == std.c.SIG.IGN;
        state.store(if (is_ignored) 1 else 2, .monotonic);
        return is_ignored;
    }

    fn writeMasked(fd: event.Fd, bytes: []const u8) errors.Error!usize {
        var block = std.posix.sigemptyset();
        std.posix.sigaddset(&block, .PIPE);
        var previous: std.c.sigset_t = undefined;
        _ = std.c.pthread_sigmask(std.c.SIG.BLOCK, &block, &previous);
        defer _ = std.c.pthread_sigmask(std.c.SIG.SETMASK, &previous, &previous);
        return uninterrupted(std.c.write, .{ fd, bytes.ptr, bytes.len }) catch |err| {
            // Consume the SIGPIPE the failed write left pending, while it is still blocked.
            if (err == error.BrokenPipe) {
                const zero: std.c.timespec = .{ .sec = 0, .nsec = 0 };
                _ = sigtimedwait(&block, null, &zero);
            }
            return err;
        };
    }
};

/// The Windows side of the stream layer: sockets set up through loop/winsock.zig, and the
/// kernel32 calls and constants for the handles the loop cannot poll (pipes, consoles).
pub const windows = struct {
    fn openSocket(family: u16, kind: SocketKind) errors.Error!event.Fd {
        try winsock.start();
        const type_number: i32 = switch (kind) {
            .stream => winsock.SOCK_STREAM,
            .datagram => winsock.SOCK_DGRAM,
        };
        const fd = winsock.socket(family, type_number, 0);
        if (fd == invalid_fd) return winsock.lastError();
        errdefer _ = winsock.closesocket(fd);
        try winsock.setNonBlocking(fd);
        return fd;
    }

    fn setOption(fd: event.Fd, level: i32, name: i32, value: c_int) errors.Error!void {
        if (winsock.setsockopt(fd, level, name, @ptrCast(&value), @sizeOf(c_int)) != 0) return winsock.lastError();
    }

    const file_type_unknown: u32 = 0;
    const so_type: i32 = 0x1008;
    const std_handles = [3]u32{ @bitCast(@as(i32, -10)), @bitCast(@as(i32, -11)), @bitCast(@as(i32, -12)) };

    /// The HANDLE a descriptor number names on Windows: 0, 1 and 2 are the standard input,
    /// output and error handles (GetStdHandle); any other number is a HANDLE value itself (an
    /// inherited handle, say: real handles are multiples of 4, so the two never collide).
    /// EBADF unless it is an open file, pipe, socket or character device.
    pub fn handleOf(number: i32) errors.Error!usize {
        if (number < 0) return error.BadDescriptor;
        const handle: usize = if (number < std_handles.len)
            kernel32.GetStdHandle(std_handles[@intCast(number)])
        else
            @intCast(number);
        if (handle == 0 or handle == kernel32.invalid_handle) return error.BadDescriptor;
        // FILE_TYPE_UNKNOWN with an error: not a handle, or not one of a file.
        kernel32.SetLastError(0);
        if (kernel32.GetFileType(handle) == file_type_unknown and kernel32.GetLastError() != 0) {
            return error.BadDescriptor;
        }
        return handle;
    }

    /// Whether handle is a socket (which the loop polls as it is).
    pub fn isSocketHandle(handle: usize) bool {
        std.debug.assert(handle != kernel32.invalid_handle);
        winsock.start() catch return false;
        defer winsock.stop();
        var kind: i32 = 0;
        var length: i32 = @sizeOf(i32);
        return winsock.getsockopt(handle, winsock.SOL_SOCKET, so_type, @ptrCast(&kind), &length) == 0;
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real sockets on 127.0.0.1.

const testing = std.testing;

test "numeric addresses parse and print back" {
    var out: [128]u8 = undefined;
    const v4 = parseIp("127.0.0.1", 80).?;
    try testing.expectEqual(af_inet, v4.family());
    try testing.expectEqual(@as(u16, 80), v4.port());
    try testing.expectEqualStrings("127.0.0.1", out[0..v4.hostText(&out)]);
    const v6 = parseIp("::1", 443).?;
    try testing.expectEqual(af_inet6, v6.family());
    try testing.expectEqual(@as(u16, 443), v6.port());
    try testing.expectEqualStrings("::1", out[0..v6.hostText(&out)]);
    const full = parseIp("2001:db8:0:0:1:0:0:1", 1).?;
    try testing.expectEqualStrings("2001:db8::1:0:0:1", out[0..full.hostText(&out)]);
    try testing.expect(parseIp("not-an-ip", 1) == null);
    try testing.expect(parseIp("256.0.0.1", 1) == null);
    try testing.expect(parseIp("", 1) == null);
    try testing.expect(parseIp("fe80::1%no-such-interface", 1) == null);
    const zoned = parseIp("fe80::1%3", 1).?;
    try testing.expectEqual(@as(u32, 3), std.mem.readInt(u32, zoned.storage[24..28], builtin.cpu.arch.endian()));
    try testing.expectEqualStrings("fe80::1%3", out[0..zoned.hostText(&out)]);
}

test "TCP takes the IPv6 zones UDP takes, interface names included, and round-trips them" {
    const text = if (builtin.os.tag == .linux) "fe80::1%lo" else if (builtin.os.tag.isDarwin()) "fe80::1%lo0" else return error.SkipZigTest;
    const tcp = parseIp(text, 7).?;
    const udp = try ip.parse(text, 7);
    try testing.expect(udp.scope_id != 0);
    try testing.expectEqual(udp, tcp.toIp().?);
    try testing.expectEqual(udp.scope_id, std.mem.readInt(u32, tcp.storage[24..28], builtin.cpu.arch.endian()));
}

test "unix addresses refuse empty, too long and embedded-zero paths" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    try testing.expectError(error.InvalidArgument, Address.unix(""));
    try testing.expectError(error.InvalidArgument, Address.unix("a\x00b"));
    const long: [unix_path_max + 1]u8 = @splat('x');
    try testing.expectError(error.InvalidArgument, Address.unix(&long));
    const ok = try Address.unix("/tmp/sock");
    var out: [128]u8 = undefined;
    try testing.expectEqualStrings("/tmp/sock", out[0..ok.hostText(&out)]);
}

test "connect to a closed port is refused; listen, accept, send and recv work" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const listener = try openSocket(af_inet, .stream);
    defer close(listener);
    try setReuseAddress(listener);
    var address = Address.ip4(.{ 127, 0, 0, 1 }, 0);
    try bind(listener, &address);
    try listen(listener, 16);
    address = try localAddress(listener);
    try testing.expect(address.port() != 0);
    try testing.expectError(error.WouldBlock, accept(listener, null));

    const client = try openSocket(af_inet, .stream);
    defer close(client);
    try setNoDelay(client);
    _ = try connect(client, &address);
    var fds = [1]std.c.pollfd{.{ .fd = client, .events = std.c.POLL.OUT, .revents = 0 }};
    _ = std.c.poll(&fds, 1, 1000);
    try pendingError(client);
    var server: event.Fd = invalid_fd;
    var accepted_from: Address = .{};
    for (0..100) |_| {
        server = accept(listener, &accepted_from) catch |err| switch (err) {
            error.WouldBlock => {
                _ = std.c.poll(&fds, 0, 10);
                continue;
            },
            else => return err,
        };
        break;
    }
    defer close(server);
    try testing.expectEqual(@as(usize, 4), try send(client, "ping"));
    var buffer: [8]u8 = undefined;
    var rounds: u32 = 0;
    const n = while (rounds < 100) : (rounds += 1) {
        break recv(server, &buffer) catch |err| switch (err) {
            error.WouldBlock => {
                _ = std.c.poll(&fds, 0, 10);
                continue;
            },
            else => return err,
        };
    } else return error.TimedOut;
    try testing.expectEqualStrings("ping", buffer[0..n]);
    try testing.expect(isSocket(server));
    const peer = try peerAddress(server);
    try testing.expectEqual((try localAddress(client)).port(), peer.port());
    // accept handed over the same address.
    try testing.expectEqual(peer.len, accepted_from.len);
    try testing.expectEqualSlices(u8, peer.storage[0..peer.len], accepted_from.storage[0..accepted_from.len]);

    try shutdownWrite(client);
    rounds = 0;
    while (rounds < 100) : (rounds += 1) {
        const got = recv(server, &buffer) catch |err| switch (err) {
            error.WouldBlock => {
                _ = std.c.poll(&fds, 0, 10);
                continue;
            },
            else => return err,
        };
        try testing.expectEqual(@as(usize, 0), got);
        break;
    }

    const refused = try openSocket(af_inet, .stream);
    defer close(refused);
    const closed_port = Address.ip4(.{ 127, 0, 0, 1 }, 9);
    if (!try connect(refused, &closed_port)) {
        var wait = [1]std.c.pollfd{.{ .fd = refused, .events = std.c.POLL.OUT, .revents = 0 }};
        _ = std.c.poll(&wait, 1, 1000);
        try testing.expectError(error.ConnectionRefused, pendingError(refused));
    }
}
