//! Portable error codes shared by every exported function and every completion record.
//! Native errno values differ per OS (EAGAIN is 11 on Linux, 35 on macOS, WSAEWOULDBLOCK
//! on Windows), so the library speaks only these stable codes; `src/native/errors.ts` names them.

const std = @import("std");
const builtin = @import("builtin");

/// Stable code numbers: never renumber, only append. Exports return `-code` on failure and
/// completion records carry `-code` in `result`.
pub const Code = enum(i32) {
    ok = 0,
    EBADF = 1,
    EINVAL = 2,
    ENOMEM = 3,
    EAGAIN = 4,
    EEXIST = 5,
    ENOENT = 6,
    EWRONGTHREAD = 7,
    EOVERFLOW = 8,
    EMFILE = 9,
    ECANCELED = 10,
    EBUSY = 11,
    ENOSYS = 12,
    EPERM = 13,
    EIO = 14,
    EINTR = 15,
    EPIPE = 16,
    ECONNRESET = 17,
    ECONNREFUSED = 18,
    ECONNABORTED = 19,
    ENOTCONN = 20,
    EISCONN = 21,
    EADDRINUSE = 22,
    EADDRNOTAVAIL = 23,
    ETIMEDOUT = 24,
    EHOSTUNREACH = 25,
    ENETUNREACH = 26,
    ENETDOWN = 27,
    EMSGSIZE = 28,
    EAFNOSUPPORT = 29,
    EACCES = 30,
    EINPROGRESS = 31,
    EALREADY = 32,
    ENOTSOCK = 33,
    ENOBUFS = 34,
    ENFILE = 35,
    EUNKNOWN = 36,
    ENOSPC = 37,
    EISDIR = 38,
};

/// The Zig error set that native code returns; `table` pairs each with its code.
pub const Error = error{
    BadDescriptor,
    InvalidArgument,
    OutOfMemory,
    WouldBlock,
    AlreadyExists,
    NotFound,
    WrongThread,
    Overflow,
    TooManyOpenFiles,
    Canceled,
    Busy,
    Unsupported,
    PermissionDenied,
    InputOutput,
    Interrupted,
    BrokenPipe,
    ConnectionReset,
    ConnectionRefused,
    ConnectionAborted,
    NotConnected,
    AlreadyConnected,
    AddressInUse,
    AddressNotAvailable,
    TimedOut,
    HostUnreachable,
    NetworkUnreachable,
    NetworkDown,
    MessageTooBig,
    AddressFamilyNotSupported,
    AccessDenied,
    InProgress,
    AlreadyInProgress,
    NotSocket,
    NoBufferSpace,
    SystemFdQuotaExceeded,
    Unexpected,
    NoSpaceLeft,
    IsDir,
};

const Pair = struct { code: Code, err: Error };

/// One row per code except `ok`; error sets have no declaration order, so the pairing is explicit.
const table = [_]Pair{
    .{ .code = .EBADF, .err = error.BadDescriptor },
    .{ .code = .EINVAL, .err = error.InvalidArgument },
    .{ .code = .ENOMEM, .err = error.OutOfMemory },
    .{ .code = .EAGAIN, .err = error.WouldBlock },
    .{ .code = .EEXIST, .err = error.AlreadyExists },
    .{ .code = .ENOENT, .err = error.NotFound },
    .{ .code = .EWRONGTHREAD, .err = error.WrongThread },
    .{ .code = .EOVERFLOW, .err = error.Overflow },
    .{ .code = .EMFILE, .err = error.TooManyOpenFiles },
    .{ .code = .ECANCELED, .err = error.Canceled },
    .{ .code = .EBUSY, .err = error.Busy },
    .{ .code = .ENOSYS, .err = error.Unsupported },
    .{ .code = .EPERM, .err = error.PermissionDenied },
    .{ .code = .EIO, .err = error.InputOutput },
    .{ .code = .EINTR, .err = error.Interrupted },
    .{ .code = .EPIPE, .err = error.BrokenPipe },
    .{ .code = .ECONNRESET, .err = error.ConnectionReset },
    .{ .code = .ECONNREFUSED, .err = error.ConnectionRefused },
    .{ .code = .ECONNABORTED, .err = error.ConnectionAborted },
    .{ .code = .ENOTCONN, .err = error.NotConnected },
    .{ .code = .EISCONN, .err = error.AlreadyConnected },
    .{ .code = .EADDRINUSE, .err = error.AddressInUse },
    .{ .code = .EADDRNOTAVAIL, .err = error.AddressNotAvailable },
    .{ .code = .ETIMEDOUT, .err = error.TimedOut },
    .{ .code = .EHOSTUNREACH, .err = error.HostUnreachable },
    .{ .code = .ENETUNREACH, .err = error.NetworkUnreachable },
    .{ .code = .ENETDOWN, .err = error.NetworkDown },
    .{ .code = .EMSGSIZE, .err = error.MessageTooBig },
    .{ .code = .EAFNOSUPPORT, .err = error.AddressFamilyNotSupported },
    .{ .code = .EACCES, .err = error.AccessDenied },
    .{ .code = .EINPROGRESS, .err = error.InProgress },
    .{ .code = .EALREADY, .err = error.AlreadyInProgress },
    .{ .code = .ENOTSOCK, .err = error.NotSocket },
    .{ .code = .ENOBUFS, .err = error.NoBufferSpace },
    .{ .code = .ENFILE, .err = error.SystemFdQuotaExceeded },
    .{ .code = .EUNKNOWN, .err = error.Unexpected },
    .{ .code = .ENOSPC, .err = error.NoSpaceLeft },
    .{ .code = .EISDIR, .err = error.IsDir },
};

