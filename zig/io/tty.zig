//! Terminals as streams: a TTY descriptor is reopened through its device name so that making
//! it nonblocking does not change the descriptor Deno and the parent shell share (falling back
//! to a duplicate whose flags are restored on close); window size and raw mode come from
//! termios, and the original mode is restored when the stream closes. POSIX only: Windows
//! consoles cannot be polled by the loop, so opening one is ENOSYS.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const sys = @import("sys.zig");
const stream_module = @import("stream.zig");

const Stream = stream_module.Stream;
const Error = errors.Error;
const is_windows = builtin.os.tag == .windows;
const c = std.c;

/// What a TTY stream must put back when it closes.
pub const State = struct {
    /// The termios in force before the first setRawMode.
    original: if (is_windows) void else c.termios = undefined,
    saved: bool = false,
    /// File status flags of a shared description we made nonblocking (fallback path).
    restore_flags: ?c_int = null,
};

pub const WindowSize = struct { columns: u16, rows: u16 };

extern "c" fn ttyname_r(fd: c_int, buffer: [*]u8, length: usize) c_int;

/// A stream over the terminal on fd (which stays the caller's).
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, read_max: usize) Error!*Stream {
    if (is_windows) return error.Unsupported;
    if (fd < 0) return error.BadDescriptor;
    if (c.isatty(fd) != 1) {
        return if (c.fcntl(fd, c.F.GETFD) < 0) error.BadDescriptor else error.InvalidArgument;
    }
    var restore_flags: ?c_int = null;
    const own = reopen(fd) catch blk: {
        const copy = c.dup(fd);
        if (copy < 0) return sys.lastError();
        errdefer sys.close(copy);
        const flags = c.fcntl(copy, c.F.GETFL);
        if (flags < 0) return sys.lastError();
        try sys.setNonBlocking(copy);
        if (c.fcntl(copy, c.F.SETFD, @as(c_int, c.FD_CLOEXEC)) < 0) return sys.lastError();
        restore_flags = flags;
        break :blk copy;
    };
    errdefer sys.close(own);
    sys.suppressSigpipe(own);
    const stream = try Stream.create(gpa, loop_handle, own, .file, read_max);
    stream.tty_state.restore_flags = restore_flags;
    return stream;
}

/// A new open file description of the same terminal, nonblocking from the start.
fn reopen(fd: i32) Error!i32 {
    var name: [256]u8 = undefined;
    if (ttyname_r(fd, &name, name.len) != 0) return error.NotFound;
    const path: [*:0]const u8 = @ptrCast(&name);
    const flags: c.O = .{ .ACCMODE = .RDWR, .NOCTTY = true, .NONBLOCK = true, .CLOEXEC = true };
    const own = c.open(path, flags);
    if (own < 0) return sys.lastError();
    return own;
}

pub fn windowSize(stream: *const Stream) Error!WindowSize {
    if (is_windows) return error.Unsupported;
    if (stream.closed) return error.BadDescriptor;
    var size: c.winsize = undefined;
    if (c.ioctl(stream.fd, c.T.IOCGWINSZ, @intFromPtr(&size)) != 0) return sys.lastError();
    return .{ .columns = size.col, .rows = size.row };
}

/// Raw mode: input byte by byte, no echo, no signals from keys, no CR/NL translation of input
/// (output keeps NL -> CRNL, as libuv does); false restores the mode from before.
pub fn setRawMode(stream: *Stream, raw: bool) Error!void {
    if (is_windows) return error.Unsupported;
    if (stream.closed) return error.BadDescriptor;
    const state = &stream.tty_state;
    if (!raw) {
        if (!state.saved) return;
        if (c.tcsetattr(stream.fd, .DRAIN, &state.original) != 0) return sys.lastError();
        return;
    }
    var mode: c.termios = undefined;
    if (c.tcgetattr(stream.fd, &mode) != 0) return sys.lastError();
    if (!state.saved) {
        state.original = mode;
        state.saved = true;
    }
    mode.iflag.BRKINT = false;
    mode.iflag.ICRNL = false;
    mode.iflag.INPCK = false;
    mode.iflag.ISTRIP = false;
    mode.iflag.IXON = false;
    mode.oflag.ONLCR = true;
    mode.cflag.CSIZE = .CS8;
    mode.lflag.ECHO = false;
    mode.lflag.ICANON = false;
    mode.lflag.IEXTEN = false;
    mode.lflag.ISIG = false;
    mode.cc[@backingInt(c.V.MIN)] = 1;
    mode.cc[@backingInt(c.V.TIME)] = 0;
    if (c.tcsetattr(stream.fd, .DRAIN, &mode) != 0) return sys.lastError();
}

