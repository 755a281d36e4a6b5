//! Linux poll backend: one level-triggered epoll set plus an eventfd that serves as the
//! wake-up handle (any thread) and the signal handler's self-pipe (write(2) is async-signal-safe).
//! loop.zig picks this file at compile time; kqueue.zig and windows.zig have the same shape.

const std = @import("std");
const errors = @import("errors.zig");
const event = @import("event.zig");

/// epoll user data for the eventfd; user descriptors use their own (non-negative) number.
const wake_key: u64 = 1 << 32;

pub const Backend = struct {
    epoll_fd: event.Fd,
    wake_fd: event.Fd,

    /// The allocator is unused: the kernel holds the set (windows.zig needs one).
    pub fn init(gpa: std.mem.Allocator) errors.Error!Backend {
        _ = gpa;
        const epoll_fd = std.c.epoll_create1(std.os.linux.EPOLL.CLOEXEC);
        if (epoll_fd < 0) return errors.fromErrno(errno());
        errdefer _ = std.c.close(epoll_fd);
        const wake_fd = std.c.eventfd(0, std.os.linux.EFD.CLOEXEC | std.os.linux.EFD.NONBLOCK);
        if (wake_fd < 0) return errors.fromErrno(errno());
        errdefer _ = std.c.close(wake_fd);
        var wake_event: std.os.linux.epoll_event = .{ .events = std.os.linux.EPOLL.IN, .data = .{ .u64 = wake_key } };
        if (std.c.epoll_ctl(epoll_fd, std.os.linux.EPOLL.CTL_ADD, wake_fd, &wake_event) < 0) {
            return errors.fromErrno(errno());
        }
        return .{ .epoll_fd = epoll_fd, .wake_fd = wake_fd };
    }

    pub fn deinit(backend: *Backend) void {
        _ = std.c.close(backend.wake_fd);
        _ = std.c.close(backend.epoll_fd);
        backend.* = undefined;
    }

    /// Registers, changes or removes (new_mask == 0) interest; old_mask is what is registered.
    /// Equal masks re-assert the registration: the descriptor may have been closed and its
    /// number reused since, which epoll saw as a removal.
    pub fn register(backend: *Backend, fd: event.Fd, old_mask: u32, new_mask: u32) errors.Error!void {
        std.debug.assert(old_mask & ~event.interest_mask == 0);
        std.debug.assert(new_mask & ~event.interest_mask == 0);
        if (fd < 0) return error.BadDescriptor;
        if (fd == backend.epoll_fd or fd == backend.wake_fd) return error.InvalidArgument;
        if (old_mask == 0 and new_mask == 0) return;
        if (new_mask == 0) {
            if (std.c.epoll_ctl(backend.epoll_fd, std.os.linux.EPOLL.CTL_DEL, fd, null) == 0) return;
            // Closing a descriptor removes it from the set: nothing left to remove.
            return switch (errno()) {
                .NOENT, .BADF => {},
                else => |e| errors.fromErrno(e),
            };
        }
        var ev: std.os.linux.epoll_event = .{ .events = epollEvents(new_mask), .data = .{ .u64 = @intCast(fd) } };
        const first_op: u32 = if (old_mask == 0) std.os.linux.EPOLL.CTL_ADD else std.os.linux.EPOLL.CTL_MOD;
        if (std.c.epoll_ctl(backend.epoll_fd, first_op, fd, &ev) == 0) return;
        // The descriptor may have been closed and reopened under the same number since we
        // registered it (epoll forgets it on close), or registered by an earlier owner: retry
        // with the other operation before reporting an error.
        const retry_op: u32 = switch (errno()) {
            .NOENT => std.os.linux.EPOLL.CTL_ADD,
            .EXIST => std.os.linux.EPOLL.CTL_MOD,
            .PERM => return error.Unsupported, // regular files cannot be polled
            else => |e| return errors.fromErrno(e),
        };
        if (std.c.epoll_ctl(backend.epoll_fd, retry_op, fd, &ev) < 0) return errors.fromErrno(errno());
    }

    /// Waits up to timeout_ms for readiness and fills `events`; returns how many. The wake-up
    /// is consumed here and reported as `woken`.
    pub fn wait(backend: *Backend, events: []event.Event, timeout_ms: i32, woken: *bool) errors.Error!usize {
        std.debug.assert(events.len > 0);
        var raw: [256]std.os.linux.epoll_event = undefined;
        const max: usize = @min(raw.len, events.len);
        const rc = std.c.epoll_wait(backend.epoll_fd, &raw, @intCast(max), timeout_ms);
        if (rc < 0) return switch (errno()) {
            .INTR => 0, // a signal arrived: the caller checks signals and polls again
            else => |e| errors.fromErrno(e),
        };
        var count: usize = 0;
        for (raw[0..@intCast(rc)]) |ev| {
            if (ev.data.u64 == wake_key) {
                backend.drainWake();
                woken.* = true;
                continue;
            }
            events[count] = .{ .fd = @intCast(ev.data.u64), .mask = readinessMask(ev.events) };
            count += 1;
        }
        std.debug.assert(count <= max);
        return count;
    }

    /// Interrupts a wait or park. Safe from any thread and from signal handlers.
    pub fn wake(backend: *const Backend) errors.Error!void {
        return wakeFd(backend.wake_fd);
    }

    /// The descriptor a signal handler writes to (see `wakeFd`).
    pub fn signalFd(backend: *const Backend) event.Fd {
        return backend.wake_fd;
    }

    /// Blocks the calling thread (any thread) until the set has something ready, without
    /// harvesting it: poll(2) on the epoll descriptor reports it readable when any member is.
    pub fn park(backend: *const Backend, timeout_ms: i32) errors.Error!bool {
        var fds = [1]std.c.pollfd{.{ .fd = backend.epoll_fd, .events = std.c.POLL.IN, .revents = 0 }};
        const rc = std.c.poll(&fds, 1, timeout_ms);
        if (rc < 0) return switch (errno()) {
            .INTR => true, // a signal arrived: let the owner poll
            else => |e| errors.fromErrno(e),
        };
        return rc > 0;
    }

    fn drainWake(backend: *Backend) void {
        var value: u64 = 0;
        // A nonblocking eventfd read resets the counter; EAGAIN means already drained.
        _ = std.c.read(backend.wake_fd, @ptrCast(&value), @sizeOf(u64));
    }
};

