//! The completion ring: fixed-size records in native memory that native code appends during a
//! poll (or an op start) and JS reads in place through an ArrayBuffer, with no FFI call per
//! record. `src/native/native_loop.ts` decodes the same layout; change both or neither.
//!
//! Layout (all little-endian u32/i32 words, the block is 64-byte aligned):
//!
//!   byte 0   header (64 bytes)
//!     +0  magic          0x31524745 ("EGR1")
//!     +4  record_size    16 (bytes)
//!     +8  capacity       records, a power of two
//!     +12 reserved
//!     +16 head           next record JS will read; written by JS only
//!     +20 tail           next record native will write; written by native only
//!     +24 deferred       readiness reports held back because the ring was full (cumulative)
//!     +28 overflow       records waiting in the native overflow queue right now
//!     +32..63 reserved
//!   byte 64  records[capacity], record i at 64 + 16 * (i & (capacity - 1)):
//!     +0  token   u32  the watcher's or op's token, chosen by JS
//!     +4  result  i32  kind-specific value (ready mask, signal number, bytes) or -code on error
//!     +8  kind    u32  Kind below, or an op kind (16 and up, defined in hub/hub.zig)
//!     +12 aux     u32  kind-specific (descriptor, signal count, op detail)
//!
//! head and tail are free-running u32 counters; the ring is empty when head == tail and full
//! when tail - head == capacity. Readiness is level-triggered, so when the ring is full a
//! readiness report is simply left for the next poll (counted in `deferred`). Records that must
//! not be lost (op completions) go to a native overflow queue (it starts small and grows on
//! demand up to a hard bound) and move into the ring at
//! the start of the next poll, in order.

const std = @import("std");
const errors = @import("errors.zig");

pub const magic: u32 = 0x31524745;
pub const header_size = 64;
pub const capacity_min = 4;
pub const capacity_max = 1 << 20;

/// Kinds posted by the loop itself; hub ops use kinds from 16 up.
pub const Kind = enum(u32) {
    readiness = 1,
    signal = 2,
    _,
};

pub const Record = extern struct {
    token: u32,
    result: i32,
    kind: u32,
    aux: u32,
};

pub const Header = extern struct {
    magic: u32,
    record_size: u32,
    capacity: u32,
    reserved0: u32,
    head: u32,
    tail: u32,
    deferred: u32,
    overflow: u32,
    reserved1: [8]u32,
};

comptime {
    std.debug.assert(@sizeOf(Record) == 16);
    std.debug.assert(@sizeOf(Header) == header_size);
    std.debug.assert(@offsetOf(Header, "head") == 16);
    std.debug.assert(@offsetOf(Header, "tail") == 20);
}

