//! The poll loop: one public `Loop` type whose backend (epoll, kqueue or WSAPoll) is chosen at
//! compile time. It keeps the interest table (JS watchers and hub op waiters per descriptor),
//! turns readiness and signals into completion records in the shared ring, and hands ready op
//! waiters to the hub (hub/hub.zig), which resumes their stacklets.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("errors.zig");
const event = @import("event.zig");
const ring = @import("ring.zig");
const signals = @import("signals.zig");
const host_io = @import("host_io.zig");

/// This OS's poll backend; the three files have the same shape.
const backend_file = switch (builtin.os.tag) {
    .linux => @import("epoll.zig"),
    .macos, .ios, .freebsd, .netbsd, .openbsd, .dragonfly => @import("kqueue.zig"),
    .windows => @import("windows.zig"),
    else => @compileError("evergreen has no poll backend for this OS"),
};

/// Readiness events taken from the backend per poll; more stay pending (level-triggered).
const events_max = 256;
/// How long a poll that would sleep first polls awake (see Loop.spin). Measured with
/// bench/tcp_crossprocess.ts; it costs an idle loop nothing, since only a wake-up starts it.
const spin_ns: u64 = 50_000;
/// A bound on the spin's zero-timeout waits should the clock stall.
const spin_rounds_max: u32 = 10_000;
/// After a spin that found nothing, the next this many would-be spins are skipped (doubling per
/// fruitless spin up to this bound, back to none after a spin that caught an event): when the
/// peer shares this CPU, or answers slower than spin_ns, spinning only takes the CPU from it.
const spin_skips_max: u32 = 64;
const spin_supported = builtin.os.tag != .windows;

pub const Options = struct {
    ring_capacity: u32 = 4096,
    /// The overflow queue's first size; it grows on demand up to overflowMax().
    overflow_capacity: u32 = 2048,
    /// How far the overflow queue may grow (0: not beyond overflow_capacity). Must exceed the
    /// hub's ops_max: each live op reserves a slot for its final completion.
    overflow_capacity_max: u32 = 0,
    watches_max: u32 = 1 << 16,

    pub fn overflowMax(options: Options) u32 {
        return @max(options.overflow_capacity, options.overflow_capacity_max);
    }
};

/// A hub op blocked on a descriptor. Lives inside the op; the loop only links it.
pub const Waiter = struct {
    next: ?*Waiter = null,
    fd: event.Fd = undefined,
    /// Readiness mask the waiter was woken with; 0 when canceled.
    ready: u32 = 0,
    canceled: bool = false,
    /// In the runnable list (not in the interest table).
    queued: bool = false,
};

pub const Direction = enum { read, write };

const Interest = struct {
    /// JS watcher mask and token (addReader/addWriter semantics).
    watched: u32 = 0,
    token: u32 = 0,
    reader: ?*Waiter = null,
    writer: ?*Waiter = null,
    /// Mask currently registered with the backend.
    registered: u32 = 0,
    /// Readiness gathered this poll (kqueue reports read and write separately).
    ready: u32 = 0,
    dirty: bool = false,

    fn desired(interest: *const Interest) u32 {
        var mask = interest.watched;
        if (interest.reader != null) mask |= event.readable;
        if (interest.writer != null) mask |= event.writable;
        return mask;
    }
};

