//! Pipe addresses: Unix domain sockets on Linux and macOS, and on Windows too for file-system
//! paths (AF_UNIX, Windows 10 and later). Connecting and listening go through socket.zig like
//! TCP; only the address differs.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const sys = @import("sys.zig");

const Error = errors.Error;

/// The socket address of a pipe path (at most sys.unix_path_max bytes, no zero byte).
pub fn address(path: []const u8) Error!sys.Address {
    if (builtin.os.tag == .windows and isNamedPipe(path)) return error.Unsupported;
    return sys.Address.unix(path);
}

/// `\\.\pipe\name`: the Windows named-pipe namespace.
pub fn isNamedPipe(path: []const u8) bool {
    return std.ascii.startsWithIgnoreCase(path, "\\\\.\\pipe\\") or std.ascii.startsWithIgnoreCase(path, "//./pipe/");
}

const testing = std.testing;

test "pipe paths become unix socket addresses" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const unix = try address("/tmp/evergreen.sock");
    try testing.expectEqual(sys.af_unix, unix.family());
    try testing.expectError(error.InvalidArgument, address(""));
    try testing.expect(isNamedPipe("\\\\.\\pipe\\test-pipe"));
    try testing.expect(!isNamedPipe("test-pipe"));
}
