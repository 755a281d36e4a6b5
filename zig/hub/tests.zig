//! Tests of the hub (hub.zig): real pipes (sockets on Windows), real stacklets on the hub's
//! stack region, the reference op `ReadExact` and small ops of their own.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const ring = @import("../loop/ring.zig");
const support = @import("../loop/test_support.zig");
const hub_module = @import("hub.zig");

const Hub = hub_module.Hub;
const ReadExact = hub_module.ReadExact;
const testing = std.testing;

fn streamPair() ![2]event.Fd {
    return if (builtin.os.tag == .windows) support.tcpPair() else support.pipe();
}

fn drain(hub: *Hub, out: []ring.Record) u32 {
    return support.drain(&hub.loop.ring, out);
}

test "read_exact blocks on an empty pipe, resumes on each poll, completes with every byte" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);

    try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 10 }, 42);
    try testing.expectEqual(@as(u32, 1), hub.opsLive());
    try testing.expectEqual(@as(u32, 0), try hub.poll(0));

    _ = try support.write(fds[1], "0123");
    try testing.expectEqual(@as(u32, 0), try hub.poll(1000));
    try testing.expectEqual(@as(u32, 1), hub.opsLive());

    _ = try support.write(fds[1], "456789");
    try testing.expectEqual(@as(u32, 1), try hub.poll(1000));
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(@as(u32, 42), out[0].token);
    try testing.expectEqual(@as(i32, 10), out[0].result);
    try testing.expectEqual(@backingInt(hub_module.OpKind.read_exact), out[0].kind);
    try testing.expectEqual(hub_module.fnv1a("0123456789"), out[0].aux);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
}

test "an op with its data already there completes during start" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    _ = try support.write(fds[1], "abc");
    try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 3 }, 1);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
    var out: [4]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(hub_module.fnv1a("abc"), out[0].aux);
}

const OpOnStack = struct {
    pub const kind: u32 = 99;
    op: hub_module.Op,
    low: usize,
    high: usize,
    pub fn run(self: *OpOnStack) hub_module.Completion {
        var local: u8 = 0;
        const address = @intFromPtr(&local);
        return .{ .result = @intFromBool(address >= self.low and address < self.high) };
    }
};

test "ops run on the hub's dedicated stack region, not the caller's stack" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    try hub.ensureStacklets();
    try hub.start(OpOnStack, .{ .op = undefined, .low = hub.stack.bottom(), .high = hub.stack.top() }, 1);
    var out: [1]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(@as(i32, 1), out[0].result);
}

test "many ops resumed in an arbitrary order each keep their own stack data" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const count = 40;
    var pairs: [count][2]event.Fd = undefined;
    for (&pairs, 0..) |*pair, i| {
        pair.* = try streamPair();
        try hub.start(ReadExact, .{ .op = undefined, .fd = pair[0], .length = 64 }, @intCast(i));
    }
    defer for (pairs) |pair| {
        support.close(pair[0]);
        support.close(pair[1]);
    };
    try testing.expectEqual(@as(u32, count), hub.opsLive());

    var prng = std.Random.DefaultPrng.init(0x5eed);
    const random = prng.random();
    var payloads: [count][64]u8 = undefined;
    for (&payloads) |*payload| random.bytes(payload);
    // Feed every op in four chunks, visiting the ops in a shuffled order each time.
    var order: [count]usize = undefined;
    for (&order, 0..) |*slot, i| slot.* = i;
    var done = std.StaticBitSet(count).empty;
    var out: [count]ring.Record = undefined;
    for (0..4) |chunk| {
        random.shuffle(usize, &order);
        for (order) |i| _ = try support.write(pairs[i][1], payloads[i][chunk * 16 ..][0..16]);
        var rounds: u32 = 0;
        while (rounds < 20) : (rounds += 1) {
            _ = try hub.poll(10);
            const n = drain(hub, &out);
            for (out[0..n]) |record| {
                try testing.expectEqual(@as(i32, 64), record.result);
                try testing.expectEqual(hub_module.fnv1a(&payloads[record.token]), record.aux);
                done.set(record.token);
            }
            if (chunk < 3 or done.count() == count) break;
        }
    }
    try testing.expectEqual(@as(usize, count), done.count());
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
}

test "cancelFd completes the waiting op with ECANCELED" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 8 }, 5);
    try hub.cancelFd(fds[0]);
    var out: [2]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(errors.negative(error.Canceled), out[0].result);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
}

