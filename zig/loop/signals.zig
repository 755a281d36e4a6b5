//! Signal watching for every loop in the process. A signal is caught only while some loop
//! watches it: the handler counts it per loop, pokes that loop's self-pipe (its wake-up
//! descriptor) and then chains to the handler that was installed before ours, because Deno and
//! other libraries install their own. Loops turn the counts into completion records.
//!
//! On Windows only SIGINT (Ctrl-C) and SIGBREAK (Ctrl-Break) exist, as console control events.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("errors.zig");
const event = @import("event.zig");
const SpinLock = @import("spin_lock.zig").SpinLock;

/// Signal numbers 1..signal_max can be watched (Linux has 64, macOS 31).
pub const signal_max = 64;
/// How many loops can watch signals at once.
pub const registrations_max = 64;

/// Writes to a loop's wake-up descriptor; must be async-signal-safe.
pub const Notify = *const fn (fd: event.Fd) void;

const no_fd = std.math.maxInt(usize);

const Registration = struct {
    used: bool = false,
    notify: ?Notify = null,
    notify_fd: std.atomic.Value(usize) = .init(no_fd),
    pending: [signal_max + 1]std.atomic.Value(u32) = @splat(.init(0)),
};

var registrations: [registrations_max]Registration = @splat(.{});
/// Bit i of watchers[signo] is set while registration i watches signo; read by the handler.
var watchers: [signal_max + 1]std.atomic.Value(u64) = @splat(.init(0));
/// Arrivals of each signal our handler caught, process-wide, counted before the handler chains
/// to the one installed before it (wrapping). A caller that later sees the chained handler's
/// owner act (Deno calls its listeners once its own thread has decided on a signal) compares
/// this count with the one it read then, to know whether every arrival was dealt with there.
var arrivals: [signal_max + 1]std.atomic.Value(u32) = @splat(.init(0));
/// Handlers currently between reading a registration and writing to its descriptor.
var handlers_active: std.atomic.Value(u32) = .init(0);
/// Guards `registrations[*].used`, installation and the saved previous actions.
var table_lock: SpinLock = .{};

const Posix = struct {
    var installed: [signal_max + 1]bool = @splat(false);
    var previous: [signal_max + 1]std.c.Sigaction = undefined;
};

const Windows = struct {
    var installed = false;
    const CTRL_C_EVENT = 0;
    const CTRL_BREAK_EVENT = 1;
    const sigint = 2;
    const sigbreak = 21;
    extern "kernel32" fn SetConsoleCtrlHandler(
        routine: ?*const fn (u32) callconv(.winapi) i32,
        add: i32,
    ) callconv(.winapi) i32;
};

/// Claims a registration for a loop whose wake-up descriptor is `notify_fd`.
pub fn register(notify_fd: event.Fd, notify: Notify) errors.Error!u32 {
    table_lock.lock() catch return error.Busy;
    defer table_lock.unlock();
    for (&registrations, 0..) |*registration, index| {
        if (registration.used) continue;
        registration.used = true;
        registration.notify = notify;
        for (&registration.pending) |*count| count.store(0, .monotonic);
        registration.notify_fd.store(@intCast(notify_fd), .seq_cst);
        return @intCast(index);
    }
    return error.TooManyOpenFiles;
}

/// Stops every watch of the registration and frees it. After this returns no signal handler
/// touches the loop's descriptor, so the loop may close it.
pub fn unregister(index: u32) void {
    std.debug.assert(index < registrations_max);
    for (1..signal_max + 1) |signo| {
        unwatch(index, @intCast(signo)) catch {};
    }
    const registration = &registrations[index];
    registration.notify_fd.store(no_fd, .seq_cst);
    // A handler that loaded the old descriptor before the store is counted in
    // handlers_active: wait it out so it cannot write to a closed (or reused) descriptor.
    var attempt: u32 = 0;
    while (handlers_active.load(.seq_cst) != 0 and attempt < 1 << 20) : (attempt += 1) {
        std.Thread.yield() catch {};
    }
    table_lock.lock() catch {
        // The slot stays claimed: leaking one registration is safe, racing is not.
        return;
    };
    defer table_lock.unlock();
    registration.used = false;
}

/// Signals a loop may not watch: they cannot be caught, or they report faults that V8 and
/// the runtime handle themselves (Deno refuses the same ones).
pub fn validate(signo: i32) errors.Error!u32 {
    if (signo < 1 or signo > signal_max) return error.InvalidArgument;
    const number: u32 = @intCast(signo);
    if (builtin.os.tag == .windows) {
        if (number != Windows.sigint and number != Windows.sigbreak) return error.Unsupported;
        return number;
    }
    if (number >= std.c.NSIG) return error.InvalidArgument;
    const forbidden = [_]std.c.SIG{ .KILL, .STOP, .ILL, .FPE, .SEGV, .BUS, .TRAP };
    for (forbidden) |sig| {
        if (number == @backingInt(sig)) return error.InvalidArgument;
    }
    return number;
}

