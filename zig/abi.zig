//! Every number that crosses the FFI seam, by its C name: result and error codes, record kinds,
//! read modes, write and send results, cancel sides, UDP options and defaults, address
//! families and the byte layout of both rings. Each entry points at the definition the native
//! code itself uses, so this table cannot drift from it; exports.zig answers for each by name
//! (`eg_constant`), include/evergreen.h declares them, and tests/seam_test.ts checks the
//! header and the TS mirror (src/native/constants.ts) against the library.
//!
//! Adding a number that JS or C must know: define it where the code that uses it lives (or
//! here, when it exists only at the seam), add one row below, then the same name in
//! evergreen.h and/or constants.ts (without the `EG_` prefix); the seam test fails until both
//! sides agree and every row is used by one of them.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const event = @import("loop/event.zig");
const ring = @import("loop/ring.zig");
const hub = @import("hub/hub.zig");
const address = @import("io/address.zig");
const socket = @import("io/socket.zig");
const stream = @import("io/stream.zig");
const stream_calls = @import("io/stream_calls.zig");
const udp = @import("io/udp.zig");
const udp_socket = @import("io/udp_socket.zig");
const host_io = @import("loop/host_io.zig");

/// Bumped whenever an exported signature or a ring layout changes; the TS seam checks it.
pub const version: u32 = 1;

/// What eg_stream_write answers. io/stream.zig's `Stream.write` returns these numbers as
/// literals (a test below holds it to them); this enum belongs beside it and moves there when
/// that file is next reworked.
pub const StreamWrite = enum(i32) {
    /// Queued behind the drain op that is running.
    queued = 0,
    /// Every byte went to the kernel.
    sent = 1,
    /// Queued; start the drain op (eg_stream_drain).
    queued_start = 2,
    /// Failed now; the error comes back from the next write or drain.
    failed = 3,
};

/// Bytes eg_stream_address writes: port u16, text length u16, then the host or path text.
pub const stream_address_size = 132;

pub const Constant = struct {
    name: [:0]const u8,
    value: i64,
};

/// Every constant, unique by name.
pub const table: []const Constant = named ++ errorCodes() ++
    // Read modes, write and send results, cancel sides, UDP options: one constant per value.
    enumConstants("EG_READ_", stream.ReadMode) ++
    enumConstants("EG_WRITE_", StreamWrite) ++
    enumConstants("EG_SIDE_", stream_calls.CancelSide) ++
    enumConstants("EG_SEND_", udp.SendStatus) ++
    enumConstants("EG_UDP_OPTION_", udp_socket.Option) ++
    enumConstants("EG_HOST_IO_", host_io.State) ++
    // Where each word of both ring headers is.
    headerWords("EG_RING_WORD_", ring.Header) ++
    headerWords("EG_UDP_RING_WORD_", udp.RingHeader);

const udp_defaults: udp.Options = .{};