test "end of stream before the length is an error completion" {
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const fds = try streamPair();
    defer support.close(fds[0]);
    try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 8 }, 5);
    _ = try support.write(fds[1], "ab");
    support.close(fds[1]);
    _ = try hub.poll(1000);
    var out: [2]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(errors.negative(error.BrokenPipe), out[0].result);
}

test "a bad descriptor fails the op, not the process" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const hub = try Hub.create(testing.allocator, .{});
    defer hub.destroy();
    try hub.start(ReadExact, .{ .op = undefined, .fd = 1_000_000, .length = 8 }, 5);
    var out: [2]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(errors.negative(error.BadDescriptor), out[0].result);
}

test "destroying the hub cancels suspended ops without leaking" {
    const hub = try Hub.create(testing.allocator, .{});
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 8 }, 1);
    const other = try streamPair();
    defer for (other) |fd| support.close(fd);
    try hub.start(ReadExact, .{ .op = undefined, .fd = other[0], .length = 8 }, 2);
    try testing.expectEqual(@as(u32, 2), hub.opsLive());
    hub.destroy();
}

test "completions beyond the ring wait in the overflow queue, in order, none lost" {
    const hub = try Hub.create(testing.allocator, .{
        .ops_max = 16,
        .loop = .{ .ring_capacity = 4, .overflow_capacity = 32 },
    });
    defer hub.destroy();
    const count = 12;
    var pairs: [count][2]event.Fd = undefined;
    for (&pairs, 0..) |*pair, i| {
        pair.* = try streamPair();
        _ = try support.write(pair[1], "x");
        try hub.start(ReadExact, .{ .op = undefined, .fd = pair[0], .length = 1 }, @intCast(i));
    }
    defer for (pairs) |pair| {
        support.close(pair[0]);
        support.close(pair[1]);
    };
    try testing.expectEqual(@as(u32, 8), hub.loop.ring.header.overflow);
    var out: [4]ring.Record = undefined;
    var expected: u32 = 0;
    var rounds: u32 = 0;
    while (expected < count and rounds < 8) : (rounds += 1) {
        _ = try hub.poll(0);
        const n = drain(hub, &out);
        for (out[0..n]) |record| {
            try testing.expectEqual(expected, record.token);
            expected += 1;
        }
    }
    try testing.expectEqual(@as(u32, count), expected);
}

test "the op limit and the overflow reserve refuse new ops instead of losing completions" {
    const hub = try Hub.create(testing.allocator, .{
        .ops_max = 2,
        .loop = .{ .ring_capacity = 4, .overflow_capacity = 3 },
    });
    defer hub.destroy();
    const a = try streamPair();
    defer for (a) |fd| support.close(fd);
    const b = try streamPair();
    defer for (b) |fd| support.close(fd);
    try hub.start(ReadExact, .{ .op = undefined, .fd = a[0], .length = 1 }, 1);
    try hub.start(ReadExact, .{ .op = undefined, .fd = b[0], .length = 1 }, 2);
    try testing.expectError(error.Overflow, hub.start(ReadExact, .{ .op = undefined, .fd = b[0], .length = 1 }, 3));
    try testing.expectError(error.InvalidArgument, Hub.create(testing.allocator, .{ .ops_max = 8, .loop = .{ .overflow_capacity = 8 } }));
}

test "the op table grows on demand past its first reserve up to ops_max, where starts fail" {
    const ops = 40;
    const hub = try Hub.create(testing.allocator, .{
        .ops_max = ops,
        .loop = .{ .ring_capacity = 4, .overflow_capacity = 2, .overflow_capacity_max = ops + 8 },
    });
    defer hub.destroy();
    // Both ends of each pair read, so every op blocks until the other end writes.
    var pairs: [ops / 2][2]event.Fd = undefined;
    for (&pairs, 0..) |*pair, i| {
        pair.* = if (builtin.os.tag == .windows) try support.tcpPair() else try support.socketPair();
        try hub.start(ReadExact, .{ .op = undefined, .fd = pair[0], .length = 1 }, @intCast(2 * i));
        try hub.start(ReadExact, .{ .op = undefined, .fd = pair[1], .length = 1 }, @intCast(2 * i + 1));
    }
    defer for (pairs) |pair| {
        support.close(pair[0]);
        support.close(pair[1]);
    };
    try testing.expectEqual(@as(u32, ops), hub.opsLive());
    try testing.expect(hub.loop.ring.overflow.len > ops);
    try testing.expectError(error.Overflow, hub.start(ReadExact, .{ .op = undefined, .fd = pairs[0][0], .length = 1 }, 99));

    for (pairs) |pair| {
        _ = try support.write(pair[0], "a");
        _ = try support.write(pair[1], "b");
    }
    var seen: std.StaticBitSet(ops) = .empty;
    var out: [4]ring.Record = undefined;
    var rounds: u32 = 0;
    while (seen.count() < ops and rounds < 1000) : (rounds += 1) {
        _ = try hub.poll(100);
        const n = drain(hub, &out);
        for (out[0..n]) |record| {
            try testing.expectEqual(@as(i32, 1), record.result);
            try testing.expect(!seen.isSet(record.token));
            seen.set(record.token);
        }
    }
    try testing.expectEqual(@as(usize, ops), seen.count());
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
}

