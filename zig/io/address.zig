//! The one IP address type of the I/O layer, shared by TCP (sys.zig, socket.zig, resolve.zig)
//! and UDP (udp.zig, udp_socket.zig), with its one parser and one formatter. Its 24 bytes cross
//! the C ABI as they are (src/native/address.ts reads and writes the same layout); the OS's
//! sockaddr forms are made from it where a call needs them.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");

/// An IPv4 or IPv6 socket address, the same bytes on every OS (unlike sockaddr). IPv4 uses
/// bytes[0..4]; `port` is in host order; `scope_id` is the IPv6 zone as an interface index.
pub const Address = extern struct {
    family: u16,
    port: u16,
    scope_id: u32,
    bytes: [16]u8,

    pub const ip4: u16 = 4;
    pub const ip6: u16 = 6;

    pub fn isValid(address: *const Address) bool {
        return address.family == ip4 or address.family == ip6;
    }

    /// The unspecified address of `family`, port 0.
    pub fn any(family: u16) Address {
        std.debug.assert(family == ip4 or family == ip6);
        return .{ .family = family, .port = 0, .scope_id = 0, .bytes = @splat(0) };
    }

    pub fn loopback4(port: u16) Address {
        var address = any(ip4);
        address.port = port;
        address.bytes[0..4].* = .{ 127, 0, 0, 1 };
        return address;
    }
};

comptime {
    std.debug.assert(@sizeOf(Address) == 24);
    std.debug.assert(@offsetOf(Address, "bytes") == 8);
}

/// The longest text `format` writes ("ffff:...:255.255.255.255%4294967295").
pub const text_max = 64;

/// Parses an IP literal ("127.0.0.1", "::1", "fe80::1%2", "fe80::1%eth0"). Host names are not
/// resolved here (resolve.zig does that).
pub fn parse(text: []const u8, port: u16) errors.Error!Address {
    if (text.len == 0 or text.len > text_max) return error.InvalidArgument;
    if (std.Io.net.Ip4Address.parse(text, port)) |ip4| {
        var address = Address.any(Address.ip4);
        address.port = port;
        address.bytes[0..4].* = ip4.bytes;
        return address;
    } else |_| {}
    const parsed = switch (std.Io.net.Ip6Address.Unresolved.parse(text)) {
        .success => |success| success,
        else => return error.InvalidArgument,
    };
    var address = Address.any(Address.ip6);
    address.port = port;
    address.bytes = parsed.bytes;
    if (parsed.interface_name) |zone| address.scope_id = try interfaceIndex(zone);
    return address;
}

/// Like `parse`, and "localhost" is 127.0.0.1: the one name taken without resolving, for
/// binding TCP listeners and UDP endpoints and for UDP destinations.
pub fn parseLocal(text: []const u8, port: u16) errors.Error!Address {
    if (std.mem.eql(u8, text, "localhost")) return Address.loopback4(port);
    return parse(text, port);
}

/// A numeric zone ("2") or, on POSIX, an interface name ("eth0") as an interface index.
fn interfaceIndex(zone: []const u8) errors.Error!u32 {
    if (zone.len == 0) return error.InvalidArgument;
    if (std.fmt.parseInt(u32, zone, 10)) |index| return index else |_| {}
    if (builtin.os.tag == .windows) return error.InvalidArgument;
    var name: [64:0]u8 = @splat(0);
    if (zone.len >= name.len) return error.InvalidArgument;
    @memcpy(name[0..zone.len], zone);
    const index = if_nametoindex(&name);
    if (index == 0) return error.InvalidArgument;
    return index;
}

extern "c" fn if_nametoindex(name: [*:0]const u8) c_uint;

/// The address without its port as text ("127.0.0.1", "::1", "fe80::1%2", "::ffff:10.0.0.1";
/// RFC 5952: the longest run of two or more zero groups becomes "::"); returns the length
/// written into `out` (`text_max` bytes always suffice; 0 if `out` is too small).
/// src/native/address.ts formats ring senders by the same rules.
pub fn format(address: *const Address, out: []u8) usize {
    std.debug.assert(address.isValid());
    var writer = std.Io.Writer.fixed(out);
    writeText(address, &writer) catch return 0;
    return writer.end;
}

