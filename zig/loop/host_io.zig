//! Whether the runtime that hosts the library (Deno's tokio) has I/O events it has not yet
//! collected. `run()` gives Deno a turn every millisecond while its loop is busy; the turn that
//! lets Deno poll its own I/O is a zero-timeout park on Deno's blocking thread pool, and that
//! thread hand-off costs ~100 µs when the other CPU sleeps (a busy in-process ping-pong lost 10%
//! of its rate to it). Deno's runtime waits in an epoll set of its own; an epoll descriptor is
//! readable exactly while its set holds events nobody has collected, so one poll(2) over the
//! host's sets says whether that turn has anything to do.
//!
//! The host's sets are found once, on first use: every `anon_inode:[eventpoll]` descriptor of
//! the process that is not one of ours (ours hold the wake eventfd under epoll.zig's
//! `wake_key`, which /proc/self/fdinfo shows). Where this cannot be known (not Linux, no /proc,
//! no set found, more sets than fit) the answer is `unknown` and the caller turns as before.

const std = @import("std");
const builtin = @import("builtin");
const linux = std.os.linux;

/// What eg_loop_host_io_pending answers.
pub const State = enum(i32) {
    /// No host epoll set holds uncollected events.
    idle = 0,
    /// Some host epoll set holds events: give the host its I/O turn.
    pending = 1,
    /// Not known here: give the host its I/O turn.
    unknown = 2,
};

/// Host epoll sets watched at most; a process with more (many Workers) answers `unknown`.
pub const sets_max = 16;

/// Elsewhere there is nothing to find: every answer is `unknown`.
pub const HostIo = if (builtin.os.tag == .linux) HostSets else struct {
    pub fn state(_: *@This(), _: u64) State {
        return .unknown;
    }
};

const HostSets = struct {
    fds: [sets_max]std.c.pollfd = undefined,
    /// How many of `fds` hold a host set; null until the first call looked, 0 when none can
    /// be watched (the answer is then `unknown`).
    count: ?u8 = null,

    /// One poll(2) over the host's epoll sets (found on the first call).
    pub fn state(host: *HostSets, own_key: u64) State {
        const count = host.count orelse found: {
            host.count = host.find(own_key);
            break :found host.count.?;
        };
        if (count == 0) return .unknown;
        for (host.fds[0..count]) |*entry| entry.revents = 0;
        const rc = std.c.poll(&host.fds, count, 0);
        if (rc < 0) return .unknown;
        return if (rc > 0) .pending else .idle;
    }

    /// Fills `fds` with the process's epoll sets that do not hold `own_key`; how many, 0
    /// when none was found or they do not fit.
    fn find(host: *HostSets, own_key: u64) u8 {
        const dir = std.c.open("/proc/self/fd", .{ .DIRECTORY = true, .CLOEXEC = true });
        if (dir < 0) return 0;
        defer _ = std.c.close(dir);
        var buffer: [4096]u8 align(8) = undefined;
        var count: u8 = 0;
        while (true) {
            const got = linux.getdents64(dir, &buffer, buffer.len);
            if (linux.errno(got) != .SUCCESS) return 0;
            if (got == 0) return count;
            var offset: usize = 0;
            while (offset < got) : (offset += @as(*align(1) const linux.dirent64, @ptrCast(&buffer[offset])).reclen) {
                const name_at = offset + @offsetOf(linux.dirent64, "name");
                const name = std.mem.sliceTo(@as([*:0]const u8, @ptrCast(&buffer[name_at])), 0);
                const fd = std.fmt.parseInt(i32, name, 10) catch continue;
                if (fd == dir or !mayBeEpoll(fd) or !isEpoll(fd) or holdsKey(fd, own_key)) continue;
                if (count == sets_max) return 0;
                host.fds[count] = .{ .fd = fd, .events = std.c.POLL.IN, .revents = 0 };
                count += 1;
            }
        }
    }
};

/// A statx per descriptor skips sockets, pipes, directories and devices (a server's many
/// descriptors) before the readlink of /proc (~6 µs each) that names an epoll set. Anon inodes
/// have no file type here; kernels that give them S_IFREG are looked at too.
fn mayBeEpoll(fd: i32) bool {
    var info: linux.Statx = undefined;
    const rc = linux.statx(fd, "", linux.AT.EMPTY_PATH, .{ .TYPE = true }, &info);
    if (linux.errno(rc) != .SUCCESS) return true;
    const file_type = info.mode & linux.S.IFMT;
    return file_type == 0 or file_type == linux.S.IFREG;
}