const Chatty = struct {
    pub const kind: u32 = 98;
    op: hub_module.Op,
    posts: u32,
    pub fn run(self: *Chatty) hub_module.Completion {
        var i: u32 = 0;
        while (i < self.posts) : (i += 1) {
            self.op.post(@intCast(i), 0) catch |err| return .fail(err);
            if (i % 3 == 0) self.op.yieldTurn() catch |err| return .fail(err);
        }
        return .{ .result = -1 };
    }
};

test "intermediate posts wait for ring space and yieldTurn resumes on the next poll" {
    const hub = try Hub.create(testing.allocator, .{
        .ops_max = 4,
        .loop = .{ .ring_capacity = 4, .overflow_capacity = 6 },
    });
    defer hub.destroy();
    try hub.start(Chatty, .{ .op = undefined, .posts = 30 }, 7);
    var out: [4]ring.Record = undefined;
    var expected: i32 = 0;
    var rounds: u32 = 0;
    while (expected <= 30 and rounds < 200) : (rounds += 1) {
        _ = try hub.poll(0);
        const n = drain(hub, &out);
        for (out[0..n]) |record| {
            if (expected == 30) {
                try testing.expectEqual(@as(i32, -1), record.result);
                expected += 1;
                continue;
            }
            try testing.expectEqual(expected, record.result);
            expected += 1;
        }
    }
    try testing.expectEqual(@as(i32, 31), expected);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
}

/// An op as large as a few kilobytes of arguments, that lets the turn go once and finishes.
const Bulky = struct {
    pub const kind: u32 = 98;
    op: hub_module.Op,
    payload: [2000]u8,

    pub fn run(self: *Bulky) hub_module.Completion {
        self.op.yieldTurn() catch |err| return .fail(err);
        return .{ .result = self.payload[0] };
    }
};

test "a finished op's memory serves the next op of its size, and the hub keeps a bounded amount" {
    var counting: std.testing.FailingAllocator = .init(testing.allocator, .{});
    const hub = try Hub.create(counting.allocator(), .{});
    defer hub.destroy();
    const fds = try streamPair();
    defer for (fds) |fd| support.close(fd);
    var out: [64]ring.Record = undefined;

    // The first op makes the stacks; every op after it reuses the memory of the one before.
    for (0..50) |round| {
        const allocations = counting.allocations;
        const deallocations = counting.deallocations;
        _ = try support.write(fds[1], "abc");
        try hub.start(ReadExact, .{ .op = undefined, .fd = fds[0], .length = 3 }, @intCast(round));
        try testing.expectEqual(@as(u32, 1), drain(hub, &out));
        try testing.expectEqual(hub_module.fnv1a("abc"), out[0].aux);
        if (round == 0) continue;
        try testing.expectEqual(allocations, counting.allocations);
        try testing.expectEqual(deallocations, counting.deallocations);
    }

    // Many ops finishing at once: only op_cache_bytes_max of them are kept.
    const count = 20;
    const kept = hub_module.op_cache_bytes_max / @sizeOf(Bulky);
    comptime std.debug.assert(kept > 0 and kept < count);
    for (0..2) |round| {
        const allocations = counting.allocations;
        const deallocations = counting.deallocations;
        for (0..count) |i| try hub.start(Bulky, .{ .op = undefined, .payload = @splat(@intCast(i)) }, @intCast(i));
        try testing.expectEqual(@as(u32, count), hub.opsLive());
        // The second time (the first also made the stacklets' buffers), the kept ones serve
        // as many starts.
        if (round == 1) try testing.expectEqual(count - kept, counting.allocations - allocations);
        _ = try hub.poll(0);
        try testing.expectEqual(@as(u32, count), drain(hub, &out));
        for (out[0..count]) |record| try testing.expectEqual(@as(i32, @intCast(record.token)), record.result);
        try testing.expectEqual(@as(u32, 0), hub.opsLive());
        try testing.expectEqual(count - kept, counting.deallocations - deallocations);
    }
}