pub const Ring = struct {
    memory: []align(64) u8,
    header: *Header,
    records: []Record,
    gpa: std.mem.Allocator,
    /// Overflow queue, FIFO, a ring of its own (not shared with JS); grows up to overflow_max.
    overflow: []Record,
    overflow_start: u32 = 0,
    overflow_len: u32 = 0,
    overflow_max: u32,

    /// overflow_capacity records of overflow queue at first, growing (doubling) on demand to at
    /// most overflow_max.
    pub fn init(gpa: std.mem.Allocator, capacity: u32, overflow_capacity: u32, overflow_max: u32) errors.Error!Ring {
        if (capacity < capacity_min or capacity > capacity_max or !std.math.isPowerOfTwo(capacity)) {
            return error.InvalidArgument;
        }
        if (overflow_capacity == 0 or overflow_max < overflow_capacity) return error.InvalidArgument;
        const size = header_size + @as(usize, capacity) * @sizeOf(Record);
        const memory = try gpa.alignedAlloc(u8, .@"64", size);
        errdefer gpa.free(memory);
        const overflow = try gpa.alloc(Record, overflow_capacity);
        @memset(memory, 0);
        const header: *Header = @ptrCast(memory.ptr);
        header.* = .{
            .magic = magic,
            .record_size = @sizeOf(Record),
            .capacity = capacity,
            .reserved0 = 0,
            .head = 0,
            .tail = 0,
            .deferred = 0,
            .overflow = 0,
            .reserved1 = @splat(0),
        };
        const records_ptr: [*]Record = @ptrCast(@alignCast(memory.ptr + header_size));
        return .{
            .memory = memory,
            .header = header,
            .records = records_ptr[0..capacity],
            .gpa = gpa,
            .overflow = overflow,
            .overflow_max = overflow_max,
        };
    }

    pub fn deinit(ring: *Ring, gpa: std.mem.Allocator) void {
        gpa.free(ring.overflow);
        gpa.free(ring.memory);
        ring.* = undefined;
    }

    /// Records JS has not read yet. JS owns `head`, so a corrupted head is an error, not a crash.
    pub fn count(ring: *const Ring) errors.Error!u32 {
        const head = @atomicLoad(u32, &ring.header.head, .acquire);
        const used = ring.header.tail -% head;
        if (used > ring.records.len) return error.InvalidArgument;
        return used;
    }

    pub fn free(ring: *const Ring) errors.Error!u32 {
        return @as(u32, @intCast(ring.records.len)) - try ring.count();
    }

    /// Appends a record if there is room; readiness uses this and retries next poll when full.
    pub fn tryPush(ring: *Ring, record: Record) errors.Error!bool {
        if (try ring.free() == 0) return false;
        ring.pushAssumeRoom(record);
        return true;
    }

    fn pushAssumeRoom(ring: *Ring, record: Record) void {
        const tail = ring.header.tail;
        const mask: u32 = @intCast(ring.records.len - 1);
        ring.records[tail & mask] = record;
        @atomicStore(u32, &ring.header.tail, tail +% 1, .release);
    }

    /// Appends a record that must not be lost: into the ring when there is room and nothing is
    /// queued before it, else into the overflow queue. Fails only when that queue is full too.
    pub fn post(ring: *Ring, record: Record) errors.Error!void {
        if (ring.overflow_len == 0 and try ring.free() > 0) {
            ring.pushAssumeRoom(record);
            return;
        }
        if (ring.overflow_len == ring.overflow.len) try ring.growOverflow(ring.overflow_len + 1);
        const index = (ring.overflow_start + ring.overflow_len) % @as(u32, @intCast(ring.overflow.len));
        ring.overflow[index] = record;
        ring.overflow_len += 1;
        ring.header.overflow = ring.overflow_len;
    }

    /// Room left in the overflow queue at its current size.
    pub fn overflowFree(ring: *const Ring) u32 {
        return @as(u32, @intCast(ring.overflow.len)) - ring.overflow_len;
    }

    /// Makes sure `free_needed` records fit in the overflow queue, growing it if need be;
    /// error.Overflow when that would pass overflow_max.
    pub fn reserveOverflow(ring: *Ring, free_needed: u32) errors.Error!void {
        if (ring.overflowFree() >= free_needed) return;
        const len_needed = @as(u64, ring.overflow_len) + free_needed;
        if (len_needed > ring.overflow_max) return error.Overflow;
        try ring.growOverflow(@intCast(len_needed));
    }

    /// Reallocates the overflow queue to hold at least len_min records (doubling, bounded by
    /// overflow_max), keeping the queued records in order.
    fn growOverflow(ring: *Ring, len_min: u32) errors.Error!void {
        const len_old: u32 = @intCast(ring.overflow.len);
        std.debug.assert(len_min > len_old);
        if (len_min > ring.overflow_max) return error.Overflow;
        const doubled = @min(@as(u64, len_old) * 2, ring.overflow_max);
        const len_new: u32 = @intCast(@max(doubled, len_min));
        const grown = try ring.gpa.alloc(Record, len_new);
        for (0..ring.overflow_len) |i| {
            grown[i] = ring.overflow[(ring.overflow_start + i) % len_old];
        }
        ring.gpa.free(ring.overflow);
        ring.overflow = grown;
        ring.overflow_start = 0;
        std.debug.assert(ring.overflow.len >= len_min);
    }

    /// Moves queued records into the ring, oldest first, as far as there is room.
    pub fn flushOverflow(ring: *Ring) errors.Error!void {
        var room = try ring.free();
        while (ring.overflow_len > 0 and room > 0) : (room -= 1) {
            ring.pushAssumeRoom(ring.overflow[ring.overflow_start]);
            ring.overflow_start = (ring.overflow_start + 1) % @as(u32, @intCast(ring.overflow.len));
            ring.overflow_len -= 1;
        }
        ring.header.overflow = ring.overflow_len;
    }

    pub fn noteDeferred(ring: *Ring) void {
        ring.header.deferred +%= 1;
    }
};

