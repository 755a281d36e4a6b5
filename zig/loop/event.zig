//! Types every poll backend shares: the descriptor type, the readiness mask bits (the same
//! numbers JS uses: READABLE = 1, WRITABLE = 2) and the event a backend's wait reports.

const std = @import("std");
const builtin = @import("builtin");

/// A pollable descriptor: a file descriptor on POSIX, a SOCKET on Windows.
pub const Fd = if (builtin.os.tag == .windows) usize else i32;

pub const readable: u32 = 1;
pub const writable: u32 = 2;
/// Reported with readable/writable so the watcher finds the error with its next read/write.
pub const failed: u32 = 4;
pub const hangup: u32 = 8;
pub const interest_mask: u32 = readable | writable;

pub const Event = struct {
    fd: Fd,
    mask: u32,
};

/// Timeouts: negative waits forever, zero does not wait.
pub const wait_forever: i32 = -1;

/// CLOCK_MONOTONIC in nanoseconds (POSIX only: the spin and the epoll timer use it).
pub fn monotonicNs() u64 {
    var ts: std.c.timespec = undefined;
    _ = std.c.clock_gettime(.MONOTONIC, &ts);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}