const error_names = @typeInfo(Error).error_set.error_names.?;
const code_names = @typeInfo(Code).@"enum".field_names;
const code_values = @typeInfo(Code).@"enum".field_values;

comptime {
    // Code.ok has no error, every other code has exactly one row, in code order.
    std.debug.assert(error_names.len + 1 == code_names.len);
    std.debug.assert(table.len == error_names.len);
    for (code_values, 0..) |value, i| std.debug.assert(value == i);
    for (table, 1..) |row, i| std.debug.assert(@backingInt(row.code) == i);
}

/// The code for a native error.
pub fn code(err: Error) Code {
    inline for (table) |row| {
        if (err == row.err) return row.code;
    }
    unreachable;
}

/// The value an export returns for `err`: always negative.
pub fn negative(err: Error) i32 {
    const value = -@backingInt(code(err));
    std.debug.assert(value < 0);
    return value;
}

/// The native error for a code (used by tests and by ops that re-raise a posted result).
pub fn fromCode(value: Code) Error {
    std.debug.assert(value != .ok);
    inline for (table) |row| {
        if (value == row.code) return row.err;
    }
    return error.Unexpected;
}

/// The name of a code ("EBADF"), or null for numbers outside the table.
pub fn name(value: i32) ?[:0]const u8 {
    if (value < 0 or value >= code_names.len) return null;
    return code_names[@intCast(value)];
}

/// Maps a POSIX errno to the portable error, by name, so it is right on every libc.
pub fn fromErrno(errno: anytype) Error {
    const E = @TypeOf(errno);
    inline for (table) |row| {
        const short = @tagName(row.code)[1..];
        if (@hasField(E, short) and errno == @field(E, short)) return row.err;
    }
    // Aliases that libcs spell differently.
    if (@hasField(E, "WOULDBLOCK") and errno == @field(E, "WOULDBLOCK")) return error.WouldBlock;
    if (@hasField(E, "NOTSUP") and errno == @field(E, "NOTSUP")) return error.Unsupported;
    if (@hasField(E, "OPNOTSUPP") and errno == @field(E, "OPNOTSUPP")) return error.Unsupported;
    return error.Unexpected;
}

/// Windows Sockets error numbers (winerror.h); WSAPoll backends and later socket ops map them.
pub fn fromWsa(wsa_error: c_int) Error {
    return switch (wsa_error) {
        10004 => error.Interrupted, // WSAEINTR
        10009 => error.BadDescriptor, // WSAEBADF
        10013 => error.AccessDenied, // WSAEACCES
        10014, 10022 => error.InvalidArgument, // WSAEFAULT, WSAEINVAL
        10024 => error.TooManyOpenFiles, // WSAEMFILE
        10035 => error.WouldBlock, // WSAEWOULDBLOCK
        10036 => error.InProgress, // WSAEINPROGRESS
        10037 => error.AlreadyInProgress, // WSAEALREADY
        10038 => error.NotSocket, // WSAENOTSOCK
        10040 => error.MessageTooBig, // WSAEMSGSIZE
        10045 => error.Unsupported, // WSAEOPNOTSUPP
        10047 => error.AddressFamilyNotSupported, // WSAEAFNOSUPPORT
        10048 => error.AddressInUse, // WSAEADDRINUSE
        10049 => error.AddressNotAvailable, // WSAEADDRNOTAVAIL
        10050 => error.NetworkDown, // WSAENETDOWN
        10051 => error.NetworkUnreachable, // WSAENETUNREACH
        10053 => error.ConnectionAborted, // WSAECONNABORTED
        10054 => error.ConnectionReset, // WSAECONNRESET
        10055 => error.NoBufferSpace, // WSAENOBUFS
        10056 => error.AlreadyConnected, // WSAEISCONN
        10057, 10058 => error.NotConnected, // WSAENOTCONN, WSAESHUTDOWN
        10060 => error.TimedOut, // WSAETIMEDOUT
        10061 => error.ConnectionRefused, // WSAECONNREFUSED
        10065 => error.HostUnreachable, // WSAEHOSTUNREACH
        10093 => error.Unsupported, // WSANOTINITIALISED
        8 => error.OutOfMemory, // WSA_NOT_ENOUGH_MEMORY
        else => error.Unexpected,
    };
}

test "every error has a distinct code and a name" {
    inline for (error_names) |error_name| {
        const value = code(@field(Error, error_name));
        try std.testing.expect(value != .ok);
        try std.testing.expect(fromCode(value) == @field(Error, error_name));
        try std.testing.expect(name(@backingInt(value)) != null);
    }
    try std.testing.expectEqual(@as(i32, -1), negative(error.BadDescriptor));
    try std.testing.expectEqualStrings("EBADF", name(1).?);
    try std.testing.expect(name(1000) == null);
}

test "errno maps by name" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const E = std.c.E;
    try std.testing.expect(fromErrno(E.AGAIN) == error.WouldBlock);
    try std.testing.expect(fromErrno(E.BADF) == error.BadDescriptor);
    try std.testing.expect(fromErrno(E.CONNREFUSED) == error.ConnectionRefused);
    try std.testing.expect(fromErrno(E.NOMEM) == error.OutOfMemory);
}

test "wsa errors map" {
    try std.testing.expect(fromWsa(10035) == error.WouldBlock);
    try std.testing.expect(fromWsa(10061) == error.ConnectionRefused);
    try std.testing.expect(fromWsa(1) == error.Unexpected);
}