/// Async-signal-safe: one write(2) to an eventfd.
pub fn wakeFd(fd: event.Fd) errors.Error!void {
    const one: u64 = 1;
    if (std.c.write(fd, @ptrCast(&one), @sizeOf(u64)) == @sizeOf(u64)) return;
    return switch (errno()) {
        .AGAIN => {}, // the counter is saturated: a wake-up is pending anyway
        else => |e| errors.fromErrno(e),
    };
}

fn errno() std.c.E {
    // c.errno reads the thread's errno when given the failure value -1.
    return std.c.errno(@as(c_int, -1));
}

fn epollEvents(mask: u32) u32 {
    var events: u32 = 0;
    if (mask & event.readable != 0) events |= std.os.linux.EPOLL.IN | std.os.linux.EPOLL.RDHUP;
    if (mask & event.writable != 0) events |= std.os.linux.EPOLL.OUT;
    return events;
}

fn readinessMask(events: u32) u32 {
    var mask: u32 = 0;
    if (events & (std.os.linux.EPOLL.IN | std.os.linux.EPOLL.RDHUP | std.os.linux.EPOLL.HUP | std.os.linux.EPOLL.PRI) != 0) mask |= event.readable;
    if (events & std.os.linux.EPOLL.OUT != 0) mask |= event.writable;
    if (events & std.os.linux.EPOLL.ERR != 0) mask |= event.failed | event.readable | event.writable;
    if (events & (std.os.linux.EPOLL.HUP | std.os.linux.EPOLL.RDHUP) != 0) mask |= event.hangup;
    return mask;
}

/// For signal handlers: wakeFd without an error to report (there is nobody to report it to).
pub fn notifyFromSignal(fd: event.Fd) void {
    wakeFd(fd) catch {};
}