pub const Loop = struct {
    gpa: std.mem.Allocator,
    options: Options,
    backend: backend_file.Backend,
    ring: ring.Ring,
    interests: std.AutoHashMapUnmanaged(event.Fd, Interest) = .empty,
    /// Descriptors with readiness gathered this poll, in arrival order.
    ready_fds: std.ArrayList(event.Fd) = .empty,
    /// Descriptors whose registration may shrink; synced before the next wait so that an op
    /// that waits again right after being woken costs no epoll_ctl.
    dirty_fds: std.ArrayList(event.Fd) = .empty,
    runnable_head: ?*Waiter = null,
    runnable_tail: ?*Waiter = null,
    signal_registration: ?u32 = null,
    signal_watched: std.StaticBitSet(signals.signal_max + 1) = .empty,
    signal_tokens: [signals.signal_max + 1]u32 = @splat(0),
    /// Signal counts kept back because the ring was full (their wake-up is consumed).
    signal_backlog: bool = false,
    /// Read by park on another thread: poll(0) has something to report without any readiness.
    park_hint: std.atomic.Value(bool) = .init(false),
    /// Readiness came since the last wait that slept through without any: descriptors are
    /// busy, so a wait spins first.
    io_recently: bool = false,
    /// Whether this thread may run on more than one CPU (sched_getaffinity): with a single
    /// one, a spin can only keep the event's sender from running, so the loop never spins.
    spin_enabled: bool = false,
    /// Would-be spins still to skip, and how many the next fruitless spin makes skip.
    spin_skips: u32 = 0,
    spin_backoff: u32 = 0,
    /// The host runtime's epoll sets (host_io.zig), found on first use.
    host_io: host_io.HostIo = .{},

    pub fn init(gpa: std.mem.Allocator, options: Options) errors.Error!Loop {
        if (options.watches_max == 0 or options.overflow_capacity == 0) return error.InvalidArgument;
        var completions = try ring.Ring.init(gpa, options.ring_capacity, options.overflow_capacity, options.overflowMax());
        errdefer completions.deinit(gpa);
        var backend = try backend_file.Backend.init(gpa);
        errdefer backend.deinit();
        var loop: Loop = .{ .gpa = gpa, .options = options, .backend = backend, .ring = completions };
        loop.spin_enabled = spin_supported and (std.Thread.getCpuCount() catch 1) > 1;
        errdefer loop.ready_fds.deinit(gpa);
        try loop.ready_fds.ensureTotalCapacity(gpa, events_max);
        return loop;
    }

    /// Frees everything. The hub must have finished or canceled its ops (no waiters left).
    pub fn deinit(loop: *Loop) void {
        std.debug.assert(loop.runnable_head == null);
        if (loop.signal_registration) |registration| signals.unregister(registration);
        loop.interests.deinit(loop.gpa);
        loop.ready_fds.deinit(loop.gpa);
        loop.dirty_fds.deinit(loop.gpa);
        loop.backend.deinit();
        loop.ring.deinit(loop.gpa);
        loop.* = undefined;
    }

    /// Watches fd for `events` (readable|writable), replacing the previous mask; 0 unwatches.
    /// Readiness is reported every poll while it lasts.
    pub fn watch(loop: *Loop, fd: event.Fd, events: u32, token: u32) errors.Error!void {
        if (events & ~event.interest_mask != 0) return error.InvalidArgument;
        if (events == 0) return loop.unwatch(fd);
        const interest = try loop.interestFor(fd);
        const previous = interest.*;
        interest.watched = events;
        interest.token = token;
        loop.reassert(fd, interest) catch |err| {
            interest.watched = previous.watched;
            interest.token = previous.token;
            loop.forgetIfIdle(fd, interest);
            return err;
        };
    }

    /// Stops the JS watcher of fd; NotFound if there is none.
    pub fn unwatch(loop: *Loop, fd: event.Fd) errors.Error!void {
        const interest = loop.interests.getPtr(fd) orelse return error.NotFound;
        if (interest.watched == 0) return error.NotFound;
        interest.watched = 0;
        interest.ready = 0;
        loop.sync(fd, interest) catch {
            // The descriptor is gone (closed): nothing is registered any more.
            interest.registered = interest.desired();
        };
        loop.forgetIfIdle(fd, interest);
    }

    /// Reports `signo` as signal records carrying `token` until unwatched.
    pub fn watchSignal(loop: *Loop, signo: i32, token: u32) errors.Error!void {
        const number = try signals.validate(signo);
        const registration = loop.signal_registration orelse blk: {
            const index = try signals.register(loop.backend.signalFd(), backend_file.notifyFromSignal);
            loop.signal_registration = index;
            break :blk index;
        };
        if (!loop.signal_watched.isSet(number)) try signals.watch(registration, signo);
        loop.signal_watched.set(number);
        loop.signal_tokens[number] = token;
    }

    pub fn unwatchSignal(loop: *Loop, signo: i32) errors.Error!void {
        const number = try signals.validate(signo);
        if (!loop.signal_watched.isSet(number)) return error.NotFound;
        try signals.unwatch(loop.signal_registration.?, signo);
        loop.signal_watched.unset(number);
    }

    /// Whether the host runtime (Deno) has I/O events it has not collected (host_io.zig).
    pub fn hostIo(loop: *Loop) host_io.State {
        return loop.host_io.state(if (builtin.os.tag == .linux) backend_file.wake_key else 0);
    }

    /// Wakes a poll or park in progress. Any thread.
    pub fn wake(loop: *const Loop) errors.Error!void {
        return loop.backend.wake();
    }

    /// Waits (any thread) until poll would find something, on wake, or on timeout; never
    /// touches the ring or the interest table. Returns false on timeout.
    pub fn park(loop: *Loop, timeout_ms: i32) errors.Error!bool {
        if (loop.park_hint.load(.acquire)) return true;
        return loop.backend.park(timeout_ms);
    }

    /// Parks a hub op on fd until it is ready in `direction`; at most one op per direction.
    pub fn addWaiter(loop: *Loop, fd: event.Fd, direction: Direction, waiter: *Waiter) errors.Error!void {
        std.debug.assert(!waiter.queued);
        const interest = try loop.interestFor(fd);
        const slot = switch (direction) {
            .read => &interest.reader,
            .write => &interest.writer,
        };
        if (slot.* != null) {
            loop.forgetIfIdle(fd, interest);
            return error.Busy;
        }
        waiter.* = .{ .fd = fd };
        slot.* = waiter;
        // Registering now reports a bad descriptor to the op that passed it.
        if (interest.desired() & ~interest.registered != 0) {
            loop.sync(fd, interest) catch |err| {
                slot.* = null;
                loop.forgetIfIdle(fd, interest);
                return err;
            };
        }
    }

    /// Takes back a waiter that was not woken (its op could not suspend, or is being dropped).
    pub fn removeWaiter(loop: *Loop, waiter: *Waiter) void {
        std.debug.assert(!waiter.queued);
        const interest = loop.interests.getPtr(waiter.fd) orelse return;
        inline for (.{ &interest.reader, &interest.writer }) |slot| {
            if (slot.* == waiter) slot.* = null;
        }
        loop.markDirty(waiter.fd, interest);
    }

    /// Wakes every op waiting on fd with `canceled` set, cancels those already woken but not
    /// yet resumed, and drops fd's op interest from the backend now rather than at the next
    /// poll. Call it before closing fd: the OS may hand the number out again at once, and a
    /// registration kept for the old descriptor would make the new one's first wait hang.
    pub fn cancelWaiters(loop: *Loop, fd: event.Fd) void {
        var queued = loop.runnable_head;
        while (queued) |waiter| : (queued = waiter.next) {
            if (waiter.fd == fd) waiter.canceled = true;
        }
        const interest = loop.interests.getPtr(fd) orelse return;
        inline for (.{ &interest.reader, &interest.writer }) |slot| {
            if (slot.*) |waiter| {
                slot.* = null;
                waiter.canceled = true;
                loop.makeRunnable(waiter);
            }
        }
        if (interest.dirty) {
            interest.dirty = false;
            const index = std.mem.indexOfScalar(event.Fd, loop.dirty_fds.items, fd).?;
            _ = loop.dirty_fds.swapRemove(index);
        }
        loop.sync(fd, interest) catch {
            // Already closed: the kernel dropped the registration with the descriptor.
            interest.registered = interest.desired();
        };
        loop.forgetIfIdle(fd, interest);
    }

    /// Takes the ops made runnable so far, oldest first (the hub resumes them).
    pub fn takeRunnable(loop: *Loop) ?*Waiter {
        const head = loop.runnable_head;
        loop.runnable_head = null;
        loop.runnable_tail = null;
        return head;
    }

    pub fn hasRunnable(loop: *const Loop) bool {
        return loop.runnable_head != null;
    }

    /// One loop turn: moves queued records into the ring, waits up to timeout_ms (0: no wait,
    /// negative: forever) unless something is already pending, then records signals and
    /// readiness and queues woken op waiters.
    pub fn poll(loop: *Loop, timeout_ms: i32) errors.Error!void {
        try loop.ring.flushOverflow();
        try loop.syncDirty();
        const pending = loop.ring.overflow_len > 0 or loop.runnable_head != null or
            loop.signal_backlog or try loop.ring.free() == 0;
        var events: [events_max]event.Event = undefined;
        var woken = false;
        var count: usize = 0;
        if (pending or timeout_ms == 0) {
            count = try loop.backend.wait(&events, 0, &woken);
        } else {
            if (loop.io_recently and loop.spinPays()) count = try loop.spin(&events, &woken);
            if (count == 0 and !woken) {
                count = try loop.backend.wait(&events, timeout_ms, &woken);
                // Slept through a whole wait without readiness: the descriptors went quiet.
                if (count == 0) loop.io_recently = false;
            }
        }
        if (count > 0) loop.io_recently = true;
        try loop.collectSignals();
        for (events[0..count]) |ready| loop.dispatch(ready);
        try loop.emitReadiness();
        loop.updateParkHint(false);
    }

    /// Before a wait that would sleep, when the last poll found readiness: polls without
    /// sleeping for up to spin_ns (a loop that only wakes for timers never spins). When the next
    /// event comes from another process on the other core (a request to a server), catching
    /// it awake saves the kernel's wake-up of this thread, most of a cross-process round trip.
    fn spin(loop: *Loop, events: []event.Event, woken: *bool) errors.Error!usize {
        // Comptime-known: Windows builds compile no spin (nor its libc clock).
        if (!spin_supported) return 0;
        std.debug.assert(loop.spin_enabled);
        const deadline = event.monotonicNs() + spin_ns;
        var round: u32 = 0;
        while (round < spin_rounds_max) : (round += 1) {
            const count = try loop.backend.wait(events, 0, woken);
            if (count > 0 or woken.*) {
                loop.spin_backoff = 0;
                return count;
            }
            if (event.monotonicNs() >= deadline) break;
        }
        // Found nothing: back off, so that a peer that is slow or shares this CPU stops
        // paying for spins that cannot catch it.
        loop.spin_backoff = @min(@max(loop.spin_backoff * 2, 1), spin_skips_max);
        loop.spin_skips = loop.spin_backoff;
        return 0;
    }

    /// Whether this would-be spin runs: never on a single CPU, and not while backing off
    /// after fruitless ones (each call counts one skip).
    fn spinPays(loop: *Loop) bool {
        if (!loop.spin_enabled) return false;
        if (loop.spin_skips == 0) return true;
        loop.spin_skips -= 1;
        return false;
    }

    /// Recomputes the hint park reads; the hub calls it after running ops, with `more_work`
    /// set when it has ops to resume that no readiness will announce.
    pub fn updateParkHint(loop: *Loop, more_work: bool) void {
        const pending = more_work or loop.ring.overflow_len > 0 or loop.runnable_head != null or
            loop.signal_backlog;
        loop.park_hint.store(pending, .release);
    }

    /// Posts a record that must not be lost (ring, else overflow queue).
    pub fn post(loop: *Loop, record: ring.Record) errors.Error!void {
        return loop.ring.post(record);
    }

    fn interestFor(loop: *Loop, fd: event.Fd) errors.Error!*Interest {
        if (loop.interests.getPtr(fd)) |interest| return interest;
        if (loop.interests.count() >= loop.options.watches_max) return error.TooManyOpenFiles;
        try loop.dirty_fds.ensureTotalCapacity(loop.gpa, loop.interests.count() + 1);
        const entry = try loop.interests.getOrPut(loop.gpa, fd);
        std.debug.assert(!entry.found_existing);
        entry.value_ptr.* = .{};
        return entry.value_ptr;
    }

    fn sync(loop: *Loop, fd: event.Fd, interest: *Interest) errors.Error!void {
        const desired = interest.desired();
        if (desired == interest.registered) return;
        try loop.backend.register(fd, interest.registered, desired);
        interest.registered = desired;
    }

    /// Like sync, but registers even an unchanged mask: a watch call may name a descriptor
    /// that was closed (dropping its registration) and reopened under the same number.
    fn reassert(loop: *Loop, fd: event.Fd, interest: *Interest) errors.Error!void {
        const desired = interest.desired();
        try loop.backend.register(fd, interest.registered, desired);
        interest.registered = desired;
    }

    fn forgetIfIdle(loop: *Loop, fd: event.Fd, interest: *Interest) void {
        if (interest.desired() != 0 or interest.registered != 0 or interest.dirty) return;
        std.debug.assert(loop.interests.remove(fd));
    }

    fn markDirty(loop: *Loop, fd: event.Fd, interest: *Interest) void {
        if (interest.dirty) return;
        interest.dirty = true;
        // Capacity is reserved per interest in interestFor.
        loop.dirty_fds.appendAssumeCapacity(fd);
    }

    fn syncDirty(loop: *Loop) errors.Error!void {
        for (loop.dirty_fds.items) |fd| {
            const interest = loop.interests.getPtr(fd) orelse continue;
            interest.dirty = false;
            loop.sync(fd, interest) catch {
                // Shrinking interest in a closed descriptor: the kernel already dropped it.
                interest.registered = interest.desired();
            };
            loop.forgetIfIdle(fd, interest);
        }
        loop.dirty_fds.clearRetainingCapacity();
    }

    fn makeRunnable(loop: *Loop, waiter: *Waiter) void {
        std.debug.assert(!waiter.queued);
        waiter.queued = true;
        waiter.next = null;
        if (loop.runnable_tail) |tail| {
            tail.next = waiter;
        } else {
            loop.runnable_head = waiter;
        }
        loop.runnable_tail = waiter;
    }

    fn dispatch(loop: *Loop, ready: event.Event) void {
        const interest = loop.interests.getPtr(ready.fd) orelse return;
        if (interest.reader) |waiter| {
            if (ready.mask & (event.readable | event.failed | event.hangup) != 0) {
                interest.reader = null;
                waiter.ready = ready.mask;
                loop.makeRunnable(waiter);
                loop.markDirty(ready.fd, interest);
            }
        }
        if (interest.writer) |waiter| {
            if (ready.mask & (event.writable | event.failed) != 0) {
                interest.writer = null;
                waiter.ready = ready.mask;
                loop.makeRunnable(waiter);
                loop.markDirty(ready.fd, interest);
            }
        }
        if (ready.mask & interest.watched == 0) return;
        if (interest.ready == 0) {
            if (loop.ready_fds.items.len == loop.ready_fds.capacity) return; // next poll
            loop.ready_fds.appendAssumeCapacity(ready.fd);
        }
        interest.ready |= ready.mask;
    }

    fn emitReadiness(loop: *Loop) errors.Error!void {
        defer loop.ready_fds.clearRetainingCapacity();
        var room = try loop.ring.free();
        for (loop.ready_fds.items) |fd| {
            const interest = loop.interests.getPtr(fd) orelse continue;
            const mask = interest.ready & (interest.watched | event.failed | event.hangup);
            interest.ready = 0;
            if (mask & interest.watched == 0) continue;
            if (room == 0) {
                // Level-triggered: still ready next poll, so nothing is lost by waiting.
                loop.ring.noteDeferred();
                continue;
            }
            std.debug.assert(try loop.ring.tryPush(.{
                .token = interest.token,
                .result = @intCast(mask),
                .kind = @backingInt(ring.Kind.readiness),
                .aux = @truncate(@as(usize, @bitCast(@as(isize, @intCast(fd))))),
            }));
            room -= 1;
        }
    }

    fn collectSignals(loop: *Loop) errors.Error!void {
        const registration = loop.signal_registration orelse return;
        loop.signal_backlog = false;
        var iterator = loop.signal_watched.iterator(.{});
        while (iterator.next()) |number| {
            const signo: u32 = @intCast(number);
            const count = signals.take(registration, signo);
            if (count == 0) continue;
            const record: ring.Record = .{
                .token = loop.signal_tokens[number],
                .result = @intCast(signo),
                .kind = @backingInt(ring.Kind.signal),
                .aux = count,
            };
            if (!try loop.ring.tryPush(record)) {
                signals.giveBack(registration, signo, count);
                loop.ring.noteDeferred();
                loop.signal_backlog = true;
            }
        }
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real descriptors, real threads, real signals.

const testing = std.testing;
const support = @import("test_support.zig");

fn drain(loop: *Loop, out: []ring.Record) u32 {
    const header = loop.ring.header;
    var n: u32 = 0;
    while (header.head != header.tail and n < out.len) : (n += 1) {
        out[n] = loop.ring.records[header.head & (loop.ring.records.len - 1)];
        header.head +%= 1;
    }
    return n;
}

fn streamPair() ![2]event.Fd {
    return if (builtin.os.tag == .windows) support.tcpPair() else support.pipe();
}

test "a watched pipe is reported on every poll while it stays readable" {
    var loop = try Loop.init(testing.allocator, .{ .ring_capacity = 16 });
    defer loop.deinit();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    try loop.watch(fds[0], event.readable, 7);
    var out: [16]ring.Record = undefined;

    try loop.poll(0);
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));

    _ = try support.write(fds[1], "x");
    for (0..3) |_| {
        try loop.poll(1000);
        try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
        try testing.expectEqual(@as(u32, 7), out[0].token);
        try testing.expectEqual(@backingInt(ring.Kind.readiness), out[0].kind);
        try testing.expect(@as(u32, @intCast(out[0].result)) & event.readable != 0);
    }
    var buffer: [8]u8 = undefined;
    try testing.expectEqual(@as(usize, 1), try support.read(fds[0], &buffer));
    try loop.poll(0);
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));
}

