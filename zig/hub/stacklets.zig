//! Stacklets for C/Zig/Rust embedders (PyPy's API, exported by exports.zig as
//! eg_stacklet_*): the same stacklets the hub runs its ops on (stacklet/), behind a registry
//! of the threads made through the C API, so that a bad thread pointer is EBADF rather than a
//! crash. A handle is a suspended stacklet; null means EMPTY (a stacklet that finished).

const std = @import("std");
const errors = @import("../loop/errors.zig");
const SpinLock = @import("../loop/spin_lock.zig").SpinLock;
const stacklet = @import("../stacklet/stacklet.zig");

const Thread = stacklet.Thread;

const threads_max = 256;
var threads: [threads_max]?*Thread = @splat(null);
var threads_lock: SpinLock = .{};

fn find(thread: ?*Thread) errors.Error!usize {
    const wanted = thread orelse return error.BadDescriptor;
    threads_lock.lock() catch return error.Busy;
    defer threads_lock.unlock();
    for (threads, 0..) |registered, index| {
        if (registered == wanted) return index;
    }
    return error.BadDescriptor;
}

/// The library's error code for a stacklet error.
fn toError(err: stacklet.Error) errors.Error {
    return switch (err) {
        error.OutOfMemory => error.OutOfMemory,
        error.InvalidHandle, error.CannotDestroyMain => error.BadDescriptor,
        error.WrongThread => error.WrongThread,
        error.TooManyStacklets => error.Overflow,
        error.StackletRunning, error.StackBusy, error.WrongStack => error.Busy,
        error.InvalidStackSize => error.InvalidArgument,
        error.InvalidRunResult, error.GuardPageFailed => error.Unexpected,
    };
}

/// Creates the stacklet state for the calling thread (which becomes its main stacklet);
/// null when out of memory or when too many are alive.
pub fn newThread(gpa: std.mem.Allocator) ?*Thread {
    const thread = stacklet.newThread(gpa) catch return null;
    threads_lock.lock() catch {
        stacklet.deleteThread(thread);
        return null;
    };
    defer threads_lock.unlock();
    for (&threads) |*slot| {
        if (slot.* == null) {
            slot.* = thread;
            return thread;
        }
    }
    stacklet.deleteThread(thread);
    return null;
}

pub fn deleteThread(thread: ?*Thread) errors.Error!void {
    const index = try find(thread);
    stacklet.deleteThreadChecked(thread.?) catch |err| return toError(err);
    threads_lock.lock() catch return error.Busy;
    defer threads_lock.unlock();
    threads[index] = null;
}

/// Starts run(origin, arg) on a new stacklet; stores the handle of the one that switches back
/// (null if the new one already finished) in out.
pub fn new(thread: ?*Thread, run: ?stacklet.RunFn, arg: ?*anyopaque, out: ?*stacklet.Handle) errors.Error!void {
    _ = try find(thread);
    const entry = run orelse return error.InvalidArgument;
    const target = out orelse return error.InvalidArgument;
    target.* = stacklet.new(thread.?, entry, arg) catch |err| return toError(err);
}

/// Suspends the running stacklet and resumes `handle`; stores who switched back in out.
pub fn switchTo(thread: ?*Thread, handle: ?*anyopaque, out: ?*stacklet.Handle) errors.Error!void {
    _ = try find(thread);
    const target_out = out orelse return error.InvalidArgument;
    const target = stacklet.handleFromAddress(thread.?, @intFromPtr(handle)) catch |err| return toError(err);
    if (target == null) return error.BadDescriptor;
    target_out.* = stacklet.switchTo(thread.?, target) catch |err| return toError(err);
}

/// Frees a suspended stacklet without resuming it.
pub fn destroy(thread: ?*Thread, handle: ?*anyopaque) errors.Error!void {
    _ = try find(thread);
    const target = stacklet.handleFromAddress(thread.?, @intFromPtr(handle)) catch |err| return toError(err);
    stacklet.destroyChecked(thread.?, target) catch |err| return toError(err);
}