const named = [_]Constant{
    .{ .name = "EG_ABI_VERSION", .value = version },

    // Loop: readiness bits, loop kinds and the completion ring (loop/ring.zig).
    .{ .name = "EG_READABLE", .value = event.readable },
    .{ .name = "EG_WRITABLE", .value = event.writable },
    .{ .name = "EG_FAILED", .value = event.failed },
    .{ .name = "EG_HANGUP", .value = event.hangup },
    .{ .name = "EG_KIND_READINESS", .value = @backingInt(ring.Kind.readiness) },
    .{ .name = "EG_KIND_SIGNAL", .value = @backingInt(ring.Kind.signal) },
    .{ .name = "EG_KIND_READ_EXACT", .value = @backingInt(hub.OpKind.read_exact) },
    .{ .name = "EG_NATIVE_OPS_MAX", .value = hub.ops_limit },
    .{ .name = "EG_RING_MAGIC", .value = ring.magic },
    .{ .name = "EG_RING_HEADER_BYTES", .value = ring.header_size },
    .{ .name = "EG_RING_RECORD_BYTES", .value = @sizeOf(ring.Record) },

    // Streams (io/stream.zig, io/socket.zig).
    .{ .name = "EG_KIND_READ", .value = stream.kind_read },
    .{ .name = "EG_KIND_DRAIN", .value = stream.kind_drain },
    .{ .name = "EG_KIND_CONNECT", .value = stream.kind_connect },
    .{ .name = "EG_KIND_ACCEPT", .value = stream.kind_accept },
    .{ .name = "EG_ACCEPTED", .value = socket.accepted_result },
    .{ .name = "EG_STREAM_ADDRESS_BYTES", .value = stream_address_size },
    .{ .name = "EG_STREAM_DELIMITER_MAX", .value = stream.delimiter_max },
    .{ .name = "EG_WINDOW_START", .value = @offsetOf(stream.Window, "start") / 4 },
    .{ .name = "EG_WINDOW_END", .value = @offsetOf(stream.Window, "end") / 4 },
    .{ .name = "EG_WINDOW_SCAN", .value = @offsetOf(stream.Window, "scan") / 4 },
    .{ .name = "EG_WINDOW_GENERATION", .value = @offsetOf(stream.Window, "generation") / 4 },
    .{ .name = "EG_TCP_LISTEN_REUSE_PORT", .value = stream_calls.tcp_listen_reuse_port },

    // UDP endpoints (io/udp.zig, io/udp_socket.zig); their address records, which TCP shares
    // (io/address.zig).
    .{ .name = "EG_KIND_UDP_RECEIVE", .value = udp.kind_receive },
    .{ .name = "EG_KIND_UDP_SEND", .value = udp.kind_send },
    .{ .name = "EG_FAMILY_IP4", .value = address.Address.ip4 },
    .{ .name = "EG_FAMILY_IP6", .value = address.Address.ip6 },
    .{ .name = "EG_UDP_ADDRESS_BYTES", .value = @sizeOf(address.Address) },
    .{ .name = "EG_ADDRESS_TEXT_BYTES", .value = address.text_max },
    .{ .name = "EG_DATAGRAM_SIZE_MAX", .value = udp_socket.datagram_size_max },
    .{ .name = "EG_BIND_REUSE_ADDRESS", .value = udp_socket.BindFlags.reuse_address },
    .{ .name = "EG_BIND_IPV6_ONLY", .value = udp_socket.BindFlags.ipv6_only },
    .{ .name = "EG_BIND_REUSE_PORT", .value = udp_socket.BindFlags.reuse_port },
    .{ .name = "EG_UDP_RECEIVE_SIZE_DEFAULT", .value = udp_defaults.receive_size },
    .{ .name = "EG_UDP_RECEIVE_SIZE_MAX", .value = udp.Options.receive_size_max },
    .{ .name = "EG_UDP_RECEIVE_BATCH_DEFAULT", .value = udp_defaults.receive_batch },
    .{ .name = "EG_UDP_RECEIVE_BATCH_MAX", .value = udp.Options.receive_batch_max },
    .{ .name = "EG_UDP_QUEUE_BYTES_DEFAULT", .value = udp_defaults.queue_bytes_max },
    .{ .name = "EG_UDP_QUEUE_BYTES_MIN", .value = udp.Options.queue_bytes_min },
    .{ .name = "EG_UDP_RING_MAGIC", .value = udp.ring_magic },
    .{ .name = "EG_UDP_RING_HEADER_BYTES", .value = @sizeOf(udp.RingHeader) },
    .{ .name = "EG_UDP_META_BYTES", .value = @sizeOf(udp.Meta) },
    .{ .name = "EG_UDP_META_TRUNCATED", .value = udp.meta_truncated },
};

/// EG_EBADF, EG_EINVAL, ...: every code of loop/errors.zig but `ok`.
fn errorCodes() [@typeInfo(errors.Code).@"enum".field_names.len - 1]Constant {
    const info = @typeInfo(errors.Code).@"enum";
    var out: [info.field_names.len - 1]Constant = undefined;
    var count: usize = 0;
    for (info.field_names, info.field_values) |field_name, value| {
        if (value == 0) continue;
        out[count] = .{ .name = "EG_" ++ field_name, .value = value };
        count += 1;
    }
    std.debug.assert(count == out.len);
    return out;
}