fn writeText(address: *const Address, writer: *std.Io.Writer) std.Io.Writer.Error!void {
    const b = &address.bytes;
    if (address.family == Address.ip4) return writer.print("{d}.{d}.{d}.{d}", .{ b[0], b[1], b[2], b[3] });
    const mapped_prefix = [_]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (std.mem.eql(u8, b[0..12], &mapped_prefix)) {
        try writer.print("::ffff:{d}.{d}.{d}.{d}", .{ b[12], b[13], b[14], b[15] });
    } else {
        var groups: [8]u16 = undefined;
        for (&groups, 0..) |*group, i| group.* = std.mem.readInt(u16, b[i * 2 ..][0..2], .big);
        // The longest run of two or more zero groups, the first of equal ones.
        var best_start: usize = 8;
        var best_length: usize = 1;
        var i: usize = 0;
        while (i < 8) {
            if (groups[i] != 0) {
                i += 1;
                continue;
            }
            var j = i;
            while (j < 8 and groups[j] == 0) j += 1;
            if (j - i > best_length) {
                best_start = i;
                best_length = j - i;
            }
            i = j;
        }
        for (groups, 0..) |group, index| {
            if (index == best_start) try writer.writeAll("::");
            if (index >= best_start and index < best_start + best_length) continue;
            const after_gap = best_start < 8 and index == best_start + best_length;
            if (index > 0 and !after_gap) try writer.writeAll(":");
            try writer.print("{x}", .{group});
        }
    }
    if (address.scope_id != 0) try writer.print("%{d}", .{address.scope_id});
}

const testing = std.testing;

fn expectText(expected: []const u8, text: []const u8) !void {
    var out: [text_max]u8 = undefined;
    const address = try parse(text, 1);
    try testing.expectEqualStrings(expected, out[0..format(&address, &out)]);
}

test "IP literals parse; host names, junk and bad zones do not" {
    const v4 = try parse("127.0.0.1", 5000);
    try testing.expectEqual(Address.ip4, v4.family);
    try testing.expectEqual(@as(u16, 5000), v4.port);
    try testing.expectEqualSlices(u8, &.{ 127, 0, 0, 1 }, v4.bytes[0..4]);
    const v6 = try parse("::1", 7);
    try testing.expectEqual(Address.ip6, v6.family);
    try testing.expectEqual(@as(u8, 1), v6.bytes[15]);
    const zoned = try parse("fe80::1%3", 7);
    try testing.expectEqual(@as(u32, 3), zoned.scope_id);
    const mapped = try parse("::ffff:10.0.0.1", 1);
    try testing.expectEqual(@as(u8, 0xff), mapped.bytes[10]);
    for ([_][]const u8{ "", "not-an-ip", "localhost", "256.0.0.1", "1.2.3", "::1::2", "fe80::1%", "1.2.3.4 " }) |text| {
        try testing.expectError(error.InvalidArgument, parse(text, 1));
    }
}

test "localhost is 127.0.0.1 for parseLocal only" {
    const local = try parseLocal("localhost", 9);
    try testing.expectEqual(Address.loopback4(9), local);
    try testing.expectEqual(try parse("::1", 9), try parseLocal("::1", 9));
}

test "addresses print back in their shortest form, with their zone" {
    try expectText("127.0.0.1", "127.0.0.1");
    try expectText("::1", "::1");
    try expectText("::", "::");
    try expectText("2001:db8::1:0:0:1", "2001:db8:0:0:1:0:0:1");
    try expectText("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
    try expectText("1::", "1:0:0:0:0:0:0:0");
    try expectText("fe80::1%3", "fe80::1%3");
    try expectText("::ffff:10.0.0.1", "::ffff:10.0.0.1");
    var small: [4]u8 = undefined;
    try testing.expectEqual(@as(usize, 0), format(&(try parse("::1:2", 1)), &small));
}
