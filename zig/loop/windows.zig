//! Windows poll backend: WSAPoll over the watched sockets plus a loopback UDP socket connected
//! to itself as the wake-up handle (a send from any thread makes it readable). WSAPoll has no
//! kernel-side set, so the set is an array here, and park polls a snapshot of it.
//! Same shape as epoll.zig.

const std = @import("std");
const errors = @import("errors.zig");
const event = @import("event.zig");
const SpinLock = @import("spin_lock.zig").SpinLock;
const winsock = @import("winsock.zig");

pub const Backend = struct {
    gpa: std.mem.Allocator,
    wake_socket: winsock.SOCKET,
    /// fds[0] is the wake socket; the owner thread changes the array under `lock` only.
    fds: std.ArrayList(winsock.WSAPOLLFD),
    positions: std.AutoHashMapUnmanaged(winsock.SOCKET, u32),
    lock: SpinLock = .{},
    /// park's own copy of the set: WSAPoll writes revents, and the owner may poll meanwhile.
    park_fds: std.ArrayList(winsock.WSAPOLLFD),
    scan_start: u32 = 1,

    pub fn init(gpa: std.mem.Allocator) errors.Error!Backend {
        try winsock.start();
        errdefer winsock.stop();
        const wake_socket = try selfConnectedUdp();
        errdefer _ = winsock.closesocket(wake_socket);
        var fds: std.ArrayList(winsock.WSAPOLLFD) = .empty;
        errdefer fds.deinit(gpa);
        try fds.append(gpa, .{ .fd = wake_socket, .events = winsock.POLLIN, .revents = 0 });
        return .{
            .gpa = gpa,
            .wake_socket = wake_socket,
            .fds = fds,
            .positions = .empty,
            .park_fds = .empty,
        };
    }

    pub fn deinit(backend: *Backend) void {
        _ = winsock.closesocket(backend.wake_socket);
        backend.fds.deinit(backend.gpa);
        backend.park_fds.deinit(backend.gpa);
        backend.positions.deinit(backend.gpa);
        winsock.stop();
        backend.* = undefined;
    }

    /// Registers, changes or removes (new_mask == 0) interest; old_mask is what is registered.
    pub fn register(backend: *Backend, fd: event.Fd, old_mask: u32, new_mask: u32) errors.Error!void {
        std.debug.assert(old_mask & ~event.interest_mask == 0);
        std.debug.assert(new_mask & ~event.interest_mask == 0);
        if (fd == winsock.invalid_socket) return error.BadDescriptor;
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
            std.debug.assert(position > 0);
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
        std.debug.assert(events.len > 0);
        const fds = backend.fds.items;
        const rc = winsock.WSAPoll(fds.ptr, @intCast(fds.len), timeout_ms);
        if (rc == winsock.socket_error) return winsock.lastError();
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

    pub fn signalFd(backend: *const Backend) event.Fd {
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
        const rc = winsock.WSAPoll(fds.ptr, @intCast(fds.len), timeout_ms);
        if (rc == winsock.socket_error) return winsock.lastError();
        return rc > 0;
    }

    fn drainWake(backend: *Backend) void {
        var buffer: [64]u8 = undefined;
        var rounds: u32 = 0;
        while (rounds < 64) : (rounds += 1) {
            if (winsock.recv(backend.wake_socket, &buffer, buffer.len, 0) <= 0) return;
        }
    }
};

/// Console control handlers run on their own thread, so a plain send is fine there.
pub fn notifyFromSignal(fd: event.Fd) void {
    wakeSocket(fd) catch {};
}

fn wakeSocket(s: winsock.SOCKET) errors.Error!void {
    const byte = [1]u8{1};
    if (winsock.send(s, &byte, 1, 0) == 1) return;
    return switch (winsock.lastError()) {
        error.WouldBlock, error.NoBufferSpace => {}, // datagrams already queued: a wake is pending
        else => |err| err,
    };
}

/// A nonblocking UDP socket on 127.0.0.1 connected to its own address.
fn selfConnectedUdp() errors.Error!winsock.SOCKET {
    const s = winsock.socket(winsock.AF_INET, winsock.SOCK_DGRAM, 0);
    if (s == winsock.invalid_socket) return winsock.lastError();
    errdefer _ = winsock.closesocket(s);
    var address: winsock.sockaddr_in = .{ .port = 0, .addr = winsock.loopback };
    if (winsock.bind(s, &address, @sizeOf(winsock.sockaddr_in)) != 0) return winsock.lastError();
    var length: i32 = @sizeOf(winsock.sockaddr_in);
    if (winsock.getsockname(s, &address, &length) != 0) return winsock.lastError();
    if (winsock.connect(s, &address, @sizeOf(winsock.sockaddr_in)) != 0) return winsock.lastError();
    try winsock.setNonBlocking(s);
    return s;
}

fn pollEvents(mask: u32) i16 {
    var events: i16 = 0;
    if (mask & event.readable != 0) events |= winsock.POLLIN;
    if (mask & event.writable != 0) events |= winsock.POLLOUT;
    return events;
}

fn readinessMask(revents: i16) u32 {
    var mask: u32 = 0;
    if (revents & (winsock.POLLIN | winsock.POLLHUP) != 0) mask |= event.readable;
    if (revents & winsock.POLLOUT != 0) mask |= event.writable;
    if (revents & (winsock.POLLERR | winsock.POLLNVAL) != 0) mask |= event.failed | event.readable | event.writable;
    if (revents & winsock.POLLHUP != 0) mask |= event.hangup;
    return mask;
}
