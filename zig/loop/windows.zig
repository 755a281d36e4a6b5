//! Windows poll backend: WSAPoll over the watched sockets plus a loopback UDP socket connected
//! to itself as the wake-up handle (a send from any thread makes it readable). WSAPoll has no
//! kernel-side set, so the set is an array here, and park polls a snapshot of it.
//! Same shape as epoll.zig.

const std = @import("std");
const assert = std.debug.assert;
const errors = @import("errors.zig");
const event = @import("event.zig");
const SpinLock = @import("spin_lock.zig").SpinLock;
const sys = @import("winsock.zig");

const Fd = event.Fd;

pub const Backend = struct {
    gpa: std.mem.Allocator,
    wake_socket: sys.SOCKET,
    /// fds[0] is the wake socket; the owner thread changes the array under `lock` only.
    fds: std.ArrayList(sys.WSAPOLLFD),
    positions: std.AutoHashMapUnmanaged(sys.SOCKET, u32),
    lock: SpinLock = .{},
    /// park's own copy of the set: WSAPoll writes revents, and the owner may poll meanwhile.
    park_fds: std.ArrayList(sys.WSAPOLLFD),
    scan_start: u32 = 1,

    pub fn init(gpa: std.mem.Allocator) errors.Error!Backend {
        var data: sys.WSADATA = undefined;
        if (sys.WSAStartup(0x0202, &data) != 0) return error.Unsupported;
        errdefer _ = sys.WSACleanup();
        const wake_socket = try selfConnectedUdp();
        errdefer _ = sys.closesocket(wake_socket);
        var fds: std.ArrayList(sys.WSAPOLLFD) = .empty;
        errdefer fds.deinit(gpa);
        try fds.append(gpa, .{ .fd = wake_socket, .events = sys.POLLIN, .revents = 0 });
        return .{
            .gpa = gpa,
            .wake_socket = wake_socket,
            .fds = fds,
            .positions = .empty,
            .park_fds = .empty,
        };
    }

    pub fn deinit(backend: *Backend) void {
        _ = sys.closesocket(backend.wake_socket);
        backend.fds.deinit(backend.gpa);
        backend.park_fds.deinit(backend.gpa);
        backend.positions.deinit(backend.gpa);
        _ = sys.WSACleanup();
        backend.* = undefined;
    }

    /// Registers, changes or removes (new_mask == 0) interest; old_mask is what is registered.
    pub fn register(backend: *Backend, fd: Fd, old_mask: u32, new_mask: u32) errors.Error!void {
        assert(old_mask & ~event.interest_mask == 0);
        assert(new_mask & ~event.interest_mask == 0);
        if (fd == sys.invalid_socket) return error.BadDescriptor;
        if (fd == backend.wake_socket) return error.InvalidArgument;
        // Equal masks: WSAPoll keeps no kernel-side state that a closed socket could drop.
        if (old_mask == new_mask) return;
        try backend.positions.ensureUnusedCapacity(backend.gpa, 1);
        try backend.fds.ensureUnusedCapacity(backend.gpa, 1);
        backend.lock.lock() catch return error.Busy;
        defer backend.lock.unlock();
        const found = backend.positions.get(fd);
        if (new_mask == 0) {
            const position = found orelse return;
            assert(position > 0);
            const last = backend.fds.items.len - 1;
            backend.fds.items[position] = backend.fds.items[last];
            backend.fds.items.len = last;
            _ = backend.positions.remove(fd);
            if (position != last) backend.positions.putAssumeCapacity(backend.fds.items[position].fd, position);
            return;
        }
        const events = pollEvents(new_mask);
        if (found) |position| {
            backend.fds.items[position].events = events;
        } else {
            const position: u32 = @intCast(backend.fds.items.len);
            backend.fds.appendAssumeCapacity(.{ .fd = fd, .events = events, .revents = 0 });
            backend.positions.putAssumeCapacity(fd, position);
        }
    }

    /// Waits up to timeout_ms; reports at most events.len ready sockets, starting the scan
    /// where the last one stopped so that a long ready list cannot starve its tail.
    pub fn wait(backend: *Backend, events: []event.Event, timeout_ms: i32, woken: *bool) errors.Error!usize {
        assert(events.len > 0);
        const fds = backend.fds.items;
        const rc = sys.WSAPoll(fds.ptr, @intCast(fds.len), timeout_ms);
        if (rc == sys.socket_error) return sys.lastError();
        if (rc == 0) return 0;
        if (fds[0].revents != 0) {
            backend.drainWake();
            woken.* = true;
        }
        var count: usize = 0;
        const total = fds.len - 1;
        if (total == 0) return 0;
        if (backend.scan_start > total) backend.scan_start = 1;
        var scanned: usize = 0;
        var position: usize = backend.scan_start;
        while (scanned < total and count < events.len) : (scanned += 1) {
            const pollfd = fds[position];
            if (pollfd.revents != 0) {
                events[count] = .{ .fd = pollfd.fd, .mask = readinessMask(pollfd.revents) };
                count += 1;
            }
            position = if (position == total) 1 else position + 1;
        }
        backend.scan_start = @intCast(position);
        return count;
    }

    /// Interrupts a wait or park from any thread: one datagram to the wake socket.
    pub fn wake(backend: *const Backend) errors.Error!void {
        return wakeSocket(backend.wake_socket);
    }

    pub fn signalFd(backend: *const Backend) Fd {
        return backend.wake_socket;
    }

    /// Blocks any thread until a watched socket (or the wake socket) is ready, polling a
    /// snapshot of the set taken under the lock.
    pub fn park(backend: *Backend, timeout_ms: i32) errors.Error!bool {
        {
            backend.lock.lock() catch return error.Busy;
            defer backend.lock.unlock();
            try backend.park_fds.resize(backend.gpa, backend.fds.items.len);
            for (backend.park_fds.items, backend.fds.items) |*copy, pollfd| {
                copy.* = .{ .fd = pollfd.fd, .events = pollfd.events, .revents = 0 };
            }
        }
        const fds = backend.park_fds.items;
        const rc = sys.WSAPoll(fds.ptr, @intCast(fds.len), timeout_ms);
        if (rc == sys.socket_error) return sys.lastError();
        return rc > 0;
    }

    fn drainWake(backend: *Backend) void {
        var buffer: [64]u8 = undefined;
        var rounds: u32 = 0;
        while (rounds < 64) : (rounds += 1) {
            if (sys.recv(backend.wake_socket, &buffer, buffer.len, 0) <= 0) return;
        }
    }
};