test "watch replaces the mask, unwatch stops reports, unknown fds are errors" {
    var loop = try Loop.init(testing.allocator, .{ .ring_capacity = 16 });
    defer loop.deinit();
    const fds = try support.socketPair();
    defer for (fds) |fd| support.close(fd);
    var out: [16]ring.Record = undefined;

    try loop.watch(fds[0], event.writable, 1);
    try loop.poll(1000);
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expectEqual(@as(i32, event.writable), out[0].result & (event.readable | event.writable));

    try loop.watch(fds[0], event.readable, 2);
    try loop.poll(0);
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));

    _ = try support.write(fds[1], "ping");
    try loop.poll(1000);
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expectEqual(@as(u32, 2), out[0].token);

    try loop.unwatch(fds[0]);
    try loop.poll(0);
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));
    try testing.expectError(error.NotFound, loop.unwatch(fds[0]));
    try testing.expectError(error.InvalidArgument, loop.watch(fds[0], 4, 0));
    try testing.expectEqual(@as(u32, 0), loop.interests.count());
}

test "watching a reused descriptor number registers the new descriptor" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const first = try support.pipe();
    try loop.watch(first[0], event.readable, 1);
    // Closed without unwatch: epoll drops it; the next pipe likely gets the same numbers.
    support.close(first[0]);
    support.close(first[1]);
    const second = try support.pipe();
    defer for (second) |fd| support.close(fd);
    try loop.watch(second[0], event.readable, 2);
    _ = try support.write(second[1], "x");
    try loop.poll(1000);
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expectEqual(@as(u32, 2), out[0].token);
}

