//! Linux poll backend: one level-triggered epoll set plus an eventfd that serves as the
//! wake-up handle (any thread) and the signal handler's self-pipe (write(2) is async-signal-safe).
//! loop.zig picks this file at compile time; kqueue.zig and windows.zig have the same shape.

const std = @import("std");
const errors = @import("errors.zig");
const event = @import("event.zig");

/// epoll user data for the eventfd and the timerfd; user descriptors use their own
/// (non-negative) number.
pub const wake_key: u64 = 1 << 32;
const timer_key: u64 = wake_key + 1;

pub const Backend = struct {
    epoll_fd: event.Fd,
    wake_fd: event.Fd,
    /// A wait with a timeout sleeps in epoll_wait(-1) until this timerfd fires instead of
    /// passing the timeout to epoll_wait. epoll arms a kernel timer on every such wait and
    /// cancels it when an event comes first; when that timer is the CPU's next one, both steps
    /// reprogram the CPU's timer device, which a virtual machine pays for with exits. A server
    /// that waits "up to 1 ms" for each request paid that twice per request (one-CPU ping-pong
    /// with the peer: 58k against 80k round trips/s in C). The timerfd keeps its deadline
    /// across waits: a wait re-arms it only when it must fire sooner.
    timer_fd: event.Fd,
    /// The timerfd's armed deadline (CLOCK_MONOTONIC ns), 0 when disarmed or fired.
    timer_deadline_ns: u64 = 0,
    /// How many times the timerfd was armed (tests read it).
    timer_arms: u32 = 0,

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
        const timer_flags: std.os.linux.TFD = .{ .CLOEXEC = true, .NONBLOCK = true };
        const timer_fd = std.c.timerfd_create(.MONOTONIC, @bitCast(timer_flags));
        if (timer_fd < 0) return errors.fromErrno(errno());
        errdefer _ = std.c.close(timer_fd);
        var timer_event: std.os.linux.epoll_event = .{ .events = std.os.linux.EPOLL.IN, .data = .{ .u64 = timer_key } };
        if (std.c.epoll_ctl(epoll_fd, std.os.linux.EPOLL.CTL_ADD, timer_fd, &timer_event) < 0) {
            return errors.fromErrno(errno());
        }
        return .{ .epoll_fd = epoll_fd, .wake_fd = wake_fd, .timer_fd = timer_fd };
    }

    pub fn deinit(backend: *Backend) void {
        _ = std.c.close(backend.timer_fd);
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
        if (fd == backend.epoll_fd or fd == backend.wake_fd or fd == backend.timer_fd) {
            return error.InvalidArgument;
        }
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
    /// is consumed here and reported as `woken`. A wait with a timeout may end sooner with
    /// nothing (at a deadline an earlier wait armed), as a signal's EINTR does.
    pub fn wait(backend: *Backend, events: []event.Event, timeout_ms: i32, woken: *bool) errors.Error!usize {
        std.debug.assert(events.len > 0);
        var raw: [256]std.os.linux.epoll_event = undefined;
        const max: usize = @min(raw.len, events.len);
        const epoll_timeout: i32 = if (timeout_ms > 0) try backend.armTimer(timeout_ms) else timeout_ms;
        const rc = std.c.epoll_wait(backend.epoll_fd, &raw, @intCast(max), epoll_timeout);
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
            if (ev.data.u64 == timer_key) {
                backend.drainTimer();
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

    /// Makes the timerfd fire within timeout_ms (> 0) from now, keeping an armed deadline
    /// that comes no later; returns the timeout for epoll_wait: -1, or the plain timeout where
    /// the timerfd cannot be armed.
    fn armTimer(backend: *Backend, timeout_ms: i32) errors.Error!i32 {
        const want = event.monotonicNs() + @as(u64, @intCast(timeout_ms)) * std.time.ns_per_ms;
        if (backend.timer_deadline_ns != 0 and backend.timer_deadline_ns <= want) return -1;
        const spec: std.c.itimerspec = .{
            .it_interval = .{ .sec = 0, .nsec = 0 },
            .it_value = .{
                .sec = @intCast(want / std.time.ns_per_s),
                .nsec = @intCast(want % std.time.ns_per_s),
            },
        };
        const abstime: std.os.linux.TFD.TIMER = .{ .ABSTIME = true };
        if (std.c.timerfd_settime(backend.timer_fd, @bitCast(abstime), &spec, null) < 0) {
            return timeout_ms;
        }
        backend.timer_deadline_ns = want;
        backend.timer_arms +%= 1;
        return -1;
    }

    fn drainTimer(backend: *Backend) void {
        var expirations: u64 = 0;
        // Nonblocking: EAGAIN means it was re-armed (for later) since it fired.
        _ = std.c.read(backend.timer_fd, @ptrCast(&expirations), @sizeOf(u64));
        if (backend.timer_deadline_ns <= event.monotonicNs()) backend.timer_deadline_ns = 0;
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