/// Console control handlers run on their own thread, so a plain send is fine there.
pub fn notifyFromSignal(fd: Fd) void {
    wakeSocket(fd) catch {};
}

fn wakeSocket(s: sys.SOCKET) errors.Error!void {
    const byte = [1]u8{1};
    if (sys.send(s, &byte, 1, 0) == 1) return;
    return switch (sys.lastError()) {
        error.WouldBlock, error.NoBufferSpace => {}, // datagrams already queued: a wake is pending
        else => |err| err,
    };
}

/// A nonblocking UDP socket on 127.0.0.1 connected to its own address.
fn selfConnectedUdp() errors.Error!sys.SOCKET {
    const s = sys.socket(sys.AF_INET, sys.SOCK_DGRAM, 0);
    if (s == sys.invalid_socket) return sys.lastError();
    errdefer _ = sys.closesocket(s);
    var address: sys.sockaddr_in = .{ .port = 0, .addr = sys.loopback };
    if (sys.bind(s, &address, @sizeOf(sys.sockaddr_in)) != 0) return sys.lastError();
    var length: i32 = @sizeOf(sys.sockaddr_in);
    if (sys.getsockname(s, &address, &length) != 0) return sys.lastError();
    if (sys.connect(s, &address, @sizeOf(sys.sockaddr_in)) != 0) return sys.lastError();
    try sys.setNonBlocking(s);
    return s;
}

fn pollEvents(mask: u32) i16 {
    var events: i16 = 0;
    if (mask & event.readable != 0) events |= sys.POLLIN;
    if (mask & event.writable != 0) events |= sys.POLLOUT;
    return events;
}

fn readinessMask(revents: i16) u32 {
    var mask: u32 = 0;
    if (revents & (sys.POLLIN | sys.POLLHUP) != 0) mask |= event.readable;
    if (revents & sys.POLLOUT != 0) mask |= event.writable;
    if (revents & (sys.POLLERR | sys.POLLNVAL) != 0) mask |= event.failed | event.readable | event.writable;
    if (revents & sys.POLLHUP != 0) mask |= event.hangup;
    return mask;
}