test "a closed descriptor cannot be watched" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const fds = try support.pipe();
    support.close(fds[0]);
    support.close(fds[1]);
    try testing.expectError(error.BadDescriptor, loop.watch(fds[0], event.readable, 1));
    try testing.expectError(error.BadDescriptor, loop.watch(-5, event.readable, 1));
    try testing.expectEqual(@as(u32, 0), loop.interests.count());
}

test "a peer hang-up is reported as readable with the hangup bit" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const fds = try support.socketPair();
    defer support.close(fds[0]);
    try loop.watch(fds[0], event.readable, 3);
    support.close(fds[1]);
    try loop.poll(1000);
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expect(out[0].result & event.readable != 0);
}

test "TCP sockets over 127.0.0.1 report readiness both ways" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const fds = try support.tcpPair();
    defer for (fds) |fd| support.close(fd);
    try loop.watch(fds[0], event.readable | event.writable, 10);
    try loop.watch(fds[1], event.readable, 11);
    var out: [8]ring.Record = undefined;
    try loop.poll(1000);
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expectEqual(@as(u32, 10), out[0].token);
    try testing.expectEqual(@as(i32, event.writable), out[0].result & (event.readable | event.writable));

    _ = try support.write(fds[0], "hello");
    var got_reader = false;
    var attempt: u32 = 0;
    while (!got_reader and attempt < 50) : (attempt += 1) {
        try loop.poll(100);
        const n = drain(&loop, &out);
        for (out[0..n]) |record| {
            if (record.token == 11) got_reader = true;
        }
    }
    try testing.expect(got_reader);
}