fn isEpoll(fd: i32) bool {
    var path_buffer: [32]u8 = undefined;
    const path = std.mem.printSentinel(&path_buffer, "/proc/self/fd/{d}", .{fd}, 0) catch return false;
    var target: [64]u8 = undefined;
    const length = std.c.readlink(path, &target, target.len);
    if (length <= 0) return false;
    return std.mem.eql(u8, target[0..@intCast(length)], "anon_inode:[eventpoll]");
}

/// Whether epoll set `fd` holds an entry whose user data is `key` (/proc/self/fdinfo lists
/// each entry as "tfd: N events: X data: HEX ...").
fn holdsKey(fd: i32, key: u64) bool {
    var path_buffer: [40]u8 = undefined;
    const path = std.mem.printSentinel(&path_buffer, "/proc/self/fdinfo/{d}", .{fd}, 0) catch return false;
    const file = std.c.open(path, .{ .CLOEXEC = true });
    if (file < 0) return false;
    defer _ = std.c.close(file);
    var text: [8192]u8 = undefined;
    var length: usize = 0;
    while (length < text.len) {
        const got = std.c.read(file, text[length..].ptr, text.len - length);
        if (got <= 0) break;
        length += @intCast(got);
    }
    var lines = std.mem.splitScalar(u8, text[0..length], '\n');
    while (lines.next()) |line| {
        const at = std.mem.indexOf(u8, line, "data:") orelse continue;
        var words = std.mem.tokenizeScalar(u8, line[at + "data:".len ..], ' ');
        const word = words.next() orelse continue;
        const value = std.fmt.parseInt(u64, word, 16) catch continue;
        if (value == key) return true;
    }
    return false;
}

const testing = std.testing;

test "host epoll sets: found, idle, pending while they hold events, and ours left out" {
    if (builtin.os.tag != .linux) return error.SkipZigTest;
    const own_key: u64 = 1 << 32;
    // Ours: holds an entry under own_key.
    const own = std.c.epoll_create1(linux.EPOLL.CLOEXEC);
    defer _ = std.c.close(own);
    const own_event_fd = std.c.eventfd(1, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    defer _ = std.c.close(own_event_fd);
    var own_event: linux.epoll_event = .{ .events = linux.EPOLL.IN, .data = .{ .u64 = own_key } };
    try testing.expectEqual(@as(c_int, 0), std.c.epoll_ctl(own, linux.EPOLL.CTL_ADD, own_event_fd, &own_event));
    // The host's: edge-triggered, as tokio registers.
    const host_set = std.c.epoll_create1(linux.EPOLL.CLOEXEC);
    defer _ = std.c.close(host_set);
    const host_event_fd = std.c.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    defer _ = std.c.close(host_event_fd);
    var host_event: linux.epoll_event = .{ .events = linux.EPOLL.IN | linux.EPOLL.ET, .data = .{ .u64 = 7 } };
    try testing.expectEqual(@as(c_int, 0), std.c.epoll_ctl(host_set, linux.EPOLL.CTL_ADD, host_event_fd, &host_event));

    var host: HostIo = .{};
    // Our set is readable (its eventfd holds 1) but is not the host's.
    try testing.expectEqual(State.idle, host.state(own_key));
    var found_host = false;
    for (host.fds[0..host.count.?]) |entry| {
        try testing.expect(entry.fd != own);
        if (entry.fd == host_set) found_host = true;
    }
    try testing.expect(found_host);

    const one: u64 = 1;
    try testing.expectEqual(@as(isize, 8), std.c.write(host_event_fd, @ptrCast(&one), 8));
    try testing.expectEqual(State.pending, host.state(own_key));
    try testing.expectEqual(State.pending, host.state(own_key));
    // The host collects its events: idle again.
    var collected: [4]linux.epoll_event = undefined;
    try testing.expectEqual(@as(c_int, 1), std.c.epoll_wait(host_set, &collected, 4, 0));
    try testing.expectEqual(State.idle, host.state(own_key));
}
