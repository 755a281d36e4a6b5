//! Terminals as streams. POSIX: a TTY descriptor is reopened through its device name so that
//! making it nonblocking does not change the descriptor Deno and the parent shell share
//! (falling back to a duplicate whose flags are restored on close); window size and raw mode
//! come from termios. Windows: the console is bridged to a loopback socket like a pipe
//! (pipe.zig); window size and raw mode come from the console API. Either way the original
//! mode is restored when the stream closes.

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("../loop/descriptor.zig");
const errors = @import("../loop/errors.zig");
const kernel32 = @import("kernel32.zig");
const pipe = @import("pipe.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");
const terminal = @import("terminal.zig");
const windows_pipe = @import("windows_pipe.zig");

const Stream = stream_module.Stream;

pub const WindowSize = struct { columns: u16, rows: u16 };

extern "c" fn ttyname_r(fd: c_int, buffer: [*]u8, length: usize) c_int;

/// A stream over the terminal on fd (which stays the caller's); EINVAL when it is not one.
/// On Windows fd is a console HANDLE (sys.windows.handleOf: 0, 1, 2 are the standard handles),
/// see `openConsole`.
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, read_max: usize) errors.Error!*Stream {
    if (fd < 0) return error.BadDescriptor;
    if (builtin.os.tag == .windows) return openConsole(gpa, loop_handle, try sys.windows.handleOf(fd), read_max);
    if (std.c.isatty(fd) != 1) {
        return if (std.c.fcntl(fd, std.c.F.GETFD) < 0) error.BadDescriptor else error.InvalidArgument;
    }
    var restore_flags: ?c_int = null;
    const own = reopen(fd) catch blk: {
        const copy = std.c.dup(fd);
        if (copy < 0) return sys.lastError();
        errdefer sys.close(copy);
        const flags = std.c.fcntl(copy, std.c.F.GETFL);
        if (flags < 0) return sys.lastError();
        try descriptor.setNonBlocking(copy);
        if (std.c.fcntl(copy, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return sys.lastError();
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
fn reopen(fd: i32) errors.Error!i32 {
    var name: [256]u8 = undefined;
    if (ttyname_r(fd, &name, name.len) != 0) return error.NotFound;
    const path: [*:0]const u8 = @ptrCast(&name);
    const flags: std.c.O = .{ .ACCMODE = .RDWR, .NOCTTY = true, .NONBLOCK = true, .CLOEXEC = true };
    const own = std.c.open(path, flags);
    if (own < 0) return sys.lastError();
    return own;
}

pub fn windowSize(stream: *const Stream) errors.Error!WindowSize {
    if (stream.closed) return error.BadDescriptor;
    if (builtin.os.tag == .windows) return consoleWindowSize(&stream.tty_state);
    var size: std.c.winsize = undefined;
    if (std.c.ioctl(stream.fd, std.c.T.IOCGWINSZ, @intFromPtr(&size)) != 0) return sys.lastError();
    return .{ .columns = size.col, .rows = size.row };
}

/// Raw mode: input byte by byte, no echo, no signals from keys, no CR/NL translation of input
/// (output keeps NL -> CRNL, as libuv does); false restores the mode from before.
pub fn setRawMode(stream: *Stream, raw: bool) errors.Error!void {
    if (stream.closed) return error.BadDescriptor;
    if (builtin.os.tag == .windows) return setConsoleRawMode(&stream.tty_state, raw);
    const state = &stream.tty_state;
    if (!raw) {
        if (!state.saved) return;
        if (std.c.tcsetattr(stream.fd, .DRAIN, &state.original) != 0) return sys.lastError();
        return;
    }
    var mode: std.c.termios = undefined;
    if (std.c.tcgetattr(stream.fd, &mode) != 0) return sys.lastError();
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
    mode.cc[@backingInt(std.c.V.MIN)] = 1;
    mode.cc[@backingInt(std.c.V.TIME)] = 0;
    if (std.c.tcsetattr(stream.fd, .DRAIN, &mode) != 0) return sys.lastError();
}

/// Test support: a pseudo-terminal pair, [0] the controlling side, [1] the terminal side.
pub fn openPty() errors.Error![2]i32 {
    if (builtin.os.tag == .windows) return error.Unsupported;
    const controller = posix_openpt(@bitCast(std.c.O{ .ACCMODE = .RDWR, .NOCTTY = true, .CLOEXEC = true }));
    if (controller < 0) return sys.lastError();
    errdefer sys.close(controller);
    if (grantpt(controller) != 0 or unlockpt(controller) != 0) return sys.lastError();
    const name = ptsname(controller) orelse return sys.lastError();
    const device = std.c.open(name, .{ .ACCMODE = .RDWR, .NOCTTY = true, .CLOEXEC = true });
    if (device < 0) return sys.lastError();
    errdefer sys.close(device);
    try descriptor.setNonBlocking(controller);
    return .{ controller, device };
}

/// Test support: sets a terminal's window size.
pub fn setWindowSize(fd: i32, columns: u16, rows: u16) errors.Error!void {
    if (builtin.os.tag == .windows) return error.Unsupported;
    const size: std.c.winsize = .{ .row = rows, .col = columns, .xpixel = 0, .ypixel = 0 };
    const request: c_int = if (builtin.os.tag == .linux) @intCast(std.os.linux.T.IOCSWINSZ) else @bitCast(@as(u32, 0x80087467));
    if (std.c.ioctl(fd, request, @intFromPtr(&size)) != 0) return sys.lastError();
}

extern "c" fn posix_openpt(flags: c_int) c_int;
extern "c" fn grantpt(fd: c_int) c_int;
extern "c" fn unlockpt(fd: c_int) c_int;
extern "c" fn ptsname(fd: c_int) ?[*:0]const u8;

// ---------------------------------------------------------------------------------------
// Windows consoles.

const console_input_name = std.unicode.utf8ToUtf16LeStringLiteral("CONIN$");
const console_output_name = std.unicode.utf8ToUtf16LeStringLiteral("CONOUT$");
const enable_processed_input: u32 = 0x1;
const enable_line_input: u32 = 0x2;
const enable_echo_input: u32 = 0x4;
const enable_virtual_terminal_input: u32 = 0x200;
const duplicate_same_access: u32 = 0x2;

/// A stream over a console. Console input (fd 0, or an input handle) is read from a CONIN$ of
/// the stream's own, and writes go to the console's active screen buffer (CONOUT$). An output
/// handle (fd 1, 2) is written to as it is, and nothing is read: the stream reads end of stream
/// at once, because a bridge reading the console would take keys from every other reader.
fn openConsole(gpa: std.mem.Allocator, loop_handle: u32, given: usize, read_max: usize) errors.Error!*Stream {
    std.debug.assert(builtin.os.tag == .windows and given != kernel32.invalid_handle);
    var mode: u32 = 0;
    if (kernel32.GetConsoleMode(given, &mode) == 0) return error.InvalidArgument;
    var events: u32 = 0;
    const is_input = kernel32.GetNumberOfConsoleInputEvents(given, &events) != 0;
    // A CONIN$ of its own: the bridge cancels its reads on close, which must not cancel those
    // of anyone else reading the console through a shared handle.
    const reader: ?usize = if (is_input) try openDevice(console_input_name) else null;
    errdefer if (reader) |handle| terminal.closeHandle(handle);
    const writer = if (is_input) try openDevice(console_output_name) else try duplicate(given);
    errdefer terminal.closeHandle(writer);
    const input = try openDevice(console_input_name);
    errdefer terminal.closeHandle(input);
    const output = try duplicate(writer);
    errdefer terminal.closeHandle(output);
    const pair = try windows_pipe.bridge.socketPair();
    errdefer sys.close(pair[1]);
    const stream = try pipe.streamOverBridge(gpa, loop_handle, pair[0], read_max);
    errdefer stream.close(null);
    try windows_pipe.bridge.start(gpa, .{ .read = reader, .write = writer, .console_input = true }, pair[1]);
    stream.tty_state = .{ .input = input, .output = output };
    return stream;
}

fn openDevice(name: [*:0]const u16) errors.Error!usize {
    const handle = kernel32.CreateFileW(name, kernel32.generic_read_write, kernel32.file_share_read_write, null, kernel32.open_existing, 0, null);
    if (handle == kernel32.invalid_handle) return kernel32.lastError();
    return handle;
}

fn duplicate(handle: usize) errors.Error!usize {
    const process = kernel32.GetCurrentProcess();
    var copy: usize = kernel32.invalid_handle;
    if (kernel32.DuplicateHandle(process, handle, process, &copy, 0, 0, duplicate_same_access) == 0) return kernel32.lastError();
    std.debug.assert(copy != kernel32.invalid_handle);
    return copy;
}

fn consoleWindowSize(state: *const terminal.ConsoleState) errors.Error!WindowSize {
    if (state.output == kernel32.invalid_handle) return error.InvalidArgument;
    var info: kernel32.ScreenBufferInfo = undefined;
    if (kernel32.GetConsoleScreenBufferInfo(state.output, &info) == 0) return kernel32.lastError();
    const columns = @as(i32, info.window.right) - info.window.left + 1;
    const rows = @as(i32, info.window.bottom) - info.window.top + 1;
    if (columns <= 0 or rows <= 0) return error.Unexpected;
    return .{ .columns = @intCast(columns), .rows = @intCast(rows) };
}

/// Raw mode: input key by key, unechoed, Ctrl+C as a byte rather than a signal, and keys such
/// as arrows as escape sequences where the console can (virtual-terminal input, Windows 10 on;
/// older consoles refuse the flag and get the rest).
fn setConsoleRawMode(state: *terminal.ConsoleState, raw: bool) errors.Error!void {
    if (state.input == kernel32.invalid_handle) return error.InvalidArgument;
    if (!raw) {
        if (!state.saved) return;
        if (kernel32.SetConsoleMode(state.input, state.original) == 0) return kernel32.lastError();
        return;
    }
    var mode: u32 = 0;
    if (kernel32.GetConsoleMode(state.input, &mode) == 0) return kernel32.lastError();
    if (!state.saved) {
        state.original = mode;
        state.saved = true;
    }
    const raw_mode = mode & ~(enable_line_input | enable_echo_input | enable_processed_input);
    if (kernel32.SetConsoleMode(state.input, raw_mode | enable_virtual_terminal_input) != 0) return;
    if (kernel32.SetConsoleMode(state.input, raw_mode) == 0) return kernel32.lastError();
}

// ---------------------------------------------------------------------------------------
// Tests: a real pseudo-terminal.

const testing = std.testing;

test "a pty terminal opens as a stream with its window size, raw mode and restore" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const pair = try openPty();
    defer sys.close(pair[0]);
    defer sys.close(pair[1]);
    try setWindowSize(pair[1], 132, 43);
    const stream = try open(testing.allocator, 0, pair[1], 1024);
    defer stream.close(null);
    try testing.expect(stream.fd != pair[1]);
    const size = try windowSize(stream);
    try testing.expectEqual(@as(u16, 132), size.columns);
    try testing.expectEqual(@as(u16, 43), size.rows);

    var before: std.c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.tcgetattr(pair[1], &before));
    try testing.expect(before.lflag.ICANON);
    try setRawMode(stream, true);
    var raw: std.c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.tcgetattr(pair[1], &raw));
    try testing.expect(!raw.lflag.ICANON and !raw.lflag.ECHO and !raw.lflag.ISIG);
    try setRawMode(stream, false);
    var after: std.c.termios = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.tcgetattr(pair[1], &after));
    try testing.expect(after.lflag.ICANON and after.lflag.ECHO);
}