test "a full ring defers readiness to the next poll without losing any" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{ .ring_capacity = 4 });
    defer loop.deinit();
    var pipes: [10][2]event.Fd = undefined;
    for (&pipes, 0..) |*p, i| {
        p.* = try support.pipe();
        try loop.watch(p[0], event.readable, @intCast(i));
        _ = try support.write(p[1], "x");
    }
    defer for (pipes) |p| {
        support.close(p[0]);
        support.close(p[1]);
    };
    var seen = std.StaticBitSet(10).empty;
    var out: [4]ring.Record = undefined;
    var rounds: u32 = 0;
    var buffer: [4]u8 = undefined;
    while (seen.count() < 10 and rounds < 10) : (rounds += 1) {
        try loop.poll(0);
        const n = drain(&loop, &out);
        try testing.expect(n <= 4);
        for (out[0..n]) |record| {
            seen.set(record.token);
            _ = try support.read(pipes[record.token][0], &buffer);
        }
    }
    try testing.expectEqual(@as(usize, 10), seen.count());
    try testing.expect(loop.ring.header.deferred > 0);
}

const Waker = struct {
    fn run(loop: *Loop) void {
        support.sleepMs(50);
        loop.wake() catch unreachable;
    }
};

test "a poll with a timeout and nothing to report returns after the timeout" {
    // The clock below is POSIX's (Windows builds link no clock_gettime).
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    for ([_]i32{ 1, 20 }) |timeout_ms| {
        const start = event.monotonicNs();
        try loop.poll(timeout_ms);
        const elapsed_ms = (event.monotonicNs() - start) / std.time.ns_per_ms;
        try testing.expect(elapsed_ms >= @as(u64, @intCast(timeout_ms)) - 1);
        try testing.expect(elapsed_ms < 2000);
    }
}

