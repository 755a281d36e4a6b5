//! The one error wrapper of the C ABI, the conversions of its arguments and the allocator it
//! hands to the layers, shared by exports.zig and test_exports.zig: an export converts each C
//! argument (a handle to its object, a pointer and length to a slice, a record to an address)
//! with the functions here, then answers `call(function, .{ arguments })`: 0 or a count, or
//! `-code` (loop/errors.zig).

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const event = @import("loop/event.zig");
const io = @import("io/io.zig");

const default_allocator = if (builtin.link_libc) std.heap.c_allocator else std.heap.smp_allocator;
/// The library's allocator; tests swap in the leak-checking one (setAllocator).
pub var allocator: std.mem.Allocator = default_allocator;

/// Makes gpa the library's allocator; returns the one before, to restore.
pub fn setAllocator(gpa: std.mem.Allocator) std.mem.Allocator {
    defer allocator = gpa;
    return allocator;
}

/// Calls `function` with `arguments`, each of which may be a conversion's error union: they
/// are unwrapped in order, so the first bad argument names the error. Answers what `function`
/// returns as the ABI's i32: 0 for nothing, 1 or 0 for a bool, a count, handle or enum's number
/// as it is, and `-code` for an error.
pub inline fn call(comptime function: anytype, arguments: anytype) i32 {
    var unwrapped: std.meta.ArgsTuple(@TypeOf(function)) = undefined;
    inline for (arguments, 0..) |argument, index| {
        unwrapped[index] = if (comptime @typeInfo(@TypeOf(argument)) == .error_union) argument catch |err| return fail(err) else argument;
    }
    return answer(@call(.auto, function, unwrapped));
}

inline fn answer(value: anytype) i32 {
    if (comptime @typeInfo(@TypeOf(value)) == .error_union) return number(value catch |err| return fail(err));
    return number(value);
}

inline fn number(value: anytype) i32 {
    return switch (@typeInfo(@TypeOf(value))) {
        .void => 0,
        .bool => @intFromBool(value),
        .@"enum" => @intCast(@backingInt(value)),
        else => @intCast(value),
    };
}

pub fn fail(err: errors.Error) i32 {
    return errors.negative(err);
}

pub fn toFd(fd: i32) errors.Error!event.Fd {
    if (fd < 0) return error.BadDescriptor;
    return @intCast(fd);
}

/// An argument the call needs (an out pointer, a callback): EINVAL when null.
pub fn required(value: anytype) errors.Error!@typeInfo(@TypeOf(value)).optional.child {
    return value orelse error.InvalidArgument;
}

/// Bytes the library reads (copies, or uses during the call); null only when empty.
pub fn bytes(data: ?[*]const u8, length: u32) errors.Error![]const u8 {
    if (length == 0) return &.{};
    return (data orelse return error.InvalidArgument)[0..length];
}

/// Memory the library writes into; never null.
pub fn buffer(data: ?[*]u8, length: u32) errors.Error![]u8 {
    return (data orelse return error.InvalidArgument)[0..length];
}

/// Text the library reads; never null.
pub fn text(data: ?[*]const u8, length: u32) errors.Error![]const u8 {
    return (data orelse return error.InvalidArgument)[0..length];
}

pub fn lengths(data: ?[*]const u32, count: u32) errors.Error![]const u32 {
    return (data orelse return error.InvalidArgument)[0..count];
}

/// A 24-byte address record of io/address.zig, checked.
pub fn address(record: ?[*]const u8) errors.Error!io.address.Address {
    const source = record orelse return error.InvalidArgument;
    const value = std.mem.bytesToValue(io.address.Address, source[0..@sizeOf(io.address.Address)]);
    if (!value.isValid()) return error.InvalidArgument;
    return value;
}

pub fn addressOut(out: ?[*]u8) errors.Error!*io.udp_calls.Record {
    return (out orelse return error.InvalidArgument)[0..@sizeOf(io.udp_calls.Record)];
}

const testing = std.testing;

const Probe = struct {
    var calls: u32 = 0;

    fn nothing(_: u32) errors.Error!void {
        calls += 1;
    }
    fn count(value: u32) u32 {
        calls += 1;
        return value;
    }
    fn yes(_: []const u8) bool {
        calls += 1;
        return true;
    }
    fn status(_: u32) errors.Error!io.udp.SendStatus {
        return .queued_start;
    }
    fn refused(_: u32) errors.Error!u32 {
        return error.Busy;
    }
    fn take(_: event.Fd, _: []const u8, _: *u64) void {
        calls += 1;
    }
};

test "call answers 0, a count, a bool, an enum's number, or the error's -code" {
    try testing.expectEqual(@as(i32, 0), call(Probe.nothing, .{7}));
    try testing.expectEqual(@as(i32, 7), call(Probe.count, .{7}));
    try testing.expectEqual(@as(i32, 1), call(Probe.yes, .{bytes(null, 0)}));
    try testing.expectEqual(@as(i32, 2), call(Probe.status, .{1}));
    try testing.expectEqual(errors.negative(error.Busy), call(Probe.refused, .{1}));
}

test "call answers the code of the first argument that fails to convert, and does not call" {
    Probe.calls = 0;
    var out: u64 = 0;
    const missing: ?*u64 = null;
    const bad = errors.negative(error.BadDescriptor);
    const invalid = errors.negative(error.InvalidArgument);
    try testing.expectEqual(bad, call(Probe.take, .{ toFd(-1), bytes(null, 3), required(missing) }));
    try testing.expectEqual(invalid, call(Probe.take, .{ toFd(1), bytes(null, 3), required(@as(?*u64, &out)) }));
    try testing.expectEqual(invalid, call(Probe.take, .{ toFd(1), text(null, 0), required(@as(?*u64, &out)) }));
    try testing.expectEqual(invalid, call(Probe.take, .{ toFd(1), bytes(null, 0), required(missing) }));
    try testing.expectEqual(@as(u32, 0), Probe.calls);
    try testing.expectEqual(@as(i32, 0), call(Probe.take, .{ toFd(1), bytes(null, 0), required(@as(?*u64, &out)) }));
    try testing.expectEqual(@as(u32, 1), Probe.calls);
}