test "a descriptor that is not a terminal is refused" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const fds = try @import("../loop/test_support.zig").pipe();
    defer for (fds) |fd| sys.close(fd);
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, fds[0], 1024));
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, -1, 1024));
}

const console_test = struct {
    const KeyRecord = extern struct {
        event_type: u16 = 1, // KEY_EVENT
        key_down: i32 = 1,
        repeat_count: u16 = 1,
        virtual_key: u16 = 0,
        scan_code: u16 = 0,
        char: u16,
        control_state: u32 = 0,
    };
    extern "kernel32" fn CreatePipe(read: *usize, write: *usize, security: ?*anyopaque, size: u32) callconv(.winapi) i32;
    extern "kernel32" fn WriteConsoleInputW(console: usize, records: [*]const KeyRecord, count: u32, written: *u32) callconv(.winapi) i32;
    extern "kernel32" fn FlushConsoleInputBuffer(console: usize) callconv(.winapi) i32;
    extern "kernel32" fn SetConsoleScreenBufferSize(console: usize, size: u32) callconv(.winapi) i32;
    extern "kernel32" fn SetConsoleWindowInfo(console: usize, absolute: i32, window: *const [4]i16) callconv(.winapi) i32;
    extern "kernel32" fn SetConsoleCursorPosition(console: usize, position: u32) callconv(.winapi) i32;
    extern "kernel32" fn ReadConsoleOutputCharacterA(console: usize, out: [*]u8, length: u32, position: u32, read: *u32) callconv(.winapi) i32;

    fn coord(x: i16, y: i16) u32 {
        return @as(u32, @as(u16, @bitCast(x))) | (@as(u32, @as(u16, @bitCast(y))) << 16);
    }

    /// Puts keys into the console's input as if typed.
    fn typeKeys(input: usize, text: []const u8) !void {
        var records: [16]KeyRecord = undefined;
        std.debug.assert(text.len <= records.len);
        for (text, 0..) |byte, i| records[i] = .{ .char = byte };
        var written: u32 = 0;
        try testing.expect(WriteConsoleInputW(input, &records, @intCast(text.len), &written) != 0);
        try testing.expectEqual(@as(u32, @intCast(text.len)), written);
    }

    /// Waits until the screen shows text at row `row`, column 0 (the bridge writes on its own thread).
    fn expectOnScreen(output: usize, row: i16, text: []const u8) !void {
        var shown: [64]u8 = undefined;
        std.debug.assert(text.len <= shown.len);
        var count: u32 = 0;
        var waited_ms: u32 = 0;
        while (waited_ms < 5000) : (waited_ms += 2) {
            if (ReadConsoleOutputCharacterA(output, &shown, @intCast(text.len), coord(0, row), &count) != 0 and
                std.mem.eql(u8, shown[0..count], text)) return;
            @import("../loop/test_support.zig").sleepMs(2);
        }
        try testing.expectEqualStrings(text, shown[0..count]);
    }

    fn inputMode(input: usize) !u32 {
        var mode: u32 = 0;
        try testing.expect(kernel32.GetConsoleMode(input, &mode) != 0);
        return mode;
    }
};