test "polls ended by readiness keep the epoll timer: armed once per deadline, again only to fire sooner" {
    if (builtin.os.tag != .linux) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{ .ring_capacity = 64 });
    defer loop.deinit();
    loop.spin_enabled = false; // every poll below reaches the backend's wait
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    try loop.watch(fds[0], event.readable, 1);
    _ = try support.write(fds[1], "x");
    var out: [64]ring.Record = undefined;

    // A server waiting "up to 1 s" for each request: one arm, not one per wait.
    for (0..10) |_| {
        try loop.poll(1000);
        try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    }
    try testing.expectEqual(@as(u32, 1), loop.backend.timer_arms);
    // A sooner deadline re-arms.
    try loop.poll(30);
    try testing.expectEqual(@as(u32, 2), loop.backend.timer_arms);
    _ = drain(&loop, &out);

    // Nothing ready: a later deadline waits for the armed one (sooner, so the poll may end
    // early with nothing), which fires and is consumed without a record.
    var buffer: [8]u8 = undefined;
    try testing.expectEqual(@as(usize, 1), try support.read(fds[0], &buffer));
    const start = event.monotonicNs();
    try loop.poll(5000);
    try testing.expect(event.monotonicNs() - start < 2000 * std.time.ns_per_ms);
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));
    try testing.expectEqual(@as(u64, 0), loop.backend.timer_deadline_ns);
    try testing.expectEqual(@as(u32, 2), loop.backend.timer_arms);
    // The next wait arms afresh.
    try loop.poll(1);
    try testing.expectEqual(@as(u32, 3), loop.backend.timer_arms);
}

test "wake from another thread interrupts a poll that would wait forever" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const thread = try std.Thread.spawn(.{}, Waker.run, .{&loop});
    try loop.poll(event.wait_forever);
    thread.join();
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 0), drain(&loop, &out));
}

const Parker = struct {
    result: errors.Error!bool = false,
    fn run(parker: *Parker, loop: *Loop, timeout_ms: i32) void {
        parker.result = loop.park(timeout_ms);
    }
};

test "park on another thread returns on wake, on readiness and on timeout" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();

    var parker: Parker = .{};
    var thread = try std.Thread.spawn(.{}, Parker.run, .{ &parker, &loop, -1 });
    support.sleepMs(20);
    try loop.wake();
    thread.join();
    try testing.expect(try parker.result);
    try loop.poll(0); // harvests the wake-up

    parker = .{};
    thread = try std.Thread.spawn(.{}, Parker.run, .{ &parker, &loop, 30 });
    thread.join();
    try testing.expect(!try parker.result);

    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    try loop.watch(fds[0], event.readable, 1);
    _ = try support.write(fds[1], "x");
    parker = .{};
    thread = try std.Thread.spawn(.{}, Parker.run, .{ &parker, &loop, 5000 });
    thread.join();
    try testing.expect(try parker.result);
}

