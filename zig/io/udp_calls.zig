//! What the C ABI (exports.zig) does with a UDP endpoint beyond one method call: open one with
//! the defaults for sizes left 0, find the hub of its loop for the calls that start or cancel
//! an op, and turn a batch's result into a status or the first failure. exports.zig converts
//! the C arguments (a handle to its `*Endpoint`, a 24-byte record to an `Address`) and
//! forwards here or to a method of `Endpoint` (udp.zig).

const std = @import("std");
const errors = @import("../loop/errors.zig");
const loops = @import("../hub/loops.zig");
const ip = @import("address.zig");
const udp = @import("udp.zig");
const udp_socket = @import("udp_socket.zig");

const Address = ip.Address;
const Endpoint = udp.Endpoint;

/// The bytes of one address record as JS and C hold it.
pub const Record = [@sizeOf(Address)]u8;

/// Parses the IP literal text (or "localhost", 127.0.0.1) and port into out; returns the
/// family (4 or 6). Host names are refused: callers resolve them first.
pub fn parseAddress(text: []const u8, port: u32, out: *Record) errors.Error!u16 {
    if (port > std.math.maxInt(u16)) return error.InvalidArgument;
    const address = try ip.parseLocal(text, @intCast(port));
    out.* = std.mem.toBytes(address);
    return address.family;
}

/// The host text of an address ("::1", "fe80::1%2"), as TCP streams report it.
pub fn addressText(address: Address, out: *[ip.text_max]u8) u32 {
    return @intCast(ip.format(&address, out));
}

/// Creates an endpoint with a socket of family 4 or 6 on loop `loop`; zero sizes pick the
/// defaults of udp.Options.
pub fn open(gpa: std.mem.Allocator, loop: u32, family: u32, receive_size: u32, receive_batch: u32, queue_bytes_max: u32) errors.Error!u32 {
    _ = try loops.get(loop);
    if (family != Address.ip4 and family != Address.ip6) return error.InvalidArgument;
    var options: udp.Options = .{};
    if (receive_size != 0) options.receive_size = receive_size;
    if (receive_batch != 0) options.receive_batch = receive_batch;
    if (queue_bytes_max != 0) options.queue_bytes_max = queue_bytes_max;
    return udp.open(gpa, loop, @intCast(family), options);
}

pub fn bind(endpoint: *Endpoint, address: Address, flags: u32) errors.Error!void {
    try endpoint.bind(&address, flags);
}

pub fn sockname(endpoint: *const Endpoint, out: *Record) errors.Error!void {
    out.* = std.mem.toBytes(try endpoint.sockname());
}

/// The address of the endpoint's receive ring, made on first call.
pub fn ringAddress(endpoint: *Endpoint, out: *u64) errors.Error!void {
    out.* = @intFromPtr((try endpoint.receiveRing()).memory.ptr);
}

pub fn receive(endpoint: *Endpoint, token: u32) errors.Error!u32 {
    return endpoint.receive(try loops.get(endpoint.loop_handle), token);
}

pub fn cancelReceive(endpoint: *Endpoint) errors.Error!void {
    try endpoint.cancelReceive(try loops.get(endpoint.loop_handle));
}

pub fn send(endpoint: *Endpoint, bytes: []const u8, address: Address) errors.Error!udp.SendStatus {
    return endpoint.send(bytes, &address);
}

pub fn stage(endpoint: *Endpoint, bytes: []const u8, address: Address) errors.Error!udp.SendStatus {
    return endpoint.stage(bytes, &address);
}

pub fn enqueueForTest(endpoint: *Endpoint, bytes: []const u8, address: Address) errors.Error!udp.SendStatus {
    return endpoint.enqueueForTest(bytes, &address);
}

/// The status of the queue after a nonblocking try, or the first datagram refused for good.
pub fn sendQueued(endpoint: *Endpoint) errors.Error!udp.SendStatus {
    const result = endpoint.sendQueued();
    if (result.failure) |err| return err;
    return result.status;
}

/// Sends lengths.len (1..queue_count_max) datagrams packed in data to one address.
pub fn sendMany(endpoint: *Endpoint, data: []const u8, lengths: []const u32, address: Address) errors.Error!udp.SendStatus {
    if (lengths.len == 0 or lengths.len > udp.Options.queue_count_max) return error.InvalidArgument;
    const result = try endpoint.sendMany(data, lengths, &address);
    if (result.failure) |err| return err;
    return result.status;
}

pub fn startFlush(endpoint: *Endpoint, token: u32) errors.Error!bool {
    return endpoint.startFlush(try loops.get(endpoint.loop_handle), token);
}

pub fn setOption(endpoint: *Endpoint, option: u32, value: i32) errors.Error!void {
    const which = std.enums.fromInt(udp_socket.Option, option) orelse return error.InvalidArgument;
    try endpoint.setOption(which, value);
}

pub fn membership(endpoint: *Endpoint, join: u32, group: Address, interface: Address) errors.Error!void {
    if (join > 1) return error.InvalidArgument;
    try endpoint.membership(join == 1, &group, &interface);
}

pub fn setMulticastInterface(endpoint: *Endpoint, interface: Address) errors.Error!void {
    try endpoint.setMulticastInterface(&interface);
}