/// Puts the terminal back as it was (called by Stream.close before the descriptor closes).
pub fn restore(stream: *Stream) void {
    if (is_windows) return;
    const state = &stream.tty_state;
    if (stream.fd == sys.invalid_fd) return;
    if (state.saved) {
        _ = c.tcsetattr(stream.fd, .NOW, &state.original);
        state.saved = false;
    }
    if (state.restore_flags) |flags| {
        _ = c.fcntl(stream.fd, c.F.SETFL, flags);
        state.restore_flags = null;
    }
}

/// Test support: a pseudo-terminal pair, [0] the controlling side, [1] the terminal side.
pub fn openPty() Error![2]i32 {
    if (is_windows) return error.Unsupported;
    const controller = posix_openpt(@bitCast(c.O{ .ACCMODE = .RDWR, .NOCTTY = true, .CLOEXEC = true }));
    if (controller < 0) return sys.lastError();
    errdefer sys.close(controller);
    if (grantpt(controller) != 0 or unlockpt(controller) != 0) return sys.lastError();
    const name = ptsname(controller) orelse return sys.lastError();
    const terminal = c.open(name, .{ .ACCMODE = .RDWR, .NOCTTY = true, .CLOEXEC = true });
    if (terminal < 0) return sys.lastError();
    errdefer sys.close(terminal);
    try sys.setNonBlocking(controller);
    return .{ controller, terminal };
}

/// Test support: sets a terminal's window size.
pub fn setWindowSize(fd: i32, columns: u16, rows: u16) Error!void {
    if (is_windows) return error.Unsupported;
    const size: c.winsize = .{ .row = rows, .col = columns, .xpixel = 0, .ypixel = 0 };
    const request: c_int = if (builtin.os.tag == .linux) @intCast(std.os.linux.T.IOCSWINSZ) else @bitCast(@as(u32, 0x80087467));
    if (c.ioctl(fd, request, @intFromPtr(&size)) != 0) return sys.lastError();
}

extern "c" fn posix_openpt(flags: c_int) c_int;
extern "c" fn grantpt(fd: c_int) c_int;
extern "c" fn unlockpt(fd: c_int) c_int;
extern "c" fn ptsname(fd: c_int) ?[*:0]const u8;

// ---------------------------------------------------------------------------------------
// Tests: a real pseudo-terminal.

const testing = std.testing;

test "a pty terminal opens as a stream with its window size, raw mode and restore" {
    if (is_windows) return error.SkipZigTest;
    const pair = try openPty();
    defer sys.close(pair[0]);
    defer sys.close(pair[1]);
    try setWindowSize(pair[1], 132, 43);
    const stream = try open(testing.allocator, 0, pair[1], 1024);
    defer {
        stream.close(null);
        if (stream_module.streams.liveCount() == 0) {
            for (stream_module.streams.chunks[0..stream_module.streams.chunk_count]) |*chunk| testing.allocator.destroy(chunk.load(.acquire).?);
            stream_module.streams = .{};
        }
    }
    try testing.expect(stream.fd != pair[1]);
    const size = try windowSize(stream);
    try testing.expectEqual(@as(u16, 132), size.columns);
    try testing.expectEqual(@as(u16, 43), size.rows);

    var before: c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), c.tcgetattr(pair[1], &before));
    try testing.expect(before.lflag.ICANON);
    try setRawMode(stream, true);
    var raw: c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), c.tcgetattr(pair[1], &raw));
    try testing.expect(!raw.lflag.ICANON and !raw.lflag.ECHO and !raw.lflag.ISIG);
    try setRawMode(stream, false);
    var after: c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), c.tcgetattr(pair[1], &after));
    try testing.expect(after.lflag.ICANON and after.lflag.ECHO);
}

test "a descriptor that is not a terminal is refused" {
    if (is_windows) return error.SkipZigTest;
    const fds = try @import("../loop/test_support.zig").pipe();
    defer for (fds) |fd| sys.close(fd);
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, fds[0], 1024));
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, -1, 1024));
}
