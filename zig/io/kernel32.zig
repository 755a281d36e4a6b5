//! The kernel32 bindings of io/ (std has none for most of them), as loop/winsock.zig is for
//! sockets: the calls and constants for the Windows handles the loop cannot poll, pipes
//! (windows_pipe.zig's bridges, pipe.zig) and consoles (tty.zig, terminal.zig), and their
//! errors mapped to the portable ones of loop/errors.zig. Nothing here is referenced on other OSes.

const std = @import("std");
const errors = @import("../loop/errors.zig");

pub const invalid_handle: usize = std.math.maxInt(usize);
pub const infinite: u32 = 0xffff_ffff;
pub const wait_object_0: u32 = 0;
pub const generic_read_write: u32 = 0x8000_0000 | 0x4000_0000;
pub const file_share_read_write: u32 = 0x1 | 0x2;
pub const open_existing: u32 = 3;

/// A console's screen buffer: its size, cursor and the visible window (inclusive bounds).
pub const ScreenBufferInfo = extern struct {
    size: [2]i16,
    cursor: [2]i16,
    attributes: u16,
    window: extern struct { left: i16, top: i16, right: i16, bottom: i16 },
    window_max: [2]i16,
};

pub extern "kernel32" fn GetLastError() callconv(.winapi) u32;
pub extern "kernel32" fn WaitNamedPipeW(name: [*:0]const u16, timeout_ms: u32) callconv(.winapi) i32;
pub extern "kernel32" fn SetLastError(code: u32) callconv(.winapi) void;
pub extern "kernel32" fn CloseHandle(handle: usize) callconv(.winapi) i32;
pub extern "kernel32" fn GetStdHandle(which: u32) callconv(.winapi) usize;
pub extern "kernel32" fn GetFileType(file: usize) callconv(.winapi) u32;
pub extern "kernel32" fn GetCurrentProcess() callconv(.winapi) usize;
pub extern "kernel32" fn DuplicateHandle(source_process: usize, source: usize, target_process: usize, target: *usize, access: u32, inherit: i32, options: u32) callconv(.winapi) i32;
pub extern "kernel32" fn CreateFileW(name: [*:0]const u16, access: u32, share: u32, security: ?*anyopaque, disposition: u32, flags: u32, template: ?*anyopaque) callconv(.winapi) usize;
pub extern "kernel32" fn CreateNamedPipeW(name: [*:0]const u16, open_mode: u32, pipe_mode: u32, instances: u32, out_size: u32, in_size: u32, timeout_ms: u32, security: ?*anyopaque) callconv(.winapi) usize;
pub extern "kernel32" fn ConnectNamedPipe(pipe: usize, overlapped: ?*anyopaque) callconv(.winapi) i32;
pub extern "kernel32" fn ReadFile(file: usize, buffer: [*]u8, length: u32, read: *u32, overlapped: ?*anyopaque) callconv(.winapi) i32;
pub extern "kernel32" fn WriteFile(file: usize, buffer: [*]const u8, length: u32, written: *u32, overlapped: ?*anyopaque) callconv(.winapi) i32;
pub extern "kernel32" fn CancelIoEx(file: usize, overlapped: ?*anyopaque) callconv(.winapi) i32;
pub extern "kernel32" fn CreateEventW(security: ?*anyopaque, manual_reset: i32, initial_state: i32, name: ?[*:0]const u16) callconv(.winapi) usize;
pub extern "kernel32" fn SetEvent(event: usize) callconv(.winapi) i32;
pub extern "kernel32" fn WaitForSingleObject(handle: usize, timeout_ms: u32) callconv(.winapi) u32;
pub extern "kernel32" fn WaitForMultipleObjects(count: u32, handles: [*]const usize, wait_all: i32, timeout_ms: u32) callconv(.winapi) u32;
pub extern "kernel32" fn Sleep(duration_ms: u32) callconv(.winapi) void;
pub extern "kernel32" fn GetConsoleMode(console: usize, mode: *u32) callconv(.winapi) i32;
pub extern "kernel32" fn SetConsoleMode(console: usize, mode: u32) callconv(.winapi) i32;
pub extern "kernel32" fn GetNumberOfConsoleInputEvents(console: usize, count: *u32) callconv(.winapi) i32;
pub extern "kernel32" fn GetConsoleScreenBufferInfo(console: usize, info: *ScreenBufferInfo) callconv(.winapi) i32;

/// The last kernel32 error as a portable error.
pub fn lastError() errors.Error {
    return switch (GetLastError()) {
        2, 3 => error.NotFound, // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND
        5 => error.AccessDenied,
        6 => error.BadDescriptor, // ERROR_INVALID_HANDLE
        8, 14 => error.OutOfMemory,
        87 => error.InvalidArgument,
        39, 112 => error.NoSpaceLeft, // ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL
        109, 232 => error.BrokenPipe, // ERROR_BROKEN_PIPE, ERROR_NO_DATA
        231 => error.Busy, // ERROR_PIPE_BUSY
        else => error.Unexpected,
    };
}
