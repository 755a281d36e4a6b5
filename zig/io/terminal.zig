//! What a terminal stream must put back when it closes: the termios (POSIX) or console mode
//! (Windows) in force before raw mode, and the console handles. tty.zig fills this state;
//! Stream.close (stream.zig) calls `restore`. Apart from tty.zig so that stream.zig does not
//! import tty.zig, which imports stream.zig.

const std = @import("std");
const builtin = @import("builtin");
const event = @import("../loop/event.zig");
const kernel32 = @import("kernel32.zig");
const sys = @import("sys.zig");

pub const State = if (builtin.os.tag == .windows) ConsoleState else TermiosState;

pub const TermiosState = struct {
    /// The termios in force before the first setRawMode.
    original: std.c.termios = undefined,
    saved: bool = false,
    /// File status flags of a shared description we made nonblocking (fallback path).
    restore_flags: ?c_int = null,
};

/// The stream's own console handles for modes and sizes, apart from the bridge's (which may
/// end, and close its handles, while the stream is still open).
pub const ConsoleState = struct {
    /// Console input (CONIN$): its mode is raw or not.
    input: usize = kernel32.invalid_handle,
    /// The screen buffer written to: its window is the size.
    output: usize = kernel32.invalid_handle,
    /// The input mode in force before the first setRawMode.
    original: u32 = 0,
    saved: bool = false,
};

/// Puts the terminal behind `fd` back as it was (before the descriptor closes).
pub fn restore(fd: event.Fd, state: *State) void {
    if (builtin.os.tag == .windows) return restoreConsole(state);
    if (fd == sys.invalid_fd) return;
    if (state.saved) {
        _ = std.c.tcsetattr(fd, .NOW, &state.original);
        state.saved = false;
    }
    if (state.restore_flags) |flags| {
        _ = std.c.fcntl(fd, std.c.F.SETFL, flags);
        state.restore_flags = null;
    }
}

pub fn closeHandle(handle: usize) void {
    std.debug.assert(handle != kernel32.invalid_handle);
    _ = kernel32.CloseHandle(handle);
}

fn restoreConsole(state: *ConsoleState) void {
    if (state.input == kernel32.invalid_handle) return;
    std.debug.assert(state.output != kernel32.invalid_handle);
    if (state.saved) _ = kernel32.SetConsoleMode(state.input, state.original);
    closeHandle(state.input);
    closeHandle(state.output);
    state.* = .{};
}