test "op waiters are woken once and their interest is dropped lazily" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    var reader: Waiter = .{};
    var other: Waiter = .{};
    try loop.addWaiter(fds[0], .read, &reader);
    try testing.expectError(error.Busy, loop.addWaiter(fds[0], .read, &other));
    try loop.poll(0);
    try testing.expect(loop.takeRunnable() == null);

    _ = try support.write(fds[1], "x");
    try loop.poll(1000);
    const woken = loop.takeRunnable().?;
    try testing.expect(woken == &reader);
    try testing.expect(woken.ready & event.readable != 0);
    try testing.expect(woken.next == null);
    reader.queued = false;
    try loop.poll(0);
    try testing.expect(loop.takeRunnable() == null);
    try testing.expectEqual(@as(u32, 0), loop.interests.count());
}

test "a descriptor number reused right after close is waited on afresh" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const first = try support.socketPair();
    var reader: Waiter = .{};
    try loop.addWaiter(first[0], .read, &reader);
    _ = try support.write(first[1], "x");
    try loop.poll(1000);
    try testing.expect(loop.takeRunnable() == &reader);
    reader.queued = false;
    // The woken op finishes without waiting again; its owner closes the descriptor before
    // the loop polls again, and the next socket gets the same number.
    loop.cancelWaiters(first[0]);
    try testing.expectEqual(@as(u32, 0), loop.interests.count());
    support.close(first[0]);
    support.close(first[1]);
    const second = try support.socketPair();
    defer for (second) |fd| support.close(fd);
    const reused = if (second[0] == first[0]) second[0] else if (second[1] == first[0]) second[1] else {
        return error.SkipZigTest; // the OS did not hand the number out again
    };
    const peer = if (reused == second[0]) second[1] else second[0];
    try loop.addWaiter(reused, .read, &reader);
    _ = try support.write(peer, "y");
    try loop.poll(1000);
    const woken = loop.takeRunnable() orelse return error.TestUnexpectedResult;
    try testing.expect(woken == &reader and !woken.canceled);
    reader.queued = false;
}

test "canceling waiters wakes them with the canceled flag" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    var reader: Waiter = .{};
    var writer: Waiter = .{};
    try loop.addWaiter(fds[0], .read, &reader);
    try loop.addWaiter(fds[0], .write, &writer);
    loop.cancelWaiters(fds[0]);
    const first = loop.takeRunnable().?;
    try testing.expect(first == &reader and first.canceled);
    try testing.expect(first.next == &writer and writer.canceled);
    reader.queued = false;
    writer.queued = false;
    try loop.poll(0);
    try testing.expectEqual(@as(u32, 0), loop.interests.count());
}

// Signals: POSIX only (console control events cannot be raised under test on Windows).

var previous_handler_calls = std.atomic.Value(u32).init(0);

fn countingHandler(sig: std.c.SIG) callconv(.c) void {
    _ = sig;
    _ = previous_handler_calls.fetchAdd(1, .seq_cst);
}

test "a watched signal raised to self becomes a record, chained to the previous handler" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const c = std.c;
    const usr1: c.SIG = .USR1;
    const signo: i32 = @intCast(@backingInt(usr1));
    var original: c.Sigaction = undefined;
    const counting: c.Sigaction = .{
        .handler = .{ .handler = &countingHandler },
        .mask = std.posix.sigemptyset(),
        .flags = 0,
    };
    try testing.expectEqual(@as(c_int, 0), c.sigaction(usr1, &counting, &original));
    defer _ = c.sigaction(usr1, &original, null);

    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    try loop.watchSignal(signo, 99);
    try testing.expect(signals.isInstalled(@intCast(signo)));
    const calls_before = previous_handler_calls.load(.seq_cst);
    const arrivals_before = signals.arrivalCount(signo);
    try testing.expectEqual(@as(c_int, 0), c.raise(usr1));
    try testing.expectEqual(@as(c_int, 0), c.raise(usr1));
    // Counted process-wide before chaining (Deno's listeners prove its thread saw them).
    try testing.expectEqual(arrivals_before +% 2, signals.arrivalCount(signo));

    var out: [4]ring.Record = undefined;
    try loop.poll(1000);
    try testing.expectEqual(@as(u32, 1), drain(&loop, &out));
    try testing.expectEqual(@as(u32, 99), out[0].token);
    try testing.expectEqual(signo, out[0].result);
    try testing.expectEqual(@backingInt(ring.Kind.signal), out[0].kind);
    try testing.expectEqual(@as(u32, 2), out[0].aux);
    try testing.expectEqual(calls_before + 2, previous_handler_calls.load(.seq_cst));

    try loop.unwatchSignal(signo);
    try testing.expect(!signals.isInstalled(@intCast(signo)));
    var restored: c.Sigaction = undefined;
    _ = c.sigaction(usr1, null, &restored);
    try testing.expect(restored.handler.handler == counting.handler.handler);
    try testing.expectError(error.NotFound, loop.unwatchSignal(signo));
}