const testing = std.testing;

fn consume(ring: *Ring, out: []Record) u32 {
    var head = ring.header.head;
    var n: u32 = 0;
    while (head != ring.header.tail and n < out.len) : (n += 1) {
        out[n] = ring.records[head & (ring.records.len - 1)];
        head +%= 1;
    }
    ring.header.head = head;
    return n;
}

test "ring rejects capacities that are not powers of two" {
    try testing.expectError(error.InvalidArgument, Ring.init(testing.allocator, 6, 4, 4));
    try testing.expectError(error.InvalidArgument, Ring.init(testing.allocator, 2, 4, 4));
}

test "ring wraps around its end and keeps order" {
    var ring = try Ring.init(testing.allocator, 4, 4, 4);
    defer ring.deinit(testing.allocator);
    var out: [4]Record = undefined;
    var next: u32 = 0;
    var expected: u32 = 0;
    for (0..10) |_| {
        for (0..3) |_| {
            try testing.expect(try ring.tryPush(.{ .token = next, .result = 0, .kind = 1, .aux = 0 }));
            next += 1;
        }
        const n = consume(&ring, &out);
        try testing.expectEqual(@as(u32, 3), n);
        for (out[0..n]) |record| {
            try testing.expectEqual(expected, record.token);
            expected += 1;
        }
    }
    try testing.expectEqual(@as(u32, 30), ring.header.tail);
}

test "ring counters wrap past 2^32" {
    var ring = try Ring.init(testing.allocator, 4, 4, 4);
    defer ring.deinit(testing.allocator);
    ring.header.head = std.math.maxInt(u32) - 1;
    ring.header.tail = std.math.maxInt(u32) - 1;
    for (0..4) |i| try testing.expect(try ring.tryPush(.{ .token = @intCast(i), .result = 0, .kind = 1, .aux = 0 }));
    try testing.expect(!try ring.tryPush(.{ .token = 9, .result = 0, .kind = 1, .aux = 0 }));
    try testing.expectEqual(@as(u32, 4), try ring.count());
    var out: [4]Record = undefined;
    try testing.expectEqual(@as(u32, 4), consume(&ring, &out));
    for (out, 0..) |record, i| try testing.expectEqual(@as(u32, @intCast(i)), record.token);
}

test "ring overflow keeps every posted record in order" {
    var ring = try Ring.init(testing.allocator, 4, 8, 8);
    defer ring.deinit(testing.allocator);
    for (0..12) |i| try ring.post(.{ .token = @intCast(i), .result = 0, .kind = 16, .aux = 0 });
    try testing.expectError(error.Overflow, ring.post(.{ .token = 99, .result = 0, .kind = 16, .aux = 0 }));
    try testing.expectEqual(@as(u32, 8), ring.header.overflow);
    // Readiness never jumps the queue: the ring is full.
    try testing.expect(!try ring.tryPush(.{ .token = 50, .result = 1, .kind = 1, .aux = 0 }));

    var out: [4]Record = undefined;
    var expected: u32 = 0;
    for (0..3) |_| {
        const n = consume(&ring, &out);
        for (out[0..n]) |record| {
            try testing.expectEqual(expected, record.token);
            expected += 1;
        }
        try ring.flushOverflow();
    }
    try testing.expectEqual(@as(u32, 12), expected);
    try testing.expectEqual(@as(u32, 0), ring.header.overflow);
}

test "a corrupted head from JS is an error, not a crash" {
    var ring = try Ring.init(testing.allocator, 4, 4, 4);
    defer ring.deinit(testing.allocator);
    ring.header.head = 1000;
    try testing.expectError(error.InvalidArgument, ring.count());
    try testing.expectError(error.InvalidArgument, ring.post(.{ .token = 1, .result = 0, .kind = 16, .aux = 0 }));
}
