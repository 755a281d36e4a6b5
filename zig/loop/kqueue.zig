//! macOS/BSD poll backend: a kqueue with level-triggered read/write filters, an EVFILT_USER
//! event as the wake-up handle (any thread), and a nonblocking self-pipe for signal handlers
//! (kevent is not async-signal-safe, write(2) is). Same shape as epoll.zig.

const std = @import("std");
const descriptor = @import("descriptor.zig");
const errors = @import("errors.zig");
const event = @import("event.zig");

/// EVFILT_USER identifiers live apart from descriptors, so any number works.
const wake_ident: usize = 0x6567; // "eg"

pub const Backend = struct {
    kqueue_fd: event.Fd,
    /// Self-pipe for signal handlers: [0] is in the kqueue, [1] is written by handlers.
    signal_pipe: [2]event.Fd,

    /// The allocator is unused: the kernel holds the set (windows.zig needs one).
    pub fn init(gpa: std.mem.Allocator) errors.Error!Backend {
        _ = gpa;
        const kqueue_fd = std.c.kqueue();
        if (kqueue_fd < 0) return errors.fromErrno(errno());
        errdefer _ = std.c.close(kqueue_fd);
        try setCloseOnExec(kqueue_fd);
        var signal_pipe: [2]event.Fd = undefined;
        if (std.c.pipe(&signal_pipe) != 0) return errors.fromErrno(errno());
        errdefer for (signal_pipe) |fd| {
            _ = std.c.close(fd);
        };
        for (signal_pipe) |fd| {
            try setCloseOnExec(fd);
            try descriptor.setNonBlocking(fd);
        }
        const changes = [_]std.c.Kevent{
            kevent(wake_ident, std.c.EVFILT.USER, std.c.EV.ADD | std.c.EV.CLEAR, 0),
            kevent(@intCast(signal_pipe[0]), std.c.EVFILT.READ, std.c.EV.ADD, 0),
        };
        try apply(kqueue_fd, &changes);
        return .{ .kqueue_fd = kqueue_fd, .signal_pipe = signal_pipe };
    }

    pub fn deinit(backend: *Backend) void {
        for (backend.signal_pipe) |fd| _ = std.c.close(fd);
        _ = std.c.close(backend.kqueue_fd);
        backend.* = undefined;
    }

    /// Registers, changes or removes (new_mask == 0) interest; old_mask is what is registered.
    /// Equal masks re-add the filters (EV_ADD is idempotent): the descriptor may have been
    /// closed and its number reused since, which dropped them.
    pub fn register(backend: *Backend, fd: event.Fd, old_mask: u32, new_mask: u32) errors.Error!void {
        std.debug.assert(old_mask & ~event.interest_mask == 0);
        std.debug.assert(new_mask & ~event.interest_mask == 0);
        if (fd < 0) return error.BadDescriptor;
        if (fd == backend.kqueue_fd or fd == backend.signal_pipe[0] or fd == backend.signal_pipe[1]) {
            return error.InvalidArgument;
        }
        const filters = [_]struct { bit: u32, filter: i32 }{
            .{ .bit = event.readable, .filter = std.c.EVFILT.READ },
            .{ .bit = event.writable, .filter = std.c.EVFILT.WRITE },
        };
        for (filters) |f| {
            const had = old_mask & f.bit != 0;
            const wants = new_mask & f.bit != 0;
            if (!had and !wants) continue;
            if (had and wants and old_mask != new_mask) continue;
            const change = kevent(@intCast(fd), f.filter, if (wants) std.c.EV.ADD else std.c.EV.DELETE, 0);
            apply(backend.kqueue_fd, &.{change}) catch |err| switch (err) {
                // Closing a descriptor removes its filters: nothing left to delete.
                error.NotFound, error.BadDescriptor => if (wants) return err,
                else => return err,
            };
        }
    }

    /// Waits up to timeout_ms and fills `events`; the read and write filters of one descriptor
    /// arrive as two events, which the loop merges.
    pub fn wait(backend: *Backend, events: []event.Event, timeout_ms: i32, woken: *bool) errors.Error!usize {
        std.debug.assert(events.len > 0);
        var raw: [256]std.c.Kevent = undefined;
        const max: usize = @min(raw.len, events.len);
        var timeout: std.c.timespec = undefined;
        const timeout_ptr: ?*const std.c.timespec = if (timeout_ms < 0) null else blk: {
            timeout = .{ .sec = @divTrunc(timeout_ms, 1000), .nsec = @rem(timeout_ms, 1000) * std.time.ns_per_ms };
            break :blk &timeout;
        };
        const rc = std.c.kevent(backend.kqueue_fd, &raw, 0, &raw, @intCast(max), timeout_ptr);
        if (rc < 0) return switch (errno()) {
            .INTR => 0,
            else => |e| errors.fromErrno(e),
        };
        var count: usize = 0;
        for (raw[0..@intCast(rc)]) |ev| {
            if (ev.filter == std.c.EVFILT.USER) {
                woken.* = true;
                continue;
            }
            if (ev.ident == @as(usize, @intCast(backend.signal_pipe[0]))) {
                backend.drainSignalPipe();
                woken.* = true;
                continue;
            }
            var mask: u32 = if (ev.filter == std.c.EVFILT.READ) event.readable else event.writable;
            if (ev.flags & std.c.EV.EOF != 0) mask |= event.hangup;
            if (ev.flags & std.c.EV.ERROR != 0) mask |= event.failed;
            events[count] = .{ .fd = @intCast(ev.ident), .mask = mask };
            count += 1;
        }
        return count;
    }

    /// Interrupts a wait or park from any thread.
    pub fn wake(backend: *const Backend) errors.Error!void {
        const change = kevent(wake_ident, std.c.EVFILT.USER, 0, std.c.NOTE.TRIGGER);
        return apply(backend.kqueue_fd, &.{change});
    }

    /// The descriptor a signal handler writes to (see `notifyFromSignal`).
    pub fn signalFd(backend: *const Backend) event.Fd {
        return backend.signal_pipe[1];
    }

    /// Blocks any thread until the kqueue has an event pending, without harvesting it.
    pub fn park(backend: *const Backend, timeout_ms: i32) errors.Error!bool {
        var fds = [1]std.c.pollfd{.{ .fd = backend.kqueue_fd, .events = std.c.POLL.IN, .revents = 0 }};
        const rc = std.c.poll(&fds, 1, timeout_ms);
        if (rc < 0) return switch (errno()) {
            .INTR => true,
            else => |e| errors.fromErrno(e),
        };
        return rc > 0;
    }

    fn drainSignalPipe(backend: *Backend) void {
        var buffer: [64]u8 = undefined;
        var rounds: u32 = 0;
        while (rounds < 16) : (rounds += 1) {
            if (std.c.read(backend.signal_pipe[0], &buffer, buffer.len) < buffer.len) return;
        }
    }
};

/// Async-signal-safe: one write(2) to the self-pipe; a full pipe already means "wake up".
pub fn notifyFromSignal(fd: event.Fd) void {
    const byte = [1]u8{1};
    _ = std.c.write(fd, &byte, 1);
}

fn kevent(ident: usize, filter: i32, flags: u32, fflags: u32) std.c.Kevent {
    var ev = std.mem.zeroes(std.c.Kevent);
    ev.ident = ident;
    ev.filter = @intCast(filter);
    ev.flags = @intCast(flags);
    ev.fflags = fflags;
    return ev;
}

fn apply(kqueue_fd: event.Fd, changes: []const std.c.Kevent) errors.Error!void {
    var none: [1]std.c.Kevent = undefined;
    if (std.c.kevent(kqueue_fd, changes.ptr, @intCast(changes.len), &none, 0, null) < 0) {
        return errors.fromErrno(errno());
    }
}

fn setCloseOnExec(fd: event.Fd) errors.Error!void {
    if (std.c.fcntl(fd, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return errors.fromErrno(errno());
}

fn errno() std.c.E {
    return std.c.errno(@as(c_int, -1));
}