test "a fruitless spin backs off, doubling, and a spin that catches an event ends the back-off" {
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    if (!loop.spin_enabled) return error.SkipZigTest; // one CPU: covered below
    const fds = try support.socketPair();
    defer for (fds) |fd| support.close(fd);
    try loop.watch(fds[0], event.readable, 3);
    _ = try support.write(fds[1], "x");
    try loop.poll(0); // readiness: the next wait would spin
    try testing.expect(loop.io_recently);
    var buffer: [1]u8 = undefined;
    _ = try support.read(fds[0], &buffer);
    // Nothing comes: the spin finds nothing, then the wait times out.
    try loop.poll(1);
    try testing.expectEqual(@as(u32, 1), loop.spin_backoff);
    try testing.expectEqual(@as(u32, 1), loop.spin_skips);
    try testing.expect(!loop.io_recently);
    // Busy again, and quiet again: the skipped spin costs nothing, the next one doubles.
    for ([_]u32{ 1, 2 }) |backoff| {
        _ = try support.write(fds[1], "y");
        try loop.poll(0);
        _ = try support.read(fds[0], &buffer);
        try loop.poll(1);
        try testing.expectEqual(backoff, loop.spin_backoff);
    }
    try testing.expect(loop.spin_backoff <= spin_skips_max);
}

test "a loop whose thread may use one CPU only never spins" {
    if (builtin.os.tag != .linux) return error.SkipZigTest;
    const linux = std.os.linux;
    var saved: linux.cpu_set_t = undefined;
    const got = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &saved);
    if (linux.errno(got) != .SUCCESS) return error.SkipZigTest;
    var one: linux.cpu_set_t = @splat(0);
    var cpu: usize = 0;
    while (cpu < @bitSizeOf(linux.cpu_set_t) and (saved[cpu / @bitSizeOf(usize)] >> @intCast(cpu % @bitSizeOf(usize))) & 1 == 0) : (cpu += 1) {}
    if (cpu == @bitSizeOf(linux.cpu_set_t)) return error.SkipZigTest;
    one[cpu / @bitSizeOf(usize)] = @as(usize, 1) << @intCast(cpu % @bitSizeOf(usize));
    try linux.sched_setaffinity(0, &one);
    defer linux.sched_setaffinity(0, &saved) catch {};

    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    try testing.expect(!loop.spin_enabled);
    try testing.expect(!loop.spinPays());
}

test "signals that cannot or must not be caught are refused" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    var loop = try Loop.init(testing.allocator, .{});
    defer loop.deinit();
    const c = std.c;
    for ([_]c.SIG{ .KILL, .STOP, .SEGV }) |sig| {
        try testing.expectError(error.InvalidArgument, loop.watchSignal(@intCast(@backingInt(sig)), 1));
    }
    try testing.expectError(error.InvalidArgument, loop.watchSignal(0, 1));
    try testing.expectError(error.InvalidArgument, loop.watchSignal(1000, 1));
}

test "two loops watching one signal both see it; a full ring keeps the count" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const c = std.c;
    const usr2: c.SIG = .USR2;
    const signo: i32 = @intCast(@backingInt(usr2));
    var a = try Loop.init(testing.allocator, .{ .ring_capacity = 4 });
    defer a.deinit();
    var b = try Loop.init(testing.allocator, .{});
    defer b.deinit();
    try a.watchSignal(signo, 1);
    try b.watchSignal(signo, 2);
    defer b.unwatchSignal(signo) catch {};

    // Fill a's ring with readiness first.
    const fds = try support.socketPair();
    defer for (fds) |fd| support.close(fd);
    try a.watch(fds[0], event.writable, 5);
    for (0..4) |_| try a.poll(0);
    try testing.expectEqual(@as(u32, 4), try a.ring.count());

    try testing.expectEqual(@as(c_int, 0), c.raise(usr2));
    try a.poll(0);
    try b.poll(1000);
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(&b, &out));
    try testing.expectEqual(@as(u32, 2), out[0].token);

    // a's ring was full: the signal waits, counted, until there is room, and a park
    // returns at once meanwhile (its wake-up was consumed by the poll).
    try testing.expect(try a.park(10_000));
    try testing.expectEqual(@as(u32, 4), drain(&a, &out));
    try a.unwatch(fds[0]);
    try a.poll(0);
    try testing.expectEqual(@as(u32, 1), drain(&a, &out));
    try testing.expectEqual(@as(u32, 1), out[0].token);
    try testing.expectEqual(@as(u32, 1), out[0].aux);
}
