//! A bounded spin lock for the library's few process-wide tables (loop handles, signal
//! watchers). They change rarely and for a few instructions, so spinning beats pulling in an
//! OS mutex, and a bound turns a stuck holder into an error instead of a hang.

const std = @import("std");

pub const SpinLock = struct {
    state: std.atomic.Mutex = .unlocked,

    const attempts_max = 1 << 22;

    pub fn lock(spin_lock: *SpinLock) error{Busy}!void {
        var attempt: u32 = 0;
        while (attempt < attempts_max) : (attempt += 1) {
            if (spin_lock.state.tryLock()) return;
            // Give the holder the core (2 vCPUs here): it is usually preempted, not slow.
            std.Thread.yield() catch {};
        }
        return error.Busy;
    }

    pub fn unlock(spin_lock: *SpinLock) void {
        spin_lock.state.unlock();
    }
};

test "the lock excludes a second holder and is released" {
    var spin_lock: SpinLock = .{};
    try spin_lock.lock();
    try std.testing.expect(!spin_lock.state.tryLock());
    spin_lock.unlock();
    try spin_lock.lock();
    spin_lock.unlock();
}