test "a handle that is not a console is refused (Windows)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    const live = stream_module.streams.liveCount();
    var ends: [2]usize = undefined;
    try testing.expect(console_test.CreatePipe(&ends[0], &ends[1], null, 0) != 0);
    defer for (ends) |handle| terminal.closeHandle(handle);
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, @intCast(ends[0]), 1024));
    // NUL is a character device, as consoles are, but not a console.
    const nul = try openDevice(std.unicode.utf8ToUtf16LeStringLiteral("NUL"));
    defer terminal.closeHandle(nul);
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, @intCast(nul), 1024));
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, 0x7fff_fff0, 1024));
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, -1, 1024));
    try testing.expectEqual(live, stream_module.streams.liveCount());
    try testing.expectEqual(@as(u32, 0), windows_pipe.bridge.threads_live.load(.acquire));
}

// Needs a console, which `zig build test` (stdin a pipe) does not give. Here, under wine:
//   zig test zig/root.zig -target x86_64-windows -lws2_32 --test-filter console --test-no-exec -femit-bin=/tmp/eg-win.exe
//   script -qec "wine /tmp/eg-win.exe" /dev/null
test "a console opens as a stream with its window size, raw mode, input, output and restore (Windows console)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    var original: u32 = 0;
    if (kernel32.GetConsoleMode(kernel32.GetStdHandle(@bitCast(@as(i32, -10))), &original) == 0) return error.SkipZigTest;
    const t = console_test;
    const input = try openDevice(console_input_name);
    defer terminal.closeHandle(input);
    const output = try openDevice(console_output_name);
    defer terminal.closeHandle(output);
    var before: kernel32.ScreenBufferInfo = undefined;
    try testing.expect(kernel32.GetConsoleScreenBufferInfo(output, &before) != 0);
    defer {
        _ = t.SetConsoleScreenBufferSize(output, t.coord(before.size[0], before.size[1]));
        _ = t.SetConsoleWindowInfo(output, 1, &.{ before.window.left, before.window.top, before.window.right, before.window.bottom });
    }
    // A known window: 100 x 30 cells of a 100 x 300 buffer.
    try testing.expect(t.SetConsoleScreenBufferSize(output, t.coord(100, 300)) != 0);
    try testing.expect(t.SetConsoleWindowInfo(output, 1, &.{ 0, 0, 99, 29 }) != 0);
    try testing.expect(t.FlushConsoleInputBuffer(input) != 0);

    const stream = try open(testing.allocator, 0, 0, 1024);
    var stream_open = true;
    defer if (stream_open) pipe.test_streams.closeStream(stream);
    try testing.expectEqual(WindowSize{ .columns = 100, .rows = 30 }, try windowSize(stream));

    try setRawMode(stream, true);
    const raw = try t.inputMode(input);
    try testing.expectEqual(@as(u32, 0), raw & (enable_line_input | enable_echo_input | enable_processed_input));
    try testing.expect(raw & enable_virtual_terminal_input != 0);
    // Keys arrive at once, without Enter: the bridge's read began in raw mode.
    try t.typeKeys(input, "hi!");
    var buffer: [8]u8 = undefined;
    try pipe.test_streams.receiveAll(stream.fd, buffer[0..3]);
    try testing.expectEqualStrings("hi!", buffer[0..3]);
    // Bytes written to the stream land on the screen.
    try testing.expect(t.SetConsoleCursorPosition(output, t.coord(0, 5)) != 0);
    try pipe.test_streams.sendAllBlocking(stream.fd, "EVERGREEN-MARK");
    try t.expectOnScreen(output, 5, "EVERGREEN-MARK");

    try setRawMode(stream, false);
    try testing.expectEqual(original, try t.inputMode(input));
    try setRawMode(stream, true);
    // Closing puts the mode back and ends the bridge, whose reader waits for input.
    pipe.test_streams.closeStream(stream);
    stream_open = false;
    try testing.expectEqual(original, try t.inputMode(input));
    try pipe.test_streams.expectBridgesEnded();

    // An output console is written to and never read: end of stream at once.
    const writer = try open(testing.allocator, 0, 1, 1024);
    defer pipe.test_streams.closeStream(writer);
    try testing.expectEqual(WindowSize{ .columns = 100, .rows = 30 }, try windowSize(writer));
    try testing.expectEqual(@as(usize, 0), try pipe.test_streams.receiveNext(writer.fd, &buffer));
}