/// Starts counting `signo` for the registration, installing the handler on first use.
pub fn watch(index: u32, signo: i32) errors.Error!void {
    std.debug.assert(index < registrations_max);
    const number = try validate(signo);
    table_lock.lock() catch return error.Busy;
    defer table_lock.unlock();
    std.debug.assert(registrations[index].used);
    if (builtin.os.tag == .windows) {
        if (!Windows.installed) {
            if (Windows.SetConsoleCtrlHandler(&consoleHandler, 1) == 0) return error.Unexpected;
            Windows.installed = true;
        }
    } else if (!Posix.installed[number]) {
        const action: std.c.Sigaction = .{
            .handler = .{ .sigaction = &posixHandler },
            .mask = std.posix.sigemptyset(),
            .flags = std.c.SA.SIGINFO | std.c.SA.RESTART | std.c.SA.ONSTACK,
        };
        if (std.c.sigaction(@fromBackingInt(number), &action, &Posix.previous[number]) != 0) {
            return errors.fromErrno(std.c.errno(@as(c_int, -1)));
        }
        Posix.installed[number] = true;
    }
    _ = watchers[number].fetchOr(@as(u64, 1) << @intCast(index), .seq_cst);
}

/// Stops counting `signo` for the registration; when no loop watches it any more, the
/// previous handler is restored (unless someone installed theirs over ours since).
pub fn unwatch(index: u32, signo: i32) errors.Error!void {
    std.debug.assert(index < registrations_max);
    const number = try validate(signo);
    table_lock.lock() catch return error.Busy;
    defer table_lock.unlock();
    const bit = @as(u64, 1) << @intCast(index);
    const before = watchers[number].fetchAnd(~bit, .seq_cst);
    registrations[index].pending[number].store(0, .monotonic);
    if (before & ~bit != 0) return; // other loops still watch it
    if (builtin.os.tag == .windows) {
        if (Windows.installed and watchers[Windows.sigint].load(.seq_cst) == 0 and
            watchers[Windows.sigbreak].load(.seq_cst) == 0)
        {
            _ = Windows.SetConsoleCtrlHandler(&consoleHandler, 0);
            Windows.installed = false;
        }
        return;
    }
    if (!Posix.installed[number]) return;
    var current: std.c.Sigaction = undefined;
    if (std.c.sigaction(@fromBackingInt(number), null, &current) != 0) return error.Unexpected;
    if (current.handler.sigaction != &posixHandler) return; // ours stays in their chain
    if (std.c.sigaction(@fromBackingInt(number), &Posix.previous[number], null) != 0) return error.Unexpected;
    Posix.installed[number] = false;
}

/// Takes the count of `signo` arrivals for the registration since the last take.
pub fn take(index: u32, signo: u32) u32 {
    std.debug.assert(index < registrations_max);
    std.debug.assert(signo >= 1 and signo <= signal_max);
    return registrations[index].pending[signo].swap(0, .acq_rel);
}

/// Returns a count that could not be reported yet (the ring was full).
pub fn giveBack(index: u32, signo: u32, count: u32) void {
    std.debug.assert(index < registrations_max);
    std.debug.assert(signo >= 1 and signo <= signal_max);
    _ = registrations[index].pending[signo].fetchAdd(count, .acq_rel);
}

/// How many times our handler caught `signo` so far (wrapping; 0 for a number out of range).
pub fn arrivalCount(signo: i32) u32 {
    if (signo < 1 or signo > signal_max) return 0;
    return arrivals[@intCast(signo)].load(.seq_cst);
}

/// Whether a handler of ours is installed for signo (for tests).
pub fn isInstalled(signo: u32) bool {
    if (builtin.os.tag == .windows) return Windows.installed;
    return Posix.installed[signo];
}

fn record(number: u32) void {
    _ = arrivals[number].fetchAdd(1, .seq_cst);
    _ = handlers_active.fetchAdd(1, .seq_cst);
    defer _ = handlers_active.fetchSub(1, .seq_cst);
    var bits = watchers[number].load(.seq_cst);
    var guard: u32 = 0;
    while (bits != 0 and guard < registrations_max) : (guard += 1) {
        const index = @ctz(bits);
        bits &= bits - 1;
        const registration = &registrations[index];
        _ = registration.pending[number].fetchAdd(1, .acq_rel);
        const fd = registration.notify_fd.load(.seq_cst);
        if (fd == no_fd) continue;
        if (registration.notify) |notify| notify(@intCast(fd));
    }
}

fn posixHandler(sig: std.c.SIG, info: *const std.c.siginfo_t, context: ?*anyopaque) callconv(.c) void {
    // write(2) may set errno; the interrupted code must not see it change.
    const saved_errno = std.c._errno().*;
    defer std.c._errno().* = saved_errno;
    const number = @backingInt(sig);
    if (number < 1 or number > signal_max) return;
    record(number);
    const previous = Posix.previous[number];
    if (previous.flags & std.c.SA.SIGINFO != 0) {
        if (previous.handler.sigaction) |chained| chained(sig, info, context);
        return;
    }
    // SIG_DFL and SIG_IGN are not functions: a watched signal is ours to handle.
    const handler = previous.handler.handler orelse return;
    if (handler == std.c.SIG.IGN or handler == std.c.SIG.DFL) return;
    handler(sig);
}

fn consoleHandler(ctrl_type: u32) callconv(.winapi) i32 {
    const number: u32 = switch (ctrl_type) {
        Windows.CTRL_C_EVENT => Windows.sigint,
        Windows.CTRL_BREAK_EVENT => Windows.sigbreak,
        else => return 0,
    };
    if (watchers[number].load(.seq_cst) == 0) return 0; // the next handler decides
    record(number);
    return 1;
}