/// EG_READ_EXACT, EG_UDP_OPTION_BROADCAST, ...: `prefix` and each name of `Enum` in capitals.
fn enumConstants(comptime prefix: []const u8, comptime Enum: type) [@typeInfo(Enum).@"enum".field_names.len]Constant {
    const info = @typeInfo(Enum).@"enum";
    var out: [info.field_names.len]Constant = undefined;
    for (info.field_names, info.field_values, &out) |field_name, value, *constant| {
        constant.* = .{ .name = prefix ++ upperCase(field_name), .value = value };
    }
    return out;
}

/// EG_RING_WORD_HEAD, ...: `prefix` and each u32 field of `Header` in capitals, with its index as
/// JS reads the header through a Uint32Array; the reserved fields are left out.
fn headerWords(comptime prefix: []const u8, comptime Header: type) []const Constant {
    const info = @typeInfo(Header).@"struct";
    var out: []const Constant = &.{};
    for (info.field_names, info.field_types) |field_name, field_type| {
        if (field_type != u32 or std.mem.startsWith(u8, field_name, "reserved")) continue;
        const offset = @offsetOf(Header, field_name);
        out = out ++ .{Constant{ .name = prefix ++ upperCase(field_name), .value = offset / 4 }};
    }
    return out;
}

fn upperCase(comptime text: []const u8) *const [text.len:0]u8 {
    comptime {
        var out: [text.len:0]u8 = undefined;
        for (text, 0..) |char, index| out[index] = std.ascii.toUpper(char);
        const final = out;
        return &final;
    }
}

comptime {
    @setEvalBranchQuota(100_000);
    for (table, 0..) |a, i| {
        for (table[i + 1 ..]) |b| {
            if (std.mem.eql(u8, a.name, b.name)) @compileError("two constants named " ++ a.name);
        }
    }
}

/// The value of the constant called `name`, or null.
pub fn lookup(name: []const u8) ?i64 {
    for (table) |constant| {
        if (std.mem.eql(u8, constant.name, name)) return constant.value;
    }
    return null;
}

/// Writes the value of the constant called `name` to out; ENOENT for a name not in the table.
pub fn write(name: []const u8, out: *i64) errors.Error!void {
    out.* = lookup(name) orelse return error.NotFound;
}

const testing = std.testing;

test "lookup finds every constant by its name and nothing else" {
    for (table) |constant| try testing.expectEqual(constant.value, lookup(constant.name).?);
    try testing.expectEqual(@as(?i64, null), lookup("EG_NO_SUCH_THING"));
    try testing.expectEqual(@as(?i64, null), lookup("EG_OK"));
    try testing.expectEqual(@as(?i64, 1), lookup("EG_EBADF"));
    try testing.expectEqual(@as(?i64, 3), lookup("EG_UDP_OPTION_MULTICAST_TTL"));
    try testing.expectEqual(@as(?i64, 4), lookup("EG_RING_WORD_HEAD"));
}

test "a stream write answers the StreamWrite numbers: sent, queued to start, queued" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const support = @import("loop/test_support.zig");
    const hub_instance = try hub.Hub.create(testing.allocator, .{});
    defer hub_instance.destroy();
    const fds = try support.socketPair();
    defer support.close(fds[1]);
    const writer = stream.Stream.create(testing.allocator, 0, fds[0], .socket, 1024) catch |err| {
        support.close(fds[0]);
        return err;
    };
    defer writer.close(hub_instance);
    try testing.expectEqual(@backingInt(StreamWrite.sent), writer.write("x"));
    const big = try testing.allocator.alloc(u8, 8 * 1024 * 1024);
    defer testing.allocator.free(big);
    @memset(big, 'y');
    try testing.expectEqual(@backingInt(StreamWrite.queued_start), writer.write(big));
    try testing.expectEqual(errors.negative(error.InProgress), writer.startDrain(hub_instance, 1));
    try testing.expectEqual(@backingInt(StreamWrite.queued), writer.write("z"));
}
